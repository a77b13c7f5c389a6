//! `except*`: one handler per error type, each run once with the sub-group of
//! its matches; what no handler matched comes back to be re-raised.
//!
//! The children fail in their cleanup too (within the grace period), so the
//! group holds failures of two types at once.

use std::time::Duration;

use cohort::Group;
use cohort_examples::{ValidationError, connection_error};
use tokio::time::sleep;

#[tokio::main]
async fn main() {
    let group = Group::builder("steps")
        .grace_period(Duration::from_millis(100))
        .build()
        .expect("a positive grace period is valid");
    let spawned = [
        group
            .spawn("cache", async {
                sleep(Duration::from_millis(20)).await;
                Err::<&str, _>(connection_error("cache unreachable"))
            })
            .map(drop),
        group
            .spawn("db", async { Ok::<_, ValidationError>("db") })
            .map(drop),
        group
            .spawn_with("queue", |token| async move {
                token.cancelled().await;
                Err::<&str, _>(ValidationError("queue drain left 3 messages".into()))
            })
            .map(drop),
    ];
    spawned
        .into_iter()
        .collect::<Result<(), _>>()
        .expect("the group is open");

    let Err(group) = group.join().await else {
        println!("no failures");
        return;
    };
    let unhandled = group
        .catch::<std::io::Error>(|g| {
            for leaf in g.leaves() {
                println!("connection failure: {}", leaf.failure.message());
            }
        })
        .catch::<ValidationError>(|g| println!("validation failures: {}", g.leaves().len()))
        .rest();
    assert!(unhandled.is_ok(), "both types were handled");
}
