//! Nested groups: a child that runs a group contributes that group's failure
//! as a nested node, so the tree shows where each leaf came from. The cohort
//! layer logs each leaf once, at the outermost group, with its path.

use std::time::Duration;

use cohort::{ErrorGroup, Group};
use cohort_examples::{ValidationError, finish_telemetry, init_logging};

async fn region(name: &'static str, bad_shard: Option<u32>) -> Result<(), ErrorGroup> {
    Group::new(name)
        .scope(|g| async move {
            for shard in 0..3 {
                g.spawn(format!("{name}-{shard}"), async move {
                    tokio::time::sleep(Duration::from_millis(10 + u64::from(shard))).await;
                    match bad_shard {
                        Some(bad) if bad == shard => {
                            Err(ValidationError(format!("shard {shard} checksum mismatch")))
                        }
                        _ => Ok(()),
                    }
                })?;
            }
            Ok::<_, cohort::SpawnError>(())
        })
        .await?;
    Ok(())
}

#[tokio::main]
async fn main() {
    let telemetry = init_logging();
    let result = Group::new("regions")
        .scope(|g| async move {
            g.spawn("eu", region("eu", Some(1)))?;
            g.spawn("us", region("us", None))?;
            Ok::<_, cohort::SpawnError>(())
        })
        .await;
    if let Err(errors) = result {
        println!("{errors}");
    }
    finish_telemetry(telemetry);
}
