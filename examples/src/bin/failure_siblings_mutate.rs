//! Failure mode: siblings keep mutating state after a failure. Five writers
//! each write a row at 20, 30, 40, 50 and 60 ms; a validation fails at 5 ms.
//! Gather-style (`Policy::CollectAll`, like `gather(return_exceptions=True)`)
//! lets every writer run on, so a batch that already failed is half written;
//! the group (fail-fast) cancels them at the failure. The metric says what
//! was collateral: `cohort.children.cancelled{cancel.cause="collateral"}`.
//!
//! Runs on tokio's paused clock: every run prints the same.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use cohort::{Group, Policy};
use cohort_examples::{ValidationError, finish_telemetry, init_logging};
use cohort_layer::CancelCause;
use tokio::time::sleep;

/// Runs the batch under `policy`; how many rows were written after the
/// failure.
async fn batch(name: &'static str, policy: Policy) -> u32 {
    let written = Arc::new(AtomicU32::new(0));
    let group = Group::builder(name).policy(policy).build().expect("valid");
    group
        .spawn("validate", async {
            sleep(Duration::from_millis(5)).await;
            Err::<(), _>(ValidationError("row 3 has no id".into()))
        })
        .expect("the group is open");
    for i in 0..5u64 {
        let written = written.clone();
        group
            .spawn("write", async move {
                sleep(Duration::from_millis(20 + 10 * i)).await;
                written.fetch_add(1, Ordering::Relaxed); // the side effect
                Ok::<_, ValidationError>(())
            })
            .expect("the group is open");
    }
    let _ = group.join().await;
    written.load(Ordering::Relaxed)
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    let telemetry = init_logging();
    let gathered = batch("import-gather", Policy::CollectAll).await;
    println!("gather-style: {gathered} rows written after the batch failed");
    let grouped = batch("import-group", Policy::FailFast).await;
    println!("group: {grouped} rows written after the batch failed");

    let metrics = telemetry.cohort().metrics();
    for name in ["import-gather", "import-group"] {
        let cancelled = metrics
            .group(name)
            .and_then(|m| m.cancelled.get(&CancelCause::Collateral).copied())
            .unwrap_or(0);
        println!(
            "metric cohort.children.cancelled{{group.name=\"{name}\",cancel.cause=\"collateral\"}} = {cancelled}"
        );
    }
    println!("look at: the rows written after the failure, and the collateral count");
    println!("fix: treat the batch as all-or-nothing (a fail-fast group), make writes idempotent");
    finish_telemetry(telemetry);
}
