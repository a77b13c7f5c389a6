//! Group deadlines: a distinct timed-out outcome, partial results kept, a
//! child failure in the same window visible too, and deadlines already past.

mod support;

use std::time::Duration;

use cohort::telemetry::DEADLINE_NAME;
use cohort::{ChildOutcome, DeadlineExceeded, Group};
use support::{ValueError, fails_after, forever, ms};
use tokio::time::{Instant, sleep};

#[tokio::test(start_paused = true)]
async fn a_deadline_times_out_distinctly_and_keeps_partial_results() {
    let group = Group::builder("budget").timeout(ms(100)).build().unwrap();
    let fast = group
        .spawn("fast", async {
            sleep(ms(20)).await;
            Ok::<_, std::io::Error>("fast")
        })
        .unwrap();
    let slow = group
        .spawn("slow", forever::<&str, std::io::Error>())
        .unwrap();
    let started = Instant::now();
    let eg = group.join().await.unwrap_err();
    assert_eq!(started.elapsed(), ms(100));

    // The timeout is its own leaf, of its own type: not "a child failed".
    assert_eq!(eg.len(), 1);
    let leaf = &eg.failures()[0];
    assert_eq!(leaf.child_name(), DEADLINE_NAME);
    assert_eq!(
        leaf.downcast_ref::<DeadlineExceeded>().unwrap().after(),
        ms(100)
    );
    assert_eq!(leaf.message(), "group deadline of 100ms exceeded");
    assert_eq!(fast.into_output(), Ok("fast"), "partial results are kept");
    assert_eq!(slow.outcome(), Some(ChildOutcome::Cancelled));
}

/// A child that fails during the grace period that the deadline started is
/// visible next to the timeout, and each can be handled by type.
#[tokio::test(start_paused = true)]
async fn a_failure_in_the_same_window_is_visible_with_the_timeout() {
    let group = Group::builder("budget")
        .timeout(ms(50))
        .grace_period(ms(20))
        .build()
        .unwrap();
    group
        .spawn_with("flusher", |token| async move {
            token.cancelled().await;
            Err::<(), _>(ValueError("flush interrupted".into()))
        })
        .unwrap();
    let eg = group.join().await.unwrap_err();
    let (mut timeouts, mut failures) = (0, 0);
    let rest = eg
        .catch::<DeadlineExceeded>(|g| timeouts = g.len())
        .catch::<ValueError>(|g| failures = g.len())
        .rest();
    assert!(rest.is_ok());
    assert_eq!((timeouts, failures), (1, 1));
}

/// In the scope form the deadline cancels the body too.
#[tokio::test(start_paused = true)]
async fn a_deadline_cancels_the_scope_body() {
    let (alive_tx, alive_rx) = tokio::sync::oneshot::channel::<()>();
    let eg = Group::builder("budget")
        .timeout(ms(30))
        .build()
        .unwrap()
        .scope(|_g| async move {
            let _alive = alive_tx;
            sleep(ms(1_000)).await;
            Ok::<_, std::io::Error>(())
        })
        .await
        .unwrap_err();
    assert!(alive_rx.await.is_err());
    assert!(
        eg.failures()[0]
            .downcast_ref::<DeadlineExceeded>()
            .is_some()
    );
}

/// A group that finishes in time is unaffected by its deadline.
#[tokio::test(start_paused = true)]
async fn a_group_that_finishes_in_time_is_ok() {
    let group = Group::builder("budget").timeout(ms(100)).build().unwrap();
    group
        .spawn("quick", async {
            sleep(ms(99)).await;
            Ok::<_, std::io::Error>(())
        })
        .unwrap();
    group.join().await.unwrap();
}

/// A deadline already past, as a request deadline propagated from upstream
/// often is, times the group out at once (asyncio's `timeout_at`, Trio's
/// `move_on_at`, the JDK's `StructuredTaskScope`), and so does a zero
/// timeout: outcome `timed_out`, a `DeadlineExceeded` leaf, the children
/// cancelled at their first suspension.
#[tokio::test(start_paused = true)]
async fn a_deadline_already_past_times_the_group_out_at_once() {
    let (captured, _guard) = support::capture::install();
    let past = Instant::now();
    sleep(ms(5)).await;
    for group in [
        Group::builder("late").deadline(past).build().unwrap(),
        Group::builder("no-time")
            .timeout(Duration::ZERO)
            .build()
            .unwrap(),
    ] {
        let slow = group
            .spawn("slow", forever::<(), std::io::Error>())
            .unwrap();
        let started = Instant::now();
        let eg = group.join().await.unwrap_err();
        assert_eq!(started.elapsed(), Duration::ZERO);
        assert_eq!(eg.len(), 1);
        assert_eq!(eg.failures()[0].child_name(), DEADLINE_NAME);
        let exceeded = eg.errors::<DeadlineExceeded>().next().unwrap();
        assert_eq!(exceeded.after(), Duration::ZERO);
        assert_eq!(slow.outcome(), Some(ChildOutcome::Cancelled));
    }
    let outcomes: Vec<_> = captured
        .spans_named("cohort.group")
        .iter()
        .map(|g| g.fields.get("group.outcome").cloned())
        .collect();
    assert_eq!(
        outcomes,
        [Some("timed_out".into()), Some("timed_out".into())]
    );
}

/// A deadline that passes while the group is already cancelling for a real
/// failure (its children in their grace period) is not a second failure: the
/// outcome stays `failed`, and the tree holds the real failure alone.
#[tokio::test(start_paused = true)]
async fn a_deadline_passing_while_a_failure_cancels_is_not_a_second_failure() {
    let (captured, _guard) = support::capture::install();
    let group = Group::builder("budget")
        .timeout(ms(50))
        .grace_period(ms(100))
        .build()
        .unwrap();
    group
        .spawn_with("slow-cleanup", |token| async move {
            token.cancelled().await;
            sleep(ms(80)).await; // past the deadline
            Ok::<_, std::io::Error>(())
        })
        .unwrap();
    group.spawn("failing", fails_after(ms(10))).unwrap();
    let eg = group.join().await.unwrap_err();
    assert_eq!(eg.len(), 1);
    assert!(eg.errors::<ValueError>().next().is_some());
    assert!(eg.errors::<DeadlineExceeded>().next().is_none());
    let group = &captured.spans_named("cohort.group")[0];
    assert_eq!(group.fields["group.outcome"], "failed");
}

/// A timeout too large for the clock means no deadline, not a panic.
#[tokio::test(start_paused = true)]
async fn an_enormous_timeout_is_no_deadline() {
    let group = Group::builder("forever")
        .timeout(Duration::MAX)
        .build()
        .unwrap();
    group
        .spawn("a", async { Ok::<_, std::io::Error>(()) })
        .unwrap();
    group.join().await.unwrap();
}
