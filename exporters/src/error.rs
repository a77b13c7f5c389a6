//! [`InitError`]: why telemetry could not be set up.

use std::fmt;

use crate::config::Signal;

/// Why [`Builder::init`](crate::Builder::init) failed. Nothing was installed.
#[derive(Debug)]
#[non_exhaustive]
pub enum InitError {
    /// A setting (an `OTEL_*` variable or a code override) has a value that
    /// cannot work.
    Invalid {
        /// The variable or option.
        setting: String,
        /// Its value.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An OTLP exporter could not be built.
    Exporter {
        /// For which signal.
        signal: Signal,
        /// The exporter's error.
        source: opentelemetry_otlp::ExporterBuildError,
    },
    /// The exporters' own runtime thread could not be started.
    Runtime(std::io::Error),
    /// A global subscriber is already installed.
    AlreadyInstalled(tracing::dispatcher::SetGlobalDefaultError),
}

impl InitError {
    pub(crate) fn invalid(setting: &str, value: &str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            setting: setting.to_owned(),
            value: value.to_owned(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid {
                setting,
                value,
                reason,
            } => write!(f, "{setting}={value:?} is invalid: {reason}"),
            Self::Exporter { signal, source } => {
                write!(f, "could not build the OTLP {signal:?} exporter: {source}")
            }
            Self::Runtime(e) => write!(f, "could not start the exporters' runtime: {e}"),
            Self::AlreadyInstalled(e) => write!(f, "a global subscriber is already set: {e}"),
        }
    }
}

impl std::error::Error for InitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Exporter { source, .. } => Some(source),
            Self::Runtime(e) => Some(e),
            Self::AlreadyInstalled(e) => Some(e),
            _ => None,
        }
    }
}
