//! Partial results: the outputs of children that finished before a sibling
//! failed are kept in their handles. Which ones finished depends on
//! scheduling: treat the set as best-effort, never as a guaranteed prefix.

use std::time::Duration;

use cohort::Group;

async fn fetch(shard: u64) -> Result<u64, std::io::Error> {
    tokio::time::sleep(Duration::from_millis(10 * shard)).await;
    if shard == 3 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("shard {shard} timed out"),
        ));
    }
    Ok(shard * 100)
}

#[tokio::main]
async fn main() {
    let group = Group::new("shards");
    let handles: Vec<_> = (0..6)
        .map(|s| group.spawn(format!("shard-{s}"), fetch(s)))
        .collect::<Result<_, _>>()
        .expect("the group is open");
    let failed = group.join().await.err();
    let kept: Vec<(usize, u64)> = handles
        .iter()
        .filter_map(|h| Some((h.index(), h.take_output().ok()?)))
        .collect();
    if let Some(errors) = failed {
        let timeouts = errors
            .subgroup_by(|f| {
                f.downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::TimedOut)
            })
            .map_or(0, |g| g.leaves().len());
        println!("{timeouts} shard(s) timed out; kept {}", kept.len());
    }
    println!("{kept:?}");
}
