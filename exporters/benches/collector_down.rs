//! What a collector that is down or slow costs the service: the same
//! workload with no export at all, exporting to a healthy collector, to a
//! closed port (down), and to a port that accepts and never answers (slow),
//! measured in the same run; then the process's resident memory as the
//! down and slow cases run ten times longer.
//!
//! Two workloads of requests fanning out to 8 children, one in four requests
//! with a failing child (a leaf): `cpu`, children that each spend 50 µs of
//! CPU (the adversarial case: telemetry's own cost shows most), and `io`,
//! children that each wait 1 ms, as calls to other services do.
//!
//! Run: `cargo bench -p cohort-otlp --bench collector_down`. Report ratios.

use std::hint::black_box;
use std::time::{Duration, Instant};

use cohort::Group;
use collectors::{closed_port, hanging};
use criterion::{BenchmarkId, Criterion};
use tracing::Dispatch;

#[path = "../tests/support/collectors.rs"]
mod collectors;
#[path = "../tests/support/receiver.rs"]
mod receiver;

const CHILDREN: u64 = 8;
const REQUESTS_PER_ITER: u64 = 20;

/// Spends `d` of CPU, as a child doing real work would.
fn spin(d: Duration) -> u64 {
    let end = Instant::now() + d;
    let mut x = 0u64;
    while Instant::now() < end {
        x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
    x
}

#[derive(Debug)]
struct Unavailable;

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("backend unavailable")
    }
}

impl std::error::Error for Unavailable {}

#[derive(Clone, Copy)]
enum Work {
    Cpu,
    Io,
}

async fn request(i: u64, work: Work) {
    let group = Group::new("request");
    for c in 0..CHILDREN {
        let fails = i % 4 == 0 && c == 0;
        group
            .spawn("call", async move {
                match work {
                    Work::Cpu => drop(spin(Duration::from_micros(50))),
                    Work::Io => tokio::time::sleep(Duration::from_millis(1)).await,
                }
                if fails { Err(Unavailable) } else { Ok(()) }
            })
            .unwrap();
    }
    let _ = black_box(group.join().await);
}

async fn requests(n: u64, work: Work) {
    for i in 0..n {
        request(i, work).await;
    }
}

/// A collector that accepts every OTLP/HTTP request (and keeps none).
fn healthy() -> String {
    receiver::receiver().0
}

fn telemetry(endpoint: Option<String>, protocol: &str) -> (Dispatch, cohort_otlp::Telemetry) {
    let mut vars = vec![(
        "OTEL_EXPORTER_OTLP_PROTOCOL".to_owned(),
        protocol.to_owned(),
    )];
    if let Some(endpoint) = endpoint {
        vars.push(("OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(), endpoint));
    }
    cohort_otlp::builder()
        .env(move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
        .metric_interval(Duration::from_secs(1))
        .without_fmt()
        .build()
        .unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn throughput(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("collector");
    for (name, endpoint, protocol) in [
        ("no_export", None, "grpc"),
        ("healthy_http", Some(healthy()), "http/protobuf"),
        ("down_grpc", Some(closed_port()), "grpc"),
        ("down_http", Some(closed_port()), "http/protobuf"),
        ("slow_grpc", Some(hanging()), "grpc"),
    ] {
        let (dispatch, guard) = telemetry(endpoint, protocol);
        for (label, work) in [("cpu", Work::Cpu), ("io", Work::Io)] {
            g.bench_function(BenchmarkId::new(name, label), |b| {
                tracing::dispatcher::with_default(&dispatch, || {
                    b.iter(|| rt.block_on(requests(REQUESTS_PER_ITER, work)))
                })
            });
        }
        let delivery = guard.delivery();
        println!("{name}: delivery so far {delivery:?}");
        std::thread::spawn(move || drop(guard));
    }
    g.finish();
}

/// Resident memory, in KiB, from /proc (Linux).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Runs the down and slow cases ten times longer, sampling resident memory:
/// the SDK's bounded queues drop what cannot be sent, so it levels off.
fn memory() {
    let rt = runtime();
    for (name, endpoint, protocol) in [
        ("down_grpc", closed_port(), "grpc"),
        ("slow_grpc", hanging(), "grpc"),
    ] {
        let (dispatch, guard) = telemetry(Some(endpoint), protocol);
        let mut samples = Vec::new();
        tracing::dispatcher::with_default(&dispatch, || {
            for _ in 0..10 {
                rt.block_on(requests(500, Work::Cpu));
                samples.push(rss_kib());
            }
        });
        let d = guard.delivery();
        println!(
            "memory {name}: RSS after each 500 requests (KiB): {samples:?}; \
             traces handed {} lost {}",
            d[&cohort_otlp::Signal::Traces].queued,
            d[&cohort_otlp::Signal::Traces].lost()
        );
        std::thread::spawn(move || drop(guard));
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    throughput(&mut c);
    c.final_summary();
    memory();
}
