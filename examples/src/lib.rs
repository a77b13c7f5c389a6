//! Shared pieces of the example programs in `src/bin/`: the simulated
//! services' error types, logging set-up, and a leaf-by-leaf error logger.
//!
//! Each program is one pattern of the guide; `aggregator` ties them together
//! as a production service would.

use std::fmt;

use cohort::ErrorGroup;

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

/// Logs through `tracing-subscriber`'s fmt layer, filtered by `RUST_LOG`.
/// The default shows the programs' own lines (a `cohort=` directive also
/// matches the `cohort_examples` target, hence the third one); `RUST_LOG=info`
/// adds cohort's events (child failed, cancel requested, group raised).
pub fn init_logging() {
    use std::io::IsTerminal as _;
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,cohort=off,cohort_examples=info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::stdout().is_terminal())
        .init();
}

/// Logs every leaf of the tree on its own line, so none hides behind the top
/// message: the guide's `log_group` walker.
pub fn log_leaves(group: &ErrorGroup) {
    for leaf in group.leaves() {
        tracing::error!(
            path = %leaf.path_string(),
            group = leaf.group.name(),
            child = leaf.failure.child_name(),
            error.type = leaf.failure.error_type(),
            "leaf: {}",
            leaf.failure.message(),
        );
    }
}
