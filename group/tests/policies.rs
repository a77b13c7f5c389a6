//! Policies beyond fail-fast: collect-all (gather), supervise, first-success.

mod support;

use cohort::{ChildOutcome, ChildResult, Group, Policy};
use support::{ValueError, forever, guide_task, ms};
use tokio::time::{Instant, sleep};

/// Spawns the guide's four gather tasks (task 2 fails at 20ms).
fn spawn_guide_tasks(group: &Group) -> Vec<cohort::ChildHandle<u64>> {
    (0..4)
        .map(|i| group.spawn(format!("task-{i}"), guide_task(i)).unwrap())
        .collect()
}

/// gather(return_exceptions=True): nothing is cancelled, the group does not
/// raise, and each child's result (output or own failure) is in its handle.
#[tokio::test(start_paused = true)]
async fn collect_all_keeps_one_result_per_child_in_spawn_order() {
    let group = Group::builder("gather")
        .policy(Policy::CollectAll)
        .build()
        .unwrap();
    let handles = spawn_guide_tasks(&group);
    let started = Instant::now();
    group.join().await.expect("collect-all does not raise");
    assert_eq!(started.elapsed(), ms(30), "task 3 ran to completion");
    let results: Vec<_> = handles
        .into_iter()
        .map(|h| h.into_result().into_std().unwrap())
        .collect();
    assert!(matches!(results[0], Ok(0)));
    assert!(matches!(results[1], Ok(1)));
    let failure = results[2].as_ref().unwrap_err();
    assert_eq!(
        failure.downcast_ref::<ValueError>().unwrap().0,
        "task 2 failed"
    );
    assert!(matches!(results[3], Ok(3)));
}

/// Supervise: siblings carry on, new children are still accepted after a
/// failure, and every failure is reported at the end.
#[tokio::test(start_paused = true)]
async fn supervise_reports_every_failure_at_the_end() {
    let group = Group::builder("workers")
        .policy(Policy::Supervise)
        .build()
        .unwrap();
    let handles = spawn_guide_tasks(&group);
    let g = group.handle();
    let late = group
        .spawn("spawns-after-failure", async move {
            sleep(ms(25)).await; // after task 2 failed
            let child = g.spawn("late", async {
                Err::<(), _>(ValueError("late failed".into()))
            });
            Ok::<_, ValueError>(child.is_ok())
        })
        .unwrap();
    let eg = group.join().await.unwrap_err();
    let failed: Vec<_> = eg
        .failures()
        .iter()
        .map(|f| f.child_name().to_owned())
        .collect();
    assert_eq!(failed, ["task-2", "late"]);
    assert_eq!(
        handles[3].outcome(),
        Some(ChildOutcome::Ok),
        "a sibling carried on"
    );
    assert_eq!(late.into_output(), Ok(true));
    assert!(handles[2].take_output().is_err());
}

/// First-success: the first success cancels the rest.
#[tokio::test(start_paused = true)]
async fn first_success_cancels_the_rest() {
    let group = Group::builder("replicas")
        .policy(Policy::FirstSuccess)
        .build()
        .unwrap();
    let replicas: Vec<_> = [30u64, 10, 20]
        .into_iter()
        .map(|delay| {
            group
                .spawn(format!("replica-{delay}"), async move {
                    sleep(ms(delay)).await;
                    Ok::<_, std::io::Error>(delay)
                })
                .unwrap()
        })
        .collect();
    let failing = group
        .spawn("broken", async {
            Err::<u64, _>(std::io::Error::other("refused"))
        })
        .unwrap();
    let started = Instant::now();
    group.join().await.expect("one replica succeeded");
    assert_eq!(started.elapsed(), ms(10));
    let winners: Vec<_> = replicas
        .iter()
        .filter_map(|h| h.take_output().ok())
        .collect();
    assert_eq!(winners, [10]);
    assert_eq!(replicas[0].outcome(), Some(ChildOutcome::Cancelled));
    assert_eq!(
        failing.outcome(),
        Some(ChildOutcome::Error),
        "a failure did not cancel the race"
    );
}

/// First-success with no success raises every failure.
#[tokio::test(start_paused = true)]
async fn first_success_without_a_success_raises_all_failures() {
    let group = Group::builder("replicas")
        .policy(Policy::FirstSuccess)
        .build()
        .unwrap();
    for i in 0..3 {
        group
            .spawn(format!("replica-{i}"), async move {
                sleep(ms(10 * i)).await;
                Err::<(), _>(std::io::Error::other(format!("replica {i} down")))
            })
            .unwrap();
    }
    let eg = group.join().await.unwrap_err();
    assert_eq!(eg.len(), 3);
}

