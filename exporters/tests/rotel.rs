//! Through a real collector: rotel (an OTLP collector, `pip install --pre
//! rotel`), started on loopback in front of the test's receiver. `.ci/run`
//! installs it and sets `ROTEL_AGENT`; elsewhere the test looks for
//! `rotel-agent` on the PATH, and says it skipped when there is none (unless
//! `COHORT_REQUIRE_ROTEL` is set, as in CI, where a missing agent fails).

mod support;

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::receiver::{Received, receiver};
use support::{checkouts_on_workers, complete, run_checkout};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn agent() -> Option<String> {
    if let Ok(path) = std::env::var("ROTEL_AGENT") {
        return Some(path);
    }
    let found = Command::new("rotel-agent")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    found.then(|| "rotel-agent".to_owned())
}

/// Kills the agent however the test ends.
struct Agent(Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A rotel agent on loopback taking OTLP/gRPC and forwarding to `upstream`
/// over HTTP: the agent, its gRPC endpoint, and its log's path. `None`
/// (after saying so) where rotel is not installed and not required.
fn start_rotel(upstream: &str) -> Option<(Agent, String, std::path::PathBuf)> {
    let Some(agent) = agent() else {
        assert!(
            std::env::var_os("COHORT_REQUIRE_ROTEL").is_none(),
            "COHORT_REQUIRE_ROTEL is set but rotel-agent is not installed"
        );
        eprintln!("skipped: rotel-agent not installed (pip install --pre rotel)");
        return None;
    };
    let (grpc, http) = (free_port(), free_port());
    let log_path = std::env::temp_dir().join(format!("cohort-rotel-{grpc}.log"));
    let log = std::fs::File::create(&log_path).unwrap();
    let agent = Agent(
        Command::new(&agent)
            .args(["start", "--otlp-grpc-endpoint"])
            .arg(format!("127.0.0.1:{grpc}"))
            .arg("--otlp-http-endpoint")
            .arg(format!("127.0.0.1:{http}"))
            // gRPC in (what the service sends), HTTP out to the receiver.
            .args(["--exporter", "otlp", "--otlp-exporter-protocol", "http"])
            .arg("--otlp-exporter-endpoint")
            .arg(upstream)
            // Its log goes to a file the failure message names.
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start rotel-agent"),
    );
    // Ready when its receiver accepts connections.
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", grpc)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "rotel did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Some((agent, format!("http://127.0.0.1:{grpc}"), log_path))
}

/// Twenty runs on worker threads through rotel: every trace complete.
#[test]
fn every_trace_of_twenty_runs_arrives_complete_through_rotel() {
    const RUNS: usize = 20;
    let (upstream, requests) = receiver();
    let Some((_agent, endpoint, log_path)) = start_rotel(&upstream) else {
        return;
    };
    checkouts_on_workers(&[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &endpoint)], RUNS);
    let spans = Received::collect(&requests, 7 * RUNS, Duration::from_secs(20)).spans;
    let traces = complete(&spans);
    assert_eq!(traces.len(), RUNS, "rotel's log: {}", log_path.display());
    assert!(traces.values().all(|t| t.len() == 7));
}

#[test]
fn everything_arrives_through_rotel() {
    let (upstream, requests) = receiver();
    let Some((_agent, endpoint, log_path)) = start_rotel(&upstream) else {
        return;
    };
    let (dispatch, telemetry) = support::subscriber(&[("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)]);
    let tree = run_checkout(&dispatch);
    let delivery = telemetry.shutdown();
    assert!(
        delivery.values().all(|d| d.failed == 0 && d.exported > 0),
        "{delivery:?}"
    );

    // rotel batches before it forwards: wait for what was sent.
    let Received {
        spans,
        logs,
        metrics,
    } = Received::collect(&requests, 7, Duration::from_secs(20));

    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    let log = log_path.display();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        [
            "checkout",
            "checkout/card",
            "checkout/pricing",
            "checkout/stock",
            "inventory",
            "inventory/eu",
            "price lookup",
        ],
        "rotel's log: {log}"
    );
    // Each leaf once on the outermost group's span, and each failing child's
    // own failure on its span (`stock` failed with the nested tree).
    let exceptions = |name: &str| {
        spans
            .iter()
            .filter(|s| s.name == name)
            .map(|s| s.events.iter().filter(|e| e.name == "exception").count())
            .sum::<usize>()
    };
    assert_eq!(exceptions("checkout"), tree.leaves().len());
    for failed in ["checkout/card", "checkout/stock", "inventory/eu"] {
        assert_eq!(exceptions(failed), 1, "{failed}");
    }
    assert_eq!(exceptions("inventory") + exceptions("checkout/pricing"), 0);
    let leaf_logs = logs
        .iter()
        .filter(|l| l.attributes.iter().any(|kv| kv.key == "exception.type"))
        .count();
    assert_eq!(leaf_logs, tree.leaves().len());
    assert!(
        metrics.iter().any(|m| m.name == "cohort.group.runs"),
        "{:?}",
        metrics.iter().map(|m| &m.name).collect::<Vec<_>>()
    );
}
