//! Runs every example program and checks what it prints, so the README's main
//! job and the pattern catalogue stay true.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;

fn run(bin: &str, args: &[&str]) -> String {
    let out = Command::new(bin)
        .args(args)
        .env(
            "RUST_LOG",
            "info,cohort=off,cohort_examples=info,cohort_otlp=info",
        )
        .output()
        .expect("the example runs");
    assert!(
        out.status.success(),
        "{bin} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

#[test]
fn aggregator_prints_its_error_trees_and_a_summary() {
    let out = run(env!("CARGO_BIN_EXE_aggregator"), &["12", "7"]);
    let summary = out
        .lines()
        .find(|l| l.starts_with("summary:"))
        .expect("a summary line");
    // The counts are a function of the seed; their sum must be the requests.
    let field = |key: &str| -> usize {
        let start = summary.find(&format!("{key}=")).expect(key) + key.len() + 1;
        summary[start..]
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(field("requests"), 12);
    assert_eq!(field("ok") + field("failed") + field("timed_out"), 12);
    // Which failure lands first in a request depends on real latencies, so
    // only what holds under any scheduling is checked here; the patterns
    // themselves are checked deterministically in the cohort crate's tests.
    assert!(field("failed") > 0, "seed 7 produces failures: {out}");
    assert!(out.contains("failure(s): "), "a handler ran: {out}");
    assert!(
        out.contains(" exception exception.type="),
        "each leaf logged by the cohort layer: {out}"
    );
    assert!(out.contains("failures by type:"), "{out}");
    assert!(
        out.contains("group aggregate: runs ") && out.contains("group inventory: runs "),
        "the layer's metrics: {out}"
    );
}

#[test]
fn pattern_programs_print_what_the_guide_shows() {
    let basic = run(env!("CARGO_BIN_EXE_basic_fan_out"), &[]);
    assert_eq!(
        basic.trim(),
        r#"["/users: ok", "/orders: ok", "/inventory: ok"]"#
    );

    let except = run(env!("CARGO_BIN_EXE_except_star"), &[]);
    assert_eq!(
        except,
        "connection failure: cache unreachable\nvalidation failures: 1\n"
    );

    let gather = run(env!("CARGO_BIN_EXE_gather_vs_group"), &[]);
    assert!(
        gather.contains(r#"gather: [Ok(0), Ok(1), Err(ValidationError("task 2 failed")), Ok(3)]"#)
    );
    assert!(
        gather.contains(
            r#"group outcomes: [Some("ok"), Some("ok"), Some("error"), Some("cancelled")]"#
        )
    );

    let partial = run(env!("CARGO_BIN_EXE_partial_results"), &[]);
    assert!(
        partial.starts_with("1 shard(s) timed out; kept "),
        "{partial}"
    );

    let timeout = run(env!("CARGO_BIN_EXE_outer_timeout"), &[]);
    assert_eq!(timeout.trim(), "deadline hit; group cancelled");

    let bounded = run(env!("CARGO_BIN_EXE_bounded_fan_out"), &[]);
    assert_eq!(
        bounded,
        "running 10, queued 490\ntokio tasks alive: 10\nfetched 500\n"
    );

    let nested = run(env!("CARGO_BIN_EXE_nested_groups"), &[]);
    assert!(
        nested.contains(r#"[0] eu: group "eu" failed with 1 error:"#),
        "{nested}"
    );
    // Logged once, at the outermost group, with its full path.
    assert_eq!(
        nested.matches(" exception exception.type=").count(),
        1,
        "{nested}"
    );
    assert!(nested.contains("leaf.path=\"0.0\""), "{nested}");
}

/// An OTLP/HTTP endpoint that accepts everything it is sent.
fn accepting_endpoint() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || accept_all(stream));
        }
    });
    endpoint
}

fn accept_all(stream: TcpStream) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    loop {
        let mut length = 0;
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        loop {
            line.clear();
            reader.read_line(&mut line).unwrap();
            if line.trim_end().is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap();
                }
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let ok = "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        writer.write_all(ok.as_bytes()).unwrap();
    }
}

#[test]
fn the_main_job_exports_when_an_endpoint_is_set() {
    let out = Command::new(env!("CARGO_BIN_EXE_aggregator"))
        .arg("4")
        .env("RUST_LOG", "info")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", accepting_endpoint())
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{stdout}");
    let said = stdout
        .lines()
        .find(|l| l.starts_with("telemetry: "))
        .expect("a telemetry line");
    for signal in ["Traces", "Metrics", "Logs"] {
        assert!(said.contains(&format!("{signal}: ")), "{said}");
    }
    assert!(!said.contains("Traces: 0 sent"), "{said}");
    assert_eq!(said.matches(" 0 lost").count(), 3, "{said}");
}

#[test]
fn the_main_job_refuses_a_malformed_endpoint_before_it_starts() {
    let out = Command::new(env!("CARGO_BIN_EXE_aggregator"))
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("OTEL_EXPORTER_OTLP_ENDPOINT"), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).is_empty());
}

#[test]
fn the_main_job_survives_a_collector_that_is_down() {
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let out = Command::new(env!("CARGO_BIN_EXE_aggregator"))
        .arg("4")
        .env("RUST_LOG", "info")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("summary: requests=4"), "{stdout}");
    // Said once, counted, and the SDK's own per-export errors kept out.
    assert_eq!(stdout.matches("OTLP export failed").count(), 1, "{stdout}");
    assert!(!stdout.contains("opentelemetry_sdk"), "{stdout}");
    let said = stdout
        .lines()
        .find(|l| l.starts_with("telemetry: "))
        .unwrap();
    assert!(
        said.contains("Traces: 0 sent") && !said.contains("Traces: 0 sent, 0 lost"),
        "{said}"
    );
}
