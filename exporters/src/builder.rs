//! [`Builder`]: assembling the subscriber.
//!
//! Layers, in order (the cohort layer last, as it asks):
//! fmt (the service's filter) → OpenTelemetry traces → OpenTelemetry logs →
//! tokio-console (feature `console`) → the cohort layer, which feeds the
//! metric instruments.

use std::sync::Arc;
use std::time::Duration;

use cohort_layer::CohortLayer;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::TracerProvider as _;
use tracing::Dispatch;
use tracing_subscriber::filter::{EnvFilter, FilterExt as _, filter_fn};
use tracing_subscriber::layer::{Filter, Identity};
use tracing_subscriber::prelude::*;
use tracing_subscriber::{Layer, Registry};

use crate::config::{Overrides, Protocol, Settings};
use crate::error::InitError;
use crate::filters;
use crate::instruments::Instruments;
use crate::logs::InSpanContext;
use crate::providers::Providers;
use crate::spans;
use crate::telemetry::Telemetry;

/// The layers [`Builder::layers`] builds, as one layer for a `Registry`.
pub type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;

/// Options over the `OTEL_*` variables, from [`crate::builder`].
pub struct Builder {
    overrides: Overrides,
    filter: Option<String>,
    fmt: bool,
    fmt_filter: Option<Box<dyn Filter<Registry> + Send + Sync>>,
    var: EnvLookup,
    duration_bounds: Option<Vec<f64>>,
    #[cfg(feature = "prometheus")]
    prometheus: Option<std::net::SocketAddr>,
}

impl std::fmt::Debug for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder")
            .field("overrides", &self.overrides)
            .field("filter", &self.filter)
            .field("fmt", &self.fmt)
            .field("fmt_filter", &self.fmt_filter.is_some())
            .finish_non_exhaustive()
    }
}

/// Where settings are read from: a variable's name to its value.
type EnvLookup = Box<dyn Fn(&str) -> Option<String>>;

impl Default for Builder {
    fn default() -> Self {
        Self {
            overrides: Overrides::default(),
            filter: None,
            fmt: true,
            fmt_filter: None,
            duration_bounds: None,
            #[cfg(feature = "prometheus")]
            prometheus: None,
            var: Box::new(|name| std::env::var(name).ok()),
        }
    }
}

