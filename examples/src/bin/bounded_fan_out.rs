//! Bounding a group: the guide gates each of 500 tasks behind a semaphore,
//! creating all 500 tasks at once. A group limit runs at most 10 children and
//! keeps the other 490 as queued futures (not tasks) until a slot frees up;
//! after a failure, queued children never start.

use std::time::Duration;

use cohort::Group;

// One thread: nothing runs until `main` waits, so the counts printed below
// are taken before the first fetch can end and hand its slot on, however
// long spawning 500 children takes on a busy machine.
#[tokio::main(flavor = "current_thread")]
async fn main() {
    let group = Group::builder("fetch")
        .limit(10)
        .build()
        .expect("a positive limit");
    for i in 0..500u32 {
        group
            .spawn("fetch", async move {
                tokio::time::sleep(Duration::from_millis(5)).await; // the actual I/O
                Ok::<_, std::io::Error>(i)
            })
            .expect("the group is open");
    }
    println!("running {}, queued {}", group.running(), group.queued());
    let tasks = tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks();
    println!("tokio tasks alive: {tasks}");
    group.join().await.expect("every fetch succeeds");
    println!("fetched 500");
}
