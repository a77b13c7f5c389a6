//! Peak memory and items/s of the streaming forms: up to 10M items with at
//! most 100 in flight, against a baseline of one `tokio::spawn` per item gated
//! by a semaphore acquired before spawning (flat memory, no supervision):
//! `spawn_stream`, a loop over `spawn_when_free` under a limit of 100 (the
//! spawner waits), and, up to 1M items, the same loop over `spawn` (every
//! item queued as a stored future: memory grows with the items). Memory
//! should not grow with the stream's length, but for the last.
//!
//! Run: `cargo bench -p cohort --bench stream_memory` (prints a table; sizes
//! may follow `--`, and `ROUNDS` sets how many runs each median is of).

use std::alloc::{GlobalAlloc, Layout, System};
use std::convert::Infallible;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use cohort::Group;
use tokio::sync::Semaphore;

/// Counts live heap bytes and their peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const IN_FLIGHT: usize = 100;

async fn item(i: u64) -> Result<u64, Infallible> {
    tokio::task::yield_now().await;
    Ok(i)
}

async fn cohort_stream(n: u64) {
    let group = Group::new("stream");
    let items = futures_util::stream::iter(0..n);
    let in_flight = NonZeroUsize::new(IN_FLIGHT).unwrap();
    let spawned = group
        .handle()
        .spawn_stream("item", items, in_flight, item)
        .await
        .unwrap();
    assert_eq!(spawned, n);
    group.join().await.unwrap();
}

async fn cohort_when_free(n: u64) {
    let group = Group::builder("stream").limit(IN_FLIGHT).build().unwrap();
    for i in 0..n {
        drop(group.spawn_when_free("item", item(i)).await.unwrap());
    }
    group.join().await.unwrap();
}

async fn cohort_queued(n: u64) {
    let group = Group::builder("stream").limit(IN_FLIGHT).build().unwrap();
    for i in 0..n {
        drop(group.spawn("item", item(i)).unwrap());
    }
    group.join().await.unwrap();
}

async fn semaphore_spawn(n: u64) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    for i in 0..n {
        let slot = slots.clone().acquire_owned().await.unwrap();
        tokio::spawn(async move {
            let _slot = slot;
            item(i).await
        });
    }
    // Wait for the last ones.
    let _all = slots.acquire_many(IN_FLIGHT as u32).await.unwrap();
}

/// Runs one workload on a fresh 2-worker runtime; returns (peak bytes above
/// the baseline when it started, seconds).
fn measure<F: Future<Output = ()>>(run: impl FnOnce() -> F) -> (usize, f64) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let started = Instant::now();
    rt.block_on(run());
    let secs = started.elapsed().as_secs_f64();
    (PEAK.load(Ordering::Relaxed) - base, secs)
}

fn main() {
    // `cargo bench` passes `--bench`; any other argument is a list of sizes.
    let sizes: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect::<Vec<_>>();
    let sizes = if sizes.is_empty() {
        vec![100_000, 1_000_000, 10_000_000]
    } else {
        sizes
    };
    // Each workload runs `ROUNDS` times (5 unless set), interleaved with the
    // others so that a slow spell of the machine hits them all; the table
    // has the median time and the largest peak.
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
        .max(1);
    println!("items       workload          peak KiB   seconds   items/s   (median of {rounds})");
    for n in sizes {
        let mut names = vec!["semaphore_spawn", "cohort_stream", "cohort_when_free"];
        if n <= 1_000_000 {
            names.push("cohort_queued");
        }
        let mut results: Vec<Vec<(usize, f64)>> = vec![Vec::new(); names.len()];
        for _ in 0..rounds {
            for (name, runs) in names.iter().zip(&mut results) {
                runs.push(match *name {
                    "semaphore_spawn" => measure(|| semaphore_spawn(n)),
                    "cohort_stream" => measure(|| cohort_stream(n)),
                    "cohort_when_free" => measure(|| cohort_when_free(n)),
                    _ => measure(|| cohort_queued(n)),
                });
            }
        }
        for (name, runs) in names.iter().zip(results) {
            let peak = runs.iter().map(|r| r.0).max().unwrap_or(0);
            let mut secs: Vec<f64> = runs.iter().map(|r| r.1).collect();
            secs.sort_by(f64::total_cmp);
            let secs = secs[secs.len() / 2];
            println!(
                "{n:<11} {name:<17} {:>8}   {secs:>7.3}   {:>9.0}",
                peak / 1024,
                n as f64 / secs
            );
        }
    }
}
