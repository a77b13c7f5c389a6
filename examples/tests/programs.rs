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

/// The output without the log lines' timestamps.
fn untimed(out: &str) -> Vec<String> {
    out.lines()
        .map(|l| match l.split_once("Z ") {
            Some((stamp, rest)) if stamp.starts_with("20") => rest.trim_start().to_owned(),
            _ => l.to_owned(),
        })
        .collect()
}

#[test]
fn aggregator_runs_of_one_seed_on_the_paused_clock_are_identical() {
    let bin = env!("CARGO_BIN_EXE_aggregator");
    let first = untimed(&run(bin, &["20", "7", "--paused"]));
    let second = untimed(&run(bin, &["20", "7", "--paused"]));
    assert_eq!(first, second, "the same seed, the same run");
    // The seed decides the counts: these are seed 7's.
    let summary = first.iter().find(|l| l.starts_with("summary:")).unwrap();
    assert!(summary.starts_with("summary: requests=20 "), "{summary}");
    let other = untimed(&run(bin, &["20", "8", "--paused"]));
    assert_ne!(first, other, "another seed, another run");
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

/// The lines of `out` that are the cohort layer's leaf records.
fn leaf_lines(out: &str) -> Vec<&str> {
    out.lines()
        .filter(|l| l.contains(" cohort: exception exception.type="))
        .collect()
}

#[test]
fn failure_mode_only_the_first_error_noticed() {
    let out = run(env!("CARGO_BIN_EXE_failure_first_error_only"), &[]);
    assert!(out.contains("naive log mentions 1 of 3 failures"), "{out}");
    let leaves = leaf_lines(&out);
    assert_eq!(leaves.len(), 3, "one record per leaf: {out}");
    for child in ["payments", "ledger", "address"] {
        assert!(
            leaves
                .iter()
                .any(|l| l.contains(&format!("child.name=\"{child}\""))),
            "{child}: {out}"
        );
    }
    assert!(out.contains("metric cohort.child.errors{error.type=\"std::io::error::Error\"} = 2"));
    assert!(out.contains(
        "metric cohort.child.errors{error.type=\"cohort_examples::ValidationError\"} = 1"
    ));
}

#[test]
fn failure_mode_a_handler_that_thought_it_was_exhaustive() {
    let out = run(env!("CARGO_BIN_EXE_failure_unhandled_reraise"), &[]);
    assert!(out.contains("handled: 1 connection failure(s)"), "{out}");
    let alarms: Vec<_> = out
        .lines()
        .filter(|l| l.contains(" WARN cohort: failures no handler matched, handed back"))
        .collect();
    assert_eq!(alarms.len(), 1, "the alarm, once: {out}");
    assert!(
        alarms[0].contains("group.name=\"profile\" error.count=1"),
        "{out}"
    );
    assert!(out.contains(
        "outermost catch-all: escaped the handlers: group \"profile\" failed with 1 error"
    ));
    assert!(out.contains(
        "metric cohort.errors.unhandled{error.type=\"cohort_examples::ValidationError\"} = 1"
    ));
    // With a handler per type nothing escapes and the counter stays.
    assert!(
        out.contains("fixed: escaped=false unhandled total still 1"),
        "{out}"
    );
}

#[test]
fn failure_mode_a_plain_downcast_catches_nothing() {
    let out = run(env!("CARGO_BIN_EXE_failure_plain_catch"), &[]);
    assert!(
        out.contains("plain downcast_ref::<io::Error>(): None, caught nothing"),
        "{out}"
    );
    assert!(out.contains("catch::<io::Error>(): retrying after resolver timed out"));
    assert!(
        out.contains("fix: handled 1 leaf, nothing left: true"),
        "{out}"
    );
}

#[test]
fn failure_mode_siblings_mutating_state_after_a_failure() {
    let out = run(env!("CARGO_BIN_EXE_failure_siblings_mutate"), &[]);
    assert!(
        out.contains("gather-style: 5 rows written after the batch failed"),
        "{out}"
    );
    assert!(
        out.contains("group: 0 rows written after the batch failed"),
        "{out}"
    );
    assert!(out.contains(
        "cohort.children.cancelled{group.name=\"import-group\",cancel.cause=\"collateral\"} = 5"
    ));
    assert!(out.contains(
        "cohort.children.cancelled{group.name=\"import-gather\",cancel.cause=\"collateral\"} = 0"
    ));
}

#[test]
fn failure_mode_a_task_leaked_past_the_group() {
    let out = run(env!("CARGO_BIN_EXE_failure_leaked_task"), &[]);
    if cfg!(tokio_unstable) {
        // The bare spawn's own line and column, read from the source.
        let source = include_str!("../src/bin/failure_leaked_task.rs");
        let (line, text) = source
            .lines()
            .enumerate()
            .find(|(_, l)| l.contains("tokio::spawn(audit())"))
            .expect("the bare spawn");
        let column = text.find("tokio::spawn").unwrap() + 1;
        let location = format!(
            "code.location=\"examples/src/bin/failure_leaked_task.rs:{}:{column}\"",
            line + 1
        );
        let warnings: Vec<_> = out
            .lines()
            .filter(|l| l.contains(" WARN cohort: task spawned in the group outlived it"))
            .collect();
        assert_eq!(warnings.len(), 1, "{out}");
        assert!(warnings[0].contains("group.name=\"signup\""), "{out}");
        assert!(warnings[0].contains(&location), "{out}");
        assert!(out.contains(&format!("metric cohort.tasks.leaked{{{location}}} = 1")));
        assert!(out.contains("fixed: 0 more leaked"), "{out}");
    } else {
        assert!(out.contains("leak detection is off"), "{out}");
    }
}

#[test]
fn failure_mode_a_child_swallowing_its_cancellation() {
    let out = run(env!("CARGO_BIN_EXE_failure_swallowed_cancel"), &[]);
    let alarms: Vec<_> = out
        .lines()
        .filter(|l| l.contains(" WARN cohort: child still running after cancellation"))
        .collect();
    assert_eq!(alarms.len(), 1, "{out}");
    assert!(
        alarms[0].contains("child.name=\"report\"") && alarms[0].contains("cancelled_for_s=0.2")
    );
    assert!(
        out.contains("└── [1] report: cancelling 0.500s, UNRESPONSIVE"),
        "{out}"
    );
    assert!(
        out.contains("swallowed: the group ended after 2.010 s (the grace period)"),
        "{out}"
    );
    assert!(
        out.contains("fixed: the group ended after 0.010 s"),
        "{out}"
    );
}

#[test]
fn streaming_keeps_memory_flat_where_spawning_everything_does_not() {
    let out = run(env!("CARGO_BIN_EXE_streaming"), &["20000"]);
    let peak = |form: &str| -> u64 {
        let line = out
            .lines()
            .find(|l| l.starts_with(form))
            .unwrap_or_else(|| panic!("{form}: {out}"));
        let grew = line.split("peak RSS +").nth(1).expect(line);
        grew.trim_end_matches(" KiB").parse().expect(line)
    };
    let (stream, limit, tasks) = (
        peak("spawn_stream"),
        peak("limit(100)"),
        peak("one task per item"),
    );
    // 20,000 items of 1 KiB each: spawning them all holds several MiB; the
    // stream holds 100 at a time.
    assert!(stream < 4_096, "{out}");
    assert!(tasks > 4 * stream && limit > 4 * stream, "{out}");
}
