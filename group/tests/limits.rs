//! The concurrency limit: a lazy queue of stored futures, slots released on
//! every path, nothing started after a failure, observable counts.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use cohort::{ChildOutcome, ConfigError, Group, Policy};
use support::{ValueError, fails_after, forever, ms};
use tokio::time::{Instant, sleep};

/// Tracks how many children run at once, and the most ever seen.
#[derive(Clone, Default)]
struct Gauge {
    now: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
}

impl Gauge {
    fn enter(&self) -> impl Drop {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        Leave(self.now.clone())
    }
}

struct Leave(Arc<AtomicUsize>);

impl Drop for Leave {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[tokio::test(start_paused = true)]
async fn at_most_limit_children_run_and_the_rest_queue_in_order() {
    let gauge = Gauge::default();
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let group = Group::builder("bounded").limit(3).build().unwrap();
    for i in 0..10u64 {
        let (gauge, order) = (gauge.clone(), order.clone());
        group
            .spawn(format!("c{i}"), async move {
                let _in = gauge.enter();
                order.lock().unwrap().push(i);
                sleep(ms(10)).await;
                Ok::<_, std::io::Error>(i)
            })
            .unwrap();
    }
    assert_eq!((group.running(), group.queued()), (3, 7));
    let started = Instant::now();
    group.join().await.unwrap();
    assert_eq!(gauge.peak.load(Ordering::SeqCst), 3);
    assert_eq!(
        started.elapsed(),
        ms(40),
        "ten 10ms children, three at a time: four rounds"
    );
    assert_eq!(
        *order.lock().unwrap(),
        (0..10).collect::<Vec<_>>(),
        "queued children start in spawn order"
    );
}

/// A slot is released however a child ends: ok, error (under a policy that
/// carries on), panic, or cancellation through its handle.
#[tokio::test(start_paused = true)]
async fn slots_are_released_on_every_path() {
    let group = Group::builder("paths")
        .limit(1)
        .policy(Policy::Supervise)
        .build()
        .unwrap();
    group
        .spawn("ok", async { Ok::<_, ValueError>(()) })
        .unwrap();
    group
        .spawn("error", async { Err::<(), _>(ValueError("x".into())) })
        .unwrap();
    group
        .spawn("panic", async {
            panic!("boom");
            #[allow(unreachable_code)]
            Ok::<(), ValueError>(())
        })
        .unwrap();
    let stuck = group
        .spawn("cancelled", forever::<(), ValueError>())
        .unwrap();
    let last = group
        .spawn("last", async { Ok::<_, ValueError>("ran") })
        .unwrap();
    // Let the first three run through the single slot; `stuck` then holds it.
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert_eq!((group.running(), group.queued()), (1, 1));
    stuck.cancel();
    let eg = group.join().await.unwrap_err();
    assert_eq!(eg.len(), 2, "the error and the panic");
    assert_eq!(stuck.outcome(), Some(ChildOutcome::Cancelled));
    assert_eq!(
        last.into_output(),
        Ok("ran"),
        "the slot came back after each ending"
    );
}

#[tokio::test(start_paused = true)]
async fn after_a_failure_queued_children_never_start() {
    let started = Arc::new(AtomicUsize::new(0));
    let group = Group::builder("fail-fast").limit(2).build().unwrap();
    group.spawn("failing", fails_after(ms(10))).unwrap();
    let handles: Vec<_> = (0..50)
        .map(|i| {
            let started = started.clone();
            group
                .spawn(format!("c{i}"), async move {
                    started.fetch_add(1, Ordering::SeqCst);
                    sleep(ms(100)).await;
                    Ok::<_, ValueError>(())
                })
                .unwrap()
        })
        .collect();
    let eg = group.join().await.unwrap_err();
    assert_eq!(eg.len(), 1);
    assert_eq!(
        started.load(Ordering::SeqCst),
        1,
        "only the child that held the second slot ran"
    );
    let cancelled = handles
        .iter()
        .filter(|h| h.outcome() == Some(ChildOutcome::Cancelled))
        .count();
    assert_eq!(cancelled, 50);
}

/// A queued child is a stored future, not a task: 100k of them leave the
/// runtime with only `limit` tasks alive.
#[tokio::test(start_paused = true)]
async fn queued_children_are_not_tasks() {
    let group = Group::builder("lazy").limit(4).build().unwrap();
    for i in 0..100_000u32 {
        group
            .spawn("item", async move {
                sleep(ms(1)).await;
                Ok::<_, std::io::Error>(i)
            })
            .unwrap();
    }
    let metrics = tokio::runtime::Handle::current().metrics();
    assert_eq!(metrics.num_alive_tasks(), 4);
    assert_eq!(group.queued(), 100_000 - 4);
    group.join().await.unwrap();
}

#[test]
fn a_limit_of_zero_is_a_clear_error() {
    let err = Group::builder("g").limit(0).build().unwrap_err();
    assert_eq!(err, ConfigError::ZeroLimit);
    assert_eq!(
        err.to_string(),
        "limit must be at least 1: a limit of 0 would never run a child"
    );
}

/// A child cancelled through its handle while it waits in the queue never
/// runs, and gives its place back: the children queued behind it still run.
#[tokio::test(start_paused = true)]
async fn a_child_cancelled_while_queued_gives_its_slot_back() {
    for grace in [None, Some(ms(100))] {
        let mut builder = Group::builder("one-at-a-time").limit(1);
        if let Some(grace) = grace {
            builder = builder.grace_period(grace);
        }
        let group = builder.build().unwrap();
        let ran = Arc::new(AtomicUsize::new(0));
        let child = |ran: Arc<AtomicUsize>| async move {
            ran.fetch_add(1, Ordering::SeqCst);
            sleep(ms(10)).await;
            Ok::<_, ValueError>(())
        };
        let first = group.spawn("first", child(ran.clone())).unwrap();
        let skipped = group.spawn("skipped", child(ran.clone())).unwrap();
        let last = group.spawn("last", child(ran.clone())).unwrap();
        assert_eq!(group.queued(), 2);
        skipped.cancel();
        tokio::time::timeout(ms(1_000), group.join())
            .await
            .expect("the queue moves on past the cancelled child")
            .unwrap();
        assert_eq!(ran.load(Ordering::SeqCst), 2, "grace {grace:?}");
        assert_eq!(first.outcome(), Some(ChildOutcome::Ok));
        assert_eq!(skipped.outcome(), Some(ChildOutcome::Cancelled));
        assert_eq!(last.outcome(), Some(ChildOutcome::Ok));
    }
}

/// A child that waited in the queue is, once it runs, cancelled alone like
/// any other: with a grace period, its token fires and it finishes its
/// clean-up with its own result, whether its handle was looked at since it
/// left the queue or not.
#[tokio::test(start_paused = true)]
async fn a_child_that_was_queued_gets_the_grace_period_when_cancelled_alone() {
    for looked in [false, true] {
        let group = Group::builder("one-at-a-time")
            .limit(1)
            .grace_period(ms(100))
            .build()
            .unwrap();
        group
            .spawn("first", async {
                sleep(ms(10)).await;
                Ok::<_, ValueError>("first")
            })
            .unwrap();
        let queued = group
            .spawn_with("cleans-up", |token| async move {
                token.cancelled().await;
                sleep(ms(30)).await; // flushing
                Ok::<_, ValueError>("flushed")
            })
            .unwrap();
        assert_eq!(group.queued(), 1);
        sleep(ms(20)).await; // the first is done, the queued one runs
        assert_eq!((group.running(), group.queued()), (1, 0));
        if looked {
            assert_eq!(queued.outcome(), None, "running");
        }
        let cancelled = Instant::now();
        queued.cancel();
        group.join().await.unwrap();
        assert_eq!(cancelled.elapsed(), ms(30), "looked at: {looked}");
        assert_eq!(queued.into_output(), Ok("flushed"), "looked at: {looked}");
    }
}

/// A `make` closure of `spawn_with` that panics gives its slot and its live
/// entry back: two such panics under `limit(2)` leave the group joinable, a
/// child spawned after them runs, and the unresponsive-child alarm, raised
/// for a stubborn sibling, names no child that never existed.
#[tokio::test(start_paused = true)]
async fn a_panicking_make_closure_gives_its_slot_back() {
    let (captured, _guard) = support::capture::install();
    let group = Group::builder("limited")
        .limit(2)
        .grace_period(ms(1_000))
        .unresponsive_after(ms(100))
        .build()
        .unwrap();
    for _ in 0..2 {
        let spawn = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            group.spawn_with(
                "bad-make",
                |_token| -> std::future::Ready<Result<(), ValueError>> {
                    panic!("cannot build the child")
                },
            )
        }));
        assert!(spawn.is_err());
    }
    assert_eq!((group.running(), group.queued()), (0, 0));
    let after = group
        .spawn("after", async { Ok::<_, ValueError>("ran") })
        .unwrap();
    group
        .spawn("stubborn", async {
            sleep(ms(200)).await; // ignores its cancellation
            Ok::<_, ValueError>("late")
        })
        .unwrap();
    group.cancel();
    tokio::time::timeout(ms(1_000), group.join())
        .await
        .expect("the group still joins")
        .unwrap();
    assert_eq!(after.into_output(), Ok("ran"));
    let alarms: Vec<_> = captured
        .events_named("cohort.child.unresponsive")
        .into_iter()
        .map(|e| e.fields["child.name"].clone())
        .collect();
    assert_eq!(alarms, ["stubborn"]);
}

