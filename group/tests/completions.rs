//! `Completions`: children whose results come back in the order they end,
//! each exactly once, whatever ended them.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use cohort::{ChildResult, Group, Policy};
use futures_util::{FutureExt as _, StreamExt as _};
use support::{ValueError, fails_after, forever, ms};
use tokio::time::{sleep, timeout};

/// The next result, or a failed test if none comes within a second (on the
/// paused clock: at once, if nothing else can happen).
async fn next<T: Send + 'static>(
    completions: &mut cohort::Completions<T>,
) -> Option<(usize, ChildResult<T>)> {
    timeout(ms(1000), completions.next())
        .await
        .expect("a result, or the end, comes")
}

/// Every result left, in the order they come, each told by its `Debug`.
async fn read_all<T: Send + std::fmt::Debug + 'static>(
    completions: &mut cohort::Completions<T>,
) -> Vec<(usize, String)> {
    let mut read = Vec::new();
    while let Some((index, result)) = next(completions).await {
        read.push((index, format!("{result:?}")));
    }
    read
}

#[tokio::test(start_paused = true)]
async fn results_come_back_in_the_order_children_end() {
    let group = Group::new("fan-out");
    let mut replies = group.completions();
    for delay in [30u64, 10, 20, 0] {
        let index = replies
            .spawn("reply", async move {
                sleep(ms(delay)).await;
                Ok::<_, ValueError>(delay)
            })
            .unwrap();
        assert_eq!(replies.len(), index + 1);
    }
    let mut order = Vec::new();
    while let Some((index, reply)) = next(&mut replies).await {
        let ChildResult::Ok(delay) = reply else {
            panic!("child {index} succeeded")
        };
        order.push((index, delay));
        assert_eq!(replies.len(), 4 - order.len());
    }
    assert_eq!(order, [(3, 0), (1, 10), (2, 20), (0, 30)]);
    assert!(replies.is_empty());
    assert!(next(&mut replies).await.is_none(), "and stays at the end");
    group.join().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn indices_are_the_groups_spawn_indices() {
    let group = Group::new("mixed");
    let handle = group
        .spawn("with-handle", async { Ok::<_, ValueError>(0u8) })
        .unwrap();
    let mut rest = group.completions();
    assert_eq!(
        rest.spawn("a", async { Ok::<_, ValueError>(1u8) }).unwrap(),
        1
    );
    assert_eq!(
        rest.spawn("b", async { Ok::<_, ValueError>(2u8) }).unwrap(),
        2
    );
    group.join().await.unwrap();
    // Read after the join: the results waited.
    let mut read: Vec<_> = rest
        .map(|(i, r)| (i, r.into_std().unwrap().unwrap()))
        .collect()
        .await;
    read.sort();
    assert_eq!(read, [(1, 1), (2, 2)]);
    assert_eq!(handle.into_output(), Ok(0));
}

#[tokio::test(start_paused = true)]
async fn a_failure_reads_as_raised_and_the_siblings_it_cancels_as_cancelled() {
    let group = Group::new("fail-fast");
    let mut results = group.completions::<()>();
    results.spawn("fails", fails_after(ms(10))).unwrap();
    results.spawn("waits", forever::<(), ValueError>()).unwrap();
    results
        .spawn("done", async { Ok::<_, ValueError>(()) })
        .unwrap();
    let read = read_all(&mut results).await;
    assert_eq!(
        read,
        [
            (2, "Ok(())".to_owned()),
            (0, "Raised".to_owned()),
            (1, "Cancelled".to_owned())
        ]
    );
    let error = group.join().await.unwrap_err();
    assert_eq!(error.leaves().len(), 1);
    assert!(
        error.leaves()[0]
            .failure
            .downcast_ref::<ValueError>()
            .is_some()
    );
}

#[tokio::test(start_paused = true)]
async fn under_collect_all_a_failure_comes_back_with_its_child() {
    let group = Group::builder("gather")
        .policy(Policy::CollectAll)
        .build()
        .unwrap();
    let mut results = group.completions::<()>();
    results.spawn("fails", fails_after(ms(10))).unwrap();
    results
        .spawn("ok", async {
            sleep(ms(20)).await;
            Ok::<_, ValueError>(())
        })
        .unwrap();
    let (index, first) = next(&mut results).await.unwrap();
    let ChildResult::Err(failure) = first else {
        panic!("the failure stays with its child: {first:?}")
    };
    assert_eq!((index, failure.child_name()), (0, "fails"));
    assert!(failure.downcast_ref::<ValueError>().is_some());
    assert!(matches!(
        next(&mut results).await,
        Some((1, ChildResult::Ok(())))
    ));
    assert!(next(&mut results).await.is_none());
    group.join().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_panic_reads_as_raised_and_is_the_groups_leaf() {
    let group = Group::new("panics");
    let mut results = group.completions::<()>();
    results
        .spawn("boom", async {
            if true {
                panic!("boom");
            }
            Ok::<_, ValueError>(())
        })
        .unwrap();
    assert!(matches!(
        next(&mut results).await,
        Some((0, ChildResult::Raised))
    ));
    let error = group.join().await.unwrap_err();
    assert_eq!(error.leaves().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn queued_children_come_back_and_those_a_failure_drops_read_as_cancelled() {
    let group = Group::builder("bounded").limit(1).build().unwrap();
    let mut results = group.completions::<()>();
    results.spawn("fails", fails_after(ms(10))).unwrap();
    results
        .spawn("queued-1", async { Ok::<_, ValueError>(()) })
        .unwrap();
    results
        .spawn("queued-2", async { Ok::<_, ValueError>(()) })
        .unwrap();
    assert_eq!((group.running(), group.queued()), (1, 2));
    let mut read = read_all(&mut results).await;
    read.sort();
    assert_eq!(
        read,
        [
            (0, "Raised".to_owned()),
            (1, "Cancelled".to_owned()),
            (2, "Cancelled".to_owned())
        ]
    );
    assert!(group.join().await.is_err());
}

#[tokio::test(start_paused = true)]
async fn queued_children_run_in_turn_and_all_come_back() {
    let group = Group::builder("bounded").limit(2).build().unwrap();
    let mut results = group.completions();
    for i in 0..6u64 {
        results
            .spawn("item", async move {
                sleep(ms(10)).await;
                Ok::<_, ValueError>(i)
            })
            .unwrap();
    }
    assert_eq!(group.queued(), 4);
    let mut sum = 0;
    while let Some((_, result)) = next(&mut results).await {
        sum += result.into_std().unwrap().unwrap();
    }
    assert_eq!(sum, 15);
    group.join().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn spawn_when_free_holds_the_limit_and_every_result_comes_back() {
    let group = Group::builder("crawl").limit(3).build().unwrap();
    let mut pages = group.completions();
    for page in 0..30u64 {
        let index = pages
            .spawn_when_free("page", async move {
                sleep(ms(10)).await;
                Ok::<_, ValueError>(page)
            })
            .await
            .unwrap();
        assert_eq!(index as u64, page);
        assert!(group.running() <= 3 && group.queued() == 0);
    }
    let mut read = Vec::new();
    while let Some((index, page)) = next(&mut pages).await {
        read.push((index, page.into_std().unwrap().unwrap()));
    }
    read.sort();
    assert_eq!(read, (0..30).map(|i| (i as usize, i)).collect::<Vec<_>>());
    group.join().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_spawner_waiting_for_a_slot_is_refused_by_the_groups_failure() {
    let group = Group::builder("crawl").limit(1).build().unwrap();
    let mut results = group.completions::<()>();
    results
        .spawn_when_free("fails", fails_after(ms(10)))
        .await
        .unwrap();
    let refused = results
        .spawn_when_free("waits", async { Ok::<_, ValueError>(()) })
        .await;
    assert!(refused.is_err(), "the failure ends the wait");
    assert_eq!(results.len(), 1);
    assert!(matches!(
        next(&mut results).await,
        Some((0, ChildResult::Raised))
    ));
    assert!(next(&mut results).await.is_none());
    assert!(group.join().await.is_err());
}

#[tokio::test(start_paused = true)]
async fn a_refused_spawn_hands_nothing_back() {
    let group = Group::new("closed");
    group.cancel();
    let mut results = group.completions::<()>();
    assert!(
        results
            .spawn("late", async { Ok::<_, ValueError>(()) })
            .is_err()
    );
    assert!(results.is_empty());
    assert!(next(&mut results).await.is_none());
    group.join().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn dropping_it_leaves_the_children_running() {
    let ran = Arc::new(AtomicBool::new(false));
    let group = Group::new("dropped");
    let mut results = group.completions::<()>();
    let flag = ran.clone();
    results
        .spawn("runs-on", async move {
            sleep(ms(10)).await;
            flag.store(true, Ordering::SeqCst);
            Ok::<_, ValueError>(())
        })
        .unwrap();
    drop(results);
    group.join().await.unwrap();
    assert!(ran.load(Ordering::SeqCst));
}

#[tokio::test(start_paused = true)]
async fn next_is_cancel_safe() {
    let group = Group::new("polled");
    let mut results = group.completions();
    for i in 0..5u64 {
        results
            .spawn("item", async move {
                sleep(ms(10 * (i + 1))).await;
                Ok::<_, ValueError>(i)
            })
            .unwrap();
    }
    let mut read = Vec::new();
    while read.len() < 5 {
        // A wait shorter than any child's: most calls are dropped unfinished.
        if let Ok(Some((index, _))) = timeout(ms(3), results.next()).await {
            read.push(index);
        }
    }
    assert_eq!(read, [0, 1, 2, 3, 4], "none lost, none twice");
    assert!(next(&mut results).await.is_none());
    group.join().await.unwrap();
}

/// Its `Drop` panics, as the child holding it ends or is dropped.
struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("a child's drop panics");
    }
}

#[tokio::test(start_paused = true)]
async fn a_child_whose_drop_panics_as_it_ends_still_comes_back() {
    let group = Group::new("drop-panics");
    let mut results = group.completions::<()>();
    results.spawn("fails", fails_after(ms(10))).unwrap();
    results
        .spawn("waits", async {
            let _guard = PanicsOnDrop;
            forever::<(), ValueError>().await
        })
        .unwrap();
    let read = read_all(&mut results).await;
    assert_eq!(
        read,
        [(0, "Raised".to_owned()), (1, "Cancelled".to_owned())]
    );
    assert!(group.join().await.is_err());
}

#[test]
fn a_child_whose_task_is_dropped_comes_back_cancelled_even_if_its_drop_panics() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let (group, mut results) = runtime.block_on(async {
        let group = Group::new("shut-down");
        let mut results = group.completions::<()>();
        results
            .spawn("waits", async {
                let _guard = PanicsOnDrop;
                forever::<(), ValueError>().await
            })
            .unwrap();
        // The child runs, and waits.
        tokio::task::yield_now().await;
        (group, results)
    });
    // The runtime's shutdown drops the waiting child's task.
    drop(runtime);
    assert!(matches!(
        results.next().now_or_never(),
        Some(Some((0, ChildResult::Cancelled)))
    ));
    drop(group);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_result_comes_back_once_across_workers() {
    let group = Group::new("wide");
    let mut results = group.completions();
    for i in 0..10_000u64 {
        results
            .spawn("item", async move {
                if i % 3 == 0 {
                    tokio::task::yield_now().await;
                }
                Ok::<_, ValueError>(i)
            })
            .unwrap();
    }
    let mut seen = vec![false; 10_000];
    while let Some((index, result)) = results.next().await {
        let value = result.into_std().unwrap().unwrap();
        assert_eq!(index as u64, value);
        assert!(!std::mem::replace(&mut seen[index], true), "{index} twice");
    }
    assert!(seen.iter().all(|s| *s));
    group.join().await.unwrap();
}
