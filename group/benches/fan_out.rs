//! What a group costs per child, against the baselines a service would use
//! instead, measured in the same run: a bare `tokio::spawn` + `JoinHandle`, a
//! `JoinSet`, and `futures::future::try_join_all` (no tasks at all).
//!
//! Groups of benchmarks:
//! - `fan_out/{runtime}/{N}`: N trivial children, spawned and joined, their
//!   outputs read through their handles (`cohort`) or as they end
//!   (`cohort_completions`, as a `JoinSet`'s are).
//! - `first_failure/{runtime}`: N children wait, then one fails; the time
//!   from its failure until the error is back with every sibling stopped.
//! - `limit/{runtime}`: N children at most 100 at a time, queued by `spawn`
//!   or waited for by `spawn_when_free`.
//!
//! Run: `cargo bench -p cohort --bench fan_out`. Report ratios, not times.
//!
//! The allocator is glibc's, with its defaults, as a service runs it;
//! `COHORT_BENCH_PIN_HEAP=1` pins its heap thresholds (see [`pin_heap`]) for
//! a run to show beside it.

use std::convert::Infallible;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cohort::Group;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use futures_util::StreamExt as _;
use tokio::runtime::Runtime;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;

/// The two runtimes every benchmark runs on: (name, worker threads).
const RUNTIMES: [(&str, usize); 2] = [("current_thread", 0), ("multi_thread_2", 2)];

/// With `COHORT_BENCH_PIN_HEAP=1`, pins glibc's heap thresholds for the
/// whole run. By default glibc hands memory back to the kernel after a burst
/// of frees and raises its thresholds after each large free, so a
/// benchmark's time depends on which benchmarks ran before it. Pinned, every
/// benchmark sees the same heap, and memory freed by one iteration is reused
/// by the next. Not the default: users do not tune their allocator.
fn pin_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("COHORT_BENCH_PIN_HEAP").is_some() {
        // From glibc's <malloc.h>.
        const M_TRIM_THRESHOLD: i32 = -1;
        const M_MMAP_THRESHOLD: i32 = -3;
        unsafe extern "C" {
            fn mallopt(param: i32, value: i32) -> i32;
        }
        // SAFETY: mallopt only sets allocator parameters; called before the
        // benchmarks start any thread.
        let pinned = unsafe {
            mallopt(M_TRIM_THRESHOLD, i32::MAX) == 1 && mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1
        };
        assert!(pinned, "glibc refused the heap thresholds");
    }
}

/// A runtime with `workers` worker threads (0: current-thread).
fn runtime(workers: usize) -> Runtime {
    let mut builder = if workers == 0 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(workers);
        b
    };
    builder.enable_all().build().unwrap()
}

async fn trivial(i: u64) -> Result<u64, Infallible> {
    Ok(black_box(i))
}

async fn bare_spawn(n: u64) -> u64 {
    let mut handles = Vec::with_capacity(n as usize);
    handles.extend((0..n).map(|i| tokio::spawn(trivial(i))));
    let mut sum = 0;
    for h in handles {
        sum += h.await.unwrap().unwrap();
    }
    sum
}

async fn join_set(n: u64) -> u64 {
    let mut set = JoinSet::new();
    for i in 0..n {
        set.spawn(trivial(i));
    }
    let mut sum = 0;
    while let Some(r) = set.join_next().await {
        sum += r.unwrap().unwrap();
    }
    sum
}

async fn try_join_all(n: u64) -> u64 {
    futures_util::future::try_join_all((0..n).map(trivial))
        .await
        .unwrap()
        .into_iter()
        .sum()
}

async fn cohort_group(n: u64) -> u64 {
    let group = Group::new("bench");
    let mut handles = Vec::with_capacity(n as usize);
    handles.extend((0..n).map(|i| group.spawn("child", trivial(i)).unwrap()));
    group.join().await.unwrap();
    handles.into_iter().map(|h| h.into_output().unwrap()).sum()
}

