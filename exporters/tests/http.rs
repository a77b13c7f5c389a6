//! Export over HTTP/protobuf to a receiver in the test: the same tree, leaves
//! and metrics as over gRPC, decoded from the request bodies.

mod support;

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use support::receiver::{Received, receiver};
use support::{env, run_checkout};

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

    // `flush` sends what is buffered now, every signal, before any shutdown.
    telemetry.flush();
    // Well inside the batch processors' 5 s schedule: only a flush sends now.
    let mut received = Received::collect(&requests, 7, std::time::Duration::from_secs(2));
    assert_eq!(received.spans.len(), 7, "the whole tree, flushed");
    assert!(!received.logs.is_empty() && !received.metrics.is_empty());

    let delivery = telemetry.shutdown();
    assert!(delivery.values().all(|d| d.failed == 0), "{delivery:?}");

    let rest = Received::collect(&requests, 0, std::time::Duration::ZERO);
    received.spans.extend(rest.spans);
    received.logs.extend(rest.logs);
    received.metrics.extend(rest.metrics);
    let Received {
        spans,
        logs,
        metrics,
    } = received;

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

/// The layers compose into a subscriber the service builds itself, next to
/// a layer of its own: the traces still arrive, and the service's layer sees
/// the same events (here, the cohort layer's leaf records).
#[test]
fn the_layers_compose_with_a_services_own() {
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::layer::{Context, Layer};
    use tracing_subscriber::prelude::*;

    /// The service's own layer: counts the leaf records it sees.
    #[derive(Clone, Default)]
    struct Own(Arc<Mutex<usize>>);
    impl<S: tracing::Subscriber> Layer<S> for Own {
        fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
            if event.metadata().name() == cohort_layer::LEAF {
                *self.0.lock().unwrap() += 1;
            }
        }
    }

    let (endpoint, requests) = receiver();
    let (otel, telemetry) = cohort_otlp::builder()
        .env(env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ]))
        .without_fmt()
        .layers()
        .unwrap();
    let own = Own::default();
    let dispatch =
        tracing::Dispatch::new(tracing_subscriber::registry().with(otel).with(own.clone()));
    run_checkout(&dispatch);
    telemetry.flush();
    let received = Received::collect(&requests, 7, std::time::Duration::from_secs(2));
    assert_eq!(received.spans.len(), 7, "the whole tree");
    assert_eq!(
        *own.0.lock().unwrap(),
        2,
        "both leaves reached the service's layer"
    );
    telemetry.shutdown();
}
