//! Traces, metrics and logs of a service that uses [`cohort`], over OTLP, in
//! one call: fmt output, `RUST_LOG` filtering, the cohort layer (every error
//! leaf once, leaked tasks, group metrics), spans through
//! tracing-opentelemetry, the layer's metrics as OpenTelemetry instruments,
//! and every event (leaf records included) as an OTLP log record carrying
//! its trace and span ids.
//!
//! ```no_run
//! #[tokio::main]
//! async fn main() -> Result<(), cohort_otlp::InitError> {
//!     // OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4317 OTEL_SERVICE_NAME=checkout
//!     let telemetry = cohort_otlp::init()?;
//!     // ... the service ...
//!     drop(telemetry); // flushes; never blocks longer than the shutdown timeout
//!     Ok(())
//! }
//! ```
//!
//! [`cohort`]: https://docs.rs/cohort
//!
//! # Configuration
//!
//! The standard variables, each overridable in code through [`builder`]:
//! `OTEL_EXPORTER_OTLP_ENDPOINT` and `OTEL_EXPORTER_OTLP_{TRACES,METRICS,LOGS}_ENDPOINT`,
//! `OTEL_EXPORTER_OTLP_PROTOCOL` (and per signal): `grpc` (default) or
//! `http/protobuf`, `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`,
//! `OTEL_METRIC_EXPORT_INTERVAL` (ms), `OTEL_SDK_DISABLED`, and `RUST_LOG`.
//! With no endpoint set, nothing is exported and everything else works.
//! A malformed endpoint, an unknown protocol or a bad value is an
//! [`InitError`] naming the variable, never a panic.
//!
//! # Across services
//!
//! The W3C trace-context and baggage propagator is installed too;
//! [`propagation`] carries a child's trace into the requests it makes and
//! continues a caller's trace in a service that handles one.
//!
//! # Never hurting the service
//!
//! Exports run on the SDK's own threads, with bounded queues, over
//! connections driven by a runtime thread of this crate's: a collector that
//! is down, slow or failing costs dropped telemetry, counted
//! ([`Telemetry::delivery`]) and said once, never a blocked or crashed
//! service. tokio's task spans and the exporters' own logs are never
//! exported (they reach tokio-console and the cohort layer only).

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod builder;
mod config;
mod delivery;
mod error;
mod filters;
mod instruments;
mod logs;
#[cfg(feature = "prometheus")]
mod prometheus;
pub mod propagation;
mod providers;
mod spans;
mod telemetry;

pub use builder::{BoxedLayer, Builder};
pub use config::{DEFAULT_METRIC_INTERVAL, Protocol, Settings, Signal, Target};
pub use delivery::Delivery;
pub use error::InitError;
pub use telemetry::{SHUTDOWN_TIMEOUT, Telemetry};

/// Sets everything up from the environment and installs it as the global
/// subscriber. See [`builder`] for overrides.
pub fn init() -> Result<Telemetry, InitError> {
    builder().init()
}

/// Options over the environment.
pub fn builder() -> Builder {
    Builder::default()
}
