//! Soak and race runs: many groups in sequence, random nested trees with
//! failures, panics and cancellations, and random spawn/cancel/fail/drop
//! interleavings on four workers. After each, no task is left alive and the
//! resident set has not grown.
//!
//! CI runs them small. `COHORT_SOAK_SCALE=100` runs them at full size (1M
//! groups, 100k trees, 20k interleavings), best in release:
//!
//! ```sh
//! COHORT_SOAK_SCALE=100 cargo test --release -p cohort --test soak -- --nocapture --test-threads 1
//! ```

mod support;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use cohort::{Group, Policy};
use support::{forever, ms};

fn scale() -> usize {
    std::env::var("COHORT_SOAK_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
}

fn rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// A small deterministic generator (xorshift64*): the same seed, the same run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

/// Silences the children's own panics, not the test's.
fn quiet_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info.payload().downcast_ref::<&str>() != Some(&"child panicked") {
            default(info);
        }
    }));
}

/// Waits (bounded) until the runtime has no task alive (`block_on`'s future
/// is not a task); how many are left.
async fn no_task_left(handle: &tokio::runtime::Handle) -> usize {
    let settled = async {
        while handle.metrics().num_alive_tasks() > 0 {
            tokio::task::yield_now().await;
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(10), settled).await;
    handle.metrics().num_alive_tasks()
}

fn multi_thread(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn groups_in_sequence_leave_nothing_behind() {
    let n = 10_000 * scale();
    let rt = multi_thread(2);
    let (before, after, alive) = rt.block_on(async {
        let handle = tokio::runtime::Handle::current();
        // Warm up the allocator and the runtime before the first reading.
        for _ in 0..1_000 {
            let group = Group::new("warm");
            group
                .spawn("c", async { Ok::<_, std::io::Error>(()) })
                .unwrap();
            group.join().await.unwrap();
        }
        let before = rss_kb();
        for i in 0..n {
            let group = Group::new("seq");
            group
                .spawn("c", async move {
                    if i % 7 == 0 {
                        Err(std::io::Error::other("seven"))
                    } else {
                        Ok(())
                    }
                })
                .unwrap();
            // Refused if the first already failed on another worker.
            let _ = group.spawn("d", async { Ok::<_, std::io::Error>(()) });
            let _ = group.join().await;
        }
        (before, rss_kb(), no_task_left(&handle).await)
    });
    println!("{n} groups: RSS {before} KB -> {after} KB; {alive} tasks alive");
    assert_eq!(alive, 0);
    assert!(
        after < before + 8_192,
        "RSS grew from {before} KB to {after} KB over {n} groups"
    );
}

/// A random tree: a child succeeds, fails, panics, waits to be cancelled,
/// or runs a group of its own with random children.
fn random_child(
    rng: &mut Rng,
    depth: u32,
) -> Pin<Box<dyn Future<Output = Result<(), std::io::Error>> + Send>> {
    match rng.below(if depth < 3 { 5 } else { 4 }) {
        0 => Box::pin(async {
            tokio::task::yield_now().await;
            Ok(())
        }),
        1 => Box::pin(async { Err(std::io::Error::other("failed")) }),
        2 => Box::pin(async { panic!("child panicked") }),
        3 => Box::pin(forever()),
        _ => {
            let policy =
                [Policy::FailFast, Policy::CollectAll, Policy::Supervise][rng.below(3) as usize];
            let children: Vec<_> = (0..1 + rng.below(4))
                .map(|_| random_child(rng, depth + 1))
                .collect();
            Box::pin(async move {
                let group = Group::builder("nested").policy(policy).build().unwrap();
                for child in children {
                    // Refused once a sibling failed: dropped, never run.
                    let _ = group.spawn("child", child);
                }
                // A group whose children all wait forever is cut short.
                match tokio::time::timeout(ms(5), group.join()).await {
                    Ok(Err(e)) => Err(std::io::Error::other(e.to_string())),
                    _ => Ok(()),
                }
            })
        }
    }
}

#[test]
fn random_nested_trees_leave_nothing_behind() {
    quiet_panics();
    let n = 1_000 * scale();
    // The paused clock: timeouts that cut a tree short cost no real time.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    let mut rng = Rng(0x5eed_1234_5678_9abc);
    let (before, after, alive) = rt.block_on(async {
        let handle = tokio::runtime::Handle::current();
        let before = rss_kb();
        for _ in 0..n {
            let group = Group::builder("root").timeout(ms(20)).build().unwrap();
            for _ in 0..1 + rng.below(4) {
                let _ = group.spawn("child", random_child(&mut rng, 0));
            }
            let _ = group.join().await;
        }
        (before, rss_kb(), no_task_left(&handle).await)
    });
    println!("{n} random trees: RSS {before} KB -> {after} KB; {alive} tasks alive");
    assert_eq!(alive, 0);
    assert!(
        after < before + 8_192,
        "RSS grew from {before} KB to {after} KB"
    );
}

#[test]
fn random_interleavings_on_four_workers_keep_the_invariants() {
    quiet_panics();
    let n = 200 * scale();
    let rt = multi_thread(4);
    let mut rng = Rng(0x0dd_ba11_cafe_f00d);
    let alive = rt.block_on(async {
        let handle = tokio::runtime::Handle::current();
        for _ in 0..n {
            // A timeout ends a run whose children all wait to be cancelled.
            let builder = Group::builder("race").timeout(ms(20));
            let builder = match rng.below(3) {
                0 => builder.limit(1 + rng.below(3) as usize),
                1 => builder.grace_period(ms(1)),
                _ => builder,
            };
            let group = builder.build().unwrap();
            let mut handles = Vec::new();
            for _ in 0..1 + rng.below(6) {
                handles.extend(group.spawn("child", random_child(&mut rng, 2)).ok());
            }
            // Spawns, cancels and drops racing the children on other workers.
            let spawner = {
                let handle = group.handle();
                let extra = random_child(&mut rng, 3);
                tokio::spawn(async move {
                    // Refused once the group closed: never run unsupervised.
                    let _ = handle.spawn("late", extra);
                })
            };
            match rng.below(4) {
                0 => group.cancel(),
                1 => {
                    if let Some(h) = handles.first() {
                        h.cancel();
                    }
                }
                2 => {
                    drop(group);
                    spawner.await.unwrap();
                    continue;
                }
                _ => {}
            }
            let joined = tokio::time::timeout(Duration::from_secs(10), group.join()).await;
            assert!(joined.is_ok(), "a join never returned");
            spawner.await.unwrap();
            for h in handles {
                // Every handle resolves once its group has finished.
                let read = tokio::time::timeout(Duration::from_secs(10), h.into_future()).await;
                assert!(read.is_ok(), "a handle never resolved");
            }
        }
        no_task_left(&handle).await
    });
    println!("{n} interleavings: {alive} tasks alive");
    assert_eq!(alive, 0);
}
