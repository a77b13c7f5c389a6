//! The state one group run shares with its children: admission of new
//! children, the concurrency limit's queue, the record of how each ended,
//! cancellation, the deadline and the unresponsive-child alarm, and the final
//! result.
//!
//! Children run as ordinary tokio tasks, counted in and out by the
//! [`Admission`] protocol, which also tells when the group is done.
//!
//! The hot path takes no lock: admission and a successful child's settling
//! are two atomic read-modify-writes. The lock guards what only failures,
//! cancellations, the limit's queue and the alarm need; a child that waits
//! takes the lock of its thread's shard of the sleepers twice, to leave its
//! waker and to take it back (see [`Sleepers`]). A spawner waiting for a slot
//! ([`Supervisor::reserve`]) is woken as a slot frees.
//!
//! Over the limit, a child waits in a queue as its task future, not as a
//! spawned task (see [`crate::queue`]), and is handed to the runtime when a
//! running child settles. Every queued child holds its membership, so the
//! group waits for it to run or to be dropped from the queue by a
//! cancellation. A child holds a slot from the moment it is given one until
//! it settles, however it ends, even if it never ran.

use std::any::Any;
use std::borrow::Cow;
use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use tokio::runtime::Handle;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Span;

use crate::admission::Admission;
use crate::config::Config;
use crate::deadline::DeadlineExceeded;
use crate::error_group::{ErrorGroup, Failure};
use crate::membership::{Hold, Membership};
use crate::name::Name;
use crate::no_success::NoSuccess;
use crate::outcome::{CancelReason, ChildOutcome, GroupOutcome};
use crate::policy::Policy;
use crate::queue::Entry;
use crate::sleepers::Sleepers;
use crate::spawn_error::SpawnErrorKind;
use crate::telemetry::{
    DEADLINE_ERROR_TYPE, DEADLINE_NAME, NO_SUCCESS_ERROR_TYPE, NO_SUCCESS_NAME,
};
use crate::trace::{self, Counts, Trigger};

pub(crate) struct Supervisor {
    pub(crate) name: Arc<str>,
    /// The runtime current when the group was built; children run there.
    runtime: Option<Handle>,
    /// The enclosing child's (or body's) token, which ours descends from.
    ambient: Option<CancellationToken>,
    /// The token the group was built under ([`GroupBuilder::parent`]).
    ///
    /// [`GroupBuilder::parent`]: crate::GroupBuilder::parent
    owner: Option<CancellationToken>,
    /// Set with the first cancellation: children check it before every poll
    /// without taking the token's lock, and no child is admitted after it.
    cancelling: AtomicBool,
    /// Children admitted and gone, nested groups holding it open (see
    /// [`Hold`]), and whether the group is closed.
    admission: Admission,
    /// Children that failed, or were cancelled; the others succeeded. Counted
    /// as they settle, so that a success counts nothing but its going.
    failed: AtomicUsize,
    cancelled: AtomicUsize,
    /// Of the cancelled, those that never ran.
    unstarted: AtomicUsize,
    /// The group's span, given up when the run is concluded, so that it
    /// closes then and not when the last reference to the supervisor goes
    /// (a child's membership on another worker thread may outlive the run
    /// by a moment, and a span closed after the exporters shut down is lost).
    span: Mutex<Span>,
    /// Its id: the parent of the children's spans and of the group's events,
    /// read without the lock.
    span_id: Option<tracing::Id>,
    pub(crate) config: Config,
    /// Cancels the children, for any reason.
    pub(crate) token: CancellationToken,
    /// Cancels the scope body: failures, deadlines and drops only (see
    /// [`CancelReason::aborts_body`]).
    pub(crate) abort: CancellationToken,
    /// The pending children of a group with no parent, woken as it cancels
    /// (see [`Sleepers`]); `None` for a nested group, whose children wait on
    /// its token.
    sleepers: Option<Sleepers>,
    /// The limit's free slots (none used without a limit). A slot that
    /// frees goes to the next queued child, or, with nobody queued, back
    /// here, where tokio hands it straight to the first spawner waiting in
    /// [`Self::reserve`]. Both happen under the state's lock, as does
    /// queueing: so a free slot here means an empty queue. Closed as the
    /// group cancels, which refuses the waiting spawners.
    slots: Semaphore,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Set by the first cancellation; no child is admitted after it.
    cancel: Option<CancelReason>,
    /// The scope body failed: counted as a failure, but not a child.
    body_failed: bool,
    timed_out: bool,
    queue: VecDeque<Queued>,
    failures: Vec<Failure>,
    /// The first panic's payload, kept only when panics are to be resumed.
    panic: Option<Box<dyn Any + Send>>,
    /// Children not yet settled, kept only for the unresponsive alarm.
    live: BTreeMap<usize, Name>,
    /// The enclosing group, kept open until this one is done.
    hold: Option<Hold>,
    /// The run's result has been worked out and reported.
    concluded: bool,
    /// The child whose success ended a first-success race.
    winner: Option<usize>,
    /// The child whose ending made the group cancel, if one did.
    trigger: Option<Arc<str>>,
}

