//! The guide's pattern catalogue, one test per pattern, on tokio's paused clock.

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cohort::{ChildOutcome, FailureKind, Group};
use support::{ValueError, connection_error, guide_task, ms};
use tokio::time::{Instant, sleep};

/// Basic fan-out: every child succeeds, results read after the group in spawn
/// order, whatever order they finished in.
#[tokio::test(start_paused = true)]
async fn basic_fan_out_returns_results_in_spawn_order() {
    let endpoints = ["/users", "/orders", "/inventory"];
    let started = Instant::now();
    let handles = Group::new("fetch")
        .scope(|g| async move {
            let mut handles = Vec::new();
            for (i, endpoint) in endpoints.into_iter().enumerate() {
                // Later endpoints finish first.
                let delay = ms(50 - 10 * i as u64);
                handles.push(g.spawn(endpoint, async move {
                    sleep(delay).await;
                    Ok::<_, std::io::Error>(format!("{endpoint}: ok"))
                })?);
            }
            Ok::<_, cohort::SpawnError>(handles)
        })
        .await
        .expect("every child succeeds")
        .expect("the body returned");
    assert_eq!(
        started.elapsed(),
        ms(50),
        "the scope waits for the slowest child"
    );
    let results: Vec<_> = handles
        .into_iter()
        .map(|h| h.into_output().unwrap())
        .collect();
    assert_eq!(results, ["/users: ok", "/orders: ok", "/inventory: ok"]);
}

/// `except*` over two error types: each handler runs once with the sub-group of
/// its type; failures raised during cleanup (within the grace period) count too.
#[tokio::test(start_paused = true)]
async fn except_star_over_two_error_types() {
    let group = Group::builder("steps")
        .grace_period(ms(100))
        .build()
        .unwrap();
    group
        .spawn("cache", async {
            sleep(ms(20)).await;
            Err::<(), _>(connection_error("cache unreachable"))
        })
        .unwrap();
    group
        .spawn_with("db", |token| async move {
            token.cancelled().await;
            Err::<(), _>(ValueError("rollback failed".into()))
        })
        .unwrap();
    group
        .spawn_with("queue", |token| async move {
            token.cancelled().await;
            sleep(ms(5)).await;
            Err::<(), _>(connection_error("queue drain failed"))
        })
        .unwrap();
    let eg = group.join().await.unwrap_err();

    let mut connection = Vec::new();
    let mut validation = Vec::new();
    let rest = eg
        .catch::<std::io::Error>(|g| {
            connection.extend(g.leaves().iter().map(|l| l.failure.message()))
        })
        .catch::<ValueError>(|g| validation.extend(g.leaves().iter().map(|l| l.failure.message())))
        .rest();
    assert!(rest.is_ok());
    assert_eq!(connection, ["cache unreachable", "queue drain failed"]);
    assert_eq!(validation, ["rollback failed"]);
}

/// A type no handler names is re-raised as a residual group, never swallowed.
#[tokio::test(start_paused = true)]
async fn unmatched_types_come_back_from_the_handler_chain() {
    let eg = Group::new("steps")
        .scope(|g| async move {
            g.spawn("cache", async {
                Err::<(), _>(connection_error("cache unreachable"))
            })?;
            Ok::<_, cohort::SpawnError>(())
        })
        .await
        .unwrap_err();
    let mut handled = false;
    let residual = eg
        .catch::<ValueError>(|_| handled = true)
        .rest()
        .unwrap_err();
    assert!(!handled);
    assert_eq!(residual.leaves().len(), 1);
    assert!(
        residual.leaves()[0]
            .failure
            .downcast_ref::<std::io::Error>()
            .is_some()
    );
}

/// gather(return_exceptions=True) versus a group: children that return their
/// `Result` as output run to completion; fail-fast children cancel the rest.
#[tokio::test(start_paused = true)]
async fn gather_runs_everything_while_the_group_cancels() {
    // gather: the child's Result is its output, so nothing fails or is cancelled.
    let gather = Group::new("gather");
    let handles: Vec<_> = (0..4)
        .map(|i| {
            gather.spawn(format!("task-{i}"), async move {
                Ok::<_, std::convert::Infallible>(guide_task(i).await)
            })
        })
        .collect::<Result<_, _>>()
        .unwrap();
    gather.join().await.unwrap();
    let results: Vec<_> = handles
        .into_iter()
        .map(|h| h.into_output().unwrap())
        .collect();
    assert_eq!(
        results,
        [Ok(0), Ok(1), Err(ValueError("task 2 failed".into())), Ok(3)]
    );

    // group: task 2's failure at 20ms cancels task 3 (due at 30ms).
    let group = Group::new("group");
    let handles: Vec<_> = (0..4)
        .map(|i| group.spawn(format!("task-{i}"), guide_task(i)))
        .collect::<Result<_, _>>()
        .unwrap();
    let started = Instant::now();
    let eg = group.join().await.unwrap_err();
    assert_eq!(
        started.elapsed(),
        ms(20),
        "the failure ends the group early"
    );
    assert_eq!(eg.leaves().len(), 1);
    let outcomes: Vec<_> = handles.iter().map(|h| h.outcome().unwrap()).collect();
    use ChildOutcome as C;
    assert_eq!(outcomes, [C::Ok, C::Ok, C::Error, C::Cancelled]);
}

