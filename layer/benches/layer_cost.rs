//! What the cohort layer adds per child, against the same subscriber without
//! it, measured in the same run on a current-thread runtime:
//!
//! - `layer/fan_out/{N}`: N trivial children of one group, spawned and joined,
//!   with no subscriber, with a registry (which stores every span, tokio's
//!   task spans included under `tokio_unstable`), and with the registry and
//!   the cohort layer.
//! - `layer/failures/{N}`: a supervise group whose N children all fail: the
//!   error path, where each leaf is expanded, checked against the ids already
//!   logged, and sent as an event (to a registry with no output).
//!
//! Run: `cargo bench -p cohort-layer --bench layer_cost`. Report ratios.

use std::convert::Infallible;
use std::hint::black_box;

use cohort::{Group, Policy};
use cohort_layer::CohortLayer;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use tokio::runtime::Runtime;
use tracing::Dispatch;
use tracing_subscriber::prelude::*;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
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

/// The three subscribers compared: none, a registry, a registry with the layer.
fn subscribers() -> [(&'static str, Option<Dispatch>); 3] {
    [
        ("no_subscriber", None),
        (
            "registry",
            Some(Dispatch::new(tracing_subscriber::registry())),
        ),
        (
            "registry_cohort_layer",
            Some(Dispatch::new(
                tracing_subscriber::registry().with(CohortLayer::new()),
            )),
        ),
    ]
}

fn bench<F, Fut>(c: &mut Criterion, name: &str, sizes: &[u64], work: F)
where
    F: Fn(u64) -> Fut + Copy,
    Fut: Future,
{
    let rt = runtime();
    let mut g = c.benchmark_group(format!("layer/{name}"));
    for &n in sizes {
        for (label, dispatch) in subscribers() {
            g.bench_with_input(BenchmarkId::new(label, n), &n, |b, &n| match &dispatch {
                None => b.iter(|| rt.block_on(work(n))),
                Some(dispatch) => {
                    tracing::dispatcher::with_default(dispatch, || b.iter(|| rt.block_on(work(n))))
                }
            });
        }
    }
    g.finish();
}

fn layer_cost(c: &mut Criterion) {
    bench(c, "fan_out", &[1_000, 10_000], fan_out);
    bench(c, "failures", &[1_000], all_fail);
}

criterion_group!(benches, layer_cost);
criterion_main!(benches);
