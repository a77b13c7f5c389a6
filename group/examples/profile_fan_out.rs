//! A fan-out to profile: `ITERS` rounds (default 100) of `N` children (default
//! 10,000), each returning at once, spawned and joined, outputs read back. Counting
//! instructions with callgrind for 1 and for 6 rounds and taking the
//! difference gives the cost of 50,000 children without the set-up.
//!
//! ```sh
//! cargo build --release -p cohort --example profile_fan_out
//! ITERS=6 valgrind --tool=callgrind target/release/examples/profile_fan_out 0 cohort
//! ```
//!
//! Arguments: worker threads (0 for a current-thread runtime; default 2) and
//! what to run:
//! - `cohort` (the default): the fan-out, outputs read through the handles;
//!   `completions`: the same through `Completions`, outputs read as the
//!   children end; `dropped`: every handle dropped as it is returned (what a
//!   child costs without one);
//! - `joinset`, `spawn` (the baselines), `spawn_yield` (bare tasks that wait
//!   once);
//! - `yield` (children that wait once), `limit` (those, at most 100 at a
//!   time), `when_free` (the same, spawned with `spawn_when_free`), and the
//!   limit's baseline `semaphore` (a `JoinSet` of tasks that each take a
//!   permit first);
//! - `stream` (`spawn_stream` of those, 100 in flight) and its baseline
//!   `permit` (a semaphore permit taken before each `tokio::spawn`).
//!
//! `ON_MAIN=1` runs the rounds on the thread that calls `block_on` rather
//! than in a task (see `main`).

use std::convert::Infallible;
use std::hint::black_box;

/// Children a round: `N`, 10,000 unless set.
static CHILDREN_N: std::sync::LazyLock<u64> = std::sync::LazyLock::new(|| {
    std::env::var("N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
});

fn main() {
    let mut args = std::env::args().skip(1);
    let workers: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2);
    let mode = args.next().unwrap_or_else(|| "cohort".to_owned());
    let rounds: usize = std::env::var("ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let runtime = if workers == 0 {
        tokio::runtime::Builder::new_current_thread().build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .build()
    };
    let runtime = runtime.expect("a runtime");
    // The rounds run in a task of the runtime, as a service's handler does:
    // a spawner that waits is woken as a task, not as a parked thread. With
    // `ON_MAIN` set they run on the thread that calls `block_on`, as the body
    // of `#[tokio::main]` and criterion's timing loop do: on 2 workers every
    // child then runs on a worker, away from its spawner.
    let on_main = std::env::var_os("ON_MAIN").is_some();
    let work = async move {
        for _ in 0..rounds {
            let sum = match mode.as_str() {
                "spawn" => bare_spawn(Waits::Never).await,
                "spawn_yield" => bare_spawn(Waits::Once).await,
                "joinset" => join_set().await,
                "yield" => cohort(Waits::Once, None).await,
                "limit" => cohort(Waits::Once, Some(100)).await,
                "stream" => stream().await,
                "when_free" => when_free().await,
                "permit" => permit_then_spawn().await,
                "semaphore" => semaphore_tasks().await,
                "dropped" => dropped_handles().await,
                "completions" => completions().await,
                _ => cohort(Waits::Never, None).await,
            };
            black_box(sum);
        }
    };
    if on_main {
        runtime.block_on(work);
    } else {
        let rounds = runtime.spawn(work);
        runtime.block_on(rounds).expect("the rounds do not panic");
    }
}

#[derive(Clone, Copy)]
enum Waits {
    Never,
    Once,
}

async fn child(i: u64, waits: Waits) -> Result<u64, Infallible> {
    if let Waits::Once = waits {
        tokio::task::yield_now().await;
    }
    Ok(black_box(i))
}

async fn cohort(waits: Waits, limit: Option<usize>) -> u64 {
    let mut group = cohort::Group::builder("profile");
    if let Some(limit) = limit {
        group = group.limit(limit);
    }
    let group = group.build().expect("a valid limit");
    let mut handles = Vec::with_capacity(*CHILDREN_N as usize);
    for i in 0..*CHILDREN_N {
        handles.push(
            group
                .spawn("child", child(i, waits))
                .expect("the group is open"),
        );
    }
    group.join().await.expect("no child fails");
    handles
        .into_iter()
        .filter_map(|h| h.into_output().ok())
        .sum()
}

async fn completions() -> u64 {
    let group = cohort::Group::new("profile");
    let mut outputs = group.completions();
    for i in 0..*CHILDREN_N {
        outputs
            .spawn("child", child(i, Waits::Never))
            .expect("the group is open");
    }
    let mut sum = 0;
    while let Some((_, output)) = outputs.next().await {
        sum += output.into_std().and_then(Result::ok).unwrap_or_default();
    }
    group.join().await.expect("no child fails");
    sum
}

async fn dropped_handles() -> u64 {
    let group = cohort::Group::new("profile");
    for i in 0..*CHILDREN_N {
        let handle = group.spawn("child", child(i, Waits::Never));
        drop(handle.expect("the group is open"));
    }
    group.join().await.expect("no child fails");
    *CHILDREN_N
}

async fn when_free() -> u64 {
    let group = cohort::Group::builder("profile")
        .limit(100)
        .build()
        .expect("a valid limit");
    let mut handles = Vec::with_capacity(*CHILDREN_N as usize);
    for i in 0..*CHILDREN_N {
        let child = group.spawn_when_free("child", child(i, Waits::Once));
        handles.push(child.await.expect("the group is open"));
    }
    group.join().await.expect("no child fails");
    handles
        .into_iter()
        .filter_map(|h| h.into_output().ok())
        .sum()
}

async fn stream() -> u64 {
    let group = cohort::Group::new("profile");
    let items = futures_util::stream::iter(0..*CHILDREN_N);
    let in_flight = std::num::NonZeroUsize::new(100).expect("not zero");
    let spawned = group
        .handle()
        .spawn_stream("child", items, in_flight, |i| child(i, Waits::Once))
        .await
        .expect("the group is open");
    group.join().await.expect("no child fails");
    spawned
}

async fn permit_then_spawn() -> u64 {
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(100));
    for i in 0..*CHILDREN_N {
        let slot = slots.clone().acquire_owned().await.expect("never closed");
        tokio::spawn(async move {
            let _slot = slot;
            child(i, Waits::Once).await
        });
    }
    let _all = slots.acquire_many(100).await.expect("never closed");
    *CHILDREN_N
}

async fn semaphore_tasks() -> u64 {
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(100));
    let mut set = tokio::task::JoinSet::new();
    for i in 0..*CHILDREN_N {
        let slots = slots.clone();
        set.spawn(async move {
            let _slot = slots.acquire_owned().await.expect("never closed");
            child(i, Waits::Once).await
        });
    }
    let mut sum = 0;
    while let Some(output) = set.join_next().await {
        sum += output.expect("no task panics").unwrap_or_default();
    }
    sum
}

async fn join_set() -> u64 {
    let mut set = tokio::task::JoinSet::new();
    for i in 0..*CHILDREN_N {
        set.spawn(child(i, Waits::Never));
    }
    let mut sum = 0;
    while let Some(output) = set.join_next().await {
        sum += output.expect("no task panics").unwrap_or_default();
    }
    sum
}

async fn bare_spawn(waits: Waits) -> u64 {
    let handles: Vec<_> = (0..*CHILDREN_N)
        .map(|i| tokio::spawn(child(i, waits)))
        .collect();
    let mut sum = 0;
    for handle in handles {
        sum += handle.await.expect("no task panics").unwrap_or_default();
    }
    sum
}
