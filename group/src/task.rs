//! [`ChildTask`]: the future tokio runs for one child.
//!
//! It polls the child's future inside the child's span, with the child as the
//! ambient parent of any group created inside it, and stops it on
//! cancellation where it next waits (the step it was woken for still runs),
//! or after the group's grace period. A hand-written
//! future rather than an `async` block, so that the task stays a few words
//! larger than the child's own future: tokio allocates every task cache-line
//! aligned, and a large one costs more than its bytes. What only some
//! children need is in one [`Extra`] box, made only when needed, the child's
//! span included: a child that finishes in its first poll keeps its span on
//! the stack. The test below holds a trivial child's task to a few words.

use std::future::Future;
use std::marker::PhantomData;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::FutureExt as _;
use futures_util::future::CatchUnwind;
use tokio::time::Sleep;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tracing::Span;

use crate::child::{Ending, Starter};
use crate::context::{self, Ambient};
use crate::ctl::Ctl;
use crate::error_group::Failure;
use crate::into_failure::IntoFailure;
use crate::membership::{Hold, Membership};
use crate::name::Name;
use crate::outcome::ChildOutcome;
use crate::queue::{Cell, Deferred};
use crate::supervisor::{Settled, Supervisor};
use tokio::runtime::Handle;

/// What a child's task returns to its handle.
pub(crate) enum Out<T> {
    Ok(T),
    /// The output of a successful child, already taken.
    Taken,
    Cancelled,
    /// The child failed and its failure went to the group (or to a `start`
    /// caller).
    Raised(ChildOutcome),
    /// The child failed and its failure stayed with it (collect-all). Boxed:
    /// a handle is kept per child, and failures are the rare case.
    Failed(Box<Failure>),
}

impl<T> Out<T> {
    pub(crate) fn outcome(&self) -> ChildOutcome {
        match self {
            Self::Ok(_) | Self::Taken => ChildOutcome::Ok,
            Self::Cancelled => ChildOutcome::Cancelled,
            Self::Raised(outcome) => *outcome,
            Self::Failed(failure) if failure.is_panic() => ChildOutcome::Panic,
            Self::Failed(_) => ChildOutcome::Error,
        }
    }
}

pin_project_lite::pin_project! {
    /// One child's task.
    pub(crate) struct ChildTask<F, T, E, K> {
        #[pin]
        fut: CatchUnwind<AssertUnwindSafe<F>>,
        settle: Settle<T>,
        _error: PhantomData<fn() -> (E, K)>,
    }
}

pin_project_lite::pin_project! {
    /// What a child needs only if it waits while a subscriber records its
    /// span, waits in a group nested in another's child (on that group's
    /// token), was spawned with a token or through `start`, or is cancelled
    /// within a grace period: one box, made when first needed. A waiting
    /// child of a group with no parent, with no subscriber, needs none: its
    /// waker is left with the group.
    struct Extra {
        // The token `spawn_with` handed over, when there is no `Ctl` to keep it.
        own: Option<CancellationToken>,
        // A `start` caller still waiting for the child's signal.
        starter: Option<Arc<dyn Starter>>,
        // The group's token, for a group nested in a child (see
        // `crate::sleepers` for the others).
        #[pin]
        group_waiter: Option<WaitForCancellationFutureOwned>,
        // Boxed: only a child with a token of its own has one.
        own_waiter: Option<Pin<Box<WaitForCancellationFutureOwned>>>,
        // Boxed: only a child cancelled within a grace period needs it.
        grace: Option<Pin<Box<Sleep>>>,
        // The child's span, between polls.
        span: Span,
    }
}

impl Extra {
    fn new(own: Option<CancellationToken>, starter: Option<Arc<dyn Starter>>) -> Self {
        Self {
            own,
            starter,
            group_waiter: None,
            own_waiter: None,
            grace: None,
            span: Span::none(),
        }
    }
}

/// Whether a token waiter, if there is one, has fired.
fn fired(waiter: Pin<&mut Option<WaitForCancellationFutureOwned>>, cx: &mut Context<'_>) -> bool {
    waiter
        .as_pin_mut()
        .is_some_and(|waiter| waiter.poll(cx).is_ready())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Not polled yet: its span is not open.
    Fresh,
    Running,
    /// Cancelled, finishing within the grace period.
    Grace,
}

