//! Shared pieces of the example programs in `src/bin/`: the simulated
//! services' error types and the logging set-up, with the cohort layer.
//!
//! Each program is one pattern of the guide; `aggregator` ties them together
//! as a production service would.

use std::fmt;

/// A downstream service returned data that failed validation (Python's
/// `ValueError` in the guide).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError(pub String);

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ValidationError {}

/// A downstream service could not be reached (Python's `ConnectionError`).
pub fn connection_error(msg: impl Into<String>) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::ConnectionRefused, msg.into())
}

/// Logs through `tracing-subscriber`'s fmt layer, filtered by `RUST_LOG`, and
/// adds the cohort layer, which writes every leaf of every error tree once
/// (`cohort.error.leaf`) and keeps the group metrics the returned handle
/// reads.
///
/// The default filter shows the programs' own lines and the leaf records (a
/// `cohort=` directive also matches the `cohort_examples` target, hence the
/// third directive); `RUST_LOG=info` adds cohort's other events (child
/// failed, cancel requested, group raised). The cohort layer itself sees
/// everything, tokio's task spans included, so it can report leaked tasks.
pub fn init_logging() -> cohort_layer::CohortHandle {
    use std::io::IsTerminal as _;
    use tracing_subscriber::filter::{EnvFilter, FilterExt as _, filter_fn};
    use tracing_subscriber::prelude::*;

    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,cohort=off,cohort_examples=info"));
    let leaves = filter_fn(|meta| meta.name() == cohort_layer::LEAF);
    let fmt = tracing_subscriber::fmt::layer()
        .with_target(false)
        .with_ansi(std::io::stdout().is_terminal())
        .with_filter(filter.or(leaves));
    let cohort = cohort_layer::CohortLayer::new();
    let handle = cohort.handle();
    tracing_subscriber::registry().with(fmt).with(cohort).init();
    handle
}

/// The README's examples, compiled and run as doctests so they stay true
/// (here, where every crate they use is a dependency).
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
