//! The readiness handshake: `start` waits for the child's signal and returns
//! its value; a child failing before it signals fails the start, not the group.

mod support;

use cohort::{ChildOutcome, Group, SpawnErrorKind, StartError};
use support::{ValueError, forever, ms};
use tokio::time::{Instant, sleep};

#[tokio::test(start_paused = true)]
async fn start_returns_the_signalled_value_once_the_child_is_ready() {
    let group = Group::new("server");
    let started = Instant::now();
    let (listener, port) = group
        .handle()
        .start("listener", |ready| async move {
            sleep(ms(30)).await; // binding
            ready.signal(8080u16);
            sleep(ms(100)).await; // serving
            Ok::<_, std::io::Error>("served")
        })
        .await
        .unwrap();
    assert_eq!(port, 8080);
    assert_eq!(
        started.elapsed(),
        ms(30),
        "start returns at the signal, not at the end"
    );
    assert!(!listener.is_finished());
    group.join().await.unwrap();
    assert_eq!(listener.into_output(), Ok("served"));
}

#[tokio::test(start_paused = true)]
async fn a_failure_before_the_signal_fails_the_start_not_the_group() {
    let group = Group::new("server");
    let sibling = group
        .spawn("sibling", async {
            sleep(ms(50)).await;
            Ok::<_, std::io::Error>("fine")
        })
        .unwrap();
    let err = group
        .handle()
        .start("listener", |_ready: cohort::Ready<u16>| async {
            sleep(ms(10)).await;
            Err::<(), _>(ValueError("address in use".into()))
        })
        .await
        .unwrap_err();
    let StartError::Failed(failure) = err else {
        panic!("expected the child's failure")
    };
    assert_eq!(
        failure.downcast_ref::<ValueError>().unwrap().0,
        "address in use"
    );
    group.join().await.expect("the group did not fail");
    assert_eq!(
        sibling.into_output(),
        Ok("fine"),
        "nor was the sibling cancelled"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failure_after_the_signal_is_the_groups() {
    let group = Group::new("server");
    let (_handle, ()) = group
        .handle()
        .start("listener", |ready| async move {
            ready.signal(());
            sleep(ms(10)).await;
            Err::<(), _>(ValueError("connection reset".into()))
        })
        .await
        .unwrap();
    let eg = group.join().await.unwrap_err();
    assert_eq!(eg.failures()[0].child_name(), "listener");
}

#[tokio::test(start_paused = true)]
async fn ending_without_a_signal_fails_the_start() {
    let group = Group::new("server");
    let err = group
        .handle()
        .start("quitter", |_ready: cohort::Ready<()>| async {
            Ok::<_, std::io::Error>(())
        })
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        StartError::NotStarted {
            outcome: ChildOutcome::Ok,
            ..
        }
    ));
    assert_eq!(
        err.to_string(),
        r#"child "quitter" ended (ok) without signalling that it started"#
    );

    let handle = group.handle();
    let waiting = tokio::spawn(async move {
        handle
            .start("never", |_ready: cohort::Ready<()>| {
                forever::<(), std::io::Error>()
            })
            .await
    });
    tokio::task::yield_now().await;
    group.cancel();
    let err = waiting.await.unwrap().unwrap_err();
    assert!(matches!(
        err,
        StartError::NotStarted {
            outcome: ChildOutcome::Cancelled,
            ..
        }
    ));
    group.join().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn start_on_a_closed_group_is_a_spawn_error() {
    let group = Group::new("done");
    let g = group.handle();
    group.join().await.unwrap();
    let err = g
        .start("late", |ready| async move {
            ready.signal(());
            Ok::<_, std::io::Error>(())
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StartError::Spawn(ref e) if matches!(e.kind(), SpawnErrorKind::Closed)));
}

/// As in Trio, a child whose `start` caller stops waiting (its future is
/// dropped, here by a timeout) is cancelled with it: it does not become an
/// ordinary child whose later failure surprises the group.
#[tokio::test(start_paused = true)]
async fn a_child_whose_caller_stops_waiting_is_cancelled() {
    let group = Group::new("server");
    let started = Instant::now();
    let gave_up = tokio::time::timeout(
        ms(10),
        group
            .handle()
            .start("slow-bind", |_ready: cohort::Ready<u16>| async {
                sleep(ms(50)).await;
                Err::<(), _>(ValueError("bind failed late".into()))
            }),
    )
    .await;
    assert!(gave_up.is_err());
    group
        .join()
        .await
        .expect("the abandoned child failed nothing");
    assert_eq!(started.elapsed(), ms(10), "it was stopped, not waited for");
}

/// A scope body that uses `?` on `start` hands the group the child's own
/// failure: `catch::<ItsType>` finds it in the tree, under the child's name,
/// with no `StartError` wrapper in the way.
#[tokio::test(start_paused = true)]
async fn a_start_failure_returned_by_the_body_is_the_childs_own_leaf() {
    let eg = Group::new("server")
        .scope(|g| async move {
            g.start("listener", |_ready: cohort::Ready<u16>| async {
                Err::<(), _>(std::io::Error::other("address in use"))
            })
            .await?;
            Ok::<_, StartError>(())
        })
        .await
        .unwrap_err();
    assert_eq!(eg.len(), 1);
    assert_eq!(eg.failures()[0].child_name(), "listener");
    assert_eq!(eg.failures()[0].error_type(), "std::io::error::Error");
    let mut caught = 0;
    let rest = eg
        .catch::<std::io::Error>(|g| caught = g.leaves().len())
        .rest();
    assert_eq!(caught, 1);
    assert!(rest.is_ok());
}