impl<F, T, E, K> ChildTask<F, T, E, K>
where
    F: Future<Output = Result<T, E>>,
{
    /// The task running `fut` for the child `settle` stands for.
    #[inline(always)]
    pub(crate) fn new(fut: F, settle: Settle<T>) -> Self {
        Self {
            fut: AssertUnwindSafe(fut).catch_unwind(),
            settle,
            _error: PhantomData,
        }
    }
}

impl<F, T, E, K> ChildTask<F, T, E, K> {
    /// The child's spawn index in its group.
    pub(crate) fn index(&self) -> usize {
        self.settle.index
    }
}

impl<F, T, E, K> Future for ChildTask<F, T, E, K>
where
    F: Future<Output = Result<T, E>>,
    T: Send + 'static,
    E: IntoFailure<K>,
{
    type Output = Out<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Out<T>> {
        let this = self.project();
        let settle = &mut *this.settle;
        let span = match settle.phase {
            Phase::Fresh => {
                // A child runs its first step even if its group cancelled
                // since it was spawned: it was already queued, as in asyncio
                // and Trio, and a cancellation lands at its next suspension.
                // One cancelled alone before it ran never starts (an abort,
                // without a grace period).
                if settle.ctl.as_ref().is_some_and(|ctl| ctl.is_cancelled()) {
                    return Poll::Ready(settle.finish(Ending::Cancelled, Span::none()));
                }
                settle.phase = Phase::Running;
                // The child starts: its span opens now, so a child queued
                // under a limit costs no span until it runs.
                crate::trace::child_span(
                    settle.sup.span_id(),
                    &settle.sup.name,
                    &settle.name,
                    settle.index,
                )
            }
            Phase::Running | Phase::Grace => settle.take_span(),
        };
        // The span goes along: kept if the child waits, closed as it ends,
        // so that the output is the last thing built and goes straight back.
        settle.poll_running::<F, E, K>(this.fut, cx, span)
    }
}

type Caught<T, E> = std::thread::Result<Result<T, E>>;

/// A child not among its group's sleepers.
const NOT_ASLEEP: u32 = u32::MAX;

/// Records a child's ending exactly once: when its future settles, or, if the
/// task is dropped before that (aborted through its handle, dropped from the
/// queue by a cancellation, or at runtime shutdown), as cancelled. Made as
/// the child is admitted, before its future is, so that a child whose future
/// is never made (the `make` closure of `spawn_with` panicked) settles as
/// cancelled too and gives its slot back. Field order matters: the
/// membership goes last, after the ending is recorded and the span and
/// bookkeeping are dropped.
pub(crate) struct Settle<T> {
    name: Name,
    index: usize,
    /// Set only when the group has a grace period.
    ctl: Option<Arc<Ctl>>,
    extra: Option<Pin<Box<Extra>>>,
    /// Its key among the group's sleepers, once it waited (`NOT_ASLEEP`
    /// before): in the padding after the flags, so the task stays as small.
    sleeper: u32,
    /// The child holds one of the limit's slots, to give back as it ends.
    holds_slot: bool,
    phase: Phase,
    settled: bool,
    sup: Membership,
    _output: PhantomData<fn() -> T>,
}

impl<T> Settle<T> {
    /// Child `index`, which holds one of the limit's slots if `holds_slot`
    /// (rather than waiting in the queue for one).
    #[inline(always)]
    pub(crate) fn new(name: Name, index: usize, member: Membership, holds_slot: bool) -> Self {
        Self {
            name,
            index,
            ctl: None,
            extra: None,
            sleeper: NOT_ASLEEP,
            holds_slot,
            phase: Phase::Fresh,
            settled: false,
            sup: member,
            _output: PhantomData,
        }
    }

