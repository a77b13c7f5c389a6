//! `jaeger-ui [UI_ADDRESS] [OTLP_ADDRESS]`: serves Jaeger's UI and query API
//! (default `127.0.0.1:16686`) over the traces it receives by OTLP/gRPC
//! (default `127.0.0.1:4317`), kept in memory, until it is stopped. The
//! ports are Jaeger's own, so a script written for a real Jaeger works
//! against it unchanged.
//!
//! The embedded UI (otlp-embedded) shows a span's attributes and events but
//! not its status. Jaeger's own OTLP translation turns an ERROR status into
//! tags (`error=true`, `otel.status_code`, `otel.status_description`), which
//! its UI marks in red; this receiver does the same before the spans are
//! stored, so the picture is the one Jaeger shows.

use otlp_embedded::proto::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use otlp_embedded::proto::common::v1::{AnyValue, KeyValue, any_value};
use otlp_embedded::proto::trace::v1::status::StatusCode;
use otlp_embedded::{Config, State, TraceService, TraceServiceImpl, TraceServiceServer, ui_app};

fn tag(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
    }
}

/// Jaeger's translation of what the embedded UI would drop.
struct AsJaeger(TraceServiceImpl);

#[tonic::async_trait]
impl TraceService for AsJaeger {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut request = request.into_inner();
        let spans = request
            .resource_spans
            .iter_mut()
            .flat_map(|r| &mut r.scope_spans)
            .flat_map(|s| &mut s.spans);
        for span in spans {
            let Some(status) = span.status.take() else {
                continue;
            };
            if status.code == StatusCode::Error as i32 {
                span.attributes
                    .push(tag("error", any_value::Value::BoolValue(true)));
                span.attributes.push(tag(
                    "otel.status_code",
                    any_value::Value::StringValue("ERROR".into()),
                ));
                if !status.message.is_empty() {
                    span.attributes.push(tag(
                        "otel.status_description",
                        any_value::Value::StringValue(status.message),
                    ));
                }
            }
        }
        self.0.export(tonic::Request::new(request)).await
    }
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let ui = args.next().unwrap_or_else(|| "127.0.0.1:16686".to_owned());
    let otlp = args.next().unwrap_or_else(|| "127.0.0.1:4317".to_owned());
    let state = State::new(Config {
        max_length: 1_000,
        max_memory_usage: 1 << 28,
    });
    let listener = tokio::net::TcpListener::bind(&ui)
        .await
        .unwrap_or_else(|e| panic!("cannot listen on {ui}: {e}"));
    let app = ui_app(state.clone(), "/");
    tokio::spawn(async move { axum::serve(listener, app).await });
    println!("Jaeger UI on http://{ui}/, OTLP/gRPC on http://{otlp}");
    tonic::transport::Server::builder()
        .add_service(TraceServiceServer::new(AsJaeger(TraceServiceImpl::new(
            state,
        ))))
        .serve(otlp.parse().expect("OTLP_ADDRESS is host:port"))
        .await
        .expect("the OTLP receiver runs");
}
