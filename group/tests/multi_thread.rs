//! The contract on a multi-threaded runtime, where children really run in
//! parallel: invariants that must hold whatever the interleaving.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use cohort::{ChildOutcome, Group, SpawnErrorKind};
use support::ValueError;

/// Every child has settled when `join` returns, the counts add up, and a
/// failure among many children leaves exactly one leaf.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_returns_only_after_every_child_settled() {
    for round in 0..20 {
        let running = Arc::new(AtomicUsize::new(0));
        let group = Group::new("parallel");
        let mut handles = Vec::new();
        for i in 0..500 {
            let running = running.clone();
            let spawned = group.spawn(format!("child-{i}"), async move {
                running.fetch_add(1, Ordering::SeqCst);
                let _done = Decrement(running);
                for _ in 0..(i % 4) {
                    tokio::task::yield_now().await;
                }
                if i == 250 {
                    return Err(ValueError(format!("round {round}")));
                }
                Ok(i)
            });
            match spawned {
                Ok(handle) => handles.push(handle),
                // The failure may land while we are still spawning.
                Err(e) => {
                    assert!(i > 250 && matches!(e.kind(), SpawnErrorKind::Closing(_)));
                    break;
                }
            }
        }
        let eg = group.join().await.unwrap_err();
        assert_eq!(eg.len(), 1);
        assert_eq!(
            running.load(Ordering::SeqCst),
            0,
            "no child future outlives the join"
        );
        assert!(handles.iter().all(|h| h.is_finished()));
        let failed = handles
            .iter()
            .filter(|h| h.outcome() == Some(ChildOutcome::Error))
            .count();
        assert_eq!(failed, 1);
    }
}

struct Decrement(Arc<AtomicUsize>);

impl Drop for Decrement {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A spawn racing the end of the group is either refused or waited for: a
/// child never runs unsupervised after `join` returned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spawn_racing_the_join_is_refused_or_waited_for() {
    let (mut admitted, mut refused) = (0, 0);
    for _ in 0..200 {
        let group = Group::new("race");
        let g = group.handle();
        group
            .spawn("first", async { Ok::<_, std::io::Error>(()) })
            .unwrap();
        let racer = tokio::spawn(async move {
            tokio::task::yield_now().await;
            g.spawn("late", async { Ok::<_, std::io::Error>(()) })
        });
        group.join().await.unwrap();
        match racer.await.unwrap() {
            Ok(handle) => {
                admitted += 1;
                // Admitted before the group closed: it had to settle first.
                assert!(handle.is_finished(), "an admitted child was waited for");
            }
            Err(e) => {
                refused += 1;
                assert!(matches!(e.kind(), SpawnErrorKind::Closed));
            }
        }
    }
    assert_eq!(admitted + refused, 200);
}
