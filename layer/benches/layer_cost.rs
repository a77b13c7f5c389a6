//! What the cohort layer adds per child, measured in the same run on a
//! current-thread runtime, every case under a registry with a no-op layer on
//! it (a bare registry frees no closed span, so its memory grows without
//! bound and it is no baseline):
//!
//! - `layer/fan_out/{case}/{N}`: N trivial children, spawned and joined:
//!   `naive_spans` (the baseline: a `JoinSet` whose every task runs in an
//!   `info_span!`), `cohort` (a group and its own spans),
//!   `cohort_filter_only` (the same under a no-op layer behind the cohort
//!   layer's filter: what tracing-subscriber's per-layer filtering costs by
//!   itself, the floor of any filtered layer) and `cohort_layer` (the same
//!   under the cohort layer, filtered as documented).
//! - `layer/failures/{case}/{N}`: a supervise group whose N children all
//!   fail: the error path, where each leaf is expanded, checked against the
//!   ids already logged, and sent as an event.
//!
//! Run: `cargo bench -p cohort-layer --bench layer_cost`. Report ratios.

use std::convert::Infallible;
use std::hint::black_box;
use std::pin::Pin;

use cohort::{Group, Policy};
use cohort_layer::{CohortFilter, CohortLayer};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use tokio::runtime::Runtime;
use tracing::{Dispatch, Instrument as _};
use tracing_subscriber::Layer;
use tracing_subscriber::prelude::*;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A layer that does nothing: with it on the registry, closed spans are freed.
struct Noop;

impl<S: tracing::Subscriber> Layer<S> for Noop {}

/// The baseline: a `JoinSet`, each task in a span of its own.
async fn naive_spans(n: u64) -> u64 {
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n {
        let child = async move { Ok::<_, Infallible>(black_box(i)) };
        set.spawn(child.instrument(tracing::info_span!("child", index = i)));
    }
    let mut sum = 0;
    while let Some(output) = set.join_next().await {
        sum += output.unwrap().unwrap_or_default();
    }
    sum
}

async fn fan_out(n: u64) -> u64 {
    let group = Group::new("bench");
    let handles: Vec<_> = (0..n)
        .map(|i| {
            group
                .spawn("child", async move { Ok::<_, Infallible>(black_box(i)) })
                .unwrap()
        })
        .collect();
    group.join().await.unwrap();
    handles
        .into_iter()
        .filter_map(|h| h.into_output().ok())
        .sum()
}

#[derive(Debug)]
struct Failed;

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("failed")
    }
}

impl std::error::Error for Failed {}

async fn all_fail(n: u64) -> usize {
    let group = Group::builder("bench")
        .policy(Policy::Supervise)
        .build()
        .unwrap();
    for _ in 0..n {
        group
            .spawn("child", async { Err::<(), _>(Failed) })
            .unwrap();
    }
    group.join().await.unwrap_err().len()
}

/// What sits on the registry besides its no-op layer.
#[derive(Clone, Copy)]
enum On {
    Nothing,
    /// A second no-op layer, behind the cohort layer's filter.
    FilterOnly,
    CohortLayer,
}

/// A registry with a no-op layer, and what `on` says.
fn subscriber(on: On) -> Dispatch {
    let registry = tracing_subscriber::registry().with(Noop);
    match on {
        On::Nothing => Dispatch::new(registry),
        On::FilterOnly => Dispatch::new(registry.with(Noop.with_filter(CohortFilter::new()))),
        On::CohortLayer => Dispatch::new(registry.with(CohortLayer::new().filtered())),
    }
}

fn bench<F, Fut>(c: &mut Criterion, name: &str, n: u64, cases: &[(&str, On, F)])
where
    F: Fn(u64) -> Fut,
    Fut: Future,
{
    let rt = runtime();
    let mut g = c.benchmark_group(format!("layer/{name}"));
    for (label, on, work) in cases {
        let dispatch = subscriber(*on);
        g.bench_with_input(BenchmarkId::new(*label, n), &n, |b, &n| {
            tracing::dispatcher::with_default(&dispatch, || b.iter(|| rt.block_on(work(n))))
        });
    }
    g.finish();
}

/// One case: its label, what is on the registry, and its work (boxed, once
/// an iteration, so that the cases share one type).
type Case<T> = (
    &'static str,
    On,
    fn(u64) -> Pin<Box<dyn Future<Output = T>>>,
);

fn layer_cost(c: &mut Criterion) {
    for n in [1_000, 10_000] {
        let cases: [Case<u64>; 4] = [
            ("naive_spans", On::Nothing, |n| Box::pin(naive_spans(n))),
            ("cohort", On::Nothing, |n| Box::pin(fan_out(n))),
            ("cohort_filter_only", On::FilterOnly, |n| {
                Box::pin(fan_out(n))
            }),
            ("cohort_layer", On::CohortLayer, |n| Box::pin(fan_out(n))),
        ];
        bench(c, "fan_out", n, &cases);
    }
    let cases: [Case<usize>; 2] = [
        ("cohort", On::Nothing, |n| Box::pin(all_fail(n))),
        ("cohort_layer", On::CohortLayer, |n| Box::pin(all_fail(n))),
    ];
    bench(c, "failures", 1_000, &cases);
}

criterion_group!(benches, layer_cost);
criterion_main!(benches);
