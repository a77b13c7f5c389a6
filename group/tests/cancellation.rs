//! Fail-fast cancellation, grace periods, explicit and per-child cancel, the
//! scope body's membership of the group, and drops, on tokio's paused clock.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use cohort::telemetry::BODY_NAME;
use cohort::{ChildOutcome, FailureKind, Group};
use support::{ValueError, connection_error, fails_after, forever, ms};
use tokio::sync::oneshot;
use tokio::time::{Instant, sleep};

#[tokio::test(start_paused = true)]
async fn first_failure_cancels_every_sibling() {
    let group = Group::new("fan-out");
    let siblings: Vec<_> = (0..3)
        .map(|i| group.spawn(format!("sibling-{i}"), forever::<(), std::io::Error>()))
        .collect::<Result<_, _>>()
        .unwrap();
    group.spawn("failing", fails_after(ms(10))).unwrap();
    let started = Instant::now();
    let eg = group.join().await.unwrap_err();
    assert_eq!(started.elapsed(), ms(10));
    assert_eq!(eg.len(), 1, "cancelled siblings are not failures");
    for sibling in &siblings {
        assert_eq!(sibling.outcome(), Some(ChildOutcome::Cancelled));
    }
}

/// With a grace period, children watching their token see the cancellation
/// and can stop on their own.
#[tokio::test(start_paused = true)]
async fn children_watching_their_token_see_the_cancellation() {
    let saw_cancel = Arc::new(AtomicUsize::new(0));
    let group = Group::builder("fan-out")
        .grace_period(ms(100))
        .build()
        .unwrap();
    for i in 0..3 {
        let saw = saw_cancel.clone();
        group
            .spawn_with(format!("watcher-{i}"), |token| async move {
                token.cancelled().await;
                saw.fetch_add(1, Ordering::SeqCst);
                Ok::<_, std::io::Error>(())
            })
            .unwrap();
    }
    group.spawn("failing", fails_after(ms(10))).unwrap();
    let started = Instant::now();
    group.join().await.unwrap_err();
    assert_eq!(saw_cancel.load(Ordering::SeqCst), 3);
    assert_eq!(
        started.elapsed(),
        ms(10),
        "they stopped at once, not at the end of the grace period"
    );
}

/// With no grace period a cancelled child that ignores its token (the guide's
/// "CancelledError swallowed") is still stopped, at its next `.await`.
#[tokio::test(start_paused = true)]
async fn without_grace_a_stubborn_child_stops_at_its_next_await() {
    let group = Group::new("stubborn");
    let stubborn = group
        .spawn("ignores-token", async {
            sleep(ms(10_000)).await;
            Ok::<_, std::io::Error>(())
        })
        .unwrap();
    group.spawn("failing", fails_after(ms(10))).unwrap();
    let started = Instant::now();
    group.join().await.unwrap_err();
    assert_eq!(started.elapsed(), ms(10));
    assert_eq!(stubborn.outcome(), Some(ChildOutcome::Cancelled));
}

/// A grace period lets a cancelled child finish its cleanup, and the group
/// waits for it; a child that overruns the grace period is aborted at its end.
#[tokio::test(start_paused = true)]
async fn grace_period_lets_cleanup_finish_and_bounds_it() {
    let cleaned = Arc::new(AtomicBool::new(false));
    let group = Group::builder("graceful")
        .grace_period(ms(300))
        .build()
        .unwrap();
    let polite = {
        let cleaned = cleaned.clone();
        group
            .spawn_with("polite", |token| async move {
                token.cancelled().await;
                sleep(ms(100)).await; // flush buffers
                cleaned.store(true, Ordering::SeqCst);
                Ok::<_, std::io::Error>("flushed")
            })
            .unwrap()
    };
    let stubborn = group
        .spawn("stubborn", async {
            sleep(ms(10_000)).await;
            Ok::<_, std::io::Error>("never")
        })
        .unwrap();
    group
        .spawn("failing", async {
            sleep(ms(10)).await;
            Err::<&str, _>(ValueError("boom".into()))
        })
        .unwrap();
    let started = Instant::now();
    group.join().await.unwrap_err();
    assert_eq!(
        started.elapsed(),
        ms(10 + 300),
        "the join waits out the grace period"
    );
    assert!(cleaned.load(Ordering::SeqCst));
    // A child that completes within its grace period keeps its result.
    assert_eq!(polite.outcome(), Some(ChildOutcome::Ok));
    assert_eq!(polite.into_output(), Ok("flushed"));
    assert_eq!(stubborn.outcome(), Some(ChildOutcome::Cancelled));
}

