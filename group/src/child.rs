//! One child: the task that runs its future under the group's supervision, and
//! the [`ChildHandle`] its spawner keeps.
//!
//! The task polls the child's future inside the child's span, with the child's
//! cancellation token as the ambient token (so groups created inside nest under
//! it). When the token fires the future gets the group's grace period, if any,
//! and is then dropped: that is the abort, at the future's next `.await`. The
//! outcome is recorded before the task's tracker token is released, so once the
//! group sees its live set empty every outcome is in.

use std::any::Any;
use std::error::Error;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::task::Poll;

use futures_util::FutureExt as _;
use futures_util::task::AtomicWaker;
use tokio_util::sync::CancellationToken;
use tokio_util::task::task_tracker::TaskTrackerToken;
use tracing::{Instrument as _, Span};

use crate::context::{self, Ambient, ChildToken};
use crate::error_group::{BoxError, Failure};
use crate::outcome::ChildOutcome;
use crate::supervisor::{Settled, Supervisor};

/// A handle to one child of a group, returned by `spawn`.
///
/// Read the child's output after the group has finished (in spawn order, if
/// you keep the handles in a `Vec`): the outputs of children that succeeded
/// before a sibling failed are still there, which is how partial results are
/// collected. Dropping the handle does not affect the child.
#[derive(Debug)]
pub struct ChildHandle<T> {
    name: Arc<str>,
    index: usize,
    slot: Arc<Slot<T>>,
}

impl<T> ChildHandle<T> {
    /// The name the child was spawned with.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The child's spawn index in its group (0 for the first child).
    pub fn index(&self) -> usize {
        self.index
    }

    /// Cancels this child alone. It ends as cancelled, which is not a group
    /// failure: its siblings and the group carry on.
    pub fn cancel(&self) {
        self.slot.ctl.cancel();
    }

    /// How the child ended, or `None` while it is still running.
    pub fn outcome(&self) -> Option<ChildOutcome> {
        self.slot.lock().outcome
    }

    /// Whether the child has ended.
    pub fn is_finished(&self) -> bool {
        self.outcome().is_some()
    }

    /// Takes the child's output: `Some` if it succeeded (and the output was not
    /// taken before), `None` if it failed, was cancelled or is still running.
    pub fn take_output(&self) -> Option<T> {
        self.slot.lock().value.take()
    }

    /// The child's output, consuming the handle. See [`take_output`](Self::take_output).
    pub fn into_output(self) -> Option<T> {
        self.take_output()
    }

    /// The child's result, consuming the handle. Under
    /// [`Policy::CollectAll`](crate::Policy::CollectAll) a failure stays with
    /// its child and comes back here as [`ChildResult::Err`]; under the other
    /// policies it is part of the group's [`ErrorGroup`](crate::ErrorGroup)
    /// and this says [`ChildResult::Raised`].
    pub fn into_result(self) -> ChildResult<T> {
        let mut slot = self.slot.lock();
        match (slot.outcome, slot.value.take(), slot.failure.take()) {
            (None, _, _) => ChildResult::Running,
            (Some(_), Some(value), _) => ChildResult::Ok(value),
            (Some(_), None, Some(failure)) => ChildResult::Err(failure),
            (Some(ChildOutcome::Cancelled), None, None) => ChildResult::Cancelled,
            (Some(ChildOutcome::Ok), None, None) => ChildResult::Taken,
            (Some(ChildOutcome::Error | ChildOutcome::Panic), None, None) => ChildResult::Raised,
        }
    }
}

/// A child's result, from [`ChildHandle::into_result`].
#[derive(Debug)]
#[must_use]
pub enum ChildResult<T> {
    /// The child succeeded with this output.
    Ok(T),
    /// The child failed; its failure stayed with it (under
    /// [`Policy::CollectAll`](crate::Policy::CollectAll)).
    Err(Failure),
    /// The child failed; its failure is in the group's error.
    Raised,
    /// The child was cancelled before it settled.
    Cancelled,
    /// The child succeeded, but its output was already taken.
    Taken,
    /// The child has not settled yet.
    Running,
}

