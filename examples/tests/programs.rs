//! Runs every example program and checks what it prints, so the README's main
//! job and the pattern catalogue stay true.

use std::process::Command;

fn run(bin: &str, args: &[&str]) -> String {
    let out = Command::new(bin)
        .args(args)
        .env("RUST_LOG", "info,cohort=off,cohort_examples=info")
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