/// A child spawned before its sibling failed, but not polled yet, still runs
/// its first step: it was already queued, as in asyncio and Trio, and a
/// cancellation lands at its next suspension point. It finished in that step,
/// so it succeeded, and the grace period is never started.
#[tokio::test(start_paused = true)]
async fn a_child_not_yet_polled_still_runs_its_first_step() {
    let ran = Arc::new(AtomicBool::new(false));
    let group = Group::builder("early")
        .grace_period(ms(50))
        .build()
        .unwrap();
    // On the current-thread runtime nothing runs until `join` yields; the
    // first child fails on its first poll, before the second is polled.
    group
        .spawn("failing", async { Err::<(), _>(ValueError("boom".into())) })
        .unwrap();
    let late = {
        let ran = ran.clone();
        group
            .spawn("late", async move {
                ran.store(true, Ordering::SeqCst);
                Ok::<_, std::io::Error>(())
            })
            .unwrap()
    };
    let started = Instant::now();
    group.join().await.unwrap_err();
    assert!(ran.load(Ordering::SeqCst));
    assert_eq!(late.outcome(), Some(ChildOutcome::Ok));
    assert_eq!(started.elapsed(), Duration::ZERO);
}

/// A child that has not run yet stops at its first suspension point: its
/// code up to the first `.await` that waits runs, and nothing after it.
#[tokio::test(start_paused = true)]
async fn a_cancelled_child_stops_at_its_first_suspension_point() {
    let steps = Arc::new(AtomicUsize::new(0));
    let group = Group::new("early");
    group
        .spawn("failing", async { Err::<(), _>(ValueError("boom".into())) })
        .unwrap();
    let late = {
        let steps = steps.clone();
        group
            .spawn("late", async move {
                steps.fetch_add(1, Ordering::SeqCst);
                sleep(ms(10)).await;
                steps.fetch_add(1, Ordering::SeqCst);
                Ok::<_, std::io::Error>(())
            })
            .unwrap()
    };
    group.join().await.unwrap_err();
    assert_eq!(steps.load(Ordering::SeqCst), 1);
    assert_eq!(late.outcome(), Some(ChildOutcome::Cancelled));
}

/// Two children that fail on their first poll give a group of two leaves,
/// as two asyncio tasks that raise at once give an ExceptionGroup of two.
#[tokio::test(start_paused = true)]
async fn two_children_failing_on_their_first_poll_are_two_leaves() {
    let group = Group::new("pair");
    for i in 0..2 {
        group
            .spawn(format!("failing-{i}"), async move {
                Err::<(), _>(ValueError(format!("boom {i}")))
            })
            .unwrap();
    }
    let eg = group.join().await.unwrap_err();
    let names: Vec<_> = eg.failures().iter().map(|f| f.child_name()).collect();
    assert_eq!(names, ["failing-0", "failing-1"]);
}

/// Five children woken by the same timer, all failing (a shared dependency
/// went down): five failures, not one and four collateral cancellations, on
/// the current-thread runtime where their wake order is fixed.
#[tokio::test(start_paused = true)]
async fn children_woken_together_all_fail_together() {
    let (captured, _guard) = support::capture::install();
    let group = Group::new("dependency-down");
    let deadline = Instant::now() + ms(10);
    for i in 0..5 {
        group
            .spawn(format!("caller-{i}"), async move {
                tokio::time::sleep_until(deadline).await;
                Err::<(), _>(connection_error("pool exhausted"))
            })
            .unwrap();
    }
    group
        .spawn("bystander", forever::<(), std::io::Error>())
        .unwrap();
    let eg = group.join().await.unwrap_err();
    assert_eq!(eg.leaves().len(), 5);
    let span = &captured.spans_named("cohort.group")[0];
    assert_eq!(span.fields["group.failed"], "5");
    assert_eq!(span.fields["group.cancelled"], "1");
}

