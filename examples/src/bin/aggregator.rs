//! The guide's integrated production example as a service loop: each request
//! fans out to five downstream services (one of which fans out again to three
//! warehouses) under a concurrency limit and a deadline. Failures of two
//! kinds, connection and validation, are filtered `except*`-style; the cohort
//! layer logs every leaf once and keeps the metrics the closing summary
//! prints beside the service's own partial-failure rate.
//!
//! Where the guide bounds the fan-out with a semaphore (one task per call,
//! waiting) and an outer `asyncio.timeout` (which loses the partial results),
//! the group's own limit queues calls that have not started and its deadline
//! reports a timeout next to whatever else failed.
//!
//! `aggregator [REQUESTS] [SEED] [--paused] [--forever] [--prometheus
//! ADDRESS] [--console]`: `--forever` serves requests until Ctrl-C,
//! `--prometheus` serves the metrics for Prometheus to scrape, `--console`
//! (built with the `console` feature) lets tokio-console attach. A seed
//! decides every call's
//! fate and latency. With `--paused` the program runs on tokio's paused
//! clock, where simulated latencies are exact: a seed then gives the same
//! run, line for line, every time. On the real clock (the default, so that
//! exported traces show true durations) no two calls of a group end within
//! 2 ms of each other (see [`latency`]), so the same seed gives the same
//! outcomes, counts and cancellations; only a stall of the runtime of 2 ms
//! or more just as two calls end (a heavily loaded machine) can reorder them
//! and change which siblings a failure cancels. The timestamps differ, of
//! course.

use std::collections::BTreeMap;
use std::time::Duration;

use cohort::{DeadlineExceeded, ErrorGroup, Group};
use cohort_examples::{ValidationError, connection_error, finish_telemetry, init_logging_with};
use cohort_layer::MetricsSnapshot;
use tokio::time::sleep;

const SERVICES: [&str; 5] = ["users", "billing", "inventory", "fraud", "shipping"];
const WAREHOUSES: [&str; 3] = ["warehouse-eu", "warehouse-us", "warehouse-ap"];
const DEADLINE: Duration = Duration::from_millis(400);
/// At most this many downstream calls in flight per group.
const IN_FLIGHT: usize = 4;

/// A small deterministic generator, so every run with a seed tells the same story.
#[derive(Clone, Copy)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// What one simulated call will do.
#[derive(Clone, Copy, Debug)]
enum Fate {
    Ok,
    Unreachable,
    Invalid,
    Stall,
}

fn fate(rng: &mut Rng) -> Fate {
    match rng.below(100) {
        0..5 => Fate::Unreachable,
        5..10 => Fate::Invalid,
        10..13 => Fate::Stall,
        _ => Fate::Ok,
    }
}

/// A call to a network service: it can only fail to connect.
async fn fetch(
    service: &'static str,
    fate: Fate,
    latency: Duration,
) -> Result<String, std::io::Error> {
    sleep(latency).await;
    match fate {
        Fate::Unreachable => Err(connection_error(format!("{service} pool exhausted"))),
        Fate::Stall => stall(service).await,
        Fate::Ok | Fate::Invalid => Ok(format!("{service}: ok")),
    }
}

/// A call to a scoring model: it answers, but the answer may be invalid.
async fn score(
    service: &'static str,
    fate: Fate,
    latency: Duration,
) -> Result<String, ValidationError> {
    sleep(latency).await;
    match fate {
        Fate::Invalid | Fate::Unreachable => Err(ValidationError(format!(
            "{service} model returned NaN score"
        ))),
        Fate::Stall => stall(service).await,
        Fate::Ok => Ok(format!("{service}: ok")),
    }
}

/// A call that hangs until the deadline cancels it.
async fn stall<E>(service: &'static str) -> Result<String, E> {
    sleep(Duration::from_secs(3600)).await;
    Ok(format!("{service}: late"))
}

/// A call's latency: 20, 70 or 120 ms, plus its caller's own offset.
///
/// The offsets keep the moments two calls of one group end apart, so that
/// no two end in the same millisecond on the real clock, where a tie could
/// go either way. Within a request the top-level calls end at 0, 5 or 10 ms
/// past a 50 ms step (users, billing, fraud), inventory at 15, 20 or 25 (the
/// last of its warehouses), and shipping, which waits for a slot behind the
/// first call to end, 27 ms after it: 2, 27, 32, 37, 42 or 47. Every pair is
/// at least 2 ms apart.
fn latency(rng: &mut Rng, offset_ms: u64) -> Duration {
    Duration::from_millis(20 + 50 * rng.below(3) + offset_ms)
}

