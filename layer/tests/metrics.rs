//! Metric aggregates for known scenarios, on the paused clock.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cohort::{Group, Policy};
use cohort_layer::{CancelCause, CohortLayer, Measurement, MetricSink};
use support::{Invalid, Refused, forever, install};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[tokio::test(start_paused = true)]
async fn six_children_one_fails_two_done_three_cancelled() {
    let (_, handle, _guard) = install();
    let group = Group::new("fan-out");
    for i in 0..2 {
        group
            .spawn(format!("quick-{i}"), async { Ok::<_, Refused>(()) })
            .unwrap();
    }
    group
        .spawn("flaky", async {
            tokio::time::sleep(ms(10)).await;
            Err::<(), _>(Refused("flaky".into()))
        })
        .unwrap();
    for i in 0..3 {
        group.spawn(format!("slow-{i}"), forever::<()>()).unwrap();
    }
    group.join().await.unwrap_err();

    let m = handle.metrics();
    let m = m.group("fan-out").unwrap();
    assert_eq!(m.runs.get("failed"), Some(&1));
    assert_eq!(m.spawned, 6);
    assert_eq!(m.failed, 1);
    assert_eq!(m.last_partial_failure_rate, Some(1.0 / 6.0));
    assert_eq!(m.partial_failure_rate.count, 1);
    assert_eq!(m.cancelled.get(&CancelCause::Collateral), Some(&3));
    assert_eq!(m.cancelled_total(), 3);
    assert_eq!(
        m.errors.get(std::any::type_name::<Refused>()),
        Some(&1),
        "{:?}",
        m.errors
    );
    // The paused clock: the group ran exactly until the failure, and its
    // children stopped at once.
    let duration = &m.duration["failed"];
    assert_eq!((duration.count, duration.sum), (1, 0.010));
    assert_eq!((m.cancel_latency.count, m.cancel_latency.sum), (1, 0.0));
    assert_eq!(m.active, 0);
}

#[tokio::test(start_paused = true)]
async fn cancellations_are_labelled_by_cause() {
    let (_, handle, _guard) = install();

    // A deadline.
    let timed = Group::builder("timed").timeout(ms(50)).build().unwrap();
    timed.spawn("slow", forever::<()>()).unwrap();
    timed.join().await.unwrap_err();

    // An explicit cancel.
    let stopped = Group::new("stopped");
    stopped.spawn("a", forever::<()>()).unwrap();
    stopped.spawn("b", forever::<()>()).unwrap();
    stopped.cancel();
    stopped.join().await.unwrap();

    // A parent's cancellation reaching a nested group: the sibling of the
    // child running it fails. The child runs the step it was woken for, in
    // which its group sees the cancellation, with a grace period or without.
    for (name, grace) in [("outer", Some(ms(100))), ("no-grace", None)] {
        let mut outer = Group::builder(name);
        if let Some(grace) = grace {
            outer = outer.grace_period(grace);
        }
        let outer = outer.build().unwrap();
        outer
            .spawn("runs-inner", async move {
                let inner = Group::new(if grace.is_some() {
                    "inner"
                } else {
                    "inner-no-grace"
                });
                inner.spawn("x", forever::<()>()).unwrap();
                inner.join().await
            })
            .unwrap();
        outer
            .spawn("fails", async {
                tokio::time::sleep(ms(5)).await;
                Err::<(), _>(Invalid("bad".into()))
            })
            .unwrap();
        outer.join().await.unwrap_err();
    }

    let m = handle.metrics();
    let cancelled = |group: &str| m.group(group).unwrap().cancelled.clone();
    assert_eq!(cancelled("timed").get(&CancelCause::Deadline), Some(&1));
    assert_eq!(m.group("timed").unwrap().runs.get("timed_out"), Some(&1));
    assert_eq!(cancelled("stopped").get(&CancelCause::Explicit), Some(&2));
    assert_eq!(m.group("stopped").unwrap().runs.get("cancelled"), Some(&1));
    for inner in ["inner", "inner-no-grace"] {
        let inner_cancelled = cancelled(inner);
        assert_eq!(inner_cancelled.get(&CancelCause::ParentCancelled), Some(&1));
        assert_eq!(m.group(inner).unwrap().runs.get("cancelled"), Some(&1));
    }
    // Given grace, the child ran its group's cancellation through and
    // returned: it succeeded. Without, it stopped where it waited for its
    // group, collateral damage; its group concluded after it, while the
    // outer group waited.
    assert!(cancelled("outer").is_empty());
    assert_eq!(
        cancelled("no-grace").get(&CancelCause::Collateral),
        Some(&1)
    );
    // Every group has closed again.
    assert!(m.groups.values().all(|g| g.active == 0));
}