#[tokio::test(start_paused = true)]
async fn explicit_cancel_is_an_early_exit_not_an_error() {
    let group = Group::new("search");
    let handles: Vec<_> = (0..3)
        .map(|i| group.spawn(format!("replica-{i}"), forever::<(), std::io::Error>()))
        .collect::<Result<_, _>>()
        .unwrap();
    let g = group.handle();
    tokio::spawn(async move {
        sleep(ms(25)).await;
        g.cancel();
    });
    let started = Instant::now();
    assert!(group.join().await.is_ok());
    assert_eq!(started.elapsed(), ms(25));
    assert!(
        handles
            .iter()
            .all(|h| h.outcome() == Some(ChildOutcome::Cancelled))
    );
}

/// Cancelling one child through its handle is not a group failure.
#[tokio::test(start_paused = true)]
async fn cancelling_one_child_leaves_the_group_running() {
    let group = Group::new("mixed");
    let doomed = group
        .spawn("doomed", forever::<u32, std::io::Error>())
        .unwrap();
    let sibling = group
        .spawn("sibling", async {
            sleep(ms(50)).await;
            Ok::<_, std::io::Error>(7)
        })
        .unwrap();
    doomed.cancel();
    let started = Instant::now();
    group
        .join()
        .await
        .expect("a cancelled child is not a failure");
    assert_eq!(started.elapsed(), ms(50), "the sibling ran to completion");
    assert_eq!(doomed.outcome(), Some(ChildOutcome::Cancelled));
    assert_eq!(sibling.into_output(), Ok(7));
}

/// In the scope form a child's failure cancels the body as well.
#[tokio::test(start_paused = true)]
async fn a_child_failure_cancels_the_scope_body() {
    let (body_alive_tx, body_alive_rx) = oneshot::channel::<()>();
    let eg = Group::new("scoped")
        .scope(|g| async move {
            let _alive = body_alive_tx;
            g.spawn("failing", async {
                sleep(ms(10)).await;
                Err::<(), _>(connection_error("refused"))
            })?;
            sleep(ms(10_000)).await; // the body's own long work
            Ok::<_, cohort::SpawnError>(())
        })
        .await
        .unwrap_err();
    assert!(body_alive_rx.await.is_err(), "the body was dropped");
    assert_eq!(eg.len(), 1);
}

/// A failing body is a failure of the group: it cancels the children and is
/// reported under the body's name, after the children's failures.
#[tokio::test(start_paused = true)]
async fn a_failing_body_is_a_leaf_and_cancels_children() {
    let started = Instant::now();
    let child_outcome = Arc::new(std::sync::Mutex::new(None));
    let outcome = child_outcome.clone();
    let eg = Group::new("scoped")
        .scope(|g| async move {
            let child = g.spawn("worker", forever::<(), std::io::Error>()).unwrap();
            sleep(ms(30)).await;
            *outcome.lock().unwrap() = Some(child);
            Err::<(), _>(ValueError("bad input".into()))
        })
        .await
        .unwrap_err();
    assert_eq!(started.elapsed(), ms(30));
    assert_eq!(eg.len(), 1);
    let body = &eg.failures()[0];
    assert_eq!(body.child_name(), BODY_NAME);
    assert_eq!(body.child_index(), None);
    assert_eq!(body.downcast_ref::<ValueError>().unwrap().0, "bad input");
    let child = child_outcome.lock().unwrap().take().unwrap();
    assert_eq!(child.outcome(), Some(ChildOutcome::Cancelled));
}

