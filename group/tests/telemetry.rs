//! The telemetry contract (docs/telemetry.md) checked with a capturing
//! subscriber: span names, fields, parent links, and the events.

mod support;

use cohort::{Group, telemetry};
use support::capture::{self, Captured, EventRecord, SpanRecord};
use support::{ValueError, connection_error, fails_after, forever, ms};
use tokio::time::sleep;
use tracing::Instrument as _;

fn field<'a>(record: &'a SpanRecord, key: &str) -> Option<&'a str> {
    record.fields.get(key).map(String::as_str)
}

fn event_field<'a>(record: &'a EventRecord, key: &str) -> Option<&'a str> {
    record.fields.get(key).map(String::as_str)
}

/// `users` succeeds (its own work is an `http.request` span); the nested group
/// in `regions` fails at 8ms, which cancels `billing` (due to fail at 10ms) and
/// `shipping`.
async fn failing_fan_out() -> cohort::ErrorGroup {
    Group::new("aggregate")
        .scope(|g| async move {
            g.spawn("users", async {
                async { sleep(ms(5)).await }
                    .instrument(tracing::info_span!("http.request"))
                    .await;
                Ok::<_, std::io::Error>(())
            })?;
            g.spawn("billing", async {
                sleep(ms(10)).await;
                Err::<(), _>(connection_error("billing pool exhausted"))
            })?;
            g.spawn("shipping", forever::<(), std::io::Error>())?;
            g.spawn("regions", async {
                Group::new("regions")
                    .scope(|inner| async move {
                        inner.spawn("eu", async {
                            sleep(ms(8)).await;
                            Err::<(), _>(ValueError("eu corrupt".into()))
                        })?;
                        Ok::<_, cohort::SpawnError>(())
                    })
                    .await
            })?;
            Ok::<_, cohort::SpawnError>(())
        })
        .await
        .unwrap_err()
}

async fn capture_run<F: Future>(run: F) -> (Captured, F::Output) {
    let (captured, _guard) = capture::install();
    let out = run.await;
    (captured, out)
}

#[tokio::test(start_paused = true)]
async fn group_span_records_its_fields_at_creation_and_close() {
    let (captured, _) = capture_run(failing_fan_out()).await;
    let group = captured.span_where(telemetry::GROUP_SPAN, "group.name", "aggregate");
    assert_eq!(group.target, telemetry::TARGET);
    assert_eq!(field(&group, "group.mode"), Some("fail_fast"));
    assert_eq!(field(&group, "group.limit"), None, "no limit: not recorded");
    assert_eq!(field(&group, "group.outcome"), Some("failed"));
    assert_eq!(field(&group, "group.spawned"), Some("4"));
    assert_eq!(field(&group, "group.succeeded"), Some("1"));
    assert_eq!(field(&group, "group.failed"), Some("1"));
    assert_eq!(field(&group, "group.cancelled"), Some("2"));
    assert_eq!(field(&group, "otel.status_code"), Some("ERROR"));
    assert!(group.closed);
}