async fn cohort_completions(n: u64) -> u64 {
    let group = Group::new("bench");
    let mut outputs = group.completions();
    for i in 0..n {
        outputs.spawn("child", trivial(i)).unwrap();
    }
    let mut sum = 0;
    while let Some((_, output)) = outputs.next().await {
        sum += output.into_std().unwrap().unwrap();
    }
    group.join().await.unwrap();
    sum
}

fn fan_out(c: &mut Criterion) {
    pin_heap();
    for (rt_name, workers) in RUNTIMES {
        let mut g = c.benchmark_group(format!("fan_out/{rt_name}"));
        g.sample_size(20);
        for n in [10_000u64, 100_000, 1_000_000] {
            let rt = runtime(workers);
            if n == 1_000_000 {
                g.sample_size(10);
            }
            g.bench_with_input(BenchmarkId::new("tokio_spawn", n), &n, |b, &n| {
                b.to_async(&rt).iter(|| bare_spawn(n))
            });
            g.bench_with_input(BenchmarkId::new("join_set", n), &n, |b, &n| {
                b.to_async(&rt).iter(|| join_set(n))
            });
            g.bench_with_input(BenchmarkId::new("try_join_all", n), &n, |b, &n| {
                b.to_async(&rt).iter(|| try_join_all(n))
            });
            g.bench_with_input(BenchmarkId::new("cohort", n), &n, |b, &n| {
                b.to_async(&rt).iter(|| cohort_group(n))
            });
            g.bench_with_input(BenchmarkId::new("cohort_completions", n), &n, |b, &n| {
                b.to_async(&rt).iter(|| cohort_completions(n))
            });
        }
        g.finish();
    }
}

const SLEEPERS: u64 = 100_000;

/// Sleeps for an hour, once counted in by `started`.
async fn sleeper(started: Arc<AtomicU64>) -> Result<(), std::io::Error> {
    started.fetch_add(1, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(3600)).await;
    Ok(())
}

/// Fails once told to.
async fn failing(started: Arc<AtomicU64>, go: Arc<Notify>) -> Result<(), std::io::Error> {
    let told = go.notified();
    started.fetch_add(1, Ordering::Relaxed);
    told.await;
    Err(std::io::Error::other("boom"))
}

/// Until `started` counts `n`: every child waits where it is to be
/// cancelled.
async fn all_started(started: &AtomicU64, n: u64) {
    while started.load(Ordering::Relaxed) < n {
        tokio::task::yield_now().await;
    }
}

/// JoinSet: the error surfaces from `join_next`; then `shutdown` aborts the
/// rest and waits for them, which is what the group does. Timed from the
/// failure's trigger to the last sibling's end.
async fn join_set_first_failure(n: u64) -> Duration {
    let (started, go) = (Arc::new(AtomicU64::new(0)), Arc::new(Notify::new()));
    let mut set = JoinSet::new();
    for _ in 1..n {
        set.spawn(sleeper(started.clone()));
    }
    set.spawn(failing(started.clone(), go.clone()));
    all_started(&started, n).await;
    let failed_at = Instant::now();
    go.notify_one();
    let failed = matches!(set.join_next().await, Some(Ok(Err(_))));
    set.shutdown().await;
    assert!(failed);
    failed_at.elapsed()
}

async fn cohort_first_failure(n: u64) -> Duration {
    let (started, go) = (Arc::new(AtomicU64::new(0)), Arc::new(Notify::new()));
    let group = Group::new("bench");
    for _ in 1..n {
        group.spawn("sleeper", sleeper(started.clone())).unwrap();
    }
    group
        .spawn("failing", failing(started.clone(), go.clone()))
        .unwrap();
    all_started(&started, n).await;
    let failed_at = Instant::now();
    go.notify_one();
    assert!(group.join().await.is_err());
    failed_at.elapsed()
}