/// Explicit cancel stops the scope body too, at its next `.await`, as
/// asyncio's `TaskGroup.cancel()` and Trio's `cancel_scope.cancel()` do: the
/// scope returns `Ok(None)`, and a `?` on a spawn the closing group refused
/// reads as that cancellation, not as a failure.
#[tokio::test(start_paused = true)]
async fn explicit_cancel_stops_the_body_at_its_next_await() {
    let (captured, _guard) = support::capture::install();
    let reached = Arc::new(AtomicBool::new(false));
    let seen = reached.clone();
    let started = Instant::now();
    let value = Group::new("first-wins")
        .scope(|g| async move {
            for i in 0..3 {
                g.spawn(format!("try-{i}"), forever::<(), std::io::Error>())?;
            }
            cancel_after(&g, ms(25))?;
            cancel_after(&g, ms(25))?; // twice is harmless
            sleep(ms(10_000)).await;
            seen.store(true, Ordering::SeqCst);
            Ok::<_, cohort::SpawnError>(3)
        })
        .await
        .expect("cancel is not an error");
    assert_eq!(value, None, "the body was stopped");
    assert!(!reached.load(Ordering::SeqCst));
    assert_eq!(started.elapsed(), ms(25));
    let group = &captured.spans_named("cohort.group")[0];
    assert_eq!(group.fields["group.outcome"], "cancelled");

    // A body that spawns after its own cancel: the refusal is the
    // cancellation reaching it.
    let value = Group::new("refused")
        .scope(|g| async move {
            g.cancel();
            g.spawn("too-late", async { Ok::<_, std::io::Error>(()) })?;
            Ok::<_, cohort::SpawnError>(())
        })
        .await
        .expect("a refused spawn is not a failure");
    assert_eq!(value, None);
}

/// Spawns a child that cancels its group after `delay`.
fn cancel_after(
    g: &cohort::GroupHandle,
    delay: Duration,
) -> Result<cohort::ChildHandle<()>, cohort::SpawnError> {
    let canceller = g.clone();
    g.spawn("canceller", async move {
        sleep(delay).await;
        canceller.cancel();
        Ok::<_, std::io::Error>(())
    })
}

/// With a grace period the body, like a child, may watch the cancellation,
/// finish its cleanup and return its value; a body that ignores it is
/// stopped when the grace period ends.
#[tokio::test(start_paused = true)]
async fn a_cancelled_body_gets_the_grace_period() {
    let group = Group::builder("graceful")
        .grace_period(ms(100))
        .build()
        .unwrap();
    let started = Instant::now();
    let value = group
        .scope(|g| async move {
            cancel_after(&g, ms(25))?;
            g.cancelled().await;
            sleep(ms(50)).await; // flush
            Ok::<_, cohort::SpawnError>("flushed")
        })
        .await
        .unwrap();
    assert_eq!(value, Some("flushed"));
    assert_eq!(started.elapsed(), ms(75));

    let group = Group::builder("stubborn")
        .grace_period(ms(100))
        .build()
        .unwrap();
    let started = Instant::now();
    let value = group
        .scope(|g| async move {
            cancel_after(&g, ms(25))?;
            sleep(ms(10_000)).await;
            Ok::<_, cohort::SpawnError>("never")
        })
        .await
        .unwrap();
    assert_eq!(value, None);
    assert_eq!(
        started.elapsed(),
        ms(125),
        "stopped as the grace period ended"
    );
}

/// Cancelling a group after it ended changes nothing, and its token ends
/// cancelled however the run ended, as Go's errgroup cancels its context
/// when `Wait` returns: helpers watching it stop.
#[tokio::test(start_paused = true)]
async fn the_token_ends_cancelled_when_the_group_ends() {
    let group = Group::new("clean");
    let handle = group.handle();
    let helper_token = Arc::new(std::sync::Mutex::new(None));
    let keep = helper_token.clone();
    group
        .spawn_with("worker", move |token| {
            *keep.lock().unwrap() = Some(token);
            async { Ok::<_, std::io::Error>(()) }
        })
        .unwrap();
    assert!(!handle.is_cancelled());
    group.join().await.unwrap();
    assert!(handle.is_cancelled());
    handle.cancelled().await; // resolves
    let token = helper_token.lock().unwrap().take().unwrap();
    assert!(
        token.is_cancelled(),
        "a helper watching spawn_with's token stops"
    );
    handle.cancel(); // after the end: harmless
    assert!(
        handle
            .spawn("late", async { Ok::<_, std::io::Error>(()) })
            .is_err()
    );
}

