//! What the crate docs promise a child costs: its task, and no other
//! allocation, even once it waits (its waker is left with its group), unless
//! its group is nested in another group's child (then one box, for the waiter
//! on the group's token), or it waited in the limit's queue (then the cell it
//! waited in, which its handle shares); through `Completions`, its task and a
//! share of a channel block. Counted by a global allocator in this test
//! binary, as the difference between two fan-outs, so that the group's own
//! set-up cancels out.

use std::alloc::{GlobalAlloc, Layout, System};
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};

use cohort::Group;

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Under `tokio_unstable` each child's task is also given its `group/child`
/// name, for tokio-console: the string, and tokio's own copy of it.
const TASK_NAME: usize = if cfg!(tokio_unstable) { 2 } else { 0 };

/// Allocations made by a fan-out of `n` children, spawned, joined and read.
async fn fan_out(n: usize, waits: bool) -> usize {
    limited_fan_out(n, waits, None).await
}

/// The same, with at most `limit` children running at once, the others
/// queued by `spawn`.
async fn limited_fan_out(n: usize, waits: bool, limit: Option<usize>) -> usize {
    let mut handles = Vec::with_capacity(n);
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let mut group = Group::builder("counted");
    if let Some(limit) = limit {
        group = group.limit(limit);
    }
    let group = group.build().unwrap();
    for i in 0..n {
        let child = async move {
            if waits {
                tokio::task::yield_now().await;
            }
            Ok::<_, Infallible>(i)
        };
        handles.push(group.spawn("child", child).unwrap());
    }
    group.join().await.unwrap();
    let sum: usize = handles.drain(..).filter_map(|h| h.into_output().ok()).sum();
    assert_eq!(sum, n * (n - 1) / 2);
    ALLOCATIONS.load(Ordering::Relaxed) - before
}

/// The same fan-out through `Completions`, each output read as its child
/// ends.
async fn completions_fan_out(n: usize, waits: bool) -> usize {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let group = Group::new("counted");
    let mut outputs = group.completions();
    for i in 0..n {
        let child = async move {
            if waits {
                tokio::task::yield_now().await;
            }
            Ok::<_, Infallible>(i)
        };
        outputs.spawn("child", child).unwrap();
    }
    let mut sum = 0;
    while let Some((_, output)) = outputs.next().await {
        sum += output.into_std().unwrap().unwrap();
    }
    group.join().await.unwrap();
    drop(outputs);
    assert_eq!(sum, n * (n - 1) / 2);
    ALLOCATIONS.load(Ordering::Relaxed) - before
}

/// The same fan-out in a group nested in a child of another.
async fn nested_fan_out(n: usize, waits: bool) -> usize {
    let outer = Group::new("outer");
    let inner = outer
        .spawn("runs-the-fan-out", async move {
            Ok::<_, Infallible>(fan_out(n, waits).await)
        })
        .unwrap();
    outer.join().await.unwrap();
    inner.into_output().unwrap()
}

/// Every case in one test: the counter is global to this binary, and tests
/// running side by side would count each other.
#[tokio::test(flavor = "current_thread")]
async fn a_child_costs_its_task_and_a_nested_groups_waiting_child_or_a_queued_one_one_more() {
    // Warm up: the runtime's own structures grow on first use. (And before
    // the subscriber below: once a callsite has been enabled, tracing keeps
    // making its spans after the subscriber goes.)
    fan_out(2_000, true).await;
    limited_fan_out(2_000, true, Some(10)).await;
    nested_fan_out(2_000, true).await;
    completions_fan_out(2_000, true).await;

    let per_child = (fan_out(2_000, false).await - fan_out(1_000, false).await) / 1_000;
    assert_eq!(per_child, 1 + TASK_NAME, "a child that finishes at once");

    let per_child = (fan_out(2_000, true).await - fan_out(1_000, true).await) / 1_000;
    assert_eq!(per_child, 1 + TASK_NAME, "a child that waits once");

    // Through `Completions`: the outputs wait in the channel's blocks, one
    // for 32 outputs, less than one allocation a child.
    for waits in [false, true] {
        let per_child = (completions_fan_out(2_000, waits).await
            - completions_fan_out(1_000, waits).await)
            / 1_000;
        assert_eq!(per_child, 1 + TASK_NAME, "a child of a `Completions`");
    }

    // Queued: all but ten of them wait in the queue, each in one cell.
    let queued = (limited_fan_out(2_000, true, Some(10)).await
        - limited_fan_out(1_000, true, Some(10)).await)
        / 1_000;
    assert_eq!(queued, 2 + TASK_NAME, "a child queued under a limit");

    // A subscriber that records spans: a waiting child keeps its span
    // between polls, in its box.
    {
        use tracing_subscriber::prelude::*;
        struct Noop;
        impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Noop {}
        let _subscriber =
            tracing::subscriber::set_default(tracing_subscriber::registry().with(Noop));
        fan_out(2_000, true).await; // the registry's slab grows on first use
        let quick = (fan_out(2_000, false).await - fan_out(1_000, false).await) / 1_000;
        assert_eq!(
            quick,
            1 + TASK_NAME,
            "a child that finishes at once, recorded"
        );
        let waits = (fan_out(2_000, true).await - fan_out(1_000, true).await) / 1_000;
        assert_eq!(waits, 2 + TASK_NAME, "a child that waits once, recorded");
    }

    let nested = nested_fan_out(2_000, true).await - nested_fan_out(1_000, true).await;
    assert_eq!(
        nested / 1_000,
        2 + TASK_NAME,
        "a child of a nested group that waits once"
    );
}