/// `try_spawn` is refused, not queued, when every slot is taken, as Go's
/// `TryGo`; once a slot frees it runs the child at once.
#[tokio::test(start_paused = true)]
async fn try_spawn_is_refused_at_the_limit_instead_of_queueing() {
    let group = Group::builder("limited").limit(1).build().unwrap();
    group.try_spawn("first", fails_never(ms(10))).unwrap();
    let full = group.try_spawn("second", fails_never(ms(10))).unwrap_err();
    assert!(matches!(full.kind(), cohort::SpawnErrorKind::AtLimit(1)));
    assert_eq!(group.queued(), 0);
    sleep(ms(11)).await; // the first child is done
    let later = group.try_spawn("later", fails_never(ms(10))).unwrap();
    group.join().await.unwrap();
    assert_eq!(later.into_output(), Ok(()));
}

async fn fails_never(delay: std::time::Duration) -> Result<(), ValueError> {
    sleep(delay).await;
    Ok(())
}

/// Go's blocking `Go` under `SetLimit`: a loop that waits for a slot holds
/// at most the limit's children, and queues none.
#[tokio::test(start_paused = true)]
async fn spawn_when_free_waits_for_a_slot_and_queues_nothing() {
    let gauge = Gauge::default();
    let group = Group::builder("crawl").limit(3).build().unwrap();
    let started = Instant::now();
    let mut handles = Vec::new();
    for i in 0..30u64 {
        let gauge = gauge.clone();
        let handle = group
            .spawn_when_free("page", async move {
                let _running = gauge.enter();
                sleep(ms(10)).await;
                Ok::<_, ValueError>(i)
            })
            .await
            .unwrap();
        assert_eq!(group.queued(), 0, "nothing queued at item {i}");
        assert!(group.running() <= 3);
        handles.push(handle);
    }
    let outputs = group.join_all(handles).await.unwrap();
    assert_eq!(outputs, (0..30).collect::<Vec<_>>());
    assert_eq!(gauge.peak.load(Ordering::SeqCst), 3);
    assert_eq!(started.elapsed(), ms(100), "ten rounds of three");
}

