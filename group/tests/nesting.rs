//! Groups nested in children, and groups dropped unfinished: structured all
//! the way down (no task outlives the group above it), and no failure lost
//! (a nested group's failures reach the tree above it, or at least a
//! `cohort.group.raised` record), on tokio's paused clock.

mod support;

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use cohort::{FailureKind, Group};
use futures_util::FutureExt as _;
use support::{ValueError, fails_after, ms};
use tokio::time::{Instant, sleep};

/// The inner group's child cleans up for 50 ms within its grace period and
/// fails as it does.
fn slow_failing_cleanup(inner: &Group, cleaned: Arc<AtomicBool>) -> cohort::ChildHandle<()> {
    inner
        .spawn_with("cleanup", move |token| async move {
            token.cancelled().await;
            sleep(ms(50)).await;
            cleaned.store(true, Ordering::SeqCst);
            Err::<(), _>(ValueError("flush failed".into()))
        })
        .unwrap()
}

/// Spawns into `outer` a child running group "inner" (with a grace period)
/// whose child cleans up slowly and fails.
fn spawn_runs_inner(outer: &Group, cleaned: Arc<AtomicBool>) {
    outer
        .spawn("runs-inner", async move {
            let inner = Group::builder("inner")
                .grace_period(ms(100))
                .build()
                .unwrap();
            slow_failing_cleanup(&inner, cleaned);
            inner.join().await
        })
        .unwrap();
}

/// A nested group with a grace period inside a failing parent keeps its
/// children supervised: the child running it is stopped at once (the outer
/// group has no grace period), yet the outer group does not return while
/// the grandchild still cleans up, and the grandchild's failure reaches the
/// outer tree in the name of the child that ran its group.
#[tokio::test(start_paused = true)]
async fn the_outer_group_waits_for_grandchildren_and_gets_their_failures() {
    let cleaned = Arc::new(AtomicBool::new(false));
    let outer = Group::new("outer");
    spawn_runs_inner(&outer, cleaned.clone());
    outer.spawn("failing", fails_after(ms(10))).unwrap();
    let started = Instant::now();
    let eg = outer.join().await.unwrap_err();
    assert!(cleaned.load(Ordering::SeqCst), "the grandchild had stopped");
    assert_eq!(started.elapsed(), ms(60), "the join waited for it");
    assert_eq!(eg.leaves().len(), 2);
    let nested = &eg.failures()[0];
    assert_eq!(nested.child_name(), "runs-inner");
    let FailureKind::Group(inner) = nested.kind() else {
        panic!("expected the inner group, got {nested:?}");
    };
    assert_eq!(inner.name(), "inner");
    assert_eq!(inner.failures()[0].child_name(), "cleanup");
    assert_eq!(eg.failures()[1].child_name(), "failing");
}

