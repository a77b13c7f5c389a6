//! `cohort-layer`: the tracing-subscriber layer that turns cohort's spans and
//! events into one log record per error-tree leaf, leaked-task alarms and metric
//! aggregates.
//!
//! Not written yet: this crate is a placeholder in the workspace so that the
//! layout of `docs/telemetry.md` holds from the start.