/// A child waiting for a slot under the concurrency limit.
struct Queued {
    child: Entry,
    /// The runtime to start it on, when the group has none of its own (it
    /// was built outside any runtime, and runs its children on their
    /// spawner's).
    runtime: Option<Handle>,
    /// How many were left in the queue when this one was taken.
    left: usize,
}

/// An admitted child.
pub(crate) struct Admitted {
    pub index: usize,
    pub member: Membership,
    /// A slot was taken for it: spawn it now. Otherwise queue it.
    pub run_now: bool,
}

/// How a child settled, as the supervisor needs to know it.
pub(crate) struct Settled {
    pub index: usize,
    pub outcome: ChildOutcome,
    /// The failure, if the child failed and it is the group's to keep.
    pub failure: Option<Failure>,
    pub payload: Option<Box<dyn Any + Send>>,
    /// Whether the child held one of the limit's slots.
    pub held_slot: bool,
    /// Whether the failure went to a `start` caller instead: the child had not
    /// signalled readiness, so it is not yet the group's (no policy applies).
    pub to_starter: bool,
}

impl Supervisor {
    pub(crate) fn new(
        name: Arc<str>,
        span: Span,
        config: Config,
        owner: Option<CancellationToken>,
    ) -> Self {
        let (ambient, hold) = crate::context::parent().unzip();
        let token = ambient
            .as_ref()
            .or(owner.as_ref())
            .map_or_else(CancellationToken::new, CancellationToken::child_token);
        let state = State {
            hold: hold.flatten(),
            ..State::default()
        };
        let root = ambient.is_none() && owner.is_none();
        let runtime = Handle::try_current().ok();
        let workers = runtime.as_ref().map_or(1, |rt| rt.metrics().num_workers());
        let sleepers = root.then(|| Sleepers::new(workers));
        Self {
            name,
            runtime,
            ambient,
            owner,
            cancelling: AtomicBool::new(false),
            admission: Admission::new(),
            failed: AtomicUsize::new(0),
            cancelled: AtomicUsize::new(0),
            unstarted: AtomicUsize::new(0),
            span_id: span.id(),
            span: Mutex::new(span),
            config,
            token,
            abort: CancellationToken::new(),
            sleepers,
            // A limit beyond the semaphore's 2^61 permits limits nothing.
            // `const_new`: a semaphore of tokio-console's resource view would
            // be one more resource, and spans and events, for every group.
            slots: Semaphore::const_new(config.limit.map_or(0, |l| l.min(Semaphore::MAX_PERMITS))),
            state: Mutex::new(state),
        }
    }

    /// Whether a token the group descends from was cancelled. Takes each
    /// token's lock: only groups with a parent pay for it.
    fn parent_cancelled(&self) -> bool {
        self.ambient
            .iter()
            .chain(&self.owner)
            .any(CancellationToken::is_cancelled)
    }

    /// The id of the group's span, while its run lasts.
    pub(crate) fn span_id(&self) -> Option<tracing::Id> {
        self.span_id.clone()
    }

