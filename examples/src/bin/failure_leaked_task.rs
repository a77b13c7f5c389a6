//! Failure mode: a task leaked past the group. A child starts its audit write
//! with a bare `tokio::spawn`, which the group does not supervise: the task
//! outlives the group, and its failure would be nobody's. The cohort layer
//! reports it when the group ends (the `cohort.task.leaked` warning, with the
//! spawn's `code.location`) and counts it (`cohort.tasks.leaked`). The fix
//! spawns it in the group.
//!
//! Leak detection reads tokio's task spans: build with
//! `RUSTFLAGS="--cfg tokio_unstable"` (this workspace's `.cargo/config.toml`
//! does). Runs on tokio's paused clock: every run prints the same.

use std::time::Duration;

use cohort::Group;
use cohort_examples::{finish_telemetry, init_logging};
use cohort_layer::LeakDetection;
use tokio::time::sleep;

async fn audit() {
    sleep(Duration::from_secs(1)).await;
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    let telemetry = init_logging();
    let group = Group::new("signup");
    group
        .spawn("create-user", async {
            // The mistake: a bare spawn inside a child.
            tokio::spawn(audit());
            Ok::<_, std::io::Error>(())
        })
        .expect("the group is open");
    group.join().await.expect("the child succeeds");

    let leaked = |telemetry: &cohort_otlp::Telemetry| -> u64 {
        let metrics = telemetry.cohort().metrics();
        metrics
            .group("signup")
            .map_or(0, |m| m.leaked.values().sum())
    };
    if telemetry.cohort().leak_detection() != LeakDetection::On {
        println!("leak detection is off: build with RUSTFLAGS=\"--cfg tokio_unstable\"");
    }
    for (location, count) in &telemetry
        .cohort()
        .metrics()
        .group("signup")
        .expect("ran")
        .leaked
    {
        println!("metric cohort.tasks.leaked{{code.location=\"{location}\"}} = {count}");
    }
    println!("look at: the WARN cohort.task.leaked line and its code.location");

    // The fix: the child spawns through its group, which waits for it.
    let before = leaked(&telemetry);
    let group = Group::new("signup");
    let handle = group.handle();
    group
        .spawn("create-user", async move {
            handle.spawn("audit", async {
                audit().await;
                Ok::<_, std::io::Error>(())
            })?;
            Ok::<_, cohort::SpawnError>(())
        })
        .expect("the group is open");
    group.join().await.expect("both succeed");
    println!("fixed: {} more leaked", leaked(&telemetry) - before);
    finish_telemetry(telemetry);
}
