//! The traces as exported, decoded from OTLP: true durations, names, the
//! failure on the span that failed, clean attributes, and complete traces
//! run after run, on a multi-thread runtime.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use cohort::{Group, Policy};
use fake_opentelemetry_collector::FakeCollectorServer;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use support::receiver::{Received, receiver};
use support::{checkout, checkouts_on_workers, complete, env, workers_with};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Exports over OTLP/HTTP to a receiver, runs `work` on a runtime of
/// `workers` threads (0: current-thread), shuts down, and returns the spans.
fn export<F: Future>(workers: usize, work: impl Fn() -> F) -> Vec<Span> {
    let (endpoint, requests) = receiver();
    let (dispatch, telemetry) = cohort_otlp::builder()
        .env(env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ]))
        .without_fmt()
        .build()
        .unwrap();
    tracing::dispatcher::with_default(&dispatch, || {
        let rt = match workers {
            0 => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build(),
            n => workers_with(&dispatch, n),
        }
        .unwrap();
        // Shut down while the runtime still runs, as `main` does at its end.
        rt.block_on(work());
        telemetry.shutdown();
    });
    Received::collect(&requests, usize::MAX, Duration::ZERO).spans
}

fn attr<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v: &AnyValue| v.value.as_ref())
}

fn string(attributes: &[KeyValue], key: &str) -> Option<String> {
    match attr(attributes, key) {
        Some(Value::StringValue(s)) => Some(s.clone()),
        _ => None,
    }
}

fn named<'a>(spans: &'a [Span], name: &str) -> &'a Span {
    spans
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no span {name}: {:?}", names(spans)))
}

fn names(spans: &[Span]) -> Vec<&str> {
    spans.iter().map(|s| s.name.as_str()).collect()
}

fn millis(span: &Span) -> f64 {
    (span.end_time_unix_nano - span.start_time_unix_nano) as f64 / 1e6
}

/// A scope body of 40 ms, a child of 120 ms, and one failing at 60 ms whose
/// sibling takes its 50 ms grace period to stop: real sleeps, since the
/// exported timestamps are wall-clock time.
async fn timed_scope() {
    let group = Group::builder("timed")
        .grace_period(ms(50))
        .build()
        .unwrap();
    let _ = group
        .scope(|g| async move {
            g.spawn("slow", async {
                tokio::time::sleep(ms(120)).await;
                Ok::<_, std::io::Error>(())
            })?;
            g.spawn("fails", async {
                tokio::time::sleep(ms(60)).await;
                Err::<(), _>(std::io::Error::other("boom"))
            })?;
            g.spawn_with("winds-down", |token| async move {
                token.cancelled().await;
                tokio::time::sleep(ms(40)).await; // cleanup, within the grace
                Ok::<_, std::io::Error>(())
            })?;
            tokio::time::sleep(ms(40)).await;
            Ok::<_, cohort::SpawnError>(())
        })
        .await;
}

#[test]
fn the_group_span_lasts_its_run_and_holds_its_children() {
    let spans = export(0, timed_scope);
    let group = named(&spans, "timed");
    let fails = named(&spans, "timed/fails");
    let winds_down = named(&spans, "timed/winds-down");
    // `fails` at 60 ms; `winds-down` cleans up for 40 ms after it: 100 ms.
    // `slow` is cut at the failure, within its grace of 50 ms.
    assert!(millis(fails) >= 59.0, "{}", millis(fails));
    assert!(millis(winds_down) >= 99.0, "{}", millis(winds_down));
    assert!(
        millis(group) >= 99.0,
        "the group span lasts its run: {}",
        millis(group)
    );
    assert!(millis(group) < 1_000.0, "{}", millis(group));
    for child in spans.iter().filter(|s| s.parent_span_id == group.span_id) {
        assert!(
            child.start_time_unix_nano >= group.start_time_unix_nano
                && child.end_time_unix_nano <= group.end_time_unix_nano,
            "{} lies inside the group's span",
            child.name
        );
    }
    assert_eq!(
        spans
            .iter()
            .filter(|s| s.parent_span_id == group.span_id)
            .count(),
        3
    );
}

