//! Failure mode: `try/except SomeError` catching nothing. A group wraps even a
//! single failure in a tree, so code that asks the error "are you an
//! `io::Error`?" (a plain `downcast_ref`, as services using `anyhow` write)
//! gets "no" and handles nothing. `Catch::error(..).catch::<E>()` looks at
//! the leaves, as `except*` does.
//!
//! Runs on tokio's paused clock: every run prints the same.

use cohort::{Catch, Group};
use cohort_examples::{connection_error, finish_telemetry, init_logging};

async fn lookup() -> anyhow::Result<()> {
    let group = Group::new("lookup");
    group
        .spawn("dns", async {
            Err::<(), _>(connection_error("resolver timed out"))
        })
        .expect("the group is open");
    group.join().await?;
    Ok(())
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    let telemetry = init_logging();
    let error = lookup().await.expect_err("the lookup fails");

    // The mistake: the error is the tree, not the io::Error inside it.
    match error.downcast_ref::<std::io::Error>() {
        Some(io) => println!("plain downcast: retrying after {io}"),
        None => println!(
            "plain downcast_ref::<io::Error>(): None, caught nothing (the error is the tree: {})",
            error.to_string().lines().next().unwrap_or("")
        ),
    }

    // The fix: match the leaves.
    let mut retried = 0;
    let rest = Catch::error(lookup().await.expect_err("the lookup fails again"))
        .catch::<std::io::Error>(|g| {
            for leaf in g.leaves() {
                retried += 1;
                println!(
                    "catch::<io::Error>(): retrying after {}",
                    leaf.failure.message()
                );
            }
        })
        .rest();
    println!(
        "fix: handled {retried} leaf, nothing left: {}",
        rest.is_ok()
    );
    println!("look at: the first line handled nothing although there was one io::Error");
    finish_telemetry(telemetry);
}