/// Partial results: the outputs of shards that finished before the failure are
/// kept; the cancelled shards never record anything.
#[tokio::test(start_paused = true)]
async fn partial_results_survive_a_sibling_failure() {
    let shared: Arc<Mutex<BTreeMap<u64, u64>>> = Arc::default();
    let group = Group::new("shards");
    let handles: Vec<_> = (0..6u64)
        .map(|shard| {
            let out = shared.clone();
            group.spawn(format!("shard-{shard}"), async move {
                sleep(ms(10 * shard)).await;
                if shard == 3 {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("shard {shard} timed out"),
                    ));
                }
                out.lock().unwrap().insert(shard, shard * 100);
                Ok(shard * 100)
            })
        })
        .collect::<Result<_, _>>()
        .unwrap();
    let eg = group.join().await.unwrap_err();
    assert_eq!(eg.leaves().len(), 1);
    assert_eq!(eg.failures()[0].child_name(), "shard-3");

    // Through the handles, in spawn order...
    let kept: Vec<_> = handles.iter().map(|h| h.take_output()).collect();
    use cohort::NoOutput::{Cancelled, Failed};
    assert_eq!(
        kept,
        [
            Ok(0),
            Ok(100),
            Ok(200),
            Err(Failed),
            Err(Cancelled),
            Err(Cancelled)
        ]
    );
    // ...and through shared state, as the guide does: the same set.
    let shared: Vec<_> = shared.lock().unwrap().values().copied().collect();
    assert_eq!(shared, [0, 100, 200]);
    assert_eq!(handles[4].outcome(), Some(ChildOutcome::Cancelled));
}

/// Nested groups: a child that runs a group contributes that group as a nested
/// node of the outer error, not flattened, with the leaf's path through it.
#[tokio::test(start_paused = true)]
async fn nested_group_errors_nest() {
    let eg = Group::new("regions")
        .scope(|g| async move {
            g.spawn("eu", async {
                Group::new("eu-shards")
                    .scope(|inner| async move {
                        inner.spawn("eu-1", async { Ok::<_, ValueError>(()) })?;
                        inner.spawn("eu-2", async {
                            sleep(ms(10)).await;
                            Err::<(), _>(ValueError("eu-2 corrupt".into()))
                        })?;
                        Ok::<_, cohort::SpawnError>(())
                    })
                    .await
            })?;
            g.spawn("us", support::forever::<(), std::io::Error>())?;
            Ok::<_, cohort::SpawnError>(())
        })
        .await
        .unwrap_err();

    assert_eq!(eg.name(), "regions");
    assert_eq!(eg.len(), 1, "the cancelled sibling `us` is not a failure");
    let FailureKind::Group(inner) = eg.failures()[0].kind() else {
        panic!("expected a nested group, got {:?}", eg.failures()[0]);
    };
    assert_eq!(eg.failures()[0].child_name(), "eu");
    assert_eq!(inner.name(), "eu-shards");
    let leaves = eg.leaves();
    assert_eq!(leaves.len(), 1);
    assert_eq!(leaves[0].path_string(), "0.0");
    assert_eq!(leaves[0].depth(), 2);
    assert_eq!(leaves[0].group.name(), "eu-shards");
    assert_eq!(leaves[0].failure.child_name(), "eu-2");
    assert_eq!(
        leaves[0].failure.downcast_ref::<ValueError>().unwrap().0,
        "eu-2 corrupt"
    );
}

/// A group under an outer `tokio::time::timeout`: the deadline drops the
/// group's future, which cancels every child, nested groups included.
#[tokio::test(start_paused = true)]
async fn outer_timeout_cancels_every_child() {
    let (fast_tx, fast_rx) = tokio::sync::oneshot::channel::<()>();
    let (slow_tx, slow_rx) = tokio::sync::oneshot::channel::<()>();
    let (inner_tx, inner_rx) = tokio::sync::oneshot::channel::<()>();
    let started = Instant::now();
    let result = tokio::time::timeout(
        ms(100),
        Group::new("deadline").scope(|g| async move {
            let fast = g.spawn("fast", async move {
                let _alive = fast_tx;
                sleep(ms(20)).await;
                Ok::<_, std::io::Error>("fast")
            })?;
            g.spawn("slow", async move {
                let _alive = slow_tx;
                sleep(ms(5_000)).await;
                Ok::<_, std::io::Error>("slow")
            })?;
            g.spawn("nested", async move {
                Group::new("inner")
                    .scope(|inner| async move {
                        inner.spawn("inner-slow", async move {
                            let _alive = inner_tx;
                            support::forever::<(), std::io::Error>().await
                        })?;
                        Ok::<_, cohort::SpawnError>(())
                    })
                    .await
            })?;
            Ok::<_, cohort::SpawnError>(fast)
        }),
    )
    .await;
    assert!(result.is_err(), "the deadline elapsed");
    assert_eq!(started.elapsed(), ms(100));
    // Each sender is dropped when its child's future is: all three end, and
    // without the clock moving (no child runs to its own completion).
    let before = Instant::now();
    assert!(fast_rx.await.is_err());
    assert!(slow_rx.await.is_err());
    assert!(inner_rx.await.is_err());
    assert_eq!(before.elapsed(), Duration::ZERO);
}
