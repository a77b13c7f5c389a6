//! The workload every export test runs, and a settings map.

#![allow(dead_code)]

pub mod collectors;
pub mod receiver;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use cohort::{ErrorGroup, Group, Policy};
use opentelemetry_proto::tonic::trace::v1::Span;

/// Settings as the environment would hold them.
pub fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + 'static {
    let vars: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| vars.get(name).cloned()
}

/// The subscriber and its exporters for the settings `vars`, without the
/// fmt layer (test output stays readable).
pub fn subscriber(vars: &[(&str, &str)]) -> (tracing::Dispatch, cohort_otlp::Telemetry) {
    cohort_otlp::builder()
        .env(env(vars))
        .without_fmt()
        .build()
        .unwrap()
}

#[derive(Debug)]
pub struct Declined;

impl fmt::Display for Declined {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("card declined")
    }
}

impl std::error::Error for Declined {}

/// A supervise group (every child runs): `pricing` succeeds with a span of
/// its own inside, `card` fails, `stock` runs the group `inventory`, whose
/// shard `eu` fails. Two leaves: `0` (card) and `1.0` (eu).
pub async fn checkout() -> ErrorGroup {
    let group = Group::builder("checkout")
        .policy(Policy::Supervise)
        .build()
        .unwrap();
    group
        .spawn("pricing", async {
            let _lookup = tracing::info_span!("price lookup", sku = "A-1").entered();
            Ok::<_, Declined>(42)
        })
        .unwrap();
    group
        .spawn("card", async { Err::<u32, _>(Declined) })
        .unwrap();
    group
        .spawn("stock", async {
            let inventory = Group::new("inventory");
            inventory
                .spawn("eu", async {
                    Err::<(), _>(std::io::Error::new(
                        std::io::ErrorKind::ConnectionRefused,
                        "eu warehouse unreachable",
                    ))
                })
                .unwrap();
            inventory.join().await.map(|()| 0)
        })
        .unwrap();
    group.join().await.unwrap_err()
}

/// Runs the workload on a current-thread runtime with `dispatch` as the
/// thread's subscriber.
pub fn run_checkout(dispatch: &tracing::Dispatch) -> ErrorGroup {
    tracing::dispatcher::with_default(dispatch, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(checkout())
    })
}

/// A multi-thread runtime whose workers report to `dispatch`.
pub fn workers_with(
    dispatch: &tracing::Dispatch,
    n: usize,
) -> std::io::Result<tokio::runtime::Runtime> {
    let dispatch = dispatch.clone();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(n)
        .enable_all()
        .on_thread_start(move || {
            // For the thread's life: the guard is never dropped.
            std::mem::forget(tracing::dispatcher::set_default(&dispatch));
        })
        .build()
}

/// Checks that every span's parent arrived, and returns the traces.
pub fn complete(spans: &[Span]) -> BTreeMap<&[u8], Vec<&Span>> {
    let mut traces: BTreeMap<&[u8], Vec<&Span>> = BTreeMap::new();
    for span in spans {
        traces.entry(&span.trace_id).or_default().push(span);
    }
    for trace in traces.values() {
        let ids: BTreeSet<&[u8]> = trace.iter().map(|s| &s.span_id[..]).collect();
        for span in trace {
            assert!(
                span.parent_span_id.is_empty() || ids.contains(&span.parent_span_id[..]),
                "{} arrived without its parent",
                span.name
            );
        }
    }
    traces
}

/// Exports with the settings `vars`, runs [`checkout`] `runs` times on two
/// worker threads, and shuts down while the runtime still runs (as `main`
/// does at its end), asserting that nothing was lost.
pub fn checkouts_on_workers(vars: &[(&str, &str)], runs: usize) {
    let (dispatch, telemetry) = subscriber(vars);
    tracing::dispatcher::with_default(&dispatch, || {
        let rt = workers_with(&dispatch, 2).unwrap();
        rt.block_on(async {
            for _ in 0..runs {
                checkout().await;
            }
        });
        let delivery = telemetry.shutdown();
        assert!(delivery.values().all(|d| d.lost() == 0), "{delivery:?}");
    });
}