#[tokio::test(start_paused = true)]
async fn a_dropped_group_counts_as_cancelled_and_closes() {
    let (_, handle, _guard) = install();
    let group = Group::new("abandoned");
    group.spawn("slow", forever::<()>()).unwrap();
    let _ = tokio::time::timeout(ms(20), group.join()).await;
    tokio::task::yield_now().await;
    let m = handle.metrics();
    let m = m.group("abandoned").unwrap();
    assert_eq!(m.active, 0);
    assert_eq!(m.runs.get("cancelled"), Some(&1), "{:?}", m.runs);
    assert_eq!(m.duration["cancelled"].sum, 0.020);
}

#[tokio::test(start_paused = true)]
async fn a_sink_receives_every_measurement() {
    #[derive(Default)]
    struct Names(Mutex<Vec<String>>);
    impl MetricSink for Names {
        fn record(&self, m: &Measurement<'_>) {
            let name = match m {
                Measurement::GroupOpened { group } => format!("open {group}"),
                Measurement::GroupRun(run) => format!("run {} {}", run.group, run.outcome),
                Measurement::ChildError { group, .. } => format!("error {group}"),
                Measurement::TaskLeaked { group, .. } => format!("leak {group}"),
                _ => "other".to_owned(),
            };
            self.0.lock().unwrap().push(name);
        }
    }
    let names = Arc::new(Names::default());
    let layer = CohortLayer::builder().sink(names.clone()).build().unwrap();
    let (_, _, _guard) = support::install_layer(layer);
    let group = Group::builder("supervised")
        .policy(Policy::Supervise)
        .build()
        .unwrap();
    group
        .spawn("bad", async { Err::<(), _>(Invalid("x".into())) })
        .unwrap();
    group.spawn("good", async { Ok::<_, Invalid>(()) }).unwrap();
    group.join().await.unwrap_err();
    assert_eq!(
        *names.0.lock().unwrap(),
        [
            "open supervised",
            "error supervised",
            "run supervised failed"
        ]
    );
}

/// The layer with its own filter sees cohort's spans although the service's
/// `EnvFilter` (on its fmt layer) lets only errors through, as with
/// `RUST_LOG` unset; with that filter global instead, the layer sees only the
/// raise, and says once that cohort's spans are filtered out before it.
#[test]
fn the_layer_brings_its_own_filter_and_says_when_a_global_one_blinds_it() {
    use cohort_layer::CohortLayer;
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::prelude::*;

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    let run = |name: &'static str| async move {
        let group = Group::new(name);
        group
            .spawn("bad", async { Err::<(), _>(Invalid("x".into())) })
            .unwrap();
        group.join().await.unwrap_err();
    };

    let cohort = CohortLayer::new();
    let handle = cohort.handle();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_filter(EnvFilter::new("error")))
        .with(cohort.filtered());
    tracing::subscriber::with_default(subscriber, || rt.block_on(run("per-layer")));
    let m = handle.metrics();
    assert_eq!(m.group("per-layer").unwrap().runs["failed"], 1);

    let recorder = support::Recorder::default();
    let cohort = CohortLayer::new();
    let handle = cohort.handle();
    let subscriber = tracing_subscriber::registry()
        .with(EnvFilter::new("error"))
        .with(recorder.clone())
        .with(cohort);
    tracing::subscriber::with_default(subscriber, || {
        rt.block_on(run("global"));
        rt.block_on(run("global"));
    });
    assert!(
        handle.metrics().group("global").is_none(),
        "the layer was blind"
    );
    let notices = recorder.named(cohort_layer::SPANS_FILTERED);
    assert_eq!(notices.len(), 1, "said once");
    assert_eq!(notices[0].get("group.name"), "global");
}

#[tokio::test(start_paused = true)]
async fn group_names_beyond_the_limit_are_folded_and_announced_once() {
    // OpenTelemetry's default cardinality limit, 2,000 names, then 100 more.
    let (recorder, handle, _guard) = install();
    for i in 0..2_100 {
        let group = Group::new(format!("tenant-{i}"));
        group
            .spawn("call", async move {
                if i % 2 == 0 {
                    Err(Refused(i.to_string()))
                } else {
                    Ok(())
                }
            })
            .unwrap();
        let _ = group.join().await;
    }
    let all = handle.metrics();
    assert_eq!(all.groups.len(), 2_000);
    assert!(all.group("tenant-1999").is_some() && all.group("tenant-2000").is_none());
    let overflow = all.overflow.expect("the overflow aggregates");
    assert_eq!(overflow.runs.values().sum::<u64>(), 100);
    assert_eq!((overflow.runs["failed"], overflow.runs["ok"]), (50, 50));
    assert_eq!(
        (overflow.spawned, overflow.failed, overflow.active),
        (100, 50, 0)
    );
    // Per folded run: its open, its end, and its failure if it failed.
    assert_eq!(all.folded, 100 * 2 + 50);
    let notices = recorder.named(cohort_layer::METRICS_OVERFLOW);
    assert_eq!(notices.len(), 1, "{notices:#?}");
    assert_eq!(notices[0].get("group.name"), "tenant-2000");
    assert_eq!(notices[0].get("limit"), "2000");
    assert_eq!(notices[0].level, tracing::Level::WARN);
}