impl<T> ChildResult<T> {
    /// `Ok(output)`, `Err(failure)`, and `None` for the other cases: the shape
    /// of `gather(return_exceptions=True)`'s list entries.
    pub fn into_std(self) -> Option<Result<T, Failure>> {
        match self {
            Self::Ok(value) => Some(Ok(value)),
            Self::Err(failure) => Some(Err(failure)),
            _ => None,
        }
    }
}

/// What a child's task and its handle share: the outcome, and the child's
/// cancellation controls.
#[derive(Debug)]
pub(crate) struct Slot<T> {
    ctl: Ctl,
    state: Mutex<SlotState<T>>,
}

#[derive(Debug)]
pub(crate) struct SlotState<T> {
    outcome: Option<ChildOutcome>,
    value: Option<T>,
    failure: Option<Failure>,
}

impl<T> Slot<T> {
    fn lock(&self) -> std::sync::MutexGuard<'_, SlotState<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<T: Send> ChildToken for Slot<T> {
    fn token(&self) -> CancellationToken {
        self.ctl.token()
    }
}

/// Cancelling one child. The group's token stops every child; a child is
/// stopped alone by its flag (and its own token, if one was made), and its
/// task is woken through the waker it left when it last went pending.
#[derive(Debug)]
struct Ctl {
    group: CancellationToken,
    own: OnceLock<CancellationToken>,
    cancelled: AtomicBool,
    waker: AtomicWaker,
}

impl Ctl {
    /// The child's own token, a child of the group's, made on first use.
    fn token(&self) -> CancellationToken {
        let token = self.own.get_or_init(|| self.group.child_token()).clone();
        // `cancel` sets the flag before it looks for the token: one of the
        // two sees the other.
        if self.cancelled.load(Ordering::SeqCst) {
            token.cancel();
        }
        token
    }

    fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
        if let Some(token) = self.own.get() {
            token.cancel();
        }
        self.waker.wake();
    }

    fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }
}

