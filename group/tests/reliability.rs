//! A failure is never turned into success, and a panic in user code (an
//! error's `Display`) never escapes into the caller, on tokio's paused clock.

mod support;

use std::fmt;
use std::time::Duration;

use cohort::{ChildOutcome, Group};
use support::{forever, ms};

/// An error whose `Display` panics, as a buggy service error may.
#[derive(Debug)]
struct Unprintable;

impl fmt::Display for Unprintable {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        panic!("Display is broken")
    }
}

impl std::error::Error for Unprintable {}

/// With a subscriber that renders every error field, a child whose error's
/// `Display` panics still fails the group: its sibling is cancelled, the
/// leaf is in the tree, the outcome is `failed`, and rendering the tree says
/// where the message could not be written.
#[tokio::test(start_paused = true)]
async fn a_failure_whose_display_panics_still_fails_the_group() {
    let (captured, _guard) = support::capture::install();
    let group = Group::new("fragile");
    let sibling = group
        .spawn("sibling", forever::<(), std::io::Error>())
        .unwrap();
    group
        .spawn("unprintable", async {
            tokio::time::sleep(ms(10)).await;
            Err::<(), _>(Unprintable)
        })
        .unwrap();
    let eg = group.join().await.unwrap_err();
    assert_eq!(eg.leaves().len(), 1);
    assert!(eg.failures()[0].downcast_ref::<Unprintable>().is_some());
    assert_eq!(sibling.outcome(), Some(ChildOutcome::Cancelled));
    assert_eq!(
        eg.failures()[0].message(),
        cohort::telemetry::DISPLAY_PANICKED
    );
    assert!(eg.to_string().contains(cohort::telemetry::DISPLAY_PANICKED));
    let span = &captured.spans_named("cohort.group")[0];
    assert_eq!(span.fields["group.outcome"], "failed");
}

/// The rule for a deadline that passes while the last child holds the thread
/// (current-thread runtime): the child ended before the group got to look,
/// so it counts as ended and the run is `Ok`, every time, rather than a
/// random pick between two ready futures. The child blocks the thread for
/// real, 30 ms against a 1 ms deadline: the deadline has passed whenever it
/// returns.
#[test]
fn a_child_that_ended_before_the_group_saw_the_deadline_counts_as_ended() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for _ in 0..10 {
        let result = rt.block_on(async {
            let group = Group::builder("tight").timeout(ms(1)).build().unwrap();
            group
                .spawn("blocks", async {
                    std::thread::sleep(ms(30)); // holds the thread past the deadline
                    Ok::<_, std::io::Error>(())
                })
                .unwrap();
            group.join().await
        });
        assert!(result.is_ok(), "{result:?}");
    }
}

/// Panics in its `Drop`, as a buggy resource guard may.
struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("Drop is broken");
        }
    }
}

/// A queued child whose future panics as it is dropped (the group cancelled
/// before it ran) is isolated, as tokio isolates a running one: the failure
/// that cancelled the group still comes back from `join`, its child's handle
/// still reads its failure, and an explicit `cancel` with two such children
/// queued returns (before, it aborted the process).
#[tokio::test(start_paused = true)]
async fn a_queued_childs_drop_panic_stays_with_it() {
    let queued = || {
        let guard = PanicsOnDrop;
        async move {
            let _guard = guard;
            Ok::<_, std::io::Error>(())
        }
    };
    let group = Group::builder("limited").limit(1).build().unwrap();
    let failing = group
        .spawn("failing", support::fails_after(ms(10)))
        .unwrap();
    group.spawn("queued-1", queued()).unwrap();
    group.spawn("queued-2", queued()).unwrap();
    let eg = group.join().await.unwrap_err();
    assert_eq!(eg.failures()[0].child_name(), "failing");
    assert!(matches!(failing.into_result(), cohort::ChildResult::Raised));

    let group = Group::builder("limited").limit(1).build().unwrap();
    group
        .spawn("running", forever::<(), std::io::Error>())
        .unwrap();
    let q1 = group.spawn("queued-1", queued()).unwrap();
    group.spawn("queued-2", queued()).unwrap();
    group.cancel();
    group.join().await.unwrap();
    assert_eq!(q1.outcome(), Some(ChildOutcome::Cancelled));
}

/// Blocks in its `Drop`, as a guard that joins a thread may: here until the
/// unresponsive alarm is recorded (at most 10 s), so that the alarm is what
/// lets it go.
struct BlocksInDrop(support::capture::Captured);

impl Drop for BlocksInDrop {
    fn drop(&mut self) {
        self.0.wait_for_event(
            cohort::telemetry::CHILD_UNRESPONSIVE,
            Duration::from_secs(10),
        );
    }
}

/// A cancelled child whose `Drop` blocks its worker thread is still running
/// as far as the group is concerned: the alarm names it while it blocks.
/// Real threads and time: a blocked thread is the point, and the paused clock
/// runs only on a current-thread runtime, which the `Drop` would block whole.
#[test]
fn a_child_blocking_in_its_drop_after_cancellation_raises_the_alarm() {
    let (captured, _guard) = support::capture::install();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let guard = BlocksInDrop(captured.clone());
    let result = rt.block_on(async move {
        let group = Group::builder("blocking-drop")
            .unresponsive_after(ms(50))
            .build()
            .unwrap();
        group
            .spawn("guarded", async move {
                let _guard = guard;
                forever::<(), std::io::Error>().await
            })
            .unwrap();
        group
            .spawn("fails", async {
                Err::<(), _>(std::io::Error::other("boom"))
            })
            .unwrap();
        group.join().await
    });
    assert_eq!(result.unwrap_err().leaves().len(), 1);
    let alarms = captured.events_named(cohort::telemetry::CHILD_UNRESPONSIVE);
    assert_eq!(
        alarms.len(),
        1,
        "no alarm for the child blocked in its Drop"
    );
    assert_eq!(
        alarms[0].fields.get("child.name").map(String::as_str),
        Some("guarded")
    );
}