/// A nested group whose run is over when its parent cancels it (its child
/// failed in the same timer tick as the outer sibling) still delivers its
/// failure into the parent's tree: the child running it is polled for the
/// step it was woken for, in which its group's join completes.
#[tokio::test(start_paused = true)]
async fn a_nested_group_ending_as_its_parent_cancels_still_delivers() {
    let outer = Group::new("outer");
    outer
        .spawn("runs-inner", async {
            let inner = Group::new("inner");
            inner.spawn("bad", fails_after(ms(10))).unwrap();
            inner.join().await
        })
        .unwrap();
    outer.spawn("failing", fails_after(ms(10))).unwrap();
    let eg = outer.join().await.unwrap_err();
    let leaves: Vec<_> = eg
        .leaves()
        .iter()
        .map(|leaf| {
            (
                leaf.group.name().to_owned(),
                leaf.failure.child_name().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        leaves,
        [
            ("inner".to_owned(), "bad".to_owned()),
            ("outer".to_owned(), "failing".to_owned())
        ]
    );
}

/// A group dropped unfinished (an outer timeout) still reports a failure
/// that happens as its children wind down: its run is concluded once the
/// last of them has stopped, with a `cohort.group.raised` event that a log
/// layer turns into leaf records.
#[tokio::test(start_paused = true)]
async fn a_failure_in_a_dropped_group_is_still_reported() {
    let (captured, _guard) = support::capture::install();
    let cleaned = Arc::new(AtomicBool::new(false));
    let group = Group::builder("abandoned")
        .grace_period(ms(100))
        .build()
        .unwrap();
    let cleanup = slow_failing_cleanup(&group, cleaned.clone());
    let _ = tokio::time::timeout(ms(10), group.join()).await;
    assert!(captured.events_named("cohort.group.raised").is_empty());
    sleep(ms(60)).await; // the clock moves past the cleanup
    assert!(cleaned.load(Ordering::SeqCst));
    assert_eq!(cleanup.outcome(), Some(cohort::ChildOutcome::Error));
    let raised = captured.events_named("cohort.group.raised");
    assert_eq!(raised.len(), 1);
    assert_eq!(raised[0].error_group_leaves, Some(1));
    let span = &captured.spans_named("cohort.group")[0];
    assert_eq!(span.fields["group.outcome"], "failed");
}

/// The same through a nesting: the outer group is dropped, its child with
/// it, and the nested group's grandchild fails while it winds down. The
/// nested group hands its failure up, and the outer group, concluded only
/// after it, reports it in its own tree.
#[tokio::test(start_paused = true)]
async fn a_dropped_parent_still_reports_its_grandchildrens_failures() {
    let (captured, _guard) = support::capture::install();
    let cleaned = Arc::new(AtomicBool::new(false));
    let outer = Group::new("outer");
    spawn_runs_inner(&outer, cleaned.clone());
    let _ = tokio::time::timeout(ms(10), outer.join()).await;
    sleep(ms(60)).await;
    assert!(cleaned.load(Ordering::SeqCst));
    let raised = captured.events_named("cohort.group.raised");
    let names: Vec<_> = raised
        .iter()
        .map(|e| e.fields["group.name"].as_str())
        .collect();
    assert_eq!(names, ["inner", "outer"], "inner first, then outer with it");
    assert_eq!(raised[1].error_group_leaves, Some(1));
}

/// A panicking scope body still waits for the children (cancelled, in their
/// grace period) before the panic goes on; the panic is reported as a leaf
/// of the body first.
#[tokio::test(start_paused = true)]
async fn a_panicking_body_waits_for_the_children_before_the_panic_goes_on() {
    let (captured, _guard) = support::capture::install();
    let cleaned = Arc::new(AtomicBool::new(false));
    let done = cleaned.clone();
    let group = Group::builder("panicky-body")
        .grace_period(ms(100))
        .build()
        .unwrap();
    let started = Instant::now();
    let scope = group.scope(|g| async move {
        g.spawn_with("cleanup", move |token| async move {
            token.cancelled().await;
            sleep(ms(30)).await;
            done.store(true, Ordering::SeqCst);
            Ok::<_, std::io::Error>(())
        })?;
        sleep(ms(10)).await;
        if started.elapsed() > ms(5) {
            panic!("body bug");
        }
        Ok::<_, cohort::SpawnError>(())
    });
    let payload = AssertUnwindSafe(scope).catch_unwind().await.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"body bug"));
    assert!(cleaned.load(Ordering::SeqCst), "the child had cleaned up");
    assert_eq!(started.elapsed(), ms(40));
    let raised = captured.events_named("cohort.group.raised");
    assert_eq!(raised.len(), 1);
    assert!(raised[0].fields["error"].contains("panicked: body bug"));
}

/// A group built inside a child and left unjoined (dropped where it was
/// made) lets its enclosing group finish once its own children are gone.
#[tokio::test(start_paused = true)]
async fn a_nested_group_dropped_at_once_does_not_keep_its_parent_open() {
    let outer = Group::new("outer");
    outer
        .spawn("makes-and-drops", async {
            let inner = Group::new("inner");
            inner
                .spawn("quick", async { Ok::<_, std::io::Error>(()) })
                .unwrap();
            drop(inner);
            Ok::<_, std::io::Error>(())
        })
        .unwrap();
    tokio::time::timeout(ms(1_000), outer.join())
        .await
        .expect("the outer group finishes")
        .unwrap();
}
