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

/// The events every program prints whatever `RUST_LOG` says: each leaf of
/// every error tree, and the diagnostics of the guide's failure modes.
pub const ALARMS: &[&str] = &[
    cohort_layer::LEAF,
    cohort_layer::TASK_LEAKED,
    cohort_layer::LEAK_DETECTION_OFF,
    cohort::telemetry::CHILD_UNRESPONSIVE,
    cohort::telemetry::CATCH_UNHANDLED,
];

/// Sets up telemetry with cohort-otlp: fmt output filtered by `RUST_LOG`,
/// the cohort layer (every leaf of every error tree once, as an `exception`
/// event; leaked tasks; group metrics), and, when `OTEL_EXPORTER_OTLP_ENDPOINT`
/// is set, traces, metrics and logs over OTLP.
///
/// The default console filter shows the programs' own lines, the leaf
/// records and alarms of [`ALARMS`], and cohort-otlp's warnings (a `cohort=` directive also matches the
/// `cohort_examples` and `cohort_otlp` targets, hence the last two
/// directives); `RUST_LOG=info` adds cohort's other events.
/// What is exported is filtered by `RUST_LOG` alone (default `info`).
///
/// A bad setting (a malformed endpoint, an unknown protocol) ends the program
/// with the error, before it does anything.
pub fn init_logging() -> cohort_otlp::Telemetry {
    init_logging_with(|builder| builder)
}

/// [`init_logging`], with the builder adjusted first (a Prometheus address,
/// say).
pub fn init_logging_with(
    adjust: impl FnOnce(cohort_otlp::Builder) -> cohort_otlp::Builder,
) -> cohort_otlp::Telemetry {
    use tracing_subscriber::filter::{EnvFilter, FilterExt as _, filter_fn};

    let console = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new("info,cohort=off,cohort_examples=info,cohort_otlp=info")
    });
    let alarms = filter_fn(|meta| ALARMS.contains(&meta.name()));
    match adjust(cohort_otlp::builder())
        .fmt_filter(console.or(alarms))
        .init()
    {
        Ok(telemetry) => telemetry,
        Err(error) => {
            eprintln!("telemetry: {error}");
            std::process::exit(2);
        }
    }
}

/// Flushes the exporters and says what was sent, or how to send it.
pub fn finish_telemetry(telemetry: cohort_otlp::Telemetry) {
    if !telemetry.is_exporting() {
        println!("telemetry: not exported (set OTEL_EXPORTER_OTLP_ENDPOINT to send it)");
        return;
    }
    let delivery = telemetry.shutdown();
    let said: Vec<String> = delivery
        .iter()
        .map(|(signal, d)| format!("{signal:?}: {} sent, {} lost", d.exported, d.lost()))
        .collect();
    println!("telemetry: {}", said.join(", "));
}

/// The process's peak resident set so far, in KiB (`VmHWM`), where the
/// system says (Linux); `None` elsewhere.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// The README's examples, compiled and run as doctests so they stay true
/// (here, where every crate they use is a dependency).
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
