//! The workload the dashboards and alerts are proven on: every metric of
//! docs/telemetry.md moves, until the program is stopped. Fan-outs that fail
//! with two error types (a third of their children), with collateral and
//! deadline cancellations, under a limit; and the failure modes of the
//! guide, each now and then: a task leaked past its group, a child that
//! ignores its cancellation, a failure no handler matched.
//!
//! `workload ADDRESS` serves the metrics for Prometheus at ADDRESS.

use std::time::Duration;

use cohort::Group;
use cohort_examples::{ValidationError, connection_error, init_logging_with};
use tokio::time::sleep;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A fan-out of six calls: two fail (one of each type), one stalls until the
/// deadline cuts it.
async fn checkout(round: u64) {
    let group = Group::builder("checkout")
        .limit(4)
        .timeout(ms(60))
        .build()
        .expect("valid options");
    for i in 0..6u64 {
        let _ = group.spawn("call", async move {
            sleep(ms(5 + 5 * i)).await;
            match (round + i) % 6 {
                0 => Err(Box::new(connection_error("pool exhausted")) as cohort::BoxError),
                1 => Err(Box::new(ValidationError("bad payload".into())) as cohort::BoxError),
                2 if round % 2 == 0 => {
                    sleep(ms(1_000)).await; // stalls: the deadline cuts it
                    Ok(())
                }
                _ => Ok(()),
            }
        });
    }
    if let Err(errors) = group.join().await {
        // Connection errors are handled; the rest escapes the handlers.
        let _ = errors.catch::<std::io::Error>(|_| {}).rest();
    }
}

/// A bare `tokio::spawn` inside a child: a leaked task.
async fn leak() {
    let group = Group::new("signup");
    let _ = group.spawn("create-user", async {
        tokio::spawn(sleep(ms(200)));
        Ok::<_, std::io::Error>(())
    });
    let _ = group.join().await;
}

/// A child that ignores its cancellation, within a grace period.
async fn unresponsive() {
    let group = Group::builder("nightly-report")
        .grace_period(ms(100))
        .unresponsive_after(ms(20))
        .build()
        .expect("valid options");
    let _ = group.spawn("fetch", async {
        Err::<(), _>(ValidationError("source missing".into()))
    });
    let _ = group.spawn_with("report", |_token| async {
        sleep(ms(80)).await;
        Ok::<_, ValidationError>(())
    });
    let _ = group.join().await;
}

fn main() {
    let address = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| {
            eprintln!("usage: workload ADDRESS");
            std::process::exit(2);
        });
    let telemetry = init_logging_with(|builder| builder.prometheus(address));
    println!(
        "metrics: http://{}/metrics",
        telemetry.prometheus_address().expect("served")
    );
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        let mut round = 0u64;
        loop {
            checkout(round).await;
            if round % 5 == 0 {
                leak().await;
                unresponsive().await;
            }
            round += 1;
        }
    });
}
