//! Export over gRPC to an in-process collector: the exact spans, logs and
//! metrics of a known fan-out.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use cohort_otlp::Signal;
use fake_opentelemetry_collector::{ExportedLog, ExportedSpan, FakeCollectorServer};
use serde_json::Value;
use support::{env, run_checkout};

const WAIT: Duration = Duration::from_secs(10);

/// The collector renders attribute values as `Some(AnyValue { value:
/// Some(StringValue("x")) })`; the value alone reads better in assertions.
fn plain(attributes: &mut BTreeMap<String, String>) {
    for value in attributes.values_mut() {
        let inner = ["StringValue(", "IntValue(", "BoolValue(", "DoubleValue("]
            .iter()
            .find_map(|kind| value.split_once(kind).map(|(_, rest)| rest));
        if let Some(rest) = inner {
            let end = rest.find(')').unwrap_or(rest.len());
            let raw = &rest[..end];
            let raw = raw
                .strip_prefix('"')
                .and_then(|r| r.strip_suffix('"'))
                .unwrap_or(raw);
            *value = raw.replace("\\\"", "\"");
        }
    }
}

fn by_name<'a>(spans: &'a [ExportedSpan], name: &str, attr: (&str, &str)) -> &'a ExportedSpan {
    spans
        .iter()
        .find(|s| s.name == name && s.attributes.get(attr.0).map(String::as_str) == Some(attr.1))
        .unwrap_or_else(|| panic!("no {name} with {attr:?} in {spans:#?}"))
}