/// Dropping a group that was never joined cancels its children.
#[tokio::test(start_paused = true)]
async fn dropping_an_unjoined_group_cancels_its_children() {
    let (alive_tx, alive_rx) = oneshot::channel::<()>();
    let group = Group::new("abandoned");
    let handle = group
        .spawn("worker", async move {
            let _alive = alive_tx;
            forever::<(), std::io::Error>().await
        })
        .unwrap();
    drop(group);
    assert!(alive_rx.await.is_err());
    assert_eq!(handle.outcome(), Some(ChildOutcome::Cancelled));
}

/// Tokens are hierarchical: cancelling an outer group reaches the children of
/// a group nested in one of its children at once, during the outer child's
/// grace period, so the inner children can clean up inside it.
#[tokio::test(start_paused = true)]
async fn nested_group_tokens_descend_from_the_child_token() {
    let inner_saw_cancel_at = Arc::new(std::sync::Mutex::new(None));
    let saw = inner_saw_cancel_at.clone();
    let outer = Group::builder("outer")
        .grace_period(ms(1_000))
        .build()
        .unwrap();
    let started = Instant::now();
    let nested = outer
        .spawn("nested", async move {
            let inner = Group::builder("inner")
                .grace_period(ms(1_000))
                .build()
                .unwrap();
            inner
                .spawn_with("inner-child", move |token| async move {
                    token.cancelled().await;
                    *saw.lock().unwrap() = Some(Instant::now());
                    Ok::<_, std::io::Error>(())
                })
                .unwrap();
            inner
                .join()
                .await
                .map_err(|eg| std::io::Error::other(eg.to_string()))
        })
        .unwrap();
    outer.spawn("failing", fails_after(ms(40))).unwrap();
    outer.join().await.unwrap_err();
    let saw_at = inner_saw_cancel_at
        .lock()
        .unwrap()
        .expect("inner child saw the cancellation");
    assert_eq!(saw_at - started, ms(40));
    assert_eq!(
        started.elapsed(),
        ms(40),
        "the inner group wound down within the grace period"
    );
    assert_eq!(nested.outcome(), Some(ChildOutcome::Ok));
}

/// A panic is a leaf of its own kind carrying the payload's message.
#[tokio::test(start_paused = true)]
async fn a_panic_is_a_leaf_and_cancels_siblings() {
    let group = Group::new("panicky");
    let sibling = group
        .spawn("sibling", forever::<(), std::io::Error>())
        .unwrap();
    group
        .spawn("panics", async {
            sleep(ms(5)).await;
            if true {
                panic!("fraud model returned NaN score");
            }
            Ok::<(), std::io::Error>(())
        })
        .unwrap();
    let eg = group.join().await.unwrap_err();
    let failure = &eg.failures()[0];
    assert!(failure.is_panic());
    assert_eq!(failure.error_type(), cohort::telemetry::PANIC_ERROR_TYPE);
    let FailureKind::Panic { message } = failure.kind() else {
        panic!()
    };
    assert_eq!(message, "fraud model returned NaN score");
    assert_eq!(sibling.outcome(), Some(ChildOutcome::Cancelled));
}

/// With `resume_panics`, the first panic is re-raised from `join` after every
/// child has stopped, with its original payload.
#[tokio::test(start_paused = true)]
async fn resume_panics_reraises_after_cleanup() {
    let cleaned = Arc::new(AtomicBool::new(false));
    let seen = cleaned.clone();
    let joined = tokio::spawn(async move {
        let group = Group::builder("strict")
            .grace_period(ms(100))
            .resume_panics(true)
            .build()
            .unwrap();
        group
            .spawn_with("cleanup", move |token| async move {
                token.cancelled().await;
                sleep(ms(50)).await;
                cleaned.store(true, Ordering::SeqCst);
                Ok::<_, std::io::Error>(())
            })
            .unwrap();
        group
            .spawn("panics", async {
                std::panic::panic_any(42u32);
                #[allow(unreachable_code)]
                Ok::<(), std::io::Error>(())
            })
            .unwrap();
        group.join().await
    })
    .await;
    let payload = joined.unwrap_err().into_panic();
    assert_eq!(payload.downcast_ref::<u32>(), Some(&42));
    assert!(
        seen.load(Ordering::SeqCst),
        "the sibling finished its cleanup before the panic resumed"
    );
}