/// Times only the stretch from the failure to every sibling stopped.
fn timed<Fut: Future<Output = Duration>>(
    rt: &Runtime,
    run: impl Fn() -> Fut,
) -> impl FnMut(&mut criterion::Bencher<'_>) {
    move |b| b.iter_custom(|iters| (0..iters).map(|_| rt.block_on(run())).sum())
}

fn first_failure(c: &mut Criterion) {
    pin_heap();
    for (rt_name, workers) in RUNTIMES {
        let rt = runtime(workers);
        let mut g = c.benchmark_group(format!("first_failure/{rt_name}"));
        g.sample_size(20);
        g.bench_function(
            BenchmarkId::new("join_set", SLEEPERS),
            timed(&rt, || join_set_first_failure(SLEEPERS)),
        );
        g.bench_function(
            BenchmarkId::new("cohort", SLEEPERS),
            timed(&rt, || cohort_first_failure(SLEEPERS)),
        );
        g.finish();
    }
}

const LIMITED: u64 = 10_000;

async fn yielding(i: u64) -> Result<u64, Infallible> {
    tokio::task::yield_now().await;
    Ok(i)
}

/// The guide's recipe: one task per item, each gated by a semaphore.
async fn semaphore_tasks(n: u64) -> u64 {
    let sem = Arc::new(Semaphore::new(100));
    let mut set = JoinSet::new();
    for i in 0..n {
        let sem = sem.clone();
        set.spawn(async move {
            let _permit = sem.acquire_owned().await.unwrap();
            yielding(i).await
        });
    }
    let mut sum = 0;
    while let Some(r) = set.join_next().await {
        sum += r.unwrap().unwrap();
    }
    sum
}

/// No tasks: futures polled in one task, 100 at a time.
async fn buffer_unordered(n: u64) -> u64 {
    futures_util::stream::iter((0..n).map(yielding))
        .buffer_unordered(100)
        .map(Result::unwrap)
        .fold(0, |a, b| async move { a + b })
        .await
}

async fn cohort_limit(n: u64) -> u64 {
    let group = Group::builder("bench").limit(100).build().unwrap();
    let mut handles = Vec::with_capacity(n as usize);
    handles.extend((0..n).map(|i| group.spawn("child", yielding(i)).unwrap()));
    group.join().await.unwrap();
    handles.into_iter().map(|h| h.into_output().unwrap()).sum()
}

/// Go's `Go` under `SetLimit`: the spawner waits for a slot.
async fn cohort_when_free(n: u64) -> u64 {
    let group = Group::builder("bench").limit(100).build().unwrap();
    let mut handles = Vec::with_capacity(n as usize);
    for i in 0..n {
        handles.push(group.spawn_when_free("child", yielding(i)).await.unwrap());
    }
    group.join().await.unwrap();
    handles.into_iter().map(|h| h.into_output().unwrap()).sum()
}

fn limit(c: &mut Criterion) {
    pin_heap();
    for (rt_name, workers) in RUNTIMES {
        let rt = runtime(workers);
        let mut g = c.benchmark_group(format!("limit/{rt_name}"));
        g.sample_size(20);
        g.bench_function(BenchmarkId::new("semaphore_tasks", LIMITED), |b| {
            b.to_async(&rt).iter(|| semaphore_tasks(LIMITED))
        });
        g.bench_function(BenchmarkId::new("buffer_unordered", LIMITED), |b| {
            b.to_async(&rt).iter(|| buffer_unordered(LIMITED))
        });
        g.bench_function(BenchmarkId::new("cohort_limit", LIMITED), |b| {
            b.to_async(&rt).iter(|| cohort_limit(LIMITED))
        });
        g.bench_function(BenchmarkId::new("cohort_when_free", LIMITED), |b| {
            b.to_async(&rt).iter(|| cohort_when_free(LIMITED))
        });
        g.finish();
    }
}

criterion_group!(benches, fan_out, first_failure, limit);
criterion_main!(benches);