#[test]
fn a_fan_out_arrives_as_a_tree_with_its_leaves_as_exceptions_logs_and_metrics() {
    let server_rt = tokio::runtime::Runtime::new().unwrap();
    let mut server = server_rt.block_on(FakeCollectorServer::start()).unwrap();
    let endpoint = server.endpoint();
    let (dispatch, telemetry) = cohort_otlp::builder()
        .env(env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_SERVICE_NAME", "shop"),
            ("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test"),
        ]))
        .filter("info")
        .without_fmt()
        .build()
        .unwrap();
    assert_eq!(telemetry.settings().targets.len(), 3);

    let tree = run_checkout(&dispatch);
    assert_eq!(tree.leaves().len(), 2);
    let delivery = telemetry.shutdown();

    let mut spans = server_rt.block_on(server.exported_spans(6, WAIT));
    let mut logs = server_rt.block_on(server.exported_logs(2, WAIT));
    for span in &mut spans {
        plain(&mut span.attributes);
        for event in &mut span.events {
            plain(&mut event.attributes);
        }
    }
    for log in &mut logs {
        plain(&mut log.attributes);
    }
    let metrics = server_rt.block_on(server.exported_metrics(1, WAIT));

    // Spans: the tree, and nothing of tokio's.
    assert!(
        spans.iter().all(|s| !s.name.starts_with("runtime.")),
        "{spans:#?}"
    );
    // Named in the service's own words: `group`, and `group/child`.
    let checkout = by_name(&spans, "checkout", ("group.name", "checkout"));
    let card = by_name(&spans, "checkout/card", ("child.name", "card"));
    let pricing = by_name(&spans, "checkout/pricing", ("child.name", "pricing"));
    let stock = by_name(&spans, "checkout/stock", ("child.name", "stock"));
    let inventory = by_name(&spans, "inventory", ("group.name", "inventory"));
    let eu = by_name(&spans, "inventory/eu", ("child.name", "eu"));
    let lookup = spans
        .iter()
        .find(|s| s.name == "price lookup")
        .expect("the child's own span");
    for (child, parent) in [
        (card, checkout),
        (pricing, checkout),
        (stock, checkout),
        (inventory, stock),
        (eu, inventory),
        (lookup, pricing),
    ] {
        assert_eq!(
            child.parent_span_id, parent.span_id,
            "{} under {}",
            child.name, parent.name
        );
        assert_eq!(child.trace_id, checkout.trace_id);
    }
    let status = |s: &ExportedSpan| {
        s.status
            .as_ref()
            .map(|st| st.code.clone())
            .unwrap_or_default()
    };
    assert!(status(checkout).contains("ERROR"), "{checkout:#?}");
    assert!(status(card).contains("ERROR"), "{card:#?}");
    assert!(!status(pricing).contains("ERROR"), "{pricing:#?}");
    assert_eq!(checkout.attributes["group.outcome"], "failed");
    assert_eq!(checkout.attributes["group.spawned"], "3");
    assert_eq!(
        card.attributes["error.type"],
        std::any::type_name::<support::Declined>()
    );
    assert_eq!(card.attributes["child.outcome"], "error");
    assert_eq!(eu.attributes["error.type"], "std::io::error::Error");

    // Each leaf, once, as an exception event on the outermost group's span.
    let exceptions: Vec<_> = checkout
        .events
        .iter()
        .filter(|e| e.name == "exception")
        .collect();
    assert_eq!(exceptions.len(), 2, "{:#?}", checkout.events);
    let types: Vec<&str> = exceptions
        .iter()
        .map(|e| e.attributes["exception.type"].as_str())
        .collect();
    assert_eq!(
        types,
        [
            std::any::type_name::<support::Declined>(),
            "std::io::error::Error"
        ]
    );
    assert_eq!(exceptions[1].attributes["leaf.path"], "1.0");
    assert_eq!(
        exceptions[1].attributes["exception.message"],
        "eu warehouse unreachable"
    );
    let nested_exceptions = inventory
        .events
        .iter()
        .filter(|e| e.name == "exception")
        .count();
    assert_eq!(nested_exceptions, 0, "logged at the top only");

    // Logs: the same leaves, with the trace and span of the outermost group.
    let leaf_logs: Vec<&ExportedLog> = logs
        .iter()
        .filter(|l| l.attributes.contains_key("exception.type"))
        .collect();
    assert_eq!(leaf_logs.len(), 2, "{logs:#?}");
    for log in &leaf_logs {
        assert_eq!(log.trace_id, checkout.trace_id);
        assert_eq!(log.span_id, checkout.span_id);
        assert_eq!(log.severity_text, "ERROR");
        assert!(log.attributes.contains_key("exception.group.fingerprint"));
    }
    assert!(
        logs.iter()
            .all(|l| !l.attributes.keys().any(|k| k.starts_with("task."))),
        "no tokio internals in the logs"
    );

    // Metrics: names, units, attributes and values of this run.
    let metrics: Vec<Value> = metrics
        .iter()
        .flat_map(|m| {
            serde_json::to_value(m).unwrap()["metrics"]
                .as_array()
                .cloned()
                .unwrap()
        })
        .collect();
    let metric = |name: &str| {
        metrics
            .iter()
            .find(|m| m["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {metrics:#?}"))
    };
    let points = |name: &str| -> Vec<(BTreeMap<String, String>, Value)> {
        let m = metric(name);
        let data = m["data"].as_object().unwrap().values().next().unwrap();
        data["data_points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let mut attrs = serde_json::from_value(p["attributes"].clone()).unwrap();
                plain(&mut attrs);
                let value = p
                    .get("value")
                    .cloned()
                    .unwrap_or_else(|| p["count"].clone());
                (attrs, value)
            })
            .collect()
    };
    assert_eq!(metric("cohort.group.runs")["unit"], "{run}");
    assert_eq!(metric("cohort.group.duration")["unit"], "s");
    assert_eq!(metric("cohort.children.spawned")["unit"], "{child}");
    let runs = points("cohort.group.runs");
    let failed_checkout = runs
        .iter()
        .find(|(a, _)| a["group.name"] == "checkout")
        .unwrap();
    assert_eq!(failed_checkout.0["group.outcome"], "failed");
    assert_eq!(
        failed_checkout.1,
        serde_json::json!({"AsInt": 1}),
        "{runs:?}"
    );
    let cancelled = points("cohort.children.spawned");
    let spawned = cancelled
        .iter()
        .find(|(a, _)| a["group.name"] == "checkout")
        .unwrap();
    assert_eq!(spawned.1, serde_json::json!({"AsInt": 3}));
    let errors = points("cohort.child.errors");
    assert!(
        errors.iter().any(|(a, _)| a["group.name"] == "checkout"
            && a["error.type"] == std::any::type_name::<support::Declined>()),
        "{errors:?}"
    );
    let rate = points("cohort.group.partial_failure_rate");
    assert!(
        rate.iter().any(|(a, _)| a["group.name"] == "checkout"),
        "{rate:?}"
    );

    // Everything handed over was delivered.
    for signal in [Signal::Traces, Signal::Logs] {
        let d = delivery[&signal];
        assert_eq!((d.failed, d.unaccounted()), (0, 0), "{signal:?}: {d:?}");
        assert!(d.exported > 0, "{signal:?}: {d:?}");
    }
}
