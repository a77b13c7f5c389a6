//! [`Telemetry`]: the guard that flushes and shuts the exporters down.

use std::collections::BTreeMap;
use std::time::Duration;

use cohort_layer::CohortHandle;

use crate::config::{Settings, Signal};
use crate::delivery::Delivery;
use crate::providers::Providers;

/// How long shutting down may take, per signal: a collector that does not
/// answer must not hold the service's exit.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Keeps the exporters running; flushes and shuts them down when dropped
/// (or by [`shutdown`](Self::shutdown)). Hold it for the life of `main`.
///
/// Shutting down waits at most [`SHUTDOWN_TIMEOUT`] per signal and never
/// needs the service's runtime: it is safe at the end of an `async fn main`
/// on a current-thread runtime.
#[must_use = "dropping the guard shuts the exporters down"]
pub struct Telemetry {
    settings: Settings,
    providers: Option<Providers>,
    cohort: CohortHandle,
}

impl Telemetry {
    pub(crate) fn new(settings: Settings, providers: Providers, cohort: CohortHandle) -> Self {
        Self {
            settings,
            providers: Some(providers),
            cohort,
        }
    }

    /// The cohort layer's metrics and live tree.
    pub fn cohort(&self) -> &CohortHandle {
        &self.cohort
    }

    /// What was resolved from the environment and the builder.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Where the Prometheus endpoint listens (feature `prometheus`), if one
    /// was asked for.
    #[cfg(feature = "prometheus")]
    #[cfg_attr(docsrs, doc(cfg(feature = "prometheus")))]
    pub fn prometheus_address(&self) -> Option<std::net::SocketAddr> {
        self.providers
            .as_ref()?
            .prometheus
            .as_ref()
            .map(|e| e.address)
    }

    /// Whether anything is exported over OTLP.
    pub fn is_exporting(&self) -> bool {
        !self.settings.targets.is_empty()
    }

    /// What each exported signal delivered and lost so far.
    pub fn delivery(&self) -> BTreeMap<Signal, Delivery> {
        self.providers
            .as_ref()
            .map(|p| {
                p.counters
                    .iter()
                    .map(|(signal, counters)| (*signal, counters.snapshot()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Exports what is buffered now (spans, logs, and a metric collection).
    pub fn flush(&self) {
        let Some(p) = &self.providers else {
            return;
        };
        if let Some(tracer) = &p.tracer {
            let _ = tracer.force_flush();
        }
        if let Some(logger) = &p.logger {
            let _ = logger.force_flush();
        }
        if let Some(meter) = &p.meter {
            let _ = meter.force_flush();
        }
    }

    /// Flushes, shuts the exporters down, and returns what was delivered
    /// and lost. Losses are also said once, as a warning.
    pub fn shutdown(mut self) -> BTreeMap<Signal, Delivery> {
        self.close()
    }

    fn close(&mut self) -> BTreeMap<Signal, Delivery> {
        let Some(mut p) = self.providers.take() else {
            return BTreeMap::new();
        };
        // The cohort layer's last measurements (groups that just ended) are
        // recorded already: sinks run synchronously.
        if let Some(tracer) = p.tracer.take() {
            let _ = tracer.shutdown_with_timeout(SHUTDOWN_TIMEOUT);
        }
        if let Some(logger) = p.logger.take() {
            let _ = logger.shutdown_with_timeout(SHUTDOWN_TIMEOUT);
        }
        if let Some(meter) = p.meter.take() {
            let _ = meter.shutdown_with_timeout(SHUTDOWN_TIMEOUT);
        }
        let delivery: BTreeMap<Signal, Delivery> = p
            .counters
            .iter()
            .map(|(signal, counters)| (*signal, counters.snapshot()))
            .collect();
        for (signal, d) in &delivery {
            // A signal the back end refuses outright was said so already.
            let refused = p.counters.get(signal).is_some_and(|c| c.refused());
            if d.lost() > 0 && !refused {
                tracing::warn!(
                    target: "cohort_otlp",
                    signal = ?signal,
                    handed = d.queued,
                    exported = d.exported,
                    failed = d.failed,
                    dropped = d.unaccounted(),
                    "OTLP export lost data",
                );
            }
        }
        #[cfg(feature = "prometheus")]
        if let Some(endpoint) = p.prometheus.take() {
            endpoint.stop();
            let _ = endpoint.provider.shutdown_with_timeout(SHUTDOWN_TIMEOUT);
        }
        if let Some(runtime) = p.runtime.take() {
            // Never blocks, so dropping the guard inside a runtime is fine.
            runtime.shutdown_background();
        }
        delivery
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        self.close();
    }
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}
