//! A group under an outer `tokio::time::timeout`: the deadline drops the
//! group's future, which cancels every child. A clean timeout is a plain
//! `Elapsed`, not a group; a child failing within the deadline is a group.

use std::time::Duration;

use cohort::Group;
use tokio::time::{sleep, timeout};

async fn slow(name: &'static str, millis: u64) -> Result<&'static str, std::io::Error> {
    sleep(Duration::from_millis(millis)).await;
    Ok(name)
}

#[tokio::main]
async fn main() {
    let fan_out = Group::new("deadline").scope(|g| async move {
        g.spawn("fast", slow("fast", 20))?;
        g.spawn("slow", slow("slow", 5_000))?; // exceeds the deadline
        Ok::<_, cohort::SpawnError>(())
    });
    match timeout(Duration::from_millis(100), fan_out).await {
        Err(_elapsed) => println!("deadline hit; group cancelled"),
        Ok(Err(errors)) => println!("group errors: {errors}"),
        Ok(Ok(_)) => println!("finished in time"),
    }
}