/// The offset of each service's calls; see [`latency`].
fn offset(service: &str) -> u64 {
    match service {
        "users" => 0,
        "billing" => 5,
        "fraud" => 10,
        "warehouse-eu" => 15,
        "warehouse-us" => 20,
        "warehouse-ap" => 25,
        _ => 27, // shipping
    }
}

/// The inventory service asks every warehouse: a nested group, whose failure
/// nests in the request's error tree.
async fn inventory(mut rng: Rng) -> Result<String, ErrorGroup> {
    let group = Group::builder("inventory")
        .limit(IN_FLIGHT)
        .build()
        .expect("a positive limit");
    for warehouse in WAREHOUSES {
        let (fate, latency) = (fate(&mut rng), latency(&mut rng, offset(warehouse)));
        if group
            .spawn(warehouse, fetch(warehouse, fate, latency))
            .is_err()
        {
            break; // a warehouse already failed: the group is closing
        }
    }
    group.join().await?;
    Ok(format!("inventory: {} warehouses", WAREHOUSES.len()))
}

#[derive(Default)]
struct Summary {
    requests: usize,
    ok: usize,
    failed: usize,
    timed_out: usize,
    children: usize,
    failed_children: usize,
}

async fn handle_request(id: usize, mut rng: Rng, summary: &mut Summary) {
    let group = Group::builder("aggregate")
        .limit(IN_FLIGHT)
        .timeout(DEADLINE)
        .build()
        .expect("a positive limit and deadline");
    let result = group
        .scope(|g| async move {
            for service in SERVICES {
                let (fate, latency) = (fate(&mut rng), latency(&mut rng, offset(service)));
                match service {
                    "inventory" => g.spawn(service, inventory(Rng(rng.next() | 1)))?,
                    "fraud" => g.spawn(service, score(service, fate, latency))?,
                    _ => g.spawn(service, fetch(service, fate, latency))?,
                };
            }
            Ok::<_, cohort::SpawnError>(())
        })
        .await;

    summary.requests += 1;
    summary.children += SERVICES.len();
    let Err(group) = result else {
        summary.ok += 1;
        tracing::info!(request = id, "aggregated {} services", SERVICES.len());
        return;
    };
    // The layer has logged each leaf (`exception`, with its path and type)
    // as the group raised; this line is the whole tree at a glance.
    tracing::error!(request = id, "{group}");
    summary.failed_children += group
        .failures()
        .iter()
        .filter(|f| f.downcast_ref::<DeadlineExceeded>().is_none())
        .count();
    // except*: one handler per kind; anything else is re-raised.
    let mut timed_out = false;
    let unhandled = group
        .catch::<DeadlineExceeded>(|_| {
            timed_out = true;
            tracing::warn!(
                request = id,
                "deadline of {DEADLINE:?} exceeded: partial response"
            );
        })
        .catch::<std::io::Error>(|g| {
            tracing::warn!(
                request = id,
                "{} connection failure(s): retry later",
                g.leaves().len()
            );
        })
        .catch::<ValidationError>(|g| {
            tracing::warn!(
                request = id,
                "{} validation failure(s): report upstream",
                g.leaves().len()
            );
        })
        .rest();
    if timed_out {
        summary.timed_out += 1;
    } else {
        summary.failed += 1;
    }
    if let Err(rest) = unhandled {
        tracing::error!(request = id, "unhandled failures re-raised: {rest}");
    }
}

/// What the command line asked for.
struct Options {
    requests: usize,
    seed: u64,
    paused: bool,
    /// Serve Prometheus metrics here.
    prometheus: Option<std::net::SocketAddr>,
    /// Keep serving requests until Ctrl-C.
    forever: bool,
    console: bool,
}

const USAGE: &str = "usage: aggregator [REQUESTS] [SEED] [--paused] [--forever] \
    [--prometheus ADDRESS] [--console]";

