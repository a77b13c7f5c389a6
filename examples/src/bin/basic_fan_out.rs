//! Basic fan-out: every child must succeed; results are read after the group,
//! in spawn order.

use std::time::Duration;

use cohort::Group;

async fn fetch(endpoint: &'static str) -> Result<String, std::io::Error> {
    tokio::time::sleep(Duration::from_millis(50)).await; // the actual I/O
    Ok(format!("{endpoint}: ok"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let endpoints = ["/users", "/orders", "/inventory"];
    let handles = Group::new("fetch")
        .scope(|g| async move {
            endpoints
                .into_iter()
                .map(|e| g.spawn(e, fetch(e)))
                .collect::<Result<Vec<_>, _>>()
        })
        .await?
        .unwrap_or_default(); // `None` only if something cancelled the group
    // Reached only if every child succeeded.
    let results: Vec<_> = handles
        .into_iter()
        .filter_map(|h| h.into_output().ok())
        .collect();
    println!("{results:?}");
    Ok(())
}
