//! Streaming a large input: the guide's advice is a bounded queue drained by
//! a fixed pool of workers, so memory stays flat however long the input is.
//! `spawn_stream` is that: it pulls the next item only when one of its
//! `in_flight` slots is free. Beside it, the group's limit (every item
//! spawned at once, the excess queued as futures) and one task per item.
//! Each form runs in a process of its own, so each peak is its own.
//!
//! `streaming [ITEMS]` (default 20,000) runs all three;
//! `streaming ITEMS stream|limit|tasks` runs one.

use std::num::NonZeroUsize;
use std::process::Command;
use std::time::Duration;

use cohort::Group;
use cohort_examples::peak_rss_kib;

const IN_FLIGHT: usize = 100;

/// One item's work: a 1 KiB buffer held across a 1 ms call, as a request
/// holds its body while it waits on the network.
async fn process(item: u64) -> Result<u64, std::io::Error> {
    let buffer = vec![item as u8; 1024];
    tokio::time::sleep(Duration::from_millis(1)).await;
    Ok(buffer.iter().map(|&b| u64::from(b)).sum())
}

async fn run(form: &str, items: u64) {
    let in_flight = NonZeroUsize::new(IN_FLIGHT).expect("positive");
    let group = match form {
        "limit" => Group::builder("ingest")
            .limit(IN_FLIGHT)
            .build()
            .expect("valid"),
        _ => Group::new("ingest"),
    };
    if form == "stream" {
        group
            .handle()
            .spawn_stream(
                "record",
                futures_util::stream::iter(0..items),
                in_flight,
                process,
            )
            .await
            .expect("the group is open");
    } else {
        for item in 0..items {
            group
                .spawn("record", process(item))
                .expect("the group is open");
        }
    }
    group.join().await.expect("every record succeeds");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let items: u64 = args
        .get(1)
        .map_or(20_000, |n| n.parse().expect("ITEMS is a number"));
    if let Some(form) = args.get(2) {
        let rt = tokio::runtime::Runtime::new().expect("a runtime");
        let before = peak_rss_kib();
        rt.block_on(run(form, items));
        match (before, peak_rss_kib()) {
            (Some(before), Some(after)) => println!("{}", after.saturating_sub(before)),
            _ => println!("unknown"),
        }
        return;
    }
    let me = std::env::current_exe().expect("the program's path");
    for (form, label) in [
        ("stream", format!("spawn_stream, {IN_FLIGHT} in flight")),
        ("limit", format!("limit({IN_FLIGHT}), all spawned at once")),
        ("tasks", "one task per item, all at once".to_owned()),
    ] {
        let out = Command::new(&me)
            .args([items.to_string(), form.to_owned()])
            .output()
            .expect("the program runs itself");
        let grew = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        println!("{label}: {items} items, peak RSS +{grew} KiB");
    }
    println!("look at: the stream's peak stays flat as ITEMS grows; the others grow with it");
}