/// Sets its flag when dropped: tells whether a future was stopped.
struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Without a grace period, a child cancelled alone stops at once: the token
/// it was given fires (for whoever else holds it), and a group nested in it
/// stops its own children.
#[tokio::test(start_paused = true)]
async fn cancelling_one_child_stops_its_token_and_nested_group() {
    let group = Group::new("outer");
    let (token_tx, token_rx) = oneshot::channel();
    let inner_stopped = Arc::new(AtomicBool::new(false));
    let flag = inner_stopped.clone();
    let doomed = group
        .spawn_with("runs-inner", move |token| async move {
            token_tx.send(token).unwrap();
            let inner = Group::new("inner");
            inner
                .spawn("stuck", async move {
                    let _stopped = SetOnDrop(flag);
                    forever::<(), ValueError>().await
                })
                .unwrap();
            let _ = inner.join().await;
            Ok::<_, ValueError>(())
        })
        .unwrap();
    let token = token_rx.await.unwrap();
    tokio::task::yield_now().await; // the inner child starts
    assert!(!token.is_cancelled());

    doomed.cancel();
    group.join().await.unwrap();
    assert_eq!(doomed.outcome(), Some(ChildOutcome::Cancelled));
    assert!(token.is_cancelled(), "the child's token fired");
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert!(
        inner_stopped.load(Ordering::SeqCst),
        "the nested child stopped"
    );
}

/// With a grace period, a child cancelled alone sees its token fire and may
/// finish its clean-up within the grace period, with its own result.
#[tokio::test(start_paused = true)]
async fn cancelling_one_child_gives_it_the_grace_period() {
    let group = Group::builder("graceful")
        .grace_period(ms(100))
        .build()
        .unwrap();
    let child = group
        .spawn_with("cleans-up", |token| async move {
            token.cancelled().await;
            sleep(ms(30)).await; // flushing
            Ok::<_, ValueError>("flushed")
        })
        .unwrap();
    let sibling = group
        .spawn("sibling", async {
            sleep(ms(50)).await;
            Ok::<_, ValueError>(())
        })
        .unwrap();
    tokio::task::yield_now().await;
    let started = Instant::now();
    child.cancel();
    group.join().await.unwrap();
    assert_eq!(started.elapsed(), ms(50), "the sibling ran on");
    assert_eq!(child.into_output(), Ok("flushed"));
    assert_eq!(sibling.outcome(), Some(ChildOutcome::Ok));
}

/// A group built under a caller's token (graceful shutdown with tokio-util's
/// token): cancelling the token cancels the group, children and body, with
/// reason `parent_cancelled`; a token already cancelled refuses spawns.
#[tokio::test(start_paused = true)]
async fn a_group_under_a_parent_token_is_cancelled_with_it() {
    let (captured, _guard) = support::capture::install();
    let shutdown = cohort::CancellationToken::new();
    let group = Group::builder("service")
        .parent(shutdown.clone())
        .build()
        .unwrap();
    let worker = group
        .spawn("worker", forever::<(), std::io::Error>())
        .unwrap();
    let trigger = shutdown.clone();
    tokio::spawn(async move {
        sleep(ms(30)).await;
        trigger.cancel();
    });
    let started = Instant::now();
    let value = group
        .scope(|_g| async {
            sleep(ms(10_000)).await;
            Ok::<_, std::io::Error>(())
        })
        .await
        .expect("a shutdown is not a failure");
    assert_eq!(value, None, "the body was stopped");
    assert_eq!(started.elapsed(), ms(30));
    assert_eq!(worker.outcome(), Some(ChildOutcome::Cancelled));
    let cancel = &captured.events_named("cohort.group.cancel_requested")[0];
    assert_eq!(cancel.fields["reason"], "parent_cancelled");

    let late = Group::builder("late").parent(shutdown).build().unwrap();
    let refused = late
        .spawn("work", async { Ok::<_, std::io::Error>(()) })
        .unwrap_err();
    assert!(matches!(
        refused.kind(),
        cohort::SpawnErrorKind::Closing(cohort::CancelReason::ParentCancelled)
    ));
    late.join().await.unwrap();
}
