//! Every query of the dashboards and every rule, evaluated by a real
//! Prometheus on real data: the `workload` program serves its metrics, a
//! Prometheus (Debian's `prometheus` package) scrapes it every second with
//! the rules loaded, and each expression must return series with the
//! labels it is written for. A query that returns nothing fails.
//!
//! Without a `prometheus` binary the test says it skipped, unless
//! `COHORT_REQUIRE_PROMETHEUS` is set, as in CI.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Kills a child process however the test ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET path` on loopback `port`; the body.
fn get(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_owned())
}

/// Prometheus's answer to an instant query.
fn query(port: u16, expr: &str) -> Vec<Value> {
    let encoded = percent_encoding::utf8_percent_encode(expr, percent_encoding::NON_ALPHANUMERIC);
    let Some(body) = get(port, &format!("/api/v1/query?query={encoded}")) else {
        return Vec::new();
    };
    // Prometheus answers with chunked encoding: the JSON is between the
    // first `{` and the last `}`.
    let (Some(start), Some(end)) = (body.find('{'), body.rfind('}')) else {
        return Vec::new();
    };
    let answer: Value = serde_json::from_str(&body[start..=end]).unwrap_or(Value::Null);
    answer["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn labels(series: &Value) -> Vec<String> {
    series["metric"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// The expressions of the dashboards' panels, `$group` matching every group.
fn panel_queries() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dashboards/grafana");
    let mut queries = Vec::new();
    for file in ["cohort-overview.json", "cohort-group.json"] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        let dashboard: Value = serde_json::from_str(&text).unwrap();
        for panel in dashboard["panels"].as_array().unwrap() {
            for target in panel["targets"].as_array().unwrap() {
                let expr = target["expr"].as_str().unwrap().replace("$group", ".*");
                let title = format!("{file}: {}", panel["title"].as_str().unwrap());
                queries.push((title, expr));
            }
        }
    }
    queries
}

#[test]
fn every_panel_and_rule_returns_series_from_a_real_prometheus() {
    let found = Command::new("prometheus")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var_os("COHORT_REQUIRE_PROMETHEUS").is_none(),
            "COHORT_REQUIRE_PROMETHEUS is set but prometheus is not installed"
        );
        eprintln!("skipped: prometheus not installed (apt-get install prometheus)");
        return;
    }
    let (metrics, web) = (free_port(), free_port());
    let _workload = Running(
        Command::new(env!("CARGO_BIN_EXE_workload"))
            .arg(format!("127.0.0.1:{metrics}"))
            .env("RUST_LOG", "off")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the workload starts"),
    );
    let dir = std::env::temp_dir().join(format!("cohort-prometheus-{web}"));
    std::fs::create_dir_all(&dir).unwrap();
    let rules = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../dashboards/prometheus/cohort.rules.yml")
        .canonicalize()
        .unwrap();
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n  - {}\n\
             scrape_configs:\n  - job_name: cohort\n    static_configs:\n      - targets: ['127.0.0.1:{metrics}']\n",
            rules.display()
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
    let _prometheus = Running(
        Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{web}"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("prometheus starts"),
    );

    // The rules as Prometheus loaded them: their queries, parsed.
    let deadline = Instant::now() + Duration::from_secs(90);
    let rules: Vec<(String, String)> = loop {
        if let Some(body) = get(web, "/api/v1/rules") {
            if let (Some(start), Some(end)) = (body.find('{'), body.rfind('}')) {
                let answer: Value = serde_json::from_str(&body[start..=end]).unwrap();
                let rules: Vec<_> = answer["data"]["groups"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
                    .map(|r| {
                        (
                            r["name"].as_str().unwrap_or("").to_owned(),
                            r["query"].as_str().unwrap_or("").to_owned(),
                        )
                    })
                    .collect();
                if !rules.is_empty() {
                    break rules;
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "prometheus did not load the rules (log in {})",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(rules.len(), 15, "{rules:?}");

    // Each expression, until it returns series or the deadline passes: the
    // rates need two scrapes, the recording rules an evaluation after them.
    let mut pending: Vec<(String, String)> = panel_queries();
    pending.extend(rules);
    let mut answered = Vec::new();
    while !pending.is_empty() && Instant::now() < deadline {
        pending.retain(|(name, expr)| {
            let series = query(web, expr);
            if series.is_empty() {
                return true;
            }
            answered.push((name.clone(), labels(&series[0]), series.len()));
            false
        });
        if !pending.is_empty() {
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    for (name, labels, n) in &answered {
        println!("{name}: {n} series, labels {labels:?}");
    }
    assert!(
        pending.is_empty(),
        "no series for {pending:#?} (prometheus log in {})",
        dir.display()
    );
    // The labels the dashboards group by are there as exported.
    let by_name = |n: &str| {
        answered
            .iter()
            .find(|(name, ..)| name.ends_with(n))
            .unwrap()
    };
    assert!(
        by_name("Errors by type")
            .1
            .contains(&"error_type".to_owned())
    );
    assert!(
        by_name("Cancellations by cause")
            .1
            .contains(&"cancel_cause".to_owned())
    );
    assert!(
        by_name("Leaked tasks")
            .1
            .contains(&"code_location".to_owned())
    );
    let _ = std::fs::remove_dir_all(&dir);
}
