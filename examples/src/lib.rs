//! Runnable programs for the patterns of the cohort guide; see `src/bin/`.