    /// Gives the child what cancels it alone under a grace period, the token
    /// `spawn_with` handed over (when there is no `Ctl` to keep it), and a
    /// `start` caller.
    pub(crate) fn control(
        &mut self,
        ctl: Option<Arc<Ctl>>,
        own: Option<CancellationToken>,
        starter: Option<Arc<dyn Starter>>,
    ) {
        self.ctl = ctl;
        if own.is_some() || starter.is_some() {
            self.extra = Some(Box::pin(Extra::new(own, starter)));
        }
    }
}

impl<T: Send + 'static> Settle<T> {
    /// Polls the child through its phases: running, then, once cancelled,
    /// within the grace period. The span is the child's own, closed as it
    /// finishes, kept while it waits.
    fn poll_running<F, E, K>(
        &mut self,
        mut fut: Pin<&mut CatchUnwind<AssertUnwindSafe<F>>>,
        cx: &mut Context<'_>,
        span: Span,
    ) -> Poll<Out<T>>
    where
        F: Future<Output = Result<T, E>>,
        E: IntoFailure<K>,
    {
        if self.phase == Phase::Running {
            // The step the child was woken for runs, cancelled or not: a
            // cancellation lands where the child next waits.
            if let Poll::Ready(result) = self.poll_child(fut.as_mut(), cx, &span) {
                return Poll::Ready(self.finish(self.ending::<E, K>(result), span));
            }
            if !self.stop_requested(cx) {
                // Make sure a cancellation wakes us, then look again in case
                // it came before the registration.
                self.register(cx);
                if !self.stop_requested(cx) {
                    return self.wait(span);
                }
            }
            let Some(grace) = self.sup.config.grace else {
                return Poll::Ready(self.finish(Ending::Cancelled, span));
            };
            self.phase = Phase::Grace;
            let extra = self.extra().project();
            let timer = extra.grace.insert(Box::pin(tokio::time::sleep(grace)));
            if timer.as_mut().poll(cx).is_pending() {
                return self.wait(span);
            }
            return Poll::Ready(self.finish(Ending::Cancelled, span));
        }
        // Within the grace period: the child may still finish, with any result.
        if let Poll::Ready(result) = self.poll_child(fut.as_mut(), cx, &span) {
            return Poll::Ready(self.finish(self.ending::<E, K>(result), span));
        }
        let grace = self
            .extra
            .as_mut()
            .and_then(|e| e.as_mut().project().grace.as_mut());
        if grace.is_some_and(|grace| grace.as_mut().poll(cx).is_pending()) {
            return self.wait(span);
        }
        Poll::Ready(self.finish(Ending::Cancelled, span))
    }

    /// Whether the child is to stop: the group is cancelling, the child was
    /// cancelled alone, or a token it waits on fired (a cancelled parent
    /// reaches it only that way).
    fn stop_requested(&mut self, cx: &mut Context<'_>) -> bool {
        self.sup.is_cancelling()
            || self.ctl.as_ref().is_some_and(|ctl| ctl.is_cancelled())
            || self.extra.as_mut().is_some_and(|extra| {
                let extra = extra.as_mut().project();
                let own = extra.own_waiter.as_mut().map(Pin::as_mut);
                fired(extra.group_waiter, cx) | own.is_some_and(|own| own.poll(cx).is_ready())
            })
    }

    /// The child went pending: it is to be woken by any cancellation. A
    /// child of a group with no parent leaves its waker with the group, once
    /// (no allocation); one nested deeper waits on its group's token.
    fn register(&mut self, cx: &mut Context<'_>) {
        if let Some(ctl) = &self.ctl {
            ctl.waker.register(cx.waker());
        }
        if self.sleeper == NOT_ASLEEP && self.sup.has_sleepers() {
            self.sleeper = self.sup.sleep(cx.waker()).unwrap_or(NOT_ASLEEP);
        }
        // Not among sleepers: a nested group's child, or one the sleepers
        // refused (a thread's shard holds 268 million): the token wakes it.
        // Refused because the group is cancelling, it needs no waking: the
        // caller sees the flag next.
        if self.sleeper == NOT_ASLEEP && !self.sup.is_cancelling() {
            let token = &self.sup.token;
            let extra = self
                .extra
                .get_or_insert_with(|| Box::pin(Extra::new(None, None)));
            let mut extra = extra.as_mut().project();
            if extra.group_waiter.is_none() {
                extra
                    .group_waiter
                    .set(Some(token.clone().cancelled_owned()));
            }
        }
        if self.extra.as_ref().is_some_and(|e| e.own_waiter.is_some()) {
            return;
        }
        let own = match &self.ctl {
            Some(ctl) => ctl.own(),
            None => self.extra.as_ref().and_then(|e| e.own.clone()),
        };
        if let Some(own) = own {
            *self.extra().project().own_waiter = Some(Box::pin(own.cancelled_owned()));
        }
    }

    /// Polls the child's future inside its span, as the ambient parent of any
    /// group it creates.
    fn poll_child<Fut: Future>(
        &self,
        fut: Pin<&mut Fut>,
        cx: &mut Context<'_>,
        span: &Span,
    ) -> Poll<Fut::Output> {
        span.in_scope(|| context::enter(self, || fut.poll(cx)))
    }

    /// How the child's future ended. An error that is a refused spawn, while
    /// the child is being cancelled, is that cancellation reaching it (a `?`
    /// on a spawn into its closing group), not a failure.
    fn ending<E: IntoFailure<K>, K>(&self, result: Caught<T, E>) -> Ending<T> {
        match result {
            Ok(Ok(value)) => Ending::Ok(value),
            Ok(Err(error)) => {
                let (error, error_type) = error.into_failure();
                if crate::into_failure::is_refusal(&*error) && self.cancelled_now() {
                    Ending::Cancelled
                } else {
                    Ending::Error(error_type, error)
                }
            }
            Err(payload) => Ending::Panic(payload),
        }
    }

    /// Whether the child is being cancelled, without registering for it.
    fn cancelled_now(&self) -> bool {
        self.sup.is_cancelling()
            || self.sup.token.is_cancelled()
            || self.ctl.as_ref().is_some_and(|ctl| ctl.is_cancelled())
            || self
                .extra
                .as_ref()
                .and_then(|extra| extra.own.as_ref())
                .is_some_and(CancellationToken::is_cancelled)
    }
}

