//! A fan-out under a subscriber, to profile what the cohort layer costs a
//! child: `ITERS` rounds (default 100) of `N` children (default 10,000) on a
//! current-thread runtime, every run under a registry with a no-op layer on
//! it (a bare registry never frees its closed spans, so it is no baseline).
//! Counting instructions with callgrind for 1 and for 6 rounds and taking the
//! difference gives the cost of five rounds without the set-up.
//!
//! ```sh
//! cargo build --release -p cohort-layer --example profile_layer
//! ITERS=6 valgrind --tool=callgrind target/release/examples/profile_layer layer
//! ```
//!
//! What to run: `naive` (the baseline: a `JoinSet` whose every task runs in
//! an `info_span!`), `cohort` (a group, its own spans, no cohort layer) or
//! `layer` (the group under the cohort layer too, filtered as documented)
//! or `filter_only` (the group under a no-op layer behind the cohort layer's
//! filter: what tracing-subscriber's per-layer filtering costs by itself).

use std::convert::Infallible;
use std::hint::black_box;

use tracing::Instrument as _;
use tracing_subscriber::Layer;
use tracing_subscriber::prelude::*;

/// A layer that does nothing: with it on the registry, closed spans are freed.
struct Noop;

impl<S: tracing::Subscriber> Layer<S> for Noop {}

fn main() {
    let mode = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "layer".to_owned());
    let rounds: usize = std::env::var("ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let children: u64 = std::env::var("N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let registry = tracing_subscriber::registry().with(Noop);
    let dispatch = match mode.as_str() {
        "layer" => {
            tracing::Dispatch::new(registry.with(cohort_layer::CohortLayer::new().filtered()))
        }
        "filter_only" => tracing::Dispatch::new(
            registry.with(Noop.with_filter(cohort_layer::CohortFilter::new())),
        ),
        _ => tracing::Dispatch::new(registry),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    tracing::dispatcher::with_default(&dispatch, || {
        runtime.block_on(async {
            for _ in 0..rounds {
                let sum = match mode.as_str() {
                    "naive" => naive(children).await,
                    _ => cohort(children).await,
                };
                black_box(sum);
            }
        })
    });
}

async fn child(i: u64) -> Result<u64, Infallible> {
    Ok(black_box(i))
}

async fn naive(n: u64) -> u64 {
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n {
        set.spawn(child(i).instrument(tracing::info_span!("child", index = i)));
    }
    let mut sum = 0;
    while let Some(output) = set.join_next().await {
        sum += output.expect("no task panics").unwrap_or_default();
    }
    sum
}

async fn cohort(n: u64) -> u64 {
    let group = cohort::Group::new("profile");
    let handles: Vec<_> = (0..n)
        .map(|i| group.spawn("child", child(i)).expect("the group is open"))
        .collect();
    group.join().await.expect("no child fails");
    handles
        .into_iter()
        .filter_map(|h| h.into_output().ok())
        .sum()
}