/// The failing child, the collateral, the trigger, the summary, and the
/// children that never ran, on the exported spans.
#[test]
fn the_failure_and_the_collateral_read_off_the_spans() {
    let spans = export(0, || async {
        let group = Group::builder("checkout").limit(2).build().unwrap();
        group
            .spawn("slow", async {
                tokio::time::sleep(ms(200)).await;
                Ok::<_, std::io::Error>(())
            })
            .unwrap();
        group
            .spawn("card", async {
                tokio::time::sleep(ms(10)).await;
                Err::<(), _>(std::io::Error::other("card declined"))
            })
            .unwrap();
        group
            .spawn("queued", async { Ok::<_, std::io::Error>(()) })
            .unwrap();
        let _ = group.join().await;
    });
    let card = named(&spans, "checkout/card");
    let status = card.status.as_ref().unwrap();
    assert_eq!(status.code, StatusCode::Error as i32);
    assert_eq!(status.message, "std::io::error::Error: card declined");
    let exceptions: Vec<_> = card
        .events
        .iter()
        .filter(|e| e.name == "exception")
        .collect();
    assert_eq!(exceptions.len(), 1);
    assert_eq!(
        string(&exceptions[0].attributes, "exception.type").as_deref(),
        Some("std::io::error::Error")
    );
    assert_eq!(
        string(&exceptions[0].attributes, "exception.message").as_deref(),
        Some("card declined")
    );

    let slow = named(&spans, "checkout/slow");
    assert_eq!(
        string(&slow.attributes, "child.outcome").as_deref(),
        Some("cancelled")
    );
    assert_eq!(
        string(&slow.attributes, "cancel.cause").as_deref(),
        Some("collateral")
    );
    assert_eq!(
        string(&slow.attributes, "cancel.trigger.child.name").as_deref(),
        Some("card")
    );

    let group = named(&spans, "checkout");
    let cancel = group
        .events
        .iter()
        .find(|e| e.name == "cohort.group.cancel_requested")
        .expect("the cancel request");
    assert_eq!(
        string(&cancel.attributes, "trigger.child.name").as_deref(),
        Some("card")
    );
    assert_eq!(
        string(&cancel.attributes, "trigger.error.type").as_deref(),
        Some("std::io::error::Error")
    );
    assert!(matches!(
        attr(&cancel.attributes, "trigger.child.index"),
        Some(Value::IntValue(1))
    ));
    let status = group.status.as_ref().unwrap();
    assert_eq!(status.code, StatusCode::Error as i32);
    assert!(
        status
            .message
            .starts_with("group \"checkout\" failed with 1 error"),
        "{status:?}"
    );
    assert!(string(&group.attributes, "exception.group.fingerprint").is_some());
    assert!(matches!(
        attr(&group.attributes, "error.count"),
        Some(Value::IntValue(1))
    ));
    // The queued child never ran: no span, but counted on the group's.
    assert!(spans.iter().all(|s| s.name != "checkout/queued"));
    assert!(matches!(
        attr(&group.attributes, "group.unstarted"),
        Some(Value::IntValue(1))
    ));
    // The leaf, once, on the group's span.
    assert_eq!(
        group
            .events
            .iter()
            .filter(|e| e.name == "exception")
            .count(),
        1
    );
}

#[test]
fn attributes_are_typed_and_each_key_appears_once() {
    let spans = export(0, || async {
        // A limit, so that the queue length is recorded again and again.
        let group = Group::builder("typed")
            .policy(Policy::Supervise)
            .limit(1)
            .build()
            .unwrap();
        for i in 0..4 {
            group
                .spawn("step", async move {
                    tokio::task::yield_now().await;
                    if i == 2 {
                        Err(std::io::Error::other("step failed"))
                    } else {
                        Ok(())
                    }
                })
                .unwrap();
        }
        let _ = group.join().await;
    });
    let group = named(&spans, "typed");
    for key in [
        "group.spawned",
        "group.failed",
        "group.limit",
        "group.queued",
        "group.succeeded",
    ] {
        assert!(
            matches!(attr(&group.attributes, key), Some(Value::IntValue(_))),
            "{key} is an integer: {:?}",
            attr(&group.attributes, key)
        );
    }
    assert!(matches!(
        attr(&group.attributes, "group.queued"),
        Some(Value::IntValue(0))
    ));
    for span in &spans {
        let lists = [&span.attributes]
            .into_iter()
            .chain(span.events.iter().map(|e| &e.attributes));
        for attributes in lists {
            let mut seen = BTreeSet::new();
            for kv in attributes.iter() {
                assert!(seen.insert(&kv.key), "{} twice on {}", kv.key, span.name);
                assert!(
                    !matches!(&kv.value, Some(AnyValue { value: Some(Value::ArrayValue(a)) }) if a.values.is_empty()),
                    "{} is an empty placeholder on {}",
                    kv.key,
                    span.name
                );
            }
        }
        if span.name.starts_with("typed/") {
            assert!(matches!(
                attr(&span.attributes, "child.index"),
                Some(Value::IntValue(_))
            ));
        }
        for event in span.events.iter().filter(|e| e.name == "exception") {
            if let Some(panic) = attr(&event.attributes, "leaf.panic") {
                assert!(matches!(panic, Value::BoolValue(false)));
            }
        }
    }
}

/// On worker threads a child's last reference to its group can outlive the
/// run by a moment; the group span still closes with the run, so shutting
/// down right after loses nothing. Twenty runs, on HTTP and on gRPC.
#[test]
fn every_span_of_every_run_is_exported_before_shutdown_returns() {
    const RUNS: usize = 20;
    let spans = export(2, || async {
        for _ in 0..RUNS {
            checkout().await;
        }
    });
    let traces = complete(&spans);
    assert_eq!(traces.len(), RUNS);
    assert!(traces.values().all(|t| t.len() == 7), "{:?}", names(&spans));

    let server_rt = tokio::runtime::Runtime::new().unwrap();
    let mut server = server_rt.block_on(FakeCollectorServer::start()).unwrap();
    let endpoint = server.endpoint();
    // Traces only, read as they arrive: the fake collector holds 64 items at
    // most, and waits for `at_least` before it hands any over.
    let arriving = server_rt.spawn(async move {
        let mut spans = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while spans.len() < 7 * RUNS && tokio::time::Instant::now() < deadline {
            spans.extend(server.exported_spans(1, Duration::from_millis(50)).await);
        }
        spans
    });
    checkouts_on_workers(&[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &endpoint)], RUNS);
    let spans = server_rt.block_on(arriving).unwrap();
    assert_eq!(spans.len(), 7 * RUNS);
    let ids: BTreeSet<(&str, &str)> = spans
        .iter()
        .map(|s| (s.trace_id.as_str(), s.span_id.as_str()))
        .collect();
    for span in &spans {
        assert!(
            span.parent_span_id.is_empty()
                || ids.contains(&(span.trace_id.as_str(), span.parent_span_id.as_str())),
            "{} arrived without its parent",
            span.name
        );
    }
}