/// Under collect-all a child that is still running reports it, and a
/// cancelled one says so.
#[tokio::test(start_paused = true)]
async fn child_results_say_how_the_child_ended() {
    let group = Group::builder("gather")
        .policy(Policy::CollectAll)
        .build()
        .unwrap();
    let stuck = group.spawn("stuck", forever::<(), ValueError>()).unwrap();
    assert!(matches!(
        group
            .spawn("x", forever::<(), ValueError>())
            .unwrap()
            .into_result(),
        ChildResult::Running
    ));
    group.cancel();
    group.join().await.unwrap();
    assert!(matches!(stuck.into_result(), ChildResult::Cancelled));

    // Under fail-fast the failure is in the group's error instead.
    let group = Group::new("fail-fast");
    let failing = group
        .spawn("x", async { Err::<(), _>(ValueError("x".into())) })
        .unwrap();
    let _ = group.join().await.unwrap_err();
    assert!(matches!(failing.into_result(), ChildResult::Raised));
}

/// The scope body is the group's owner: its failure raises under every
/// policy, even when a child succeeded in a first-success race.
#[tokio::test(start_paused = true)]
async fn a_failing_body_raises_under_first_success() {
    let eg = Group::builder("replicas")
        .policy(Policy::FirstSuccess)
        .build()
        .unwrap()
        .scope(|g| async move {
            g.spawn("replica", async { Ok::<_, std::io::Error>(1) })
                .map_err(|e| ValueError(e.to_string()))?;
            tokio::task::yield_now().await; // the replica wins
            Err::<(), _>(ValueError("could not record the winner".into()))
        })
        .await
        .unwrap_err();
    assert_eq!(eg.failures()[0].child_name(), cohort::telemetry::BODY_NAME);
    let error = eg.failures()[0].downcast_ref::<ValueError>().unwrap();
    assert_eq!(error.0, "could not record the winner");
}

/// A passed deadline raises under every policy: here it fires while the
/// first-success race winds down, and aborts the body.
#[tokio::test(start_paused = true)]
async fn a_deadline_raises_under_first_success() {
    let eg = Group::builder("replicas")
        .policy(Policy::FirstSuccess)
        .timeout(ms(50))
        .grace_period(ms(1_000))
        .build()
        .unwrap()
        .scope(|g| async move {
            g.spawn("fast", async {
                tokio::time::sleep(ms(10)).await;
                Ok::<_, std::io::Error>(1)
            })
            .map_err(|e| ValueError(e.to_string()))?;
            g.spawn("slow", async {
                tokio::time::sleep(ms(500)).await; // ignores its cancellation
                Ok::<_, std::io::Error>(2)
            })
            .map_err(|e| ValueError(e.to_string()))?;
            tokio::time::sleep(ms(1_000)).await;
            Ok::<_, ValueError>(())
        })
        .await
        .unwrap_err();
    assert_eq!(eg.len(), 1);
    assert!(
        eg.failures()[0]
            .downcast_ref::<cohort::DeadlineExceeded>()
            .is_some()
    );
}

/// Under collect-all a failure stays with its child, and the child's handle
/// still tells an error from a panic.
#[tokio::test(start_paused = true)]
async fn collect_all_handles_tell_errors_from_panics() {
    let group = Group::builder("gather")
        .policy(Policy::CollectAll)
        .build()
        .unwrap();
    let erring = group
        .spawn("erring", async { Err::<(), _>(ValueError("bad".into())) })
        .unwrap();
    let panicking = group
        .spawn("panicking", async {
            if true {
                panic!("boom");
            }
            Ok::<(), ValueError>(())
        })
        .unwrap();
    group.join().await.expect("collect-all does not raise");
    assert_eq!(erring.outcome(), Some(ChildOutcome::Error));
    assert_eq!(panicking.outcome(), Some(ChildOutcome::Panic));
    let failure = panicking.into_result().into_std().unwrap().unwrap_err();
    assert!(failure.is_panic());
}

/// A first-success race nobody won is not a success, even with nothing
/// failed: with no child spawned, or every child cancelled by hand, the run
/// raises a `NoSuccess` leaf, as the JDK's `anySuccessfulResultOrThrow`
/// throws.
#[tokio::test(start_paused = true)]
async fn first_success_without_a_winner_is_not_ok() {
    let race = || {
        Group::builder("replicas")
            .policy(Policy::FirstSuccess)
            .build()
            .unwrap()
    };
    let eg = race().join().await.unwrap_err();
    let none = eg.errors::<cohort::NoSuccess>().next().unwrap();
    assert_eq!(none.spawned(), 0);
    assert_eq!(
        eg.failures()[0].child_name(),
        cohort::telemetry::NO_SUCCESS_NAME
    );
    assert_eq!(eg.failures()[0].error_type(), "cohort::NoSuccess");

    let group = race();
    for i in 0..2 {
        group
            .spawn(format!("replica-{i}"), forever::<(), std::io::Error>())
            .unwrap()
            .cancel();
    }
    let eg = group.join().await.unwrap_err();
    let none = eg.errors::<cohort::NoSuccess>().next().unwrap();
    assert_eq!((none.spawned(), none.cancelled()), (2, 2));
    assert_eq!(
        none.to_string(),
        "no child succeeded: 2 spawned, 2 cancelled"
    );
}