/// A slot that frees goes to a child `spawn` queued before a waiting
/// spawner gets it.
#[tokio::test(start_paused = true)]
async fn queued_children_go_before_a_waiting_spawner() {
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let group = Group::builder("fair").limit(1).build().unwrap();
    let record = |name: &'static str| {
        let order = order.clone();
        async move {
            order.lock().unwrap().push(name);
            sleep(ms(10)).await;
            Ok::<_, ValueError>(())
        }
    };
    group.spawn("first", record("first")).unwrap();
    group.spawn("queued", record("queued")).unwrap();
    let waiter = group
        .spawn_when_free("waiter", record("waiter"))
        .await
        .unwrap();
    // The waiter got its slot only once the queued child had had its turn.
    assert_eq!(*order.lock().unwrap(), ["first", "queued"]);
    group.join().await.unwrap();
    assert_eq!(waiter.outcome(), Some(ChildOutcome::Ok));
    assert_eq!(*order.lock().unwrap(), ["first", "queued", "waiter"]);
}

/// The group's cancellation ends the wait with a refusal naming the child;
/// its future is never polled.
#[tokio::test(start_paused = true)]
async fn cancelling_the_group_refuses_a_waiting_spawner() {
    let group = Group::builder("busy").limit(1).build().unwrap();
    group.spawn("holder", forever::<(), ValueError>()).unwrap();
    let polled = Arc::new(AtomicUsize::new(0));
    let handle = group.handle();
    let counter = polled.clone();
    let waiter = tokio::spawn(async move {
        handle
            .spawn_when_free("late", async move {
                counter.fetch_add(1, Ordering::SeqCst);
                Ok::<_, ValueError>(())
            })
            .await
            .map(drop)
    });
    sleep(ms(5)).await; // the waiter is waiting
    group.cancel();
    let refused = waiter.await.unwrap().unwrap_err();
    assert_eq!(refused.child(), "late");
    assert!(matches!(
        refused.kind(),
        cohort::SpawnErrorKind::Closing(cohort::CancelReason::Explicit)
    ));
    group.join().await.unwrap();
    assert_eq!(polled.load(Ordering::SeqCst), 0);
}

