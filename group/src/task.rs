//! [`ChildTask`]: the future tokio runs for one child.
//!
//! It polls the child's future inside the child's span, with the child as the
//! ambient parent of any group created inside it, and stops it on
//! cancellation: at once, or after the group's grace period. A hand-written
//! future rather than an `async` block, so that the task stays a few words
//! larger than the child's own future: tokio allocates every task cache-line
//! aligned, and a large one costs far more than its bytes.

use std::error::Error;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use futures_util::FutureExt as _;
use futures_util::future::CatchUnwind;
use tokio::time::Sleep;
use tokio_util::sync::WaitForCancellationFutureOwned;
use tokio_util::task::task_tracker::TaskTrackerToken;
use tracing::Span;

use crate::child::{Ending, Slot};
use crate::context::{self, Ambient};
use crate::error_group::Failure;
use crate::outcome::ChildOutcome;
use crate::supervisor::{Settled, Supervisor};

type Waiter = Option<Pin<Box<WaitForCancellationFutureOwned>>>;

pin_project_lite::pin_project! {
    /// One child's task.
    pub(crate) struct ChildTask<F, T, E> {
        #[pin]
        fut: CatchUnwind<AssertUnwindSafe<F>>,
        settle: Settle<T>,
        phase: Phase,
        // Made only once the child is pending, and boxed: a token waiter or a
        // timer is larger than most children, and most never wait.
        group_waiter: Waiter,
        own_waiter: Waiter,
        grace: Option<Pin<Box<Sleep>>>,
        _error: PhantomData<fn() -> E>,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Not polled yet: a child cancelled now never starts.
    Fresh,
    Running,
    /// Cancelled, finishing within the grace period.
    Grace,
}

impl<F, T, E> ChildTask<F, T, E>
where
    F: Future<Output = Result<T, E>>,
{
    pub(crate) fn new(
        fut: F,
        sup: Arc<Supervisor>,
        slot: Arc<Slot<T>>,
        tracked: TaskTrackerToken,
    ) -> Self {
        Self {
            fut: AssertUnwindSafe(fut).catch_unwind(),
            settle: Settle {
                sup,
                slot,
                span: Span::none(),
                dispatched: false,
                settled: false,
                _tracked: tracked,
            },
            phase: Phase::Fresh,
            group_waiter: None,
            own_waiter: None,
            grace: None,
            _error: PhantomData,
        }
    }
}

impl<F, T, E> Future for ChildTask<F, T, E>
where
    F: Future<Output = Result<T, E>>,
    T: Send + 'static,
    E: Error + Send + Sync + 'static,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut this = self.project();
        let settle = &mut *this.settle;
        if *this.phase == Phase::Fresh {
            if settle.stop_requested(cx, &mut None, &mut None) {
                settle.finish(Ending::Cancelled);
                return Poll::Ready(());
            }
            settle.start();
            *this.phase = Phase::Running;
        }
        if *this.phase == Phase::Running {
            let mut stopping = settle.stop_requested(cx, this.group_waiter, this.own_waiter);
            if !stopping {
                if let Poll::Ready(result) = settle.poll_child(this.fut.as_mut(), cx) {
                    settle.finish(ending(result));
                    return Poll::Ready(());
                }
                // Pending: make sure a cancellation wakes us, then look again
                // in case it came before the registration.
                let ctl = &settle.slot.ctl;
                ctl.waker.register(cx.waker());
                if this.group_waiter.is_none() {
                    *this.group_waiter = Some(Box::pin(settle.sup.token.clone().cancelled_owned()));
                }
                if let (None, Some(own)) = (this.own_waiter.as_ref(), ctl.own.get()) {
                    *this.own_waiter = Some(Box::pin(own.clone().cancelled_owned()));
                }
                stopping = settle.stop_requested(cx, this.group_waiter, this.own_waiter);
                if !stopping {
                    return Poll::Pending;
                }
            }
            match settle.sup.config.grace {
                None => {
                    settle.finish(Ending::Cancelled);
                    return Poll::Ready(());
                }
                Some(grace) => {
                    *this.grace = Some(Box::pin(tokio::time::sleep(grace)));
                    *this.phase = Phase::Grace;
                }
            }
        }
        // Within the grace period: the child may still finish, with any result.
        if let Poll::Ready(result) = settle.poll_child(this.fut.as_mut(), cx) {
            settle.finish(ending(result));
            return Poll::Ready(());
        }
        if let Some(grace) = this.grace.as_mut() {
            ready!(grace.as_mut().poll(cx));
        }
        settle.finish(Ending::Cancelled);
        Poll::Ready(())
    }
}