/// How a child's future ended, before it is turned into telemetry and a
/// [`Failure`].
pub(crate) enum Ending<T> {
    Ok(T),
    Cancelled,
    Error(&'static str, BoxError),
    Panic(Box<dyn Any + Send>),
}

/// Builds the task that runs one child, and the handle to it. `make` gets the
/// child's own token only if `with_token` (as `spawn_with` asks). The child's
/// span opens when the task first runs, so a child queued under a limit costs
/// no span until it starts.
#[allow(clippy::too_many_arguments)]
pub(crate) fn prepare<M, F, T, E>(
    sup: Arc<Supervisor>,
    name: Arc<str>,
    index: usize,
    make: M,
    with_token: bool,
    tracked: TaskTrackerToken,
    starter: Option<Arc<dyn Starter>>,
) -> (impl Future<Output = ()> + Send + 'static, ChildHandle<T>)
where
    M: FnOnce(Option<CancellationToken>) -> F,
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Error + Send + Sync + 'static,
{
    let slot = Arc::new(Slot {
        ctl: Ctl {
            group: sup.token.clone(),
            own: OnceLock::new(),
            cancelled: AtomicBool::new(false),
            waker: AtomicWaker::new(),
        },
        state: Mutex::new(SlotState {
            outcome: None,
            value: None,
            failure: None,
        }),
    });
    let fut = make(with_token.then(|| slot.ctl.token()));
    let handle = ChildHandle {
        name: name.clone(),
        index,
        slot: slot.clone(),
    };
    let mut settle = Settle {
        sup,
        name,
        index,
        slot,
        span: Span::none(),
        dispatched: false,
        settled: false,
        starter,
        _tracked: tracked,
    };
    let task = async move {
        settle.dispatched = true;
        settle.span = crate::telemetry::child_span(&settle.sup.span, &settle.name, settle.index);
        let ambient = Ambient::Child(settle.slot.clone());
        let run = supervise(fut, &settle.sup, &settle.slot.ctl);
        let ending = context::scope(ambient, run).instrument(settle.span.clone()).await;
        settle.finish(ending);
    };
    (task, handle)
}

/// A `start` call waiting for its child to signal readiness: a failure before
/// the signal goes to the caller, not to the group.
pub(crate) trait Starter: Send + Sync {
    /// Hands the child's ending to the waiting caller, if it still waits.
    /// Returns the failure back when the child had already signalled.
    fn child_ended(
        &self,
        outcome: ChildOutcome,
        failure: Option<Failure>,
    ) -> Result<(), Option<Failure>>;
}

/// Polls the child's future until it settles or is cancelled (after the grace
/// period, if one is set). The token is checked before every poll, so a
/// cancelled child never runs past its next `.await`, and one cancelled before
/// it first ran never starts (nor gets a grace period), as in asyncio. The
/// token's waker is registered
/// only while the future is pending.
async fn supervise<F, T, E>(fut: F, sup: &Supervisor, ctl: &Ctl) -> Ending<T>
where
    F: Future<Output = Result<T, E>>,
    E: Error + Send + Sync + 'static,
{
    let fut = AssertUnwindSafe(fut).catch_unwind();
    tokio::pin!(fut);
    // Registered only while the child is pending: the group's token (for
    // every cause, a cancelled parent included) and the child's own, if it
    // has one (the user may cancel a `spawn_with` token directly).
    let group = sup.token.cancelled();
    tokio::pin!(group);
    let own = ctl.own.get().map(CancellationToken::cancelled);
    tokio::pin!(own);
    let mut started = false;
    let first = std::future::poll_fn(|cx| {
        if sup.is_cancelling() || ctl.is_cancelled() {
            return Poll::Ready(None);
        }
        started = true;
        if let Poll::Ready(result) = fut.as_mut().poll(cx) {
            return Poll::Ready(Some(result));
        }
        ctl.waker.register(cx.waker());
        let own_fired = own.as_mut().as_pin_mut().is_some_and(|own| own.poll(cx).is_ready());
        if ctl.is_cancelled() || own_fired || group.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await;
    // A child cancelled before it started has nothing to clean up.
    let grace = sup.config.grace.filter(|_| started);
    let result = match (first, grace) {
        (Some(result), _) => result,
        (None, None) => return Ending::Cancelled,
        (None, Some(grace)) => match tokio::time::timeout(grace, fut).await {
            Ok(result) => result,
            Err(_elapsed) => return Ending::Cancelled,
        },
    };
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
    name: Arc<str>,
    index: usize,
    slot: Arc<Slot<T>>,
    span: Span,
    /// The task has run, so it holds one of the group's slots.
    dispatched: bool,
    settled: bool,
    starter: Option<Arc<dyn Starter>>,
    _tracked: TaskTrackerToken,
}

impl<T> Settle<T> {
    fn finish(&mut self, ending: Ending<T>) {
        self.settled = true;
        let (outcome, value, failure, payload) = match ending {
            Ending::Ok(value) => (ChildOutcome::Ok, Some(value), None, None),
            Ending::Cancelled => (ChildOutcome::Cancelled, None, None, None),
            Ending::Error(type_name, error) => {
                let failure =
                    Failure::from_boxed(self.name.clone(), Some(self.index), type_name, error);
                (ChildOutcome::Error, None, Some(failure), None)
            }
            Ending::Panic(payload) => {
                let message = crate::panic::message(&*payload);
                let failure = Failure::panic(self.name.clone(), Some(self.index), message);
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
        let (failure, to_starter) = match self.starter.take() {
            Some(starter) => match starter.child_ended(outcome, failure) {
                Ok(()) => (None, true),
                Err(back) => (back, false),
            },
            None => (failure, false),
        };
        let failure = if self.sup.config.policy.leaves_failures_with_children() {
            self.slot.lock().failure = failure;
            None
        } else {
            failure
        };
        {
            let mut slot = self.slot.lock();
            slot.outcome = Some(outcome);
            slot.value = value;
        }
        self.sup.settle(
            Settled {
                index: self.index,
                outcome,
                failure,
                payload,
                dispatched: self.dispatched,
                to_starter,
            },
            &self.name,
        );
    }
}

impl<T> Drop for Settle<T> {
    fn drop(&mut self) {
        if !self.settled {
            self.finish(Ending::Cancelled);
        }
    }
}
