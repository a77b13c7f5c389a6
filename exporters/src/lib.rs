//! `cohort-otlp`: pushes cohort's traces, metrics and logs over OTLP.
//!
//! Not written yet: this crate is a placeholder in the workspace so that the
//! layout of `docs/telemetry.md` holds from the start.