#[tokio::test(start_paused = true)]
async fn child_spans_nest_under_their_group_and_carry_their_outcome() {
    let (captured, _) = capture_run(failing_fan_out()).await;
    let group = captured.span_where(telemetry::GROUP_SPAN, "group.name", "aggregate");
    let child = |name: &str| captured.span_where(telemetry::CHILD_SPAN, "child.name", name);

    let expected = [
        ("users", "0", "ok", None),
        ("billing", "1", "cancelled", None),
        ("shipping", "2", "cancelled", None),
        (
            "regions",
            "3",
            "error",
            Some(cohort::telemetry::GROUP_ERROR_TYPE),
        ),
    ];
    for (name, index, outcome, error_type) in expected {
        let span = child(name);
        assert_eq!(
            span.parent,
            Some(group.id),
            "{name} is a child of its group's span"
        );
        assert_eq!(span.target, telemetry::TARGET);
        assert_eq!(field(&span, "child.index"), Some(index), "{name}");
        assert_eq!(field(&span, "child.outcome"), Some(outcome), "{name}");
        assert_eq!(field(&span, "error.type"), error_type, "{name}");
        let status = error_type.map(|_| "ERROR");
        assert_eq!(field(&span, "otel.status_code"), status, "{name}");
        assert!(span.closed, "{name}");
    }

    // The child's own work runs inside its span.
    let request = captured.spans_named("http.request").pop().unwrap();
    assert_eq!(request.parent, Some(child("users").id));

    // A nested group's span is a child of the span of the child that runs it,
    // and its children nest under it.
    let nested = captured.span_where(telemetry::GROUP_SPAN, "group.name", "regions");
    assert_eq!(nested.parent, Some(child("regions").id));
    let eu = child("eu");
    assert_eq!(eu.parent, Some(nested.id));
    assert_eq!(field(&eu, "child.outcome"), Some("error"));
    assert_eq!(
        field(&eu, "error.type"),
        Some("telemetry::support::ValueError")
    );
    assert_eq!(field(&nested, "group.outcome"), Some("failed"));
}

