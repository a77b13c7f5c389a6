//! What the main job exports, decoded from the OTLP it sends to a receiver
//! in the test: complete traces, run after run.

#[path = "../../exporters/tests/support/receiver.rs"]
mod receiver;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::Duration;

use receiver::{Received, receiver};

/// Runs the example `bin` exporting over HTTP to `endpoint`; its stdout.
fn exporting(bin: &str, endpoint: &str, args: &[&str]) -> String {
    let out = Command::new(bin)
        .args(args)
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
        .env("RUST_LOG", "info")
        .output()
        .expect("the example runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn every_trace_of_twenty_runs_arrives_complete() {
    let (endpoint, requests) = receiver();
    const RUNS: usize = 20;
    for run in 0..RUNS {
        let seed = (run + 1).to_string();
        exporting(env!("CARGO_BIN_EXE_aggregator"), &endpoint, &["3", &seed]);
    }
    let received = Received::collect(&requests, usize::MAX, Duration::from_secs(1));
    let mut by_trace: BTreeMap<Vec<u8>, Vec<_>> = BTreeMap::new();
    for span in &received.spans {
        by_trace
            .entry(span.trace_id.clone())
            .or_default()
            .push(span);
    }
    // Three requests a run, each a trace of its own.
    assert_eq!(by_trace.len(), 3 * RUNS, "one trace per request");
    for spans in by_trace.values() {
        let ids: BTreeSet<&[u8]> = spans.iter().map(|s| &s.span_id[..]).collect();
        let roots: Vec<_> = spans
            .iter()
            .filter(|s| s.parent_span_id.is_empty())
            .collect();
        assert_eq!(roots.len(), 1, "one root: {:?}", names(spans));
        assert_eq!(roots[0].name, "aggregate");
        for span in spans {
            assert!(
                span.parent_span_id.is_empty() || ids.contains(&span.parent_span_id[..]),
                "{} arrived without its parent: {:?}",
                span.name,
                names(spans)
            );
        }
    }
}

fn names(spans: &[&opentelemetry_proto::tonic::trace::v1::Span]) -> Vec<String> {
    spans.iter().map(|s| s.name.clone()).collect()
}

/// The downstream service's spans continue the trace of the child that
/// called it: same trace, parented by that child's span.
#[test]
fn a_call_to_another_service_continues_the_childs_trace() {
    let (endpoint, requests) = receiver();
    let stdout = exporting(env!("CARGO_BIN_EXE_cross_service"), &endpoint, &[]);
    assert!(!stdout.contains("outlived it"), "no leaked task: {stdout}");
    let spans = Received::collect(&requests, 8, Duration::from_secs(2)).spans;
    let group = spans
        .iter()
        .find(|s| s.name == "storefront")
        .expect("the group's span");
    let handled: Vec<_> = spans.iter().filter(|s| s.name == "GET /stock").collect();
    assert_eq!(
        handled.len(),
        3,
        "{:?}",
        spans.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    for span in handled {
        assert_eq!(
            span.trace_id, group.trace_id,
            "one trace across both services"
        );
        let caller = spans
            .iter()
            .find(|s| s.span_id == span.parent_span_id)
            .expect("the calling span arrived");
        assert!(
            caller.name.starts_with("storefront/stock-"),
            "{}",
            caller.name
        );
        assert_eq!(caller.parent_span_id, group.span_id);
    }
}
