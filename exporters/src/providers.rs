//! The OpenTelemetry providers: one per exported signal, each with its OTLP
//! exporter wrapped to count deliveries, and the runtime their connections
//! run on.

use std::collections::BTreeMap;
use std::sync::Arc;

use opentelemetry::KeyValue;
use opentelemetry_otlp::{LogExporter, MetricExporter, SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::{BatchLogProcessor, SdkLoggerProvider};
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracerProvider};

use crate::config::{Protocol, Settings, Signal};
use crate::delivery::{Counted, Counters, Counting};
use crate::error::InitError;
use crate::spans::LastValue;

/// The providers of traces, metrics and logs, each `None` when not exported.
type Built = (
    Option<SdkTracerProvider>,
    Option<SdkMeterProvider>,
    Option<SdkLoggerProvider>,
);

/// The OpenTelemetry providers and the runtime that drives their exporters.
pub(crate) struct Providers {
    pub tracer: Option<SdkTracerProvider>,
    pub meter: Option<SdkMeterProvider>,
    pub logger: Option<SdkLoggerProvider>,
    pub counters: BTreeMap<Signal, Arc<Counters>>,
    /// One worker thread, only when something is exported over OTLP.
    pub runtime: Option<tokio::runtime::Runtime>,
    /// The pull endpoint, when one was asked for.
    #[cfg(feature = "prometheus")]
    pub prometheus: Option<crate::prometheus::Endpoint>,
}

impl Drop for Providers {
    /// Whatever happens to the providers (a failed init drops them), the
    /// runtime is let go without blocking: dropping it inside the service's
    /// runtime would panic.
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// The resource every signal carries: `service.name` and the attributes.
fn resource(settings: &Settings) -> Resource {
    Resource::builder_empty()
        .with_attributes(
            settings
                .resource
                .iter()
                .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
        )
        .build()
}

impl Providers {
    pub fn build(
        settings: &Settings,
        #[cfg(feature = "prometheus")] prometheus: Option<std::net::SocketAddr>,
    ) -> Result<Self, InitError> {
        let warned = Arc::default();
        let counters: BTreeMap<Signal, Arc<Counters>> = settings
            .targets
            .keys()
            .map(|&signal| (signal, Arc::new(Counters::new(Arc::clone(&warned)))))
            .collect();
        let (runtime, (tracer, meter, logger)) = if settings.targets.is_empty() {
            (None, (None, None, None))
        } else {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("cohort-otlp")
                .enable_all()
                .build()
                .map_err(InitError::Runtime)?;
            let built = build(settings, &runtime, &|signal| counters[&signal].clone())?;
            (Some(runtime), built)
        };
        Ok(Self {
            tracer,
            meter,
            logger,
            counters,
            runtime,
            #[cfg(feature = "prometheus")]
            prometheus: prometheus
                .map(|address| crate::prometheus::Endpoint::start(address, resource(settings)))
                .transpose()?,
        })
    }
}

/// Builds the exporters of every configured signal. gRPC exporters are
/// built inside the exporters' own runtime, which then drives their
/// connections: exporting never waits on the service's runtime, so the
/// guard can flush from any thread, a current-thread runtime's included.
fn build(
    settings: &Settings,
    runtime: &tokio::runtime::Runtime,
    counters: &dyn Fn(Signal) -> Arc<Counters>,
) -> Result<Built, InitError> {
    let resource = resource(settings);
    let _runtime = runtime.enter();
    let failed = |signal| move |source| InitError::Exporter { signal, source };

    let tracer = match settings.targets.get(&Signal::Traces) {
        Some(target) => {
            let exporter = exporter!(SpanExporter, target).map_err(failed(Signal::Traces))?;
            let counters = counters(Signal::Traces);
            let exporter = Counted {
                inner: LastValue(exporter),
                signal: Signal::Traces,
                counters: counters.clone(),
            };
            let processor = Counting {
                inner: BatchSpanProcessor::builder(exporter).build(),
                counters,
            };
            Some(
                SdkTracerProvider::builder()
                    .with_span_processor(processor)
                    .with_resource(resource.clone())
                    .build(),
            )
        }
        None => None,
    };
    let meter = match settings.targets.get(&Signal::Metrics) {
        Some(target) => {
            let exporter = exporter!(MetricExporter, target).map_err(failed(Signal::Metrics))?;
            let exporter = Counted {
                inner: exporter,
                signal: Signal::Metrics,
                counters: counters(Signal::Metrics),
            };
            let reader = PeriodicReader::builder(exporter)
                .with_interval(settings.metric_interval)
                .build();
            Some(
                SdkMeterProvider::builder()
                    .with_reader(reader)
                    .with_resource(resource.clone())
                    .build(),
            )
        }
        None => None,
    };
    let logger = match settings.targets.get(&Signal::Logs) {
        Some(target) => {
            let exporter = exporter!(LogExporter, target).map_err(failed(Signal::Logs))?;
            let counters = counters(Signal::Logs);
            let exporter = Counted {
                inner: exporter,
                signal: Signal::Logs,
                counters: counters.clone(),
            };
            let processor = Counting {
                inner: BatchLogProcessor::builder(exporter).build(),
                counters,
            };
            Some(
                SdkLoggerProvider::builder()
                    .with_log_processor(processor)
                    .with_resource(resource)
                    .build(),
            )
        }
        None => None,
    };
    Ok((tracer, meter, logger))
}

/// An OTLP exporter of type `$exporter` for `$target`, over its protocol.
macro_rules! exporter {
    ($exporter:ty, $target:expr) => {
        match $target.protocol {
            Protocol::Grpc => <$exporter>::builder()
                .with_tonic()
                .with_endpoint(&$target.endpoint)
                .build(),
            Protocol::HttpProtobuf => <$exporter>::builder()
                .with_http()
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                .with_endpoint(&$target.endpoint)
                .build(),
        }
    };
}
use exporter;