/// A child is the ambient parent of the groups it creates: their tokens
/// descend from its own, and they hold its group open.
impl<T> Ambient for Settle<T> {
    fn token(&self) -> CancellationToken {
        match &self.ctl {
            Some(ctl) => ctl.token(),
            // Cancelled alone, such a child is aborted, which drops the
            // groups nested in it: they descend from the group's token.
            None => self.sup.token.child_token(),
        }
    }

    fn hold(&self) -> Option<Hold> {
        let sup = self.sup.supervisor().clone();
        Some(Hold::take(sup, self.name.to_shared(), Some(self.index)))
    }
}

impl<T> Settle<T> {
    /// The child went pending: its span is kept until the next poll. Only a
    /// child that waits stores it; one that finishes at once never does.
    fn wait<O>(&mut self, span: Span) -> Poll<O> {
        // A span no subscriber took needs no keeping (nor a box to keep it).
        if !span.is_disabled() {
            *self.extra().project().span = span;
        }
        Poll::Pending
    }

    /// The span of a child that waited, taken for this poll.
    fn take_span(&mut self) -> Span {
        match &mut self.extra {
            Some(extra) => std::mem::replace(extra.as_mut().project().span, Span::none()),
            None => Span::none(),
        }
    }

    fn extra(&mut self) -> Pin<&mut Extra> {
        self.extra
            .get_or_insert_with(|| Box::pin(Extra::new(None, None)))
            .as_mut()
    }