impl Builder {
    /// `service.name`, over `OTEL_SERVICE_NAME`.
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.overrides.service_name = Some(name.into());
        self
    }

    /// The collector for every signal, over `OTEL_EXPORTER_OTLP_ENDPOINT` and
    /// the per-signal variables: `http://host:4317` (gRPC) or
    /// `http://host:4318` (HTTP; each signal's path is added).
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.overrides.endpoint = Some(endpoint.into());
        self
    }

    /// The transport, over `OTEL_EXPORTER_OTLP_PROTOCOL` and the per-signal
    /// variables.
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.overrides.protocol = Some(protocol);
        self
    }

    /// How often metrics are pushed, over `OTEL_METRIC_EXPORT_INTERVAL`.
    pub fn metric_interval(mut self, interval: Duration) -> Self {
        self.overrides.metric_interval = Some(interval);
        self
    }

    /// A resource attribute, over `OTEL_RESOURCE_ATTRIBUTES`.
    pub fn resource_attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.overrides.resource.push((key.into(), value.into()));
        self
    }

    /// Exports nothing, whatever the environment says: fmt and the cohort
    /// layer only.
    pub fn without_export(mut self) -> Self {
        self.overrides.disabled = true;
        self
    }

    /// The filter of the fmt output and of what is exported, in `RUST_LOG`
    /// syntax; over `RUST_LOG`, which is used when this is not set
    /// (default: `info`).
    pub fn filter(mut self, directives: impl Into<String>) -> Self {
        self.filter = Some(directives.into());
        self
    }

    /// The bucket bounds, in seconds, of the exported duration histograms
    /// (`cohort.group.duration` and `cohort.child.cancel_latency`), for a
    /// service whose fan-outs take far less or far longer than the default
    /// ([`cohort_layer::SECONDS_BOUNDS`], dense from 10 ms to 1 s). Finite
    /// and strictly increasing, else [`build`](Self::build) fails.
    pub fn duration_bounds(mut self, bounds: impl Into<Vec<f64>>) -> Self {
        self.duration_bounds = Some(bounds.into());
        self
    }

    /// A filter for the fmt output alone (what is exported keeps
    /// [`filter`](Self::filter)): e.g. a console that shows the leaf records
    /// but not the rest of cohort's events.
    pub fn fmt_filter(mut self, filter: impl Filter<Registry> + Send + Sync + 'static) -> Self {
        self.fmt_filter = Some(Box::new(filter));
        self
    }

    /// Serves the metrics for Prometheus to pull at `http://{address}/metrics`
    /// (feature `prometheus`), beside any OTLP export. Port 0 picks a free
    /// port; [`Telemetry::prometheus_address`] says which. A port in use is
    /// an [`InitError`].
    #[cfg(feature = "prometheus")]
    #[cfg_attr(docsrs, doc(cfg(feature = "prometheus")))]
    pub fn prometheus(mut self, address: std::net::SocketAddr) -> Self {
        self.prometheus = Some(address);
        self
    }

    /// No fmt output (the cohort layer and the exporters only).
    pub fn without_fmt(mut self) -> Self {
        self.fmt = false;
        self
    }

    /// Reads settings from `var` instead of the process environment.
    pub fn env(mut self, var: impl Fn(&str) -> Option<String> + 'static) -> Self {
        self.var = Box::new(var);
        self
    }

    /// Builds everything and installs it as the global subscriber.
    pub fn init(self) -> Result<Telemetry, InitError> {
        let (dispatch, telemetry) = self.build()?;
        tracing::dispatcher::set_global_default(dispatch).map_err(InitError::AlreadyInstalled)?;
        Ok(telemetry)
    }

    /// Builds everything without installing it: the subscriber, to install
    /// with `tracing::dispatcher::set_default` (tests) or
    /// `set_global_default`, and the guard.
    pub fn build(self) -> Result<(Dispatch, Telemetry), InitError> {
        let (layers, telemetry) = self.layers()?;
        let dispatch = Dispatch::new(tracing_subscriber::registry().with(layers));
        Ok((dispatch, telemetry))
    }

    /// Builds the layers without a subscriber, for a service that builds its
    /// own: fmt (unless [`without_fmt`](Self::without_fmt)), the
    /// OpenTelemetry traces and logs, the cohort layer feeding the metrics,
    /// each with its own filter, as one layer for a `Registry`; and the guard.
    /// Add the service's own layers (a Sentry layer, a file appender) after
    /// it:
    ///
    /// ```
    /// use tracing_subscriber::prelude::*;
    ///
    /// # fn main() -> Result<(), cohort_otlp::InitError> {
    /// let (otel, telemetry) = cohort_otlp::builder().without_export().layers()?;
    /// let subscriber = tracing_subscriber::registry()
    ///     .with(otel)
    ///     .with(tracing_subscriber::fmt::layer().with_writer(std::io::sink)); // a layer of its own
    /// tracing::subscriber::with_default(subscriber, || tracing::info!("composed"));
    /// drop(telemetry); // flushes and shuts the exporters down
    /// # Ok(())
    /// # }
    /// ```
    pub fn layers(self) -> Result<(BoxedLayer, Telemetry), InitError> {
        let settings = Settings::resolve(&*self.var, &self.overrides)?;
        let directives = self
            .filter
            .clone()
            .or_else(|| (self.var)("RUST_LOG"))
            .unwrap_or_else(|| "info".to_owned());
        let env_filter = || {
            EnvFilter::builder()
                .parse(&directives)
                .map_err(|e| InitError::invalid("RUST_LOG", &directives, e.to_string()))
        };

        // Every setting is checked before anything starts.
        env_filter()?;
        let bounds = self
            .duration_bounds
            .clone()
            .unwrap_or_else(|| cohort_layer::SECONDS_BOUNDS.to_vec());
        check_bounds(&bounds)?;
        crate::propagation::install();
        let providers = Providers::build(
            &settings,
            #[cfg(feature = "prometheus")]
            self.prometheus,
        )?;
        let mut layers: Vec<BoxedLayer> = Vec::new();
        if self.fmt {
            use std::io::IsTerminal as _;
            let fmt = tracing_subscriber::fmt::layer().with_ansi(std::io::stdout().is_terminal());
            // The SDK logs every failed export; this crate says it once
            // (target `cohort_otlp`) and counts the rest.
            let sdk_quiet = filter_fn(|m| !filters::is_sdk_internal(m));
            layers.push(match self.fmt_filter {
                Some(filter) => fmt.with_filter(filter.and(sdk_quiet)).boxed(),
                None => fmt.with_filter(env_filter()?.and(sdk_quiet)).boxed(),
            });
        }
        if let Some(tracer) = &providers.tracer {
            // cohort's own events are written onto the spans by `SpanEvents`.
            let exported = env_filter()?.and(filter_fn(|m| {
                !filters::is_internal(m) && !spans::is_mapped(m)
            }));
            layers.push(
                tracing_opentelemetry::layer()
                    .with_tracer(tracer.tracer("cohort"))
                    // Two clock reads per poll of every span, for busy/idle
                    // times no cohort view uses; and a thread-name attribute
                    // a task that moves between workers makes meaningless.
                    .with_tracked_inactivity(false)
                    .with_threads(false)
                    .with_filter(exported)
                    .boxed(),
            );
            let mapped = env_filter()?.and(filter_fn(spans::is_mapped));
            layers.push(
                spans::SpanEvents::default()
                    .with_filter(filter_fn(|m| m.is_span()).or(mapped))
                    .boxed(),
            );
        }
        if let Some(logger) = &providers.logger {
            // Spans pass, so the bridge can find each event's span.
            let events = env_filter()?.and(filter_fn(|m| !filters::is_internal(m)));
            let bridge =
                opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge::new(logger);
            layers.push(
                InSpanContext::new(bridge)
                    .with_filter(filter_fn(|m| m.is_span()).or(events))
                    .boxed(),
            );
        }
        #[cfg(feature = "console")]
        layers.push(console_subscriber::spawn().boxed());

        let mut cohort = CohortLayer::builder();
        if let Some(meter) = &providers.meter {
            cohort = cohort.sink(Arc::new(Instruments::new(&meter.meter("cohort"), &bounds)));
        }
        #[cfg(feature = "prometheus")]
        if let Some(endpoint) = &providers.prometheus {
            cohort = cohort.sink(Arc::new(Instruments::new(
                &endpoint.provider.meter("cohort"),
                &bounds,
            )));
        }
        let cohort = cohort
            .build()
            .map_err(|e| InitError::invalid("cohort layer", "", e.to_string()))?;
        let handle = cohort.handle();
        let for_cohort = filter_fn(cohort_layer::CohortFilter::wants).or(env_filter()?);
        layers.push(cohort.with_filter(for_cohort).boxed());

        // Chained with `and_then`, not collected in a `Vec`: tracing-subscriber's
        // `Vec` (and `Option`) layers do not pass `on_register_dispatch` on,
        // and the cohort layer and the log bridge need the subscriber's
        // `Dispatch` to emit and to look up trace contexts.
        let stack = layers
            .into_iter()
            .fold(Identity::new().boxed(), |stack, layer| {
                stack.and_then(layer).boxed()
            });
        Ok((stack, Telemetry::new(settings, providers, handle)))
    }
}

/// Histogram bounds must be finite and strictly increasing.
fn check_bounds(bounds: &[f64]) -> Result<(), InitError> {
    let shown = || format!("{bounds:?}");
    if bounds.is_empty() {
        return Err(InitError::invalid("duration_bounds", &shown(), "no bounds"));
    }
    if bounds.iter().any(|b| !b.is_finite()) {
        return Err(InitError::invalid(
            "duration_bounds",
            &shown(),
            "a bound is not finite",
        ));
    }
    if bounds.windows(2).any(|w| w[0] >= w[1]) {
        return Err(InitError::invalid(
            "duration_bounds",
            &shown(),
            "the bounds must increase strictly",
        ));
    }
    Ok(())
}
