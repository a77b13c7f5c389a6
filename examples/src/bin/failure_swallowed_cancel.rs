//! Failure mode: a child swallowing its cancellation. `report` ignores its
//! token and keeps working for 5 s after a sibling failed; the group waits
//! for it (up to its 2 s grace period) instead of ending. The alarm says so
//! at 200 ms (the `cohort.child.unresponsive` warning), the live tree marks
//! the child UNRESPONSIVE, and the grace period still ends the group, at
//! 2.01 s. The fix honours the token and ends the group at 10 ms.
//!
//! Runs on tokio's paused clock: every run prints the same.

use std::time::Duration;

use cohort::Group;
use cohort_examples::{ValidationError, finish_telemetry, init_logging};
use tokio::time::{Instant, sleep};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

async fn run(honours_cancellation: bool, telemetry: &cohort_otlp::Telemetry) -> Duration {
    let group = Group::builder("nightly-report")
        .grace_period(ms(2_000))
        .unresponsive_after(ms(200))
        .build()
        .expect("valid options");
    group
        .spawn("fetch", async {
            sleep(ms(10)).await;
            Err::<(), _>(ValidationError("source table missing".into()))
        })
        .expect("the group is open");
    group
        .spawn_with("report", move |token| async move {
            let work = sleep(ms(5_000));
            if honours_cancellation {
                tokio::select! {
                    () = work => {}
                    () = token.cancelled() => return Ok(()), // clean up, then stop
                }
            } else {
                work.await; // the mistake: the token is never looked at
            }
            Ok::<_, ValidationError>(())
        })
        .expect("the group is open");
    let started = Instant::now();
    let join = group.join();
    tokio::pin!(join);
    // Where is it stuck? The live tree, half a second in.
    tokio::select! {
        _ = &mut join => return started.elapsed(),
        () = sleep(ms(500)) => {
            println!("live tree at 0.5 s:\n{}", telemetry.cohort().tree());
        }
    }
    let _ = join.await;
    started.elapsed()
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    let telemetry = init_logging();
    let took = run(false, &telemetry).await;
    println!(
        "swallowed: the group ended after {:.3} s (the grace period)",
        took.as_secs_f64()
    );
    println!("look at: the WARN cohort.child.unresponsive line and UNRESPONSIVE in the tree");
    let took = run(true, &telemetry).await;
    println!("fixed: the group ended after {:.3} s", took.as_secs_f64());
    finish_telemetry(telemetry);
}