    /// Reports the ending and hands the supervisor what it needs, then closes
    /// the child's span; returns what the child's handle reads.
    fn finish(&mut self, ending: Ending<T>, span: Span) -> Out<T> {
        self.settled = true;
        if self.sleeper != NOT_ASLEEP {
            self.sup
                .woke(std::mem::replace(&mut self.sleeper, NOT_ASLEEP));
        }
        let starter = self.extra.as_ref().is_some_and(|e| e.starter.is_some());
        let ending = match ending {
            // The common case, kept lean: nothing to hand over.
            Ending::Ok(value) if !starter => {
                crate::trace::child_closed(&span, ChildOutcome::Ok, None);
                let settled = Settled {
                    index: self.index,
                    outcome: ChildOutcome::Ok,
                    failure: None,
                    payload: None,
                    held_slot: self.holds_slot,
                    to_starter: false,
                };
                self.sup.settle(settled, &self.name);
                drop(span);
                return Out::Ok(value);
            }
            ending => ending,
        };
        let (name, index) = (&self.name, self.index);
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
            crate::trace::child_failed(span.id(), failure);
        }
        if outcome == ChildOutcome::Cancelled {
            if self.phase == Phase::Fresh {
                self.sup.never_started();
            } else if !span.is_disabled() {
                let (cause, trigger) = self.sup.cancel_cause();
                crate::trace::child_cancelled(&span, cause, trigger.as_deref());
            }
        }
        crate::trace::child_closed(&span, outcome, failure.as_ref().map(Failure::error_type));

        let extra = self.extra.as_mut().map(|e| e.as_mut().project());
        let (own, starter) = match extra {
            Some(extra) => (extra.own.as_ref(), extra.starter.take()),
            None => (None, None),
        };
        if let (ChildOutcome::Cancelled, Some(own)) = (outcome, own) {
            // Cancelled alone through its handle, the task was aborted: the
            // token the child was given must say so too.
            own.cancel();
        }

        // Who keeps the failure: a `start` caller still waiting, the child's
        // handle (collect-all), or the group.
        let (failure, to_starter) = match starter {
            Some(starter) => match starter.child_ended(outcome, failure) {
                Ok(()) => (None, true),
                Err(back) => (back, false),
            },
            None => (failure, false),
        };
        let (out, failure) = match (value, failure) {
            (Some(value), _) => (Out::Ok(value), None),
            (None, Some(failure)) if self.sup.config.policy.leaves_failures_with_children() => {
                (Out::Failed(Box::new(failure)), None)
            }
            (None, failure) if outcome == ChildOutcome::Cancelled => (Out::Cancelled, failure),
            (None, failure) => (Out::Raised(outcome), failure),
        };
        let settled = Settled {
            index,
            outcome,
            failure,
            payload,
            held_slot: self.holds_slot,
            to_starter,
        };
        self.sup.settle(settled, name);
        drop(span);
        out
    }
}

impl<T> Drop for Settle<T> {
    /// The child's future is gone by now: it is declared before the
    /// `Settle` in the task, so it was dropped first.
    fn drop(&mut self) {
        self.sup.left(self.index);
        if !self.settled {
            let span = self.take_span();
            let _ = self.finish(Ending::Cancelled, span);
        }
    }
}

/// A child's task as the queue keeps it until its slot comes: a
/// [`ChildTask`], or one wrapped to hand its ending on elsewhere.
pub(crate) trait Queueable: Future<Output: Send + 'static> + Send + 'static {
    /// The child's name, for its tokio task.
    fn name(&self) -> &Name;

    /// The child leaves the queue: it is given a slot.
    fn given_slot(&mut self);
}

impl<F, T, E, K> Queueable for ChildTask<F, T, E, K>
where
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: IntoFailure<K>,
    K: 'static,
{
    fn name(&self) -> &Name {
        &self.settle.name
    }

    fn given_slot(&mut self) {
        self.settle.holds_slot = true;
    }
}

impl<W: Queueable> Deferred for Cell<W::Output, Option<W>> {
    fn start(&self, sup: &Supervisor, runtime: &Handle) -> std::io::Result<()> {
        self.start_with(|mut task| {
            task.given_slot();
            let name = task.name().clone();
            sup.spawn_task(runtime, &name, task)
        })
    }

    fn abandon(&self) {
        drop(self.take_unstarted());
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::future::Ready;

    /// A trivial child's task must stay within 80 bytes (see the module docs).
    #[test]
    fn a_trivial_childs_task_stays_small() {
        type Task =
            super::ChildTask<Ready<Result<u64, Infallible>>, u64, Infallible, crate::marker::Typed>;
        assert!(
            std::mem::size_of::<Task>() <= 80,
            "{}",
            std::mem::size_of::<Task>()
        );
    }
}