#[tokio::test(start_paused = true)]
async fn failure_cancel_and_raise_events() {
    let (captured, _) = capture_run(failing_fan_out()).await;
    let child = |name: &str| captured.span_where(telemetry::CHILD_SPAN, "child.name", name);
    let group = |name: &str| captured.span_where(telemetry::GROUP_SPAN, "group.name", name);

    // child failed: one per failing child, inside its span.
    let failed = captured.events_named(telemetry::CHILD_FAILED);
    assert_eq!(failed.len(), 2);
    let (eu, regions) = (&failed[0], &failed[1]);
    assert_eq!(eu.target, telemetry::TARGET);
    assert_eq!(eu.level, "WARN");
    assert_eq!(eu.span, Some(child("eu").id));
    assert_eq!(event_field(eu, "child.name"), Some("eu"));
    assert_eq!(event_field(eu, "child.index"), Some("0"));
    assert_eq!(
        event_field(eu, "error.type"),
        Some("telemetry::support::ValueError")
    );
    assert_eq!(event_field(eu, "exception.message"), Some("eu corrupt"));
    assert_eq!(event_field(eu, "error"), Some("eu corrupt"));
    assert_eq!(regions.span, Some(child("regions").id));
    assert_eq!(
        regions.error_group_leaves,
        Some(1),
        "a nested group's failure carries the ErrorGroup"
    );

    // cancel requested: each group once, with the reason and the trigger child.
    let cancels = captured.events_named(telemetry::CANCEL_REQUESTED);
    let summary: Vec<_> = cancels
        .iter()
        .map(|e| {
            (
                e.span,
                event_field(e, "reason").unwrap(),
                event_field(e, "trigger.child.name").unwrap(),
                event_field(e, "trigger.child.index").unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (Some(group("regions").id), "child_failed", "eu", "0"),
            (Some(group("aggregate").id), "child_failed", "regions", "3"),
        ]
    );

    // group raised: the ErrorGroup as a `dyn Error` field named `error`.
    let raised = captured.events_named(telemetry::GROUP_RAISED);
    assert_eq!(raised.len(), 2);
    let outer = &raised[1];
    assert_eq!(outer.level, "ERROR");
    assert_eq!(outer.span, Some(group("aggregate").id));
    assert_eq!(outer.error_group_leaves, Some(1));
    assert_eq!(event_field(outer, "error.count"), Some("1"));
    assert!(
        event_field(outer, "error")
            .unwrap()
            .starts_with(r#"group "aggregate" failed with 1 error:"#)
    );
}

#[tokio::test(start_paused = true)]
async fn a_successful_group_records_ok_and_emits_no_events() {
    let (captured, result) = capture_run(async {
        let group = Group::new("fine");
        group
            .spawn("a", async { Ok::<_, std::io::Error>(()) })
            .unwrap();
        group.join().await
    })
    .await;
    assert!(result.is_ok());
    let group = captured.span_where(telemetry::GROUP_SPAN, "group.name", "fine");
    assert_eq!(field(&group, "group.outcome"), Some("ok"));
    assert_eq!(field(&group, "otel.status_code"), None);
    assert!(captured.events().is_empty());
}

#[tokio::test(start_paused = true)]
async fn explicit_cancel_is_recorded_as_cancelled_without_a_raise() {
    let (captured, result) = capture_run(async {
        let group = Group::new("stop");
        group.spawn("a", forever::<(), std::io::Error>()).unwrap();
        group.cancel();
        group.join().await
    })
    .await;
    assert!(result.is_ok());
    let group = captured.span_where(telemetry::GROUP_SPAN, "group.name", "stop");
    assert_eq!(field(&group, "group.outcome"), Some("cancelled"));
    assert_eq!(field(&group, "group.cancelled"), Some("1"));
    // Cancelled is not failed: no error status.
    assert_eq!(field(&group, "otel.status_code"), None);
    let cancel = captured
        .events_named(telemetry::CANCEL_REQUESTED)
        .pop()
        .unwrap();
    assert_eq!(event_field(&cancel, "reason"), Some("explicit"));
    assert_eq!(event_field(&cancel, "trigger.child.name"), None);
    assert!(captured.events_named(telemetry::GROUP_RAISED).is_empty());
}

#[tokio::test(start_paused = true)]
async fn panics_body_failures_and_drops_have_their_own_reasons() {
    let (captured, _) = capture_run(async {
        let group = Group::new("panicky");
        group
            .spawn("p", async {
                panic!("boom");
                #[allow(unreachable_code)]
                Ok::<(), std::io::Error>(())
            })
            .unwrap();
        let _ = group.join().await;

        let _ = Group::new("body")
            .scope(|_| async { Err::<(), _>(ValueError("bad".into())) })
            .await;

        let dropped = Group::new("dropped");
        dropped.spawn("a", forever::<(), std::io::Error>()).unwrap();
        drop(dropped);
        tokio::task::yield_now().await;
    })
    .await;

    let child = captured.span_where(telemetry::CHILD_SPAN, "child.name", "p");
    assert_eq!(field(&child, "child.outcome"), Some("panic"));
    assert_eq!(
        field(&child, "error.type"),
        Some(cohort::telemetry::PANIC_ERROR_TYPE)
    );
    let failed = captured.events_named(telemetry::CHILD_FAILED);
    let panic = &failed[0];
    assert_eq!(event_field(panic, "exception.message"), Some("boom"));
    assert_eq!(
        event_field(panic, "error"),
        None,
        "a panic has no error value"
    );
    // A failing scope body is reported like a child, in its group's span.
    let body = &failed[1];
    assert_eq!(
        event_field(body, "child.name"),
        Some(cohort::telemetry::BODY_NAME)
    );
    assert_eq!(event_field(body, "child.index"), None);
    assert_eq!(event_field(body, "error"), Some("bad"));
    let body_group = captured.span_where(telemetry::GROUP_SPAN, "group.name", "body");
    assert_eq!(body.span, Some(body_group.id));

    let reasons: Vec<_> = captured
        .events_named(telemetry::CANCEL_REQUESTED)
        .iter()
        .map(|e| {
            (
                event_field(e, "group.name").unwrap().to_owned(),
                event_field(e, "reason").unwrap().to_owned(),
            )
        })
        .collect();
    let reasons: Vec<_> = reasons
        .iter()
        .map(|(g, r)| (g.as_str(), r.as_str()))
        .collect();
    assert_eq!(
        reasons,
        [
            ("panicky", "child_panicked"),
            ("body", "body_failed"),
            ("dropped", "dropped")
        ]
    );
}

/// A nested group whose enclosing child is cancelled records that cause.
#[tokio::test(start_paused = true)]
async fn a_nested_group_reports_its_parents_cancellation() {
    let (captured, _) = capture_run(async {
        let outer = Group::builder("outer")
            .grace_period(ms(100))
            .build()
            .unwrap();
        outer
            .spawn("nested", async {
                let inner = Group::new("inner");
                inner
                    .spawn("waits", forever::<(), std::io::Error>())
                    .unwrap();
                inner.join().await
            })
            .unwrap();
        outer
            .spawn("fails", async { Err::<(), _>(ValueError("x".into())) })
            .unwrap();
        let _ = outer.join().await;
    })
    .await;
    let inner = captured.span_where(telemetry::GROUP_SPAN, "group.name", "inner");
    assert_eq!(field(&inner, "group.outcome"), Some("cancelled"));
    let reason = captured
        .events_named(telemetry::CANCEL_REQUESTED)
        .into_iter()
        .find(|e| event_field(e, "group.name") == Some("inner"))
        .unwrap();
    assert_eq!(event_field(&reason, "reason"), Some("parent_cancelled"));
}

/// The counts on the group's span add up however children end: the body's
/// own failure counts as a failure but not as a child, and children dropped
/// from the limit's queue unstarted count as cancelled.
#[tokio::test(start_paused = true)]
async fn the_counts_add_up_when_the_body_fails_and_queued_children_never_start() {
    let (captured, result) = capture_run(async {
        let group = Group::builder("counted").limit(1).build().unwrap();
        group
            .scope(|g| async move {
                g.spawn("quick", async {
                    sleep(ms(1)).await;
                    Ok::<_, std::io::Error>(())
                })
                .unwrap();
                g.spawn("stuck", forever::<(), std::io::Error>()).unwrap();
                g.spawn("never", forever::<(), std::io::Error>()).unwrap();
                assert_eq!(g.queued(), 2);
                sleep(ms(2)).await;
                // `quick` is done, `stuck` runs, `never` still waits.
                assert_eq!((g.running(), g.queued()), (1, 1));
                Err::<(), _>(ValueError("body gave up".into()))
            })
            .await
    })
    .await;
    assert_eq!(result.unwrap_err().len(), 1);
    let span = captured.span_where(telemetry::GROUP_SPAN, "group.name", "counted");
    assert_eq!(field(&span, "group.spawned"), Some("3"));
    assert_eq!(field(&span, "group.succeeded"), Some("1"));
    assert_eq!(field(&span, "group.failed"), Some("1"), "the body");
    assert_eq!(field(&span, "group.cancelled"), Some("2"));
}

/// A deadline is recorded as its own outcome and cancel reason; the group
/// span carries its limit.
#[tokio::test(start_paused = true)]
async fn deadlines_and_limits_are_recorded() {
    let (captured, _) = capture_run(async {
        let group = Group::builder("budget")
            .timeout(ms(100))
            .limit(4)
            .policy(cohort::Policy::Supervise)
            .build()
            .unwrap();
        group
            .spawn("slow", forever::<(), std::io::Error>())
            .unwrap();
        group.join().await
    })
    .await;
    let span = captured.span_where(telemetry::GROUP_SPAN, "group.name", "budget");
    assert_eq!(field(&span, "group.outcome"), Some("timed_out"));
    assert_eq!(field(&span, "group.limit"), Some("4"));
    assert_eq!(field(&span, "group.mode"), Some("supervise"));
    assert_eq!(field(&span, "otel.status_code"), Some("ERROR"));
    let cancel = captured
        .events_named(telemetry::CANCEL_REQUESTED)
        .pop()
        .unwrap();
    assert_eq!(event_field(&cancel, "reason"), Some("deadline"));
    let raised = captured
        .events_named(telemetry::GROUP_RAISED)
        .pop()
        .unwrap();
    assert!(
        event_field(&raised, "error")
            .unwrap()
            .contains("(deadline): cohort::DeadlineExceeded")
    );
}

/// A child still running a set time after its cancellation raises the
/// unresponsive alarm, once, naming it; a child that stops in time does not.
#[tokio::test(start_paused = true)]
async fn an_unresponsive_child_is_reported() {
    let (captured, started) = capture_run(async {
        let group = Group::builder("stuck")
            .grace_period(ms(10_000))
            .unresponsive_after(ms(500))
            .build()
            .unwrap();
        // Swallows its cancellation (the guide's failure mode) for 2s.
        group
            .spawn("swallows", async {
                sleep(ms(2_000)).await;
                Ok::<_, std::io::Error>(())
            })
            .unwrap();
        group
            .spawn_with("polite", |token| async move {
                token.cancelled().await;
                Ok::<_, std::io::Error>(())
            })
            .unwrap();
        group.spawn("fails", fails_after(ms(100))).unwrap();
        let started = tokio::time::Instant::now();
        let _ = group.join().await;
        started.elapsed()
    })
    .await;
    assert_eq!(
        started,
        ms(2_000),
        "the group waited for the stubborn child"
    );
    let alarms = captured.events_named(telemetry::CHILD_UNRESPONSIVE);
    assert_eq!(alarms.len(), 1);
    let alarm = &alarms[0];
    assert_eq!(alarm.level, "WARN");
    assert_eq!(event_field(alarm, "child.name"), Some("swallows"));
    assert_eq!(event_field(alarm, "child.index"), Some("0"));
    assert_eq!(event_field(alarm, "cancelled_for_s"), Some("0.5"));
}

/// Under tokio_unstable each child's task is named `group/child`, which is
/// what tokio-console shows.
#[cfg(tokio_unstable)]
#[tokio::test(start_paused = true)]
async fn children_are_named_tasks_for_tokio_console() {
    let (captured, _) = capture_run(async {
        let group = Group::new("aggregate");
        group
            .spawn("users", async { Ok::<_, std::io::Error>(()) })
            .unwrap();
        group.join().await
    })
    .await;
    let task = captured.span_where("runtime.spawn", "task.name", "aggregate/users");
    assert_eq!(task.target, "tokio::task");
}

/// Under collect-all a failure stays with its child: the group does not raise
/// and its outcome is ok, yet `group.failed` still counts the failure, so the
/// partial-failure rate reads the same under every policy.
#[tokio::test(start_paused = true)]
async fn collect_all_counts_failures_without_raising() {
    let (captured, result) = capture_run(async {
        let group = Group::builder("gather")
            .policy(cohort::Policy::CollectAll)
            .build()
            .unwrap();
        for i in 0..4 {
            group
                .spawn(format!("task-{i}"), support::guide_task(i))
                .unwrap();
        }
        group.join().await
    })
    .await;
    assert!(result.is_ok());
    let span = captured.span_where(telemetry::GROUP_SPAN, "group.name", "gather");
    assert_eq!(field(&span, "group.outcome"), Some("ok"));
    assert_eq!(field(&span, "group.failed"), Some("1"));
    assert_eq!(field(&span, "group.spawned"), Some("4"));
    assert_eq!(captured.events_named(telemetry::CHILD_FAILED).len(), 1);
    assert!(captured.events_named(telemetry::GROUP_RAISED).is_empty());
}

/// tokio-console shows where the user spawned each child: built with
/// `tokio_unstable`, a child's task span carries the caller's file and line
/// (the spawn methods are `#[track_caller]`), and cohort says while it
/// spawns that the task is a child, which is how a layer tells children from
/// strays.
#[cfg(tokio_unstable)]
#[tokio::test(start_paused = true)]
async fn a_childs_task_is_located_at_the_users_spawn_site() {
    let (captured, _guard) = support::capture::install();
    let group = Group::new("located");
    let before = line!();
    group
        .spawn("child", async { Ok::<_, std::io::Error>(()) })
        .unwrap();
    let after = line!();
    group.spawn_infallible("infallible", async {}).unwrap();
    assert!(!cohort::telemetry::spawning_child());
    group.join().await.unwrap();
    let tasks = captured.spans_named("runtime.spawn");
    assert_eq!(tasks.len(), 2);
    for task in &tasks {
        assert_eq!(task.fields["loc.file"], file!());
    }
    let line: u32 = tasks[0].fields["loc.line"].parse().unwrap();
    assert!((before..after).contains(&line), "{line}");
}