/// A spawner that gives up waiting (its future dropped) takes no slot with
/// it, and a slot it was woken for goes to the next spawner waiting.
#[tokio::test(start_paused = true)]
async fn a_dropped_wait_keeps_no_slot() {
    let group = Group::builder("one").limit(1).build().unwrap();
    group.spawn("holder", fails_never(ms(10))).unwrap();
    let gave_up = tokio::time::timeout(ms(5), group.spawn_when_free("gave-up", fails_never(ms(1))));
    assert!(gave_up.await.is_err(), "no slot within 5ms");

    // `first` waits, then `second`; the holder's slot is handed to `first`,
    // which is dropped before it takes it.
    let first = group.spawn_when_free("first", fails_never(ms(10)));
    let mut first = Box::pin(first);
    assert!(futures_util::FutureExt::now_or_never(first.as_mut()).is_none());
    let handle = group.handle();
    let second = tokio::spawn(async move {
        handle
            .spawn_when_free("second", fails_never(ms(10)))
            .await
            .map(drop)
    });
    tokio::task::yield_now().await; // `second` waits too
    sleep(ms(6)).await; // the holder ended at 10ms
    drop(first);
    tokio::time::timeout(ms(1), second)
        .await
        .expect("the slot went on to the second spawner")
        .unwrap()
        .unwrap();
    // Exactly one slot is in use: `second`'s.
    let full = group.try_spawn("over", fails_never(ms(1))).unwrap_err();
    assert!(matches!(full.kind(), cohort::SpawnErrorKind::AtLimit(1)));
    sleep(ms(15)).await; // `second` is done
    group.try_spawn("after", fails_never(ms(1))).unwrap();
    group.join().await.unwrap();
}

/// Spawners waiting for a slot get one in the order they began to wait.
#[tokio::test(start_paused = true)]
async fn waiting_spawners_get_slots_in_the_order_they_came() {
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let group = Group::builder("fifo").limit(1).build().unwrap();
    group.spawn("holder", fails_never(ms(10))).unwrap();
    let mut spawners = Vec::new();
    for name in ["a", "b", "c"] {
        let handle = group.handle();
        let order = order.clone();
        spawners.push(tokio::spawn(async move {
            handle
                .spawn_when_free(name, async move {
                    order.lock().unwrap().push(name);
                    sleep(ms(10)).await;
                    Ok::<_, ValueError>(())
                })
                .await
                .map(drop)
        }));
        tokio::task::yield_now().await; // this one waits before the next
    }
    for spawner in spawners {
        spawner.await.unwrap().unwrap();
    }
    group.join().await.unwrap();
    assert_eq!(*order.lock().unwrap(), ["a", "b", "c"]);
}

/// A slot handed to a waiting spawner that then gives up goes to a child
/// queued meanwhile: the queue never waits while a slot is free.
#[tokio::test(start_paused = true)]
async fn a_slot_a_dropped_wait_was_given_goes_to_the_queue() {
    let group = Group::builder("one").limit(1).build().unwrap();
    group.spawn("holder", fails_never(ms(10))).unwrap();
    let mut waiter = Box::pin(group.spawn_when_free("waiter", fails_never(ms(1))));
    assert!(futures_util::FutureExt::now_or_never(waiter.as_mut()).is_none());
    sleep(ms(11)).await; // the holder's slot was handed to the waiter
    let queued = group.spawn("queued", fails_never(ms(1))).unwrap();
    assert_eq!(group.queued(), 1, "the waiter holds the slot");
    drop(waiter);
    tokio::time::timeout(ms(5), group.join())
        .await
        .expect("the queued child got the slot and ran")
        .unwrap();
    assert_eq!(queued.outcome(), Some(ChildOutcome::Ok));
}
