//! Spawn rules and bad input: refused spawns never poll the future, children
//! can spawn siblings while the group is open, and options are validated.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use cohort::{CancelReason, ConfigError, Group, SpawnErrorKind};
use support::{ValueError, forever, ms};
use tokio::time::{Instant, sleep};

/// A future that records whether it was ever polled.
fn tracked(
    polled: &Arc<AtomicBool>,
) -> impl Future<Output = Result<(), std::io::Error>> + Send + 'static {
    let polled = polled.clone();
    async move {
        polled.store(true, Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn spawning_into_a_failed_group_is_refused_and_never_polled() {
    let group = Group::new("closing");
    let g = group.handle();
    group
        .spawn("failing", async { Err::<(), _>(ValueError("boom".into())) })
        .unwrap();
    let eg = group.join().await.unwrap_err();
    assert_eq!(eg.len(), 1);

    let polled = Arc::new(AtomicBool::new(false));
    let err = g.spawn("late", tracked(&polled)).unwrap_err();
    assert!(matches!(
        err.kind(),
        SpawnErrorKind::Closing(CancelReason::ChildFailed)
    ));
    assert_eq!((err.child(), err.group()), ("late", "closing"));
    assert_eq!(
        err.to_string(),
        r#"cannot spawn child "late" into group "closing": the group is closing (child_failed)"#
    );
    tokio::task::yield_now().await;
    assert!(!polled.load(Ordering::SeqCst));
}

#[tokio::test(start_paused = true)]
async fn spawning_into_a_closing_group_from_a_child_is_refused() {
    let polled = Arc::new(AtomicBool::new(false));
    let refused = Arc::new(AtomicBool::new(false));
    let group = Group::builder("closing")
        .grace_period(ms(100))
        .build()
        .unwrap();
    let g = group.handle();
    let (late, saw_refusal) = (polled.clone(), refused.clone());
    group
        .spawn_with("spawner", move |token| async move {
            token.cancelled().await;
            let err = g.spawn("late", tracked(&late)).unwrap_err();
            saw_refusal.store(
                matches!(err.kind(), SpawnErrorKind::Closing(_)),
                Ordering::SeqCst,
            );
            Ok::<_, std::io::Error>(())
        })
        .unwrap();
    group
        .spawn("failing", async { Err::<(), _>(ValueError("boom".into())) })
        .unwrap();
    group.join().await.unwrap_err();
    assert!(refused.load(Ordering::SeqCst));
    assert!(!polled.load(Ordering::SeqCst));
}

#[tokio::test(start_paused = true)]
async fn spawning_into_a_finished_group_is_refused() {
    let group = Group::new("done");
    let g = group.handle();
    group
        .spawn("only", async { Ok::<_, std::io::Error>(()) })
        .unwrap();
    group.join().await.unwrap();
    let polled = Arc::new(AtomicBool::new(false));
    let err = g.spawn("late", tracked(&polled)).unwrap_err();
    assert!(matches!(err.kind(), SpawnErrorKind::Closed));
    assert!(err.to_string().ends_with("the group has finished"));
    tokio::task::yield_now().await;
    assert!(!polled.load(Ordering::SeqCst));
}

#[test]
fn spawning_outside_a_runtime_is_an_error_not_a_panic() {
    let group = Group::new("no-runtime");
    let polled = Arc::new(AtomicBool::new(false));
    let err = group.spawn("child", tracked(&polled)).unwrap_err();
    assert!(matches!(err.kind(), SpawnErrorKind::NoRuntime));
    assert!(!polled.load(Ordering::SeqCst));
}

/// A child can spawn siblings through a cloned handle; the group stays open
/// until its live set is empty, not just until the body ends.
#[tokio::test(start_paused = true)]
async fn children_spawn_siblings_and_the_group_waits_for_them() {
    let started = Instant::now();
    let (first, grandchild) = Group::new("crawler")
        .scope(|g| async move {
            let spawner = g.clone();
            let (tx, rx) = tokio::sync::oneshot::channel();
            let first = g.spawn("page-1", async move {
                sleep(ms(10)).await;
                let next = spawner.spawn("page-2", async {
                    sleep(ms(30)).await;
                    Ok::<_, std::io::Error>("page-2 body")
                });
                let _ = tx.send(next);
                Ok::<_, std::io::Error>("page-1 body")
            })?;
            // The body ends long before page-2 does.
            let next = rx.await.expect("page-1 sends")?;
            Ok::<_, cohort::SpawnError>((first, next))
        })
        .await
        .unwrap()
        .expect("the body returned");
    assert_eq!(
        started.elapsed(),
        ms(40),
        "the scope waited for the sibling spawned by a child"
    );
    assert_eq!(first.into_output(), Ok("page-1 body"));
    assert_eq!(grandchild.index(), 1);
    assert_eq!(grandchild.into_output(), Ok("page-2 body"));
}

#[test]
fn a_zero_grace_period_is_a_clear_error() {
    let err = Group::builder("g")
        .grace_period(Duration::ZERO)
        .build()
        .unwrap_err();
    assert!(matches!(
        err,
        ConfigError::ZeroDuration {
            option: "grace_period",
            ..
        }
    ));
    assert_eq!(
        err.to_string(),
        "grace_period must be greater than zero; leave it unset to abort cancelled children at their next .await"
    );
}

#[tokio::test(start_paused = true)]
async fn empty_names_are_fine() {
    let group = Group::new("");
    let child = group
        .spawn("", async { Ok::<_, std::io::Error>(1) })
        .unwrap();
    group.join().await.unwrap();
    assert_eq!(child.name(), "");
    assert_eq!(child.into_output(), Ok(1));
}

/// Spawn indices count every admitted child, in order, and handles report
/// them; reading the output of a still-running child is a misuse, said as
/// such, not the "no output" of a failed child.
#[tokio::test(start_paused = true)]
async fn handles_report_index_and_running_state() {
    let group = Group::new("indexed");
    let a = group.spawn("a", forever::<(), std::io::Error>()).unwrap();
    let b = group
        .spawn("b", async { Ok::<_, std::io::Error>(()) })
        .unwrap();
    assert_eq!((a.index(), b.index()), (0, 1));
    assert_eq!(a.outcome(), None);
    assert!(!a.is_finished());
    let misuse = a.take_output().unwrap_err();
    assert_eq!(misuse, cohort::NoOutput::Running);
    assert!(misuse.to_string().contains("still running"), "{misuse}");
    group.cancel();
    group.join().await.unwrap();
    assert!(a.is_finished());
    assert_eq!(a.take_output(), Err(cohort::NoOutput::Cancelled));
}

/// Groups, handles and errors cross threads: an ErrorGroup can be returned
/// from a spawned task or boxed into `Box<dyn Error + Send + Sync>`.
#[test]
fn public_types_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Group>();
    send_sync::<cohort::GroupHandle>();
    send_sync::<cohort::ChildHandle<String>>();
    send_sync::<cohort::Completions<String>>();
    send_sync::<cohort::ErrorGroup>();
    send_sync::<cohort::SpawnError>();
    send_sync::<ConfigError>();
}

/// A refused spawn is cancellation, not failure: a child woken in the same
/// tick as a failing sibling runs its step, in which it spawns a sibling with
/// `?`; the refusal ends it as cancelled, and the tree holds the real
/// failure alone.
#[tokio::test(start_paused = true)]
async fn a_refused_spawn_returned_by_a_child_is_its_cancellation() {
    let group = Group::new("crawler");
    let g = group.handle();
    let tick = Instant::now() + ms(10);
    group
        .spawn("failing", async move {
            tokio::time::sleep_until(tick).await;
            Err::<(), _>(ValueError("boom".into()))
        })
        .unwrap();
    let spawner = group
        .spawn("spawner", async move {
            tokio::time::sleep_until(tick).await;
            g.spawn("next-page", async { Ok::<_, std::io::Error>(()) })?;
            Ok::<_, cohort::SpawnError>(())
        })
        .unwrap();
    let eg = group.join().await.unwrap_err();
    assert_eq!(eg.len(), 1);
    assert_eq!(eg.failures()[0].child_name(), "failing");
    assert_eq!(spawner.outcome(), Some(cohort::ChildOutcome::Cancelled));
}

/// A group built inside a child whose token already fired refuses spawns
/// (its owner is being cancelled), and the child that returns that refusal
/// with `?` ends as cancelled too.
#[tokio::test(start_paused = true)]
async fn a_group_whose_owner_is_cancelled_refuses_spawns() {
    let group = Group::builder("outer")
        .grace_period(ms(100))
        .build()
        .unwrap();
    let owner = group
        .spawn_with("owner", |token| async move {
            token.cancelled().await;
            let inner = Group::new("inner");
            let refused = inner.spawn("work", async { Ok::<_, std::io::Error>(()) });
            let err = refused.as_ref().unwrap_err();
            assert!(matches!(
                err.kind(),
                SpawnErrorKind::Closing(CancelReason::ParentCancelled)
            ));
            refused?;
            Ok::<_, cohort::SpawnError>(())
        })
        .unwrap();
    group
        .spawn("failing", support::fails_after(ms(10)))
        .unwrap();
    let eg = group.join().await.unwrap_err();
    assert_eq!(eg.len(), 1);
    assert_eq!(owner.outcome(), Some(cohort::ChildOutcome::Cancelled));
}

/// cohort's own errors are recorded under their public paths.
#[tokio::test(start_paused = true)]
async fn cohorts_own_errors_have_public_type_names() {
    let done = Group::new("done");
    let g = done.handle();
    done.join().await.unwrap();
    let group = Group::new("forwarding");
    group
        .spawn("forwards-a-refusal", async move {
            g.spawn("late", async { Ok::<_, std::io::Error>(()) })?;
            Ok::<_, cohort::SpawnError>(())
        })
        .unwrap();
    let eg = group.join().await.unwrap_err();
    assert_eq!(eg.failures()[0].error_type(), "cohort::SpawnError");
}

/// A panic whose payload is not a string says what it can of it.
#[tokio::test(start_paused = true)]
async fn a_non_string_panic_payload_says_its_type() {
    let group = Group::new("panics");
    group
        .spawn("panics-with-a-code", async {
            std::panic::panic_any(42i32);
            #[allow(unreachable_code)]
            Ok::<_, std::io::Error>(())
        })
        .unwrap();
    let eg = group.join().await.unwrap_err();
    assert_eq!(eg.failures()[0].message(), "panic payload of type i32: 42");
}