type Caught<T, E> = std::thread::Result<Result<T, E>>;

fn ending<T, E: Error + Send + Sync + 'static>(result: Caught<T, E>) -> Ending<T> {
    match result {
        Ok(Ok(value)) => Ending::Ok(value),
        Ok(Err(error)) => Ending::Error(std::any::type_name::<E>(), Box::new(error)),
        Err(payload) => Ending::Panic(payload),
    }
}

/// Records a child's ending exactly once: when its future settles, or, if the
/// task is dropped before that (dropped from the queue by a cancellation, or
/// at runtime shutdown), as cancelled. Field order matters: the tracker token
/// is released only after the outcome is recorded.
struct Settle<T> {
    sup: Arc<Supervisor>,
    slot: Arc<Slot<T>>,
    span: Span,
    /// The task has run, so it holds one of the group's slots.
    dispatched: bool,
    settled: bool,
    _tracked: TaskTrackerToken,
}

impl<T: Send + 'static> Settle<T> {
    /// The child starts: its span opens now, so a child queued under a limit
    /// costs no span until it runs.
    fn start(&mut self) {
        self.dispatched = true;
        self.span = crate::telemetry::child_span(&self.sup.span, &self.slot.name, self.slot.index);
    }

    /// Whether the child is to stop: the group is cancelling, the child was
    /// cancelled alone, or a token it waits on fired (a cancelled parent
    /// reaches it only that way).
    fn stop_requested(&self, cx: &mut Context<'_>, group: &mut Waiter, own: &mut Waiter) -> bool {
        let fired = |waiter: &mut Waiter, cx: &mut Context<'_>| {
            waiter
                .as_mut()
                .is_some_and(|w| w.as_mut().poll(cx).is_ready())
        };
        self.sup.is_cancelling()
            || self.slot.ctl.is_cancelled()
            || fired(group, cx) | fired(own, cx)
    }

    /// Polls the child's future inside its span, as the ambient parent of any
    /// group it creates.
    fn poll_child<Fut: Future>(
        &self,
        fut: Pin<&mut Fut>,
        cx: &mut Context<'_>,
    ) -> Poll<Fut::Output> {
        let ambient = Ambient::Child(self.slot.clone());
        self.span
            .in_scope(|| context::enter(ambient, || fut.poll(cx)))
    }
}

impl<T> Settle<T> {
    fn finish(&mut self, ending: Ending<T>) {
        self.settled = true;
        let (name, index) = (&self.slot.name, self.slot.index);
        let (outcome, value, failure, payload) = match ending {
            Ending::Ok(value) => (ChildOutcome::Ok, Some(value), None, None),
            Ending::Cancelled => (ChildOutcome::Cancelled, None, None, None),
            Ending::Error(type_name, error) => {
                let failure = Failure::from_boxed(name.to_shared(), Some(index), type_name, error);
                (ChildOutcome::Error, None, Some(failure), None)
            }
            Ending::Panic(payload) => {
                let failure = Failure::panic(
                    name.to_shared(),
                    Some(index),
                    crate::panic::message(&*payload),
                );
                (ChildOutcome::Panic, None, Some(failure), Some(payload))
            }
        };
        if let Some(failure) = &failure {
            crate::telemetry::child_failed(&self.span, failure);
        }
        crate::telemetry::child_closed(
            &self.span,
            outcome,
            failure.as_ref().map(Failure::error_type),
        );

        // Who keeps the failure: a `start` caller still waiting, the child's
        // handle (collect-all), or the group.
        let mut slot = self.slot.lock();
        let (failure, to_starter) = match slot.starter.take() {
            Some(starter) => match starter.child_ended(outcome, failure) {
                Ok(()) => (None, true),
                Err(back) => (back, false),
            },
            None => (failure, false),
        };
        let failure = if self.sup.config.policy.leaves_failures_with_children() {
            slot.failure = failure;
            None
        } else {
            failure
        };
        slot.outcome = Some(outcome);
        slot.value = value;
        drop(slot);
        let settled = Settled {
            index,
            outcome,
            failure,
            payload,
            dispatched: self.dispatched,
            to_starter,
        };
        self.sup.settle(settled, name);
    }
}

impl<T> Drop for Settle<T> {
    fn drop(&mut self) {
        if !self.settled {
            self.finish(Ending::Cancelled);
        }
    }
}
