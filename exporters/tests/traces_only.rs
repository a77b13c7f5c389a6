//! A traces-only back end (Jaeger takes no logs and no metrics): the refusal
//! is said once per signal, plainly, with the setting that avoids it, and
//! the traces still arrive. Its own test binary: the exporters' threads
//! report to the global subscriber, which this test installs.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use support::checkout;
use support::receiver::{Received, traces_only_receiver};
use tokio_stream::wrappers::TcpListenerStream;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

/// The messages of cohort-otlp's own warnings.
#[derive(Clone, Default)]
struct Warnings(Arc<Mutex<Vec<String>>>);

struct Message<'a>(&'a mut String);

impl Visit for Message<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            *self.0 = format!("{value:?}");
        }
    }
}

impl<S: tracing::Subscriber> Layer<S> for Warnings {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() == "cohort_otlp" {
            let mut message = String::new();
            event.record(&mut Message(&mut message));
            self.0.lock().unwrap().push(message);
        }
    }
}

/// A gRPC collector with the trace service alone: the others answer
/// `Unimplemented`, as Jaeger's do. Counts the spans it takes.
struct TracesOnly(std::sync::mpsc::Sender<usize>);

#[tonic::async_trait]
impl TraceService for TracesOnly {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let spans = request
            .into_inner()
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        let _ = self.0.send(spans);
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

fn grpc_traces_only(rt: &tokio::runtime::Runtime) -> (String, std::sync::mpsc::Receiver<usize>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    rt.spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(TracesOnly(tx)))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    (address, rx)
}

/// Runs the workload three times, flushing after each, and shuts down.
fn export_to(
    vars: &[(&str, &str)],
) -> std::collections::BTreeMap<cohort_otlp::Signal, cohort_otlp::Delivery> {
    let (dispatch, telemetry) = support::subscriber(vars);
    tracing::dispatcher::with_default(&dispatch, || {
        for _ in 0..3 {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(checkout());
            telemetry.flush();
        }
    });
    telemetry.shutdown()
}

#[test]
fn a_traces_only_back_end_is_said_plainly_once_per_signal() {
    // The exporters' threads report to the global subscriber.
    let warnings = Warnings::default();
    tracing_subscriber::registry().with(warnings.clone()).init();

    // gRPC, as Jaeger takes it on 4317.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (endpoint, taken) = grpc_traces_only(&rt);
    let delivery = export_to(&[("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)]);
    assert_eq!(taken.try_iter().sum::<usize>(), 21, "the traces arrive");
    assert_eq!(
        delivery[&cohort_otlp::Signal::Traces].failed,
        0,
        "{delivery:?}"
    );
    said_plainly(&warnings);

    // HTTP, as Jaeger takes it on 4318.
    let (endpoint, requests) = traces_only_receiver();
    let delivery = export_to(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
    ]);
    let spans = Received::collect(&requests, 21, Duration::from_secs(2)).spans;
    assert_eq!(spans.len(), 21, "the traces arrive");
    assert_eq!(
        delivery[&cohort_otlp::Signal::Traces].failed,
        0,
        "{delivery:?}"
    );
    said_plainly(&warnings);
}

/// Each refused signal said once, with the setting that avoids it, and
/// nothing else said; then forgets what was said.
fn said_plainly(warnings: &Warnings) {
    let warnings = std::mem::take(&mut *warnings.0.lock().unwrap());
    for signal in ["logs", "metrics"] {
        let said: Vec<_> = warnings
            .iter()
            .filter(|w| w.starts_with(&format!("the OTLP endpoint takes no {signal}")))
            .collect();
        assert_eq!(said.len(), 1, "{signal}, once: {warnings:#?}");
        assert!(said[0].contains("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"));
    }
    assert_eq!(warnings.len(), 2, "nothing else said: {warnings:#?}");
}
