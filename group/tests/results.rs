//! Reading what children produced: `join_all` for a fan-out's `Vec<T>`,
//! `join_first` for a race's winner, awaited handles, and infallible
//! children, on tokio's paused clock.

mod support;

use cohort::{ChildResult, Group, NoOutput, Policy};
use support::{ValueError, fails_after, forever, ms};
use tokio::time::{Instant, sleep};

/// A fan-out's outputs in spawn order, in one call; no error type to name
/// for children that cannot fail.
#[tokio::test(start_paused = true)]
async fn join_all_returns_the_outputs_in_spawn_order() {
    let group = Group::new("fetch");
    let handles: Vec<_> = [30u64, 10, 20]
        .into_iter()
        .map(|delay| {
            group
                .spawn_infallible(format!("page-{delay}"), async move {
                    sleep(ms(delay)).await;
                    delay * 2
                })
                .unwrap()
        })
        .collect();
    assert_eq!(group.join_all(handles).await.unwrap(), [60, 20, 40]);
}

/// A failure is the group's error; a child cancelled while nothing failed
/// has no output, which `join_all` says with a `NoOutput` leaf in its name.
#[tokio::test(start_paused = true)]
async fn join_all_reports_failures_and_missing_outputs() {
    let group = Group::new("fetch");
    let a = group.spawn("a", fails_after(ms(10))).unwrap();
    let b = group.spawn("b", forever::<(), ValueError>()).unwrap();
    let eg = group.join_all([a, b]).await.unwrap_err();
    assert!(eg.errors::<ValueError>().next().is_some());

    let group = Group::new("fetch");
    let a = group.spawn_infallible("a", async { 1 }).unwrap();
    let b = group
        .spawn_infallible("b", std::future::pending::<u32>())
        .unwrap();
    b.cancel();
    let eg = group.join_all([a, b]).await.unwrap_err();
    assert_eq!(eg.len(), 1);
    assert_eq!(eg.failures()[0].child_name(), "b");
    assert_eq!(eg.errors::<NoOutput>().next(), Some(&NoOutput::Cancelled));
    assert_eq!(eg.failures()[0].error_type(), "cohort::NoOutput");
}

/// A first-success race returns the winner's value: the child whose success
/// ended it, even when a sibling woken in the same tick also succeeds.
#[tokio::test(start_paused = true)]
async fn join_first_returns_the_winners_value() {
    let race = Group::builder("replicas")
        .policy(Policy::FirstSuccess)
        .build()
        .unwrap();
    let tick = Instant::now() + ms(10);
    let replicas: Vec<_> = ["slow", "first", "second"]
        .into_iter()
        .map(|name| {
            race.spawn_infallible(name, async move {
                match name {
                    "slow" => sleep(ms(100)).await,
                    _ => tokio::time::sleep_until(tick).await,
                }
                name
            })
            .unwrap()
        })
        .collect();
    assert_eq!(race.join_first(replicas).await.unwrap(), "first");

    let race = Group::builder("replicas")
        .policy(Policy::FirstSuccess)
        .build()
        .unwrap();
    let down = race.spawn("down", fails_after(ms(5))).unwrap();
    let eg = race.join_first([down]).await.unwrap_err();
    assert!(eg.errors::<ValueError>().next().is_some());
}

/// A handle can be awaited, as a tokio `JoinHandle` can: it waits for its
/// child to end, queued under a limit or running, and gives its result.
#[tokio::test(start_paused = true)]
async fn an_awaited_handle_gives_its_childs_result() {
    let group = Group::builder("one-at-a-time").limit(1).build().unwrap();
    let first = group
        .spawn("first", async {
            sleep(ms(20)).await;
            Ok::<_, ValueError>("first")
        })
        .unwrap();
    let queued = group
        .spawn("queued", async {
            sleep(ms(10)).await;
            Ok::<_, ValueError>("queued")
        })
        .unwrap();
    assert_eq!(group.queued(), 1);
    let started = Instant::now();
    let results = group
        .scope(|_| async move {
            let queued = queued.await;
            let first = first.await;
            Ok::<_, ValueError>((first, queued))
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(started.elapsed(), ms(30));
    assert!(matches!(
        results,
        (ChildResult::Ok("first"), ChildResult::Ok("queued"))
    ));

    let group = Group::new("failing");
    let failing = group.spawn("failing", fails_after(ms(5))).unwrap();
    assert!(matches!(failing.await, ChildResult::Raised));
    group.join().await.unwrap_err();
}
