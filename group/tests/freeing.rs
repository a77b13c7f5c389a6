//! Where and when the tasks of children without a handle (those of a
//! `Completions`, and a stream's) are freed, on a runtime of many threads:
//! on the thread that spawns or reads them, as a `JoinSet`'s are, and soon
//! after each child ends, whatever order the children end in. Counted by a
//! global allocator in this test binary.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::convert::Infallible;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};

use cohort::Group;

struct Counting;

/// Blocks allocated and not freed yet, and the most there were since the
/// last reset.
static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);
/// Blocks freed by threads other than the one reading the results.
static FREED_ELSEWHERE: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Whether this thread reads the results.
    static READER: Cell<bool> = const { Cell::new(false) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(1, Ordering::Relaxed) + 1;
        PEAK.fetch_max(live, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(1, Ordering::Relaxed);
        // `try_with`: a thread's locals may be gone as it exits.
        if !READER.try_with(Cell::get).unwrap_or(false) {
            FREED_ELSEWHERE.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const CHILDREN: usize = 10_000;

/// Every case in one test: the counters are global to this binary, and tests
/// running side by side would count each other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_are_freed_by_their_owner_soon_after_their_children_end() {
    READER.with(|reader| reader.set(true));

    // Spawned, then read: the workers run the children, and free none of
    // their tasks.
    let group = Group::new("fan-out");
    let mut outputs = group.completions();
    let elsewhere = FREED_ELSEWHERE.load(Ordering::Relaxed);
    for i in 0..CHILDREN {
        outputs
            .spawn("child", async move { Ok::<_, Infallible>(i) })
            .unwrap();
    }
    let mut sum = 0;
    while let Some((_, output)) = outputs.next().await {
        sum += output.into_std().unwrap().unwrap();
    }
    assert_eq!(sum, CHILDREN * (CHILDREN - 1) / 2);
    let elsewhere = FREED_ELSEWHERE.load(Ordering::Relaxed) - elsewhere;
    // A task whose handle is dropped while its worker still holds it is
    // freed by that worker: a few, not one a child.
    assert!(
        elsewhere < CHILDREN / 10,
        "{elsewhere} blocks freed by the workers for {CHILDREN} children"
    );
    group.join().await.unwrap();

    // A child that never ends holds back none of the others: each read as
    // it ends, their tasks do not pile up behind it.
    let group = Group::new("one-stays");
    let mut outputs = group.completions();
    let (_stop, stays) = tokio::sync::oneshot::channel::<()>();
    outputs
        .spawn("stays", async move {
            let _ = stays.await;
            Ok::<_, Infallible>(0)
        })
        .unwrap();
    let live = LIVE.load(Ordering::Relaxed);
    for i in 1..=CHILDREN {
        outputs
            .spawn("child", async move { Ok::<_, Infallible>(i) })
            .unwrap();
        let (index, output) = outputs.next().await.unwrap();
        assert_eq!((index, output.into_std().unwrap().unwrap()), (i, i));
    }
    let grown = LIVE.load(Ordering::Relaxed) - live;
    assert!(
        grown < 100,
        "{grown} blocks held after {CHILDREN} children read"
    );
    group.cancel();
    let (_, stayed) = outputs.next().await.unwrap();
    assert!(
        matches!(stayed, cohort::ChildResult::Cancelled),
        "{stayed:?}"
    );
    drop(outputs);
    group.join().await.unwrap();

    // Spawned as slots free up and not read yet: only the results wait, 32
    // to a block; the tasks kept stay within a few times the limit.
    let group = Group::builder("limited").limit(4).build().unwrap();
    let mut outputs = group.completions();
    let live = LIVE.load(Ordering::Relaxed);
    for i in 0..CHILDREN {
        outputs
            .spawn_when_free("child", async move { Ok::<_, Infallible>(i) })
            .await
            .unwrap();
    }
    let grown = LIVE.load(Ordering::Relaxed) - live;
    let blocks = (CHILDREN / 32) as isize;
    assert!(
        grown < blocks + 100,
        "{grown} blocks held for {CHILDREN} children unread"
    );
    let mut sum = 0;
    while let Some((_, output)) = outputs.next().await {
        sum += output.into_std().unwrap().unwrap();
    }
    assert_eq!(sum, CHILDREN * (CHILDREN - 1) / 2);
    group.join().await.unwrap();

    // A stream's children, spawned by its feeder: the workers free none of
    // their tasks, and those kept stay within a few times the slots.
    let group = Group::new("stream");
    let elsewhere = FREED_ELSEWHERE.load(Ordering::Relaxed);
    let live = LIVE.load(Ordering::Relaxed);
    PEAK.store(live, Ordering::Relaxed);
    let items = futures_util::stream::iter(0..CHILDREN);
    let in_flight = NonZeroUsize::new(4).unwrap();
    let spawned = group
        .handle()
        .spawn_stream("item", items, in_flight, |i| async move {
            tokio::task::yield_now().await;
            Ok::<_, Infallible>(i)
        })
        .await
        .unwrap();
    assert_eq!(spawned, CHILDREN as u64);
    let peak = PEAK.load(Ordering::Relaxed) - live;
    assert!(
        peak < 100,
        "{peak} blocks at most for a stream of {CHILDREN}"
    );
    let elsewhere = FREED_ELSEWHERE.load(Ordering::Relaxed) - elsewhere;
    assert!(
        elsewhere < CHILDREN / 10,
        "{elsewhere} blocks freed by the workers for {CHILDREN} items"
    );
    group.join().await.unwrap();
}