    /// Runs `f` with the group's span (disabled once the run is over).
    pub(crate) fn with_span<R>(&self, f: impl FnOnce(&Span) -> R) -> R {
        f(&self.span.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Records the queue's length on the group's span, for a live view. A
    /// span no subscriber took has no id: then the limit's path takes no
    /// lock for it.
    fn record_queued(&self, queued: usize) {
        if self.span_id.is_some() {
            self.with_span(|span| trace::queued(span, queued));
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether a pending child is woken through [`Self::sleep`] (else it
    /// waits on the group's token).
    pub(crate) fn has_sleepers(&self) -> bool {
        self.sleepers.is_some()
    }

    /// Leaves a pending child's waker for the group's cancellation: its key,
    /// or `None` if the group is cancelling already (or has no sleepers).
    pub(crate) fn sleep(&self, waker: &Waker) -> Option<u32> {
        self.sleepers.as_ref()?.add(waker)
    }

    /// A child that slept has ended.
    pub(crate) fn woke(&self, key: u32) {
        if let Some(sleepers) = &self.sleepers {
            sleepers.remove(key);
        }
    }

    /// Whether the group has started cancelling its children.
    pub(crate) fn is_cancelling(&self) -> bool {
        self.cancelling.load(Ordering::Acquire)
    }

    /// Whether every child has settled, for good: the group has finished.
    /// Only the group's finish sets the "closed" bit, and it does so after
    /// reading every child's count out, so a reader that sees the bit also
    /// sees each child's future dropped.
    pub(crate) fn is_settled(&self) -> bool {
        self.admission.is_closed()
    }

    /// The runtime children run on: the group's, else the caller's.
    pub(crate) fn runtime(&self) -> Option<Cow<'_, Handle>> {
        match &self.runtime {
            Some(runtime) => Some(Cow::Borrowed(runtime)),
            None => Handle::try_current().ok().map(Cow::Owned),
        }
    }

    /// Admits one child only if it can run now: under a limit with no free
    /// slot it is refused ([`SpawnErrorKind::AtLimit`]) rather than queued.
    pub(crate) fn admit_now(self: &Arc<Self>, child: &Name) -> Result<Admitted, SpawnErrorKind> {
        let Some(limit) = self.config.limit else {
            return self.admit(child, false);
        };
        let slot = self.take_slot().ok_or(SpawnErrorKind::AtLimit(limit))?;
        // Refused as the group closes, the slot goes back as it drops.
        self.admit(child, true).inspect(|_| slot.used())
    }

    /// Admits one child: its spawn index, its place in the live set, and
    /// whether it may run now (a slot was taken for it, or `reserved` for
    /// it already) or must queue.
    pub(crate) fn admit(
        self: &Arc<Self>,
        child: &Name,
        reserved: bool,
    ) -> Result<Admitted, SpawnErrorKind> {
        if self.cancelling.load(Ordering::Relaxed) {
            return Err(self.refusal());
        }
        if (self.ambient.is_some() || self.owner.is_some()) && self.parent_cancelled() {
            // The owner is being cancelled: so is the group, before `watch`
            // would notice.
            self.cancel(CancelReason::ParentCancelled, None);
            return Err(self.refusal());
        }
        let Some(index) = self.admission.admit() else {
            return Err(self.refusal());
        };
        if self.config.unresponsive_after.is_some() {
            self.state().live.insert(index, child.clone());
        }
        let run_now = reserved || self.take_free_slot();
        Ok(Admitted {
            index,
            member: Membership::new(self.clone()),
            run_now,
        })
    }

    /// Why a spawn is refused, once the flags said it is.
    fn refusal(&self) -> SpawnErrorKind {
        match self.state().cancel {
            Some(reason) => SpawnErrorKind::Closing(reason),
            None => SpawnErrorKind::Closed,
        }
    }

    /// Takes a free slot under the limit, if there is one (always, without
    /// a limit). No lock: a free slot means nobody is queued.
    fn take_free_slot(&self) -> bool {
        if self.config.limit.is_none() {
            return true;
        }
        self.slots.try_acquire().map(|slot| slot.forget()).is_ok()
    }

    /// Waits until a slot is free under the limit and takes it for a child
    /// about to be admitted with it (`admit(.., true)`); without a limit,
    /// at once. A slot that frees goes to the queue's children first: a
    /// spawner that waits never overtakes one that queued.
    pub(crate) async fn reserve(&self) -> Result<Reservation<'_>, SpawnErrorKind> {
        if self.config.limit.is_none() {
            return self.open().map(|()| Reservation { sup: None });
        }
        self.open()?;
        if let Some(slot) = self.take_slot() {
            return Ok(slot);
        }
        let waiting = Waiting(self);
        let acquire = self.slots.acquire();
        // Closed as the group cancels: refused.
        let acquired = acquire.await;
        std::mem::forget(waiting);
        let Ok(slot) = acquired else {
            return Err(self.refusal());
        };
        slot.forget();
        // Refused as the group closes meanwhile, the slot goes back as it drops.
        let slot = Reservation { sup: Some(self) };
        self.open().map(|()| slot)
    }

    /// A spawner gave up waiting (its future was dropped). A slot tokio had
    /// handed it went back to the free slots, past the queue, which a child
    /// may have joined since: such a slot is the queue's.
    fn waiter_left(&self) {
        let next = {
            let mut state = self.state();
            if state.queue.is_empty() || !self.take_free_slot() {
                return;
            }
            self.free_slot(&mut state)
        };
        if let Some(next) = next {
            self.start_queued(next);
        }
    }

    /// Takes a slot under the limit if one is free, for a child about to be
    /// admitted with it.
    fn take_slot(&self) -> Option<Reservation<'_>> {
        // Made only once the slot is taken: one dropped gives a slot back.
        self.take_free_slot()
            .then(|| Reservation { sup: Some(self) })
    }

    /// `Ok` while the group takes new children; else why not.
    fn open(&self) -> Result<(), SpawnErrorKind> {
        if self.cancelling.load(Ordering::Acquire) || self.admission.is_closed() {
            return Err(self.refusal());
        }
        Ok(())
    }

    /// A slot taken and not used goes to the next queued child, or back to
    /// the free slots (and to a waiting spawner).
    fn release_slot(&self) {
        let next = self.free_slot(&mut self.state());
        if let Some(next) = next {
            self.start_queued(next);
        }
    }

    /// A slot is free: the next queued child's, to start outside the lock,
    /// unless the group is cancelling or nobody is queued; then a free slot
    /// again. Under the state's lock, as queueing is.
    fn free_slot(&self, state: &mut State) -> Option<Queued> {
        let next = self.next_queued(state);
        if next.is_none() {
            self.slots.add_permits(1);
        }
        next
    }

    /// Queues an admitted child that found no slot; starts it at once if one
    /// freed up in the meantime.
    pub(crate) fn enqueue(&self, runtime: Cow<'_, Handle>, child: Entry) -> std::io::Result<()> {
        {
            let mut state = self.state();
            if state.cancel.is_some() {
                // Cancelled since it was admitted: it never starts, and settles
                // as cancelled as it is dropped, outside the lock.
                drop(state);
                drop_isolated(child);
                return Ok(());
            }
            if !self.take_free_slot() {
                state.queue.push_back(Queued {
                    child,
                    runtime: match runtime {
                        Cow::Borrowed(_) => None,
                        Cow::Owned(runtime) => Some(runtime),
                    },
                    left: 0,
                });
                let queued = state.queue.len();
                drop(state);
                self.record_queued(queued);
                return Ok(());
            }
        }
        child.start(self, &runtime)
    }

    /// Hands a child's task to the runtime. A task the runtime refuses is
    /// dropped unpolled, and settles as cancelled.
    #[inline(always)]
    #[track_caller]
    pub(crate) fn spawn_task<F>(
        &self,
        runtime: &Handle,
        child: &str,
        task: F,
    ) -> std::io::Result<JoinHandle<F::Output>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        crate::spawn::spawn_on(runtime, &self.name, child, task)
    }

    /// Starts a child taken from the queue, outside the lock. A spawn the
    /// runtime refuses has nobody to tell but the child's handle, which then
    /// reads it as cancelled.
    fn start_queued(&self, next: Queued) {
        self.record_queued(next.left);
        // The entry has a runtime of its own only when the group has none
        // (see `enqueue`), so one of the two is always there.
        if let Some(runtime) = next.runtime.as_ref().or(self.runtime.as_ref()) {
            let _ = next.child.start(self, runtime);
        }
    }

    /// Takes the next queued child and its slot, unless the group is cancelling.
    fn next_queued(&self, state: &mut State) -> Option<Queued> {
        if state.cancel.is_some() {
            return None;
        }
        let mut next = state.queue.pop_front()?;
        next.left = state.queue.len();
        Some(next)
    }

    /// The child whose success ended a first-success race, if one did.
    pub(crate) fn winner(&self) -> Option<usize> {
        self.state().winner
    }

    /// How many children were admitted.
    pub(crate) fn spawned(&self) -> usize {
        self.admission.admitted()
    }

    /// How many children are running: admitted, not gone, not queued.
    pub(crate) fn running(&self) -> usize {
        let gone = self.admission.gone();
        let queued = self.queued();
        self.spawned().saturating_sub(gone + queued)
    }

    /// One child's task is gone (its [`Membership`] was dropped). The last
    /// to go wakes the group.
    pub(crate) fn child_gone(&self) {
        self.admission.child_gone();
    }

    /// Ready once every admitted child is gone, having closed the group to
    /// new ones in the same step.
    fn poll_all_gone(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.admission.poll_all_gone(cx)
    }

    /// A group nested in a child (or the body) keeps this one open. Taken
    /// while that child is alive, so before the group could see its children
    /// all gone.
    pub(crate) fn take_hold(&self) {
        self.admission.take_hold();
    }

    /// A nested group is done; the last one wakes the group if its children
    /// are gone too.
    pub(crate) fn release_hold(&self) {
        self.admission.release_hold();
    }

    /// A failure that reached the group other than through a child's task:
    /// that of a group nested in child `index` (or in the body, `None`),
    /// dropped unfinished, whose children failed as they wound down. It
    /// counts as the child's failure, with the policy's consequences.
    pub(crate) fn adopt(&self, failure: Failure) {
        let Some(index) = failure.child_index() else {
            return self.fail_body(failure);
        };
        let name = failure.child_name().to_owned();
        let error_type = failure.error_type();
        self.state().failures.push(failure);
        if let Some(reason) = self.config.policy.cancels_on(ChildOutcome::Error) {
            let trigger = Trigger {
                name: &name,
                index: Some(index),
                error_type: Some(error_type),
            };
            self.cancel(reason, Some(trigger));
        }
    }

    /// How many children wait for a slot under the concurrency limit.
    pub(crate) fn queued(&self) -> usize {
        self.state().queue.len()
    }

    /// Records how a child ended, frees its slot, and applies the policy: an
    /// outcome the policy cancels on cancels the group. Inlined: for a child
    /// that succeeds in a group without a limit or an alarm it does nothing
    /// (its success is counted as it goes, see [`Self::finish`]).
    #[inline(always)]
    pub(crate) fn settle(&self, settled: Settled, trigger_name: &str) {
        let counter = match settled.outcome {
            ChildOutcome::Ok => None,
            ChildOutcome::Cancelled => Some(&self.cancelled),
            ChildOutcome::Error | ChildOutcome::Panic => Some(&self.failed),
        };
        if let Some(counter) = counter {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        let cancel = if settled.to_starter {
            None
        } else {
            self.config.policy.cancels_on(settled.outcome)
        };
        let keep_panic = self.config.resume_panics && settled.payload.is_some();
        let limited = self.config.limit.is_some();
        if settled.failure.is_some() || keep_panic || limited || cancel.is_some() {
            self.settle_rest(settled, cancel, keep_panic, trigger_name);
        }
    }

    /// What [`settle`](Self::settle) does beyond counting: keeps the failure,
    /// frees the slot and starts the next queued child, cancels the group.
    #[inline(never)]
    fn settle_rest(
        &self,
        settled: Settled,
        cancel: Option<CancelReason>,
        keep_panic: bool,
        trigger_name: &str,
    ) {
        let Settled {
            index,
            failure,
            payload,
            held_slot,
            ..
        } = settled;
        let limited = self.config.limit.is_some();
        let error_type = failure.as_ref().map(Failure::error_type);
        let mut next = None;
        {
            let mut state = self.state();
            state.failures.extend(failure);
            if keep_panic && state.panic.is_none() {
                state.panic = payload;
            }
            if limited && held_slot {
                // A child whose ending cancels the group starts nobody.
                if cancel.is_none() {
                    next = self.free_slot(&mut state);
                }
            }
        }
        if let Some(reason) = cancel {
            let trigger = Trigger {
                name: trigger_name,
                index: Some(index),
                error_type,
            };
            self.cancel(reason, Some(trigger));
        }
        if let Some(next) = next {
            self.start_queued(next);
        }
    }

    /// Why a child is being cancelled now, for its span: the group's
    /// cancellation's cause and trigger, or, if the group is not cancelling,
    /// `explicit` (cancelled alone through its handle).
    pub(crate) fn cancel_cause(&self) -> (&'static str, Option<Arc<str>>) {
        let state = self.state();
        match state.cancel {
            Some(reason) => (reason.cause(), state.trigger.clone()),
            None => (CancelReason::Explicit.cause(), None),
        }
    }

    /// A child was cancelled before it ever ran.
    pub(crate) fn never_started(&self) {
        self.unstarted.fetch_add(1, Ordering::Relaxed);
    }

    /// Child `index`'s future has been dropped: it leaves the unresponsive
    /// alarm's live set. Not as it settles: a child that blocks in its `Drop`
    /// after its cancellation still holds the group up, and is reported.
    pub(crate) fn left(&self, index: usize) {
        if self.config.unresponsive_after.is_some() {
            self.state().live.remove(&index);
        }
    }

    /// Records a failure of the scope body, and cancels the group.
    pub(crate) fn fail_body(&self, failure: Failure) {
        let child = failure.child_name().to_owned();
        let error_type = failure.error_type();
        {
            let mut state = self.state();
            state.body_failed = true;
            state.failures.push(failure);
        }
        let trigger = Trigger {
            name: &child,
            index: None,
            error_type: Some(error_type),
        };
        self.cancel(CancelReason::BodyFailed, Some(trigger));
    }

    /// Cancels the children (and, for failures, deadlines and drops, the scope
    /// body), and drops the queued children unstarted. Only the first
    /// cancellation is reported; later ones change nothing but may still abort
    /// the body.
    pub(crate) fn cancel(&self, reason: CancelReason, trigger: Option<Trigger<'_>>) {
        let (first, dropped) = {
            let mut state = self.state();
            let closed = self.admission.is_closed();
            let first = state.cancel.is_none() && !closed;
            if first {
                state.cancel = Some(reason);
                if reason == CancelReason::FirstSuccess {
                    state.winner = trigger.and_then(|t| t.index);
                }
                state.trigger = trigger.map(|t| Arc::from(t.name));
            }
            (first, std::mem::take(&mut state.queue))
        };
        if first {
            self.cancelling.store(true, Ordering::Release);
            trace::cancel_requested(self.span_id(), &self.name, reason, trigger);
            self.token.cancel();
            if let Some(sleepers) = &self.sleepers {
                sleepers.wake_all().into_iter().for_each(Waker::wake);
            }
            // Spawners waiting for a slot are refused.
            self.slots.close();
        }
        if reason.aborts_body() {
            self.abort.cancel();
        }
        // Each queued child settles as cancelled as its task is dropped, which
        // takes the lock: drop them outside it.
        if !dropped.is_empty() {
            dropped.into_iter().for_each(drop_isolated);
            self.record_queued(0);
        }
    }

    /// Waits until every child has settled and closes the group to new ones,
    /// while `watch` enforces the deadline and the alarm.
    ///
    /// The children are looked at first: a child that ended before the group
    /// got to run again counts as ended, even if the deadline passed while it
    /// held the thread. So the outcome does not depend on which of two ready
    /// futures a random pick favours; the deadline is checked when the group
    /// regains control, as asyncio's and Trio's are when the loop does.
    pub(crate) async fn wait(&self, watch: Pin<&mut impl Future<Output = ()>>) {
        let settled = std::future::poll_fn(|cx| self.poll_all_gone(cx));
        tokio::select! {
            biased;
            () = settled => {}
            () = watch => {}
        }
    }

    /// Enforces the deadline, raises the unresponsive-child alarm, and notices
    /// a cancelled parent. Never
    /// completes; runs alongside the scope body and the wait for children.
    pub(crate) async fn watch(&self) {
        let deadline = async {
            if let Some(deadline) = self.config.deadline {
                tokio::time::sleep_until(deadline).await;
                self.time_out();
            }
            std::future::pending::<()>().await;
        };
        let alarm = async {
            if let Some(after) = self.config.unresponsive_after {
                self.token.cancelled().await;
                tokio::time::sleep(after).await;
                let live: Vec<_> = self
                    .state()
                    .live
                    .iter()
                    .map(|(i, n)| (*i, n.clone()))
                    .collect();
                for (index, child) in live {
                    trace::child_unresponsive(self.span_id(), &self.name, &child, index, after);
                }
            }
            std::future::pending::<()>().await;
        };
        let parent = async {
            let watched = |token: &Option<CancellationToken>| {
                let token = token.clone();
                async move {
                    match token {
                        Some(token) => token.cancelled_owned().await,
                        None => std::future::pending().await,
                    }
                }
            };
            if self.ambient.is_some() || self.owner.is_some() {
                tokio::select! {
                    () = watched(&self.ambient) => {}
                    () = watched(&self.owner) => {}
                }
                self.cancel(CancelReason::ParentCancelled, None);
            }
            std::future::pending::<()>().await;
        };
        tokio::join!(deadline, alarm, parent);
    }

    /// The deadline passed. A group already ending (a child failed, it was
    /// cancelled) is not failed a second time: its outcome and its tree stay
    /// those of the real cause. A first success ends the race but not the
    /// body, which the deadline still bounds.
    fn time_out(&self) {
        {
            let mut state = self.state();
            if state.cancel.is_some_and(CancelReason::aborts_body) || self.is_settled() {
                return;
            }
            let error = Box::new(DeadlineExceeded::new(self.config.budget));
            let failure =
                Failure::from_boxed(DEADLINE_NAME.into(), None, DEADLINE_ERROR_TYPE, error);
            state.timed_out = true;
            state.failures.push(failure);
        }
        self.cancel(CancelReason::Deadline, None);
    }

    /// Finishes a joined run: works out and reports its result (see
    /// [`Self::conclude`]) and lets an enclosing group go.
    pub(crate) fn finish(&self) -> Concluded {
        let concluded = self.conclude();
        drop(self.state().hold.take());
        concluded
    }

    /// The group was dropped unfinished: once its last child has gone, its
    /// run is concluded here, so that its failures are still reported (as
    /// leaf records, and to an enclosing group that is waiting for it).
    /// Called by the dropped group and then by the last of its children to go.
    fn finish_dropped(self: &Arc<Self>) {
        let waker = std::task::Waker::from(Arc::new(Drain(self.clone())));
        if self
            .poll_all_gone(&mut Context::from_waker(&waker))
            .is_pending()
        {
            return;
        }
        // The waker holds the supervisor: let it go.
        drop(self.admission.take_waker());
        let hold = {
            let mut state = self.state();
            if std::mem::replace(&mut state.concluded, true) {
                return; // woken once more after the end
            }
            state.hold.take()
        };
        // A dropped group resumes no panic: there is nobody to resume it in.
        let (result, _panic) = self.conclude();
        if let (Err(errors), Some(hold)) = (result, hold) {
            hold.deliver(errors);
        }
    }

    /// The group is dropped unfinished: it cancels, and concludes its run
    /// once every child has gone.
    pub(crate) fn drop_unfinished(self: &Arc<Self>) {
        self.cancel(CancelReason::Dropped, None);
        self.finish_dropped();
    }

    /// Records the run's outcome on its span and reports its result: the
    /// failures as an [`ErrorGroup`], in spawn order (the body and the
    /// deadline last), unless the policy keeps them from raising. Returns it
    /// with the first panic's payload, if the group was built to resume it.
    fn conclude(&self) -> Concluded {
        let mut parent_cancelled = false;
        let (mut failures, counts, cancel, timed_out, panic, body_failed) = {
            let mut state = self.state();
            if state.cancel.is_none() && (self.token.is_cancelled() || self.parent_cancelled()) {
                // Nobody here cancelled the token: it descends from the token
                // of an enclosing child, which was cancelled (and the group
                // finished before `watch` noticed). Reported below.
                state.cancel = Some(CancelReason::ParentCancelled);
                parent_cancelled = true;
            }
            // Every child has gone: those that neither failed nor were
            // cancelled succeeded.
            let spawned = self.spawned();
            let failed = self.failed.load(Ordering::Relaxed);
            let cancelled = self.cancelled.load(Ordering::Relaxed);
            let counts = Counts {
                spawned,
                succeeded: spawned.saturating_sub(failed + cancelled),
                failed: failed + usize::from(state.body_failed),
                cancelled,
                unstarted: self.unstarted.load(Ordering::Relaxed),
            };
            let failures = std::mem::take(&mut state.failures);
            (
                failures,
                counts,
                state.cancel,
                state.timed_out,
                state.panic.take(),
                state.body_failed,
            )
        };
        if parent_cancelled {
            trace::cancel_requested(
                self.span_id(),
                &self.name,
                CancelReason::ParentCancelled,
                None,
            );
        }
        if self.config.policy == Policy::FirstSuccess
            && counts.succeeded == 0
            && failures.is_empty()
            && cancel != Some(CancelReason::Dropped)
        {
            // A race nobody won is not a success, even with nothing failed
            // (a dropped one returns nothing to anybody).
            let error = Box::new(NoSuccess::new(counts.spawned, counts.cancelled));
            failures.push(Failure::from_boxed(
                NO_SUCCESS_NAME.into(),
                None,
                NO_SUCCESS_ERROR_TYPE,
                error,
            ));
        }
        // The body is the group's owner: its failure always raises, whatever
        // the policy says of the children's. So does a passed deadline: it
        // aborted the body and cut the children short, whatever they achieved.
        let raises = body_failed
            || timed_out
            || (!failures.is_empty() && self.config.policy.raises(counts.succeeded));
        let outcome = match (raises, timed_out, cancel) {
            (true, true, _) => GroupOutcome::TimedOut,
            (true, false, _) => GroupOutcome::Failed,
            (false, _, Some(CancelReason::FirstSuccess) | None) => GroupOutcome::Ok,
            (false, _, Some(_)) => GroupOutcome::Cancelled,
        };
        failures.sort_by_key(|f| f.child_index().unwrap_or(usize::MAX));
        let result = match ErrorGroup::new(self.name.clone(), failures).filter(|_| raises) {
            Some(group) => {
                trace::group_raised(self.span_id(), &group);
                Err(group)
            }
            None => Ok(()),
        };
        // After the raise: a layer reads the outcome as "this group is done".
        {
            // The run is over: its span closes now, with its outcome.
            let mut span = self.span.lock().unwrap_or_else(PoisonError::into_inner);
            trace::group_closed(&span, outcome, counts);
            drop(std::mem::replace(&mut *span, Span::none()));
        }
        // The token ends cancelled, whatever ended the run, so that helpers
        // watching it stop, as Go's errgroup cancels its context when `Wait`
        // returns.
        self.token.cancel();
        (result, panic)
    }
}

/// A slot under the limit, taken by [`Supervisor::reserve`] for a child
/// about to be admitted; given back unless [`used`](Self::used).
pub(crate) struct Reservation<'a> {
    /// `None` without a limit: there is no slot to give back.
    sup: Option<&'a Supervisor>,
}

impl Reservation<'_> {
    /// The child was admitted: the slot is its own now, given back as it
    /// settles.
    pub(crate) fn used(mut self) {
        self.sup = None;
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if let Some(sup) = self.sup {
            sup.release_slot();
        }
    }
}

/// A spawner waiting in [`Supervisor::reserve`]; dropped with its future
/// (after the semaphore's wait, which is declared after it), it hands on a
/// slot it was given.
struct Waiting<'a>(&'a Supervisor);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.waiter_left();
    }
}

/// Drops a queued child's task on the caller's stack, as tokio drops a
/// running one on its own: a panic in the child's `Drop` stays there (the
/// child still settles as cancelled, its `Settle` being dropped by the
/// unwind) rather than unwinding into whoever cancelled the group.
fn drop_isolated<T>(child: T) {
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(child)));
}

/// A run's result, and the panic to resume instead of returning it.
pub(crate) type Concluded = (Result<(), ErrorGroup>, Option<Box<dyn Any + Send>>);

/// Wakes a dropped group as its children go, to conclude its run.
struct Drain(Arc<Supervisor>);

impl std::task::Wake for Drain {
    fn wake(self: Arc<Self>) {
        self.0.finish_dropped();
    }
}