#[test]
fn the_group_name_limit_is_set_and_checked_by_the_builder() {
    let err = CohortLayer::builder()
        .max_group_names(0)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("at least 1"), "{err}");
    let layer = CohortLayer::builder().max_group_names(1).build().unwrap();
    let (_, handle, _guard) = support::install_layer(layer);
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(async {
            for name in ["a", "b", "a"] {
                Group::new(name).join().await.unwrap();
            }
        });
    let all = handle.metrics();
    assert_eq!(all.groups["a"].runs["ok"], 2);
    assert_eq!(all.overflow.map(|m| m.runs["ok"]), Some(1));
}

#[tokio::test(start_paused = true)]
async fn leaves_a_catch_chain_hands_back_are_counted_by_type() {
    let (recorder, handle, _guard) = install();
    // All three fail in their first step: three leaves, fail-fast.
    let group = Group::new("checkout");
    group
        .spawn("card", async { Err::<(), _>(Refused("card".into())) })
        .unwrap();
    group
        .spawn("address", async { Err::<(), _>(Invalid("zip".into())) })
        .unwrap();
    group
        .spawn("coupon", async { Err::<(), _>(Invalid("expired".into())) })
        .unwrap();
    let tree = group.join().await.unwrap_err();
    // The handler thought `Refused` was all that could happen.
    let rest = tree.catch::<Refused>(|_| {}).rest().unwrap_err();
    assert_eq!(rest.leaves().len(), 2);

    let m = handle.metrics();
    let unhandled = &m.group("checkout").unwrap().unhandled;
    assert_eq!(unhandled.len(), 1, "{unhandled:?}");
    assert_eq!(unhandled[std::any::type_name::<Invalid>()], 2);
    let alarms = recorder.named(cohort::telemetry::CATCH_UNHANDLED);
    assert_eq!(alarms.len(), 1);
    assert_eq!(alarms[0].level, tracing::Level::WARN);
    assert_eq!(alarms[0].get("group.name"), "checkout");
    assert_eq!(alarms[0].get("error.count"), "2");
    // The leaves were logged once, when the group raised; the alarm adds none.
    assert_eq!(recorder.leaves().len(), 3);

    // A chain that handles everything, or re-raises on purpose, is no alarm.
    let tree = cohort::ErrorGroup::new(
        "checkout",
        vec![cohort::Failure::error("card", Some(0), Refused("x".into()))],
    )
    .unwrap();
    tree.catch::<Refused>(|_| {}).rest().unwrap();
    let tree = cohort::ErrorGroup::new(
        "checkout",
        vec![cohort::Failure::error("card", Some(0), Refused("y".into()))],
    )
    .unwrap();
    let raised = tree
        .try_catch::<Refused>(|g| Err(g.into()))
        .rest()
        .unwrap_err();
    assert_eq!(raised.leaves().len(), 1);
    assert_eq!(recorder.named(cohort::telemetry::CATCH_UNHANDLED).len(), 1);
    assert_eq!(
        handle.metrics().group("checkout").unwrap().unhandled.len(),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn a_nested_failure_is_counted_once_by_its_leaf_type() {
    let (_, handle, _guard) = install();
    let outer = Group::new("outer");
    outer
        .spawn("region", async {
            let inner = Group::new("inner");
            inner
                .spawn("shard", async { Err::<(), _>(Refused("down".into())) })
                .unwrap();
            inner.join().await
        })
        .unwrap();
    outer.join().await.unwrap_err();
    let m = handle.metrics();
    assert!(
        m.group("outer").unwrap().errors.is_empty(),
        "{:?}",
        m.group("outer")
    );
    assert_eq!(m.group("outer").unwrap().failed, 1, "still a failed child");
    let inner = &m.group("inner").unwrap().errors;
    assert_eq!(inner.get(std::any::type_name::<Refused>()), Some(&1));
}

#[tokio::test(start_paused = true)]
async fn an_unresponsive_child_is_counted() {
    let (_, handle, _guard) = install();
    let group = Group::builder("stuck")
        .grace_period(ms(1_000))
        .unresponsive_after(ms(100))
        .build()
        .unwrap();
    group
        .spawn("ignores", async {
            tokio::time::sleep(ms(500)).await; // never looks at its token
            Ok::<_, Refused>(())
        })
        .unwrap();
    group
        .spawn("fails", async { Err::<(), _>(Refused("x".into())) })
        .unwrap();
    group.join().await.unwrap_err();
    assert_eq!(handle.metrics().group("stuck").unwrap().unresponsive, 1);
}
