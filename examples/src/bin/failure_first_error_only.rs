//! Failure mode: only the first error is noticed. Three calls fail in the
//! same step; a log line that reads one failure out of the tree (as a plain
//! `except` read one exception) mentions one, while the cohort layer logs
//! every leaf once, and the metrics count all three by type.
//!
//! Runs on tokio's paused clock: every run prints the same.

use cohort::Group;
use cohort_examples::{ValidationError, connection_error, finish_telemetry, init_logging};

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    let telemetry = init_logging();
    let group = Group::new("checkout");
    for service in ["payments", "ledger"] {
        group
            .spawn(service, async move {
                Err::<(), _>(connection_error(format!("{service} unreachable")))
            })
            .expect("the group is open");
    }
    group
        .spawn("address", async {
            Err::<(), _>(ValidationError("zip code missing".into()))
        })
        .expect("the group is open");
    let errors = group.join().await.expect_err("all three fail");

    // The mistake: read one failure and log it as if it were the error.
    let first = &errors.leaves()[0];
    println!(
        "naive log: checkout failed: {}: {}",
        first.failure.child_name(),
        first.failure.message()
    );
    println!("naive log mentions 1 of {} failures", errors.leaves().len());

    // What catches it: the layer's records, one `exception` line per leaf
    // above, and the error counter by type.
    let metrics = telemetry.cohort().metrics();
    let by_type = &metrics.group("checkout").expect("the group ran").errors;
    for (error_type, count) in by_type {
        println!("metric cohort.child.errors{{error.type=\"{error_type}\"}} = {count}");
    }
    println!(
        "look at: the {} `exception` lines, one per leaf",
        errors.leaves().len()
    );
    println!("fix: log every leaf (the cohort layer does), or walk errors.leaves()");
    finish_telemetry(telemetry);
}