fn options() -> Options {
    let mut options = Options {
        requests: 12,
        seed: 7,
        paused: false,
        prometheus: None,
        forever: false,
        console: false,
    };
    let mut numbers = Vec::new();
    let mut args = std::env::args().skip(1);
    let usage = |why: &str| -> ! {
        eprintln!("{why}\n{USAGE}");
        std::process::exit(2);
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--paused" => options.paused = true,
            "--forever" => options.forever = true,
            "--console" => options.console = true,
            "--prometheus" => {
                let address = args
                    .next()
                    .unwrap_or_else(|| usage("--prometheus needs an address"));
                options.prometheus = Some(
                    address
                        .parse()
                        .unwrap_or_else(|_| usage(&format!("{address:?} is not host:port"))),
                );
            }
            n => match n.parse::<u64>() {
                Ok(n) => numbers.push(n),
                Err(_) => usage(&format!("unknown argument {n:?}")),
            },
        }
    }
    if let Some(&n) = numbers.first() {
        options.requests = n as usize;
    }
    if let Some(&seed) = numbers.get(1) {
        options.seed = seed;
    }
    if options.console && !cfg!(feature = "console") {
        usage(
            "--console needs the console feature: cargo run -p cohort-examples --features console --bin aggregator -- --console",
        );
    }
    if options.forever && options.paused {
        usage("--forever runs on the real clock; leave out --paused");
    }
    options
}

fn main() {
    let options = options();
    let telemetry = init_logging_with(|builder| match options.prometheus {
        Some(address) => builder.prometheus(address),
        None => builder,
    });
    if let Some(address) = telemetry.prometheus_address() {
        println!("metrics: http://{address}/metrics");
    }
    if options.console {
        println!("tokio-console: run `tokio-console` (it connects to 127.0.0.1:6669)");
    }
    // tokio-console needs the runtime's task instrumentation, which a
    // current-thread runtime has as well.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(options.paused)
        .build()
        .expect("a runtime");
    let summary = runtime.block_on(async {
        let mut rng = Rng(options.seed.max(1));
        let mut summary = Summary::default();
        if options.forever {
            println!("serving requests until Ctrl-C");
            let stop = tokio::signal::ctrl_c();
            tokio::pin!(stop);
            let mut id = 0;
            loop {
                tokio::select! {
                    _ = &mut stop => break,
                    () = handle_request(id, Rng(rng.next() | 1), &mut summary) => {}
                }
                id += 1;
                tokio::select! {
                    _ = &mut stop => break,
                    () = sleep(Duration::from_millis(100)) => {}
                }
            }
        } else {
            for id in 0..options.requests {
                handle_request(id, Rng(rng.next() | 1), &mut summary).await;
            }
        }
        summary
    });

    let rate = summary.failed_children as f64 / summary.children.max(1) as f64;
    println!(
        "summary: requests={} ok={} failed={} timed_out={} partial_failure_rate={rate:.3}",
        summary.requests, summary.ok, summary.failed, summary.timed_out,
    );
    print_metrics(&telemetry.cohort().metrics());
    finish_telemetry(telemetry);
}

/// What the cohort layer measured, as a dashboard would show it.
fn print_metrics(metrics: &MetricsSnapshot) {
    // Leaf failures by type, across groups (each counted by the group it
    // failed in, so a nested failure once).
    let mut by_type: BTreeMap<&str, u64> = BTreeMap::new();
    for group in metrics.groups.values() {
        for (ty, n) in &group.errors {
            *by_type.entry(ty).or_default() += n;
        }
    }
    let by_type: Vec<_> = by_type.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!(
        "failures by type: {}",
        if by_type.is_empty() {
            "none".into()
        } else {
            by_type.join(" ")
        }
    );
    for (name, group) in &metrics.groups {
        let runs: Vec<_> = group.runs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let cancelled: Vec<_> = group
            .cancelled
            .iter()
            .map(|(cause, n)| format!("{}={n}", cause.as_str()))
            .collect();
        let rate = &group.partial_failure_rate;
        println!(
            "group {name}: runs {} · children spawned={} failed={} cancelled {} · mean partial-failure rate {:.3} · leaked tasks {}",
            runs.join(" "),
            group.spawned,
            group.failed,
            if cancelled.is_empty() {
                "none".into()
            } else {
                cancelled.join(" ")
            },
            rate.sum / rate.count.max(1) as f64,
            group.leaked.values().sum::<u64>(),
        );
    }
}
