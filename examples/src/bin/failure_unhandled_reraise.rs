//! Failure mode: a handler that thought it was exhaustive. The handlers
//! cover connection errors; a validation error nobody planned for comes back
//! from `rest()`, as `except*` re-raises a non-matching subgroup. The
//! unhandled re-raise alarm says so (the `cohort.catch.unhandled` warning)
//! and counts it by type (`cohort.errors.unhandled`), and the outermost
//! catch-all logs what escaped.
//!
//! Runs on tokio's paused clock: every run prints the same.

use cohort::{ErrorGroup, Group};
use cohort_examples::{ValidationError, connection_error, finish_telemetry, init_logging};

async fn fan_out() -> Result<(), ErrorGroup> {
    let group = Group::new("profile");
    group
        .spawn("avatar", async {
            Err::<(), _>(connection_error("cdn unreachable"))
        })
        .expect("the group is open");
    group
        .spawn("settings", async {
            Err::<(), _>(ValidationError("theme \"neon\" unknown".into()))
        })
        .expect("the group is open");
    group.join().await
}

/// The request handler: it believes connection errors are all that happens.
async fn handle_request() -> Result<(), ErrorGroup> {
    match fan_out().await {
        Ok(()) => Ok(()),
        Err(errors) => errors
            .catch::<std::io::Error>(|g| {
                println!("handled: {} connection failure(s)", g.leaves().len())
            })
            .rest(),
    }
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    let telemetry = init_logging();
    // The outermost catch-all: log the whole residual tree, then decide.
    if let Err(escaped) = handle_request().await {
        println!("outermost catch-all: escaped the handlers: {escaped}");
    }
    let metrics = telemetry.cohort().metrics();
    for (error_type, count) in &metrics.group("profile").expect("the group ran").unhandled {
        println!("metric cohort.errors.unhandled{{error.type=\"{error_type}\"}} = {count}");
    }
    println!("look at: the WARN cohort.catch.unhandled line and the counter above");

    // The fix: a handler for every type you expect, decided deliberately.
    let fixed = fan_out()
        .await
        .expect_err("both fail again")
        .catch::<std::io::Error>(|_| {})
        .catch::<ValidationError>(|g| {
            println!("fixed: rejected {} invalid setting(s)", g.leaves().len())
        })
        .rest();
    let metrics = telemetry.cohort().metrics();
    let unhandled: u64 = metrics
        .group("profile")
        .map_or(0, |m| m.unhandled.values().sum());
    println!(
        "fixed: escaped={} unhandled total still {unhandled}",
        fixed.is_err()
    );
    finish_telemetry(telemetry);
}
