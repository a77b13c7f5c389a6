//! The streaming form: one child per item, at most n in flight, backpressure
//! on the stream, and no more pulling once the group fails.

mod support;

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use cohort::{Group, SpawnErrorKind};
use futures_util::StreamExt as _;
use support::{ValueError, ms};
use tokio::time::{Instant, sleep};

fn n(v: usize) -> NonZeroUsize {
    NonZeroUsize::new(v).unwrap()
}

#[tokio::test(start_paused = true)]
async fn the_stream_is_pulled_only_when_a_slot_is_free() {
    let pulled = Arc::new(AtomicUsize::new(0));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let counter = pulled.clone();
    let items = futures_util::stream::iter(0..100u64).inspect(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    let started = Instant::now();
    let (spawned, observed) = Group::new("ingest")
        .scope(|g| {
            let (in_flight, peak, pulled) = (in_flight.clone(), peak.clone(), pulled.clone());
            async move {
                let watcher = g.clone();
                let pulled_early = pulled.clone();
                // Sample how far ahead the stream was pulled while children run.
                let probe = tokio::spawn(async move {
                    sleep(ms(5)).await;
                    (pulled_early.load(Ordering::SeqCst), watcher.running())
                });
                let spawned = g
                    .spawn_stream("item", items, n(10), move |i| {
                        let (in_flight, peak) = (in_flight.clone(), peak.clone());
                        async move {
                            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                            peak.fetch_max(now, Ordering::SeqCst);
                            sleep(ms(10)).await;
                            in_flight.fetch_sub(1, Ordering::SeqCst);
                            Ok::<_, ValueError>(i)
                        }
                    })
                    .await?;
                Ok::<_, cohort::SpawnError>((spawned, probe.await.unwrap()))
            }
        })
        .await
        .unwrap()
        .expect("the body returned");
    assert_eq!(spawned, 100);
    assert_eq!(
        observed,
        (10, 10),
        "at 5ms only the first ten items were pulled"
    );
    assert_eq!(peak.load(Ordering::SeqCst), 10);
    assert_eq!(started.elapsed(), ms(100), "ten rounds of ten");
}

/// Takes 10ms per item; item 5 is corrupt.
async fn corrupt_at_5(i: u64) -> Result<u64, ValueError> {
    sleep(ms(10)).await;
    if i == 5 {
        return Err(ValueError(format!("item {i} corrupt")));
    }
    Ok(i)
}

#[tokio::test(start_paused = true)]
async fn a_failure_stops_the_pulling() {
    let pulled = Arc::new(AtomicUsize::new(0));
    let counter = pulled.clone();
    let items = futures_util::stream::iter(0..1_000u64).inspect(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    // The body feeds the stream; the failure cancels it with the children.
    let eg = Group::new("ingest")
        .scope(|g| async move { g.spawn_stream("item", items, n(4), corrupt_at_5).await })
        .await
        .unwrap_err();
    assert_eq!(eg.len(), 1);
    // Items 0-3 ran first, 4-7 in the second round, in which 5 failed.
    assert_eq!(
        pulled.load(Ordering::SeqCst),
        8,
        "pulling stopped at the failure"
    );
}

/// A feeder that outlives the cancellation (here, within a grace period) sees
/// the group cancelling and stops pulling by itself.
#[tokio::test(start_paused = true)]
async fn the_feeder_stops_pulling_when_the_group_cancels() {
    let group = Group::builder("ingest")
        .grace_period(ms(1_000))
        .build()
        .unwrap();
    let g = group.handle();
    let feeder = group
        .spawn("feeder", async move {
            let items = futures_util::stream::iter(0..1_000u64);
            g.spawn_stream("item", items, n(4), corrupt_at_5).await
        })
        .unwrap();
    group.join().await.unwrap_err();
    assert_eq!(feeder.into_output(), Ok(8));
}

#[tokio::test(start_paused = true)]
async fn an_empty_stream_spawns_nothing() {
    let group = Group::new("empty");
    let spawned = group
        .handle()
        .spawn_stream(
            "item",
            futures_util::stream::empty::<u32>(),
            n(3),
            |i| async move { Ok::<_, ValueError>(i) },
        )
        .await
        .unwrap();
    assert_eq!(spawned, 0);
    group.join().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn streaming_into_a_finished_group_is_an_error_naming_the_child() {
    let group = Group::new("done");
    let g = group.handle();
    group.join().await.unwrap();
    let err = g
        .spawn_stream(
            "item",
            futures_util::stream::iter([1u32]),
            n(1),
            |i| async move { Ok::<_, ValueError>(i) },
        )
        .await
        .unwrap_err();
    assert!(matches!(err.kind(), SpawnErrorKind::Closed));
    assert_eq!(err.child(), "item");
}

/// A feeder waiting on its stream, not on a slot, stops when its group
/// cancels: a group with no parent wakes it as it cancels.
#[tokio::test(start_paused = true)]
async fn a_feeder_waiting_on_its_stream_stops_when_its_group_cancels() {
    let group = Group::new("ingest");
    let g = group.handle();
    let canceller = group.handle();
    let (spawned, ()) = tokio::join!(
        g.spawn_stream(
            "item",
            futures_util::stream::pending::<u64>(),
            n(4),
            corrupt_at_5
        ),
        async move {
            sleep(ms(5)).await;
            canceller.cancel();
        },
    );
    assert_eq!(spawned.unwrap(), 0);
    group.join().await.unwrap();
}

/// The same in a group nested in a child, cancelled through its parent: the
/// nested feeder learns of it from its group's token.
#[tokio::test(start_paused = true)]
async fn a_nested_feeder_waiting_on_its_stream_stops_when_the_parent_cancels() {
    let outer = Group::new("outer");
    let child = outer
        .spawn("nested", async {
            let inner = Group::new("inner");
            let spawned = inner
                .handle()
                .spawn_stream(
                    "item",
                    futures_util::stream::pending::<u64>(),
                    n(4),
                    corrupt_at_5,
                )
                .await;
            inner.join().await.ok();
            Ok::<_, ValueError>(spawned.unwrap())
        })
        .unwrap();
    let started = Instant::now();
    let canceller = outer.handle();
    tokio::spawn(async move {
        sleep(ms(5)).await;
        canceller.cancel();
    });
    outer.join().await.unwrap();
    assert_eq!(started.elapsed(), ms(5), "stopped as the parent cancelled");
    // Woken by the cancellation, the child's step ran to its end: the
    // feeder had spawned nothing, and the nested group had nothing to join.
    assert_eq!(child.into_output(), Ok(0));
}

/// A feeder polled by another task than before (its future moved) is woken
/// in that task as its group cancels, not in the first one.
#[tokio::test(start_paused = true)]
async fn a_feeder_polled_from_a_new_task_is_woken_there() {
    use std::task::{Context, Poll, Wake, Waker};

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let group = Group::new("ingest");
    let g = group.handle();
    let mut feeder = Box::pin(g.spawn_stream(
        "item",
        futures_util::stream::pending::<u64>(),
        n(4),
        corrupt_at_5,
    ));
    let (first, second) = (
        Arc::new(Count(AtomicUsize::new(0))),
        Arc::new(Count(AtomicUsize::new(0))),
    );
    for count in [&first, &second] {
        let waker = Waker::from(count.clone());
        let poll = feeder.as_mut().poll(&mut Context::from_waker(&waker));
        assert!(matches!(poll, Poll::Pending), "the stream has no item");
    }
    group.cancel();
    assert_eq!(
        second.0.load(Ordering::SeqCst),
        1,
        "the task polling it now"
    );
    assert_eq!(first.0.load(Ordering::SeqCst), 0, "not the one before");
    assert_eq!(feeder.await.unwrap(), 0);
    group.join().await.unwrap();
}

/// Counts its drops.
struct Output(Arc<AtomicUsize>);

impl Drop for Output {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_childs_output_is_dropped_before_its_slot_is_given_back() {
    // Nobody reads a streamed child's output: it must not wait anywhere
    // once the child ends, or a stream of children that return large values
    // would hold more than its slots' worth of them.
    let dropped = Arc::new(AtomicUsize::new(0));
    let in_flight = 4;
    let seen = dropped.clone();
    let items = futures_util::stream::iter(0..2_000usize).inspect(move |&i| {
        // Item `i` is pulled once a slot is free: of the `i` children
        // before it, at most `in_flight - 1` still hold theirs.
        let dropped = seen.load(Ordering::SeqCst);
        assert!(
            dropped + in_flight > i,
            "item {i}: {dropped} outputs dropped"
        );
    });
    let group = Group::new("outputs");
    let made = dropped.clone();
    group
        .handle()
        .spawn_stream("item", items, n(in_flight), move |_| {
            let output = Output(made.clone());
            async move {
                tokio::task::yield_now().await;
                Ok::<_, ValueError>(output)
            }
        })
        .await
        .unwrap();
    group.join().await.unwrap();
    assert_eq!(dropped.load(Ordering::SeqCst), 2_000);
}

#[tokio::test]
async fn a_panic_as_a_streamed_childs_output_is_dropped_fails_the_child() {
    struct PanicsAsDropped;
    impl Drop for PanicsAsDropped {
        fn drop(&mut self) {
            panic!("the output's drop panicked");
        }
    }
    let group = Group::new("outputs");
    let items = futures_util::stream::iter(0..1);
    let spawned = group
        .handle()
        .spawn_stream("item", items, n(1), |_| async {
            Ok::<_, ValueError>(PanicsAsDropped)
        })
        .await
        .unwrap();
    assert_eq!(spawned, 1);
    let eg = group.join().await.unwrap_err();
    assert_eq!(eg.failures().len(), 1);
    assert!(eg.failures()[0].is_panic(), "{eg:?}");
}
