//! Export over HTTP/protobuf to a receiver in the test: the same tree, leaves
//! and metrics as over gRPC, decoded from the request bodies.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use prost::Message;
use support::{env, run_checkout};

/// One OTLP/HTTP request: its path and body.
struct Request {
    path: String,
    body: Vec<u8>,
}

/// Serves OTLP/HTTP on a loopback port until the sender side is dropped,
/// answering 200 to every request and handing each to the test.
fn receiver() -> (String, mpsc::Receiver<Request>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let tx = tx.clone();
            std::thread::spawn(move || serve(stream, tx));
        }
    });
    (address, rx)
}

/// Reads keep-alive requests off one connection.
fn serve(stream: std::net::TcpStream, tx: mpsc::Sender<Request>) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        let mut length = 0;
        loop {
            let mut header = String::new();
            reader.read_line(&mut header).unwrap();
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap();
                }
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        if tx.send(Request { path, body }).is_err() {
            return;
        }
        let ok =
            "HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
        writer.write_all(ok.as_bytes()).unwrap();
    }
}

fn string(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| match &kv.value {
            Some(AnyValue {
                value: Some(any_value::Value::StringValue(s)),
            }) => Some(s.clone()),
            Some(AnyValue {
                value: Some(any_value::Value::IntValue(i)),
            }) => Some(i.to_string()),
            _ => None,
        })
}

#[test]
fn http_protobuf_carries_the_same_tree_leaves_and_metrics() {
    let (endpoint, requests) = receiver();
    let (dispatch, telemetry) = cohort_otlp::builder()
        .env(env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_SERVICE_NAME", "shop"),
        ]))
        .without_fmt()
        .build()
        .unwrap();
    run_checkout(&dispatch);
    let delivery = telemetry.shutdown();
    assert!(delivery.values().all(|d| d.failed == 0), "{delivery:?}");

    let (mut spans, mut logs, mut metrics) = (Vec::new(), Vec::new(), Vec::new());
    for request in requests.try_iter() {
        match request.path.as_str() {
            "/v1/traces" => spans.extend(
                ExportTraceServiceRequest::decode(&*request.body)
                    .unwrap()
                    .resource_spans
                    .into_iter()
                    .flat_map(|r| r.scope_spans)
                    .flat_map(|s| s.spans),
            ),
            "/v1/logs" => logs.extend(
                ExportLogsServiceRequest::decode(&*request.body)
                    .unwrap()
                    .resource_logs
                    .into_iter()
                    .flat_map(|r| r.scope_logs)
                    .flat_map(|s| s.log_records),
            ),
            "/v1/metrics" => metrics.extend(
                ExportMetricsServiceRequest::decode(&*request.body)
                    .unwrap()
                    .resource_metrics
                    .into_iter()
                    .flat_map(|r| r.scope_metrics)
                    .flat_map(|s| s.metrics),
            ),
            other => panic!("unexpected path {other}"),
        }
    }

    let checkout = spans
        .iter()
        .find(|s| string(&s.attributes, "group.name").as_deref() == Some("checkout"))
        .expect("the checkout group's span");
    let inventory = spans
        .iter()
        .find(|s| string(&s.attributes, "group.name").as_deref() == Some("inventory"))
        .unwrap();
    let stock = spans
        .iter()
        .find(|s| string(&s.attributes, "child.name").as_deref() == Some("stock"))
        .unwrap();
    assert_eq!(stock.parent_span_id, checkout.span_id);
    assert_eq!(inventory.parent_span_id, stock.span_id);
    assert_eq!(inventory.trace_id, checkout.trace_id);
    let exceptions: Vec<_> = checkout
        .events
        .iter()
        .filter(|e| e.name == "exception")
        .collect();
    assert_eq!(exceptions.len(), 2);
    assert_eq!(
        string(&exceptions[1].attributes, "leaf.path").as_deref(),
        Some("1.0")
    );

    let leaf_logs: Vec<_> = logs
        .iter()
        .filter(|l| string(&l.attributes, "exception.type").is_some())
        .collect();
    assert_eq!(leaf_logs.len(), 2);
    assert!(
        leaf_logs
            .iter()
            .all(|l| l.trace_id == checkout.trace_id && l.span_id == checkout.span_id)
    );

    let names: Vec<&str> = metrics.iter().map(|m| m.name.as_str()).collect();
    for name in [
        "cohort.group.runs",
        "cohort.group.duration",
        "cohort.group.partial_failure_rate",
        "cohort.children.spawned",
        "cohort.children.failed",
        "cohort.child.errors",
        "cohort.groups.active",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
}
