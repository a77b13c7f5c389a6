//! The state one group run shares with its children: admission of new
//! children, the record of how each ended, cancellation, and the final result.
//!
//! Children run as ordinary tokio tasks tracked by a [`TaskTracker`]; the group
//! is finished when the tracker is empty *and* no more children can be
//! admitted. Admission and the "closed" flag are decided under one lock, so a
//! spawn racing the group's end either lands in the live set (and is waited
//! for) or is refused: no child ever runs unsupervised.

use std::any::Any;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tokio_util::task::task_tracker::TaskTrackerToken;
use tracing::Span;

use crate::error_group::{ErrorGroup, Failure};
use crate::outcome::{CancelReason, ChildOutcome, GroupOutcome};
use crate::spawn_error::SpawnErrorKind;
use crate::telemetry::{self, Counts};

pub(crate) struct Supervisor {
    pub(crate) name: Arc<str>,
    pub(crate) span: Span,
    /// Cancels the children, for any reason.
    pub(crate) token: CancellationToken,
    /// Cancels the scope body: failures and drops only (see
    /// [`CancelReason::aborts_body`]).
    pub(crate) abort: CancellationToken,
    pub(crate) tracker: TaskTracker,
    pub(crate) grace: Option<Duration>,
    resume_panics: bool,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// No child may be admitted any more: the group has finished.
    closed: bool,
    /// Set by the first cancellation; no child is admitted after it either.
    cancel: Option<CancelReason>,
    spawned: usize,
    succeeded: usize,
    cancelled: usize,
    failures: Vec<Failure>,
    /// The first panic's payload, kept only when panics are to be resumed.
    panic: Option<Box<dyn Any + Send>>,
}

impl Supervisor {
    pub(crate) fn new(
        name: Arc<str>,
        span: Span,
        grace: Option<Duration>,
        resume_panics: bool,
    ) -> Self {
        let token =
            crate::context::parent_token().map_or_else(CancellationToken::new, |p| p.child_token());
        Self {
            name,
            span,
            token,
            abort: CancellationToken::new(),
            tracker: TaskTracker::new(),
            grace,
            resume_panics,
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Admits one child: its spawn index and its place in the live set.
    pub(crate) fn admit(&self) -> Result<(usize, TaskTrackerToken), SpawnErrorKind> {
        let mut state = self.state();
        if let Some(reason) = state.cancel {
            return Err(SpawnErrorKind::Closing(reason));
        }
        if state.closed || self.token.is_cancelled() {
            return Err(if state.closed {
                SpawnErrorKind::Closed
            } else {
                SpawnErrorKind::Closing(CancelReason::ParentCancelled)
            });
        }
        let index = state.spawned;
        state.spawned += 1;
        Ok((index, self.tracker.token()))
    }

    /// Records how a child ended; the first failure cancels the group.
    pub(crate) fn settle(
        &self,
        outcome: ChildOutcome,
        failure: Option<(Failure, Option<Box<dyn Any + Send>>)>,
        span: &Span,
    ) {
        let Some((failure, payload)) = failure else {
            telemetry::child_closed(span, outcome, None);
            let mut state = self.state();
            match outcome {
                ChildOutcome::Cancelled => state.cancelled += 1,
                _ => state.succeeded += 1,
            }
            return;
        };
        telemetry::child_failed(span, &failure);
        telemetry::child_closed(span, outcome, Some(failure.error_type()));
        let reason = if failure.is_panic() {
            CancelReason::ChildPanicked
        } else {
            CancelReason::ChildFailed
        };
        self.fail(failure, payload, reason);
    }

    /// Records a failure of a child or of the scope body, and cancels the group.
    pub(crate) fn fail(
        &self,
        failure: Failure,
        payload: Option<Box<dyn Any + Send>>,
        reason: CancelReason,
    ) {
        let child = failure.child_name().to_owned();
        let index = failure.child_index();
        {
            let mut state = self.state();
            state.failures.push(failure);
            if self.resume_panics && state.panic.is_none() {
                state.panic = payload;
            }
        }
        self.cancel(reason, Some((&child, index)));
    }

    /// Cancels the children (and, for failures and drops, the scope body).
    /// Only the first cancellation is reported; later ones change nothing but
    /// may still abort the body.
    pub(crate) fn cancel(&self, reason: CancelReason, trigger: Option<(&str, Option<usize>)>) {
        let first = {
            let mut state = self.state();
            let first = state.cancel.is_none() && !state.closed;
            if first {
                state.cancel = Some(reason);
            }
            first
        };
        if first {
            telemetry::cancel_requested(&self.span, &self.name, reason, trigger);
            self.token.cancel();
        }
        if reason.aborts_body() {
            self.abort.cancel();
        }
    }

    /// Waits until every child has settled and closes the group to new ones.
    pub(crate) async fn wait(&self) {
        self.tracker.close();
        loop {
            self.tracker.wait().await;
            let mut state = self.state();
            // A spawn may have slipped in between the wake-up and the lock.
            if self.tracker.is_empty() {
                state.closed = true;
                return;
            }
        }
    }

    /// Records the run's outcome on its span and returns the result: the
    /// failures as an [`ErrorGroup`], in spawn order (the body last). Resumes
    /// the first panic instead when the group was built to.
    pub(crate) fn finish(&self) -> Result<(), ErrorGroup> {
        let (mut failures, counts, cancel, panic) = {
            let mut state = self.state();
            if state.cancel.is_none() && self.token.is_cancelled() {
                // Nobody here cancelled the token: it descends from the token
                // of an enclosing child, which was cancelled.
                state.cancel = Some(CancelReason::ParentCancelled);
                telemetry::cancel_requested(
                    &self.span,
                    &self.name,
                    CancelReason::ParentCancelled,
                    None,
                );
            }
            let counts = Counts {
                spawned: state.spawned,
                succeeded: state.succeeded,
                failed: state.failures.len(),
                cancelled: state.cancelled,
            };
            (
                std::mem::take(&mut state.failures),
                counts,
                state.cancel,
                state.panic.take(),
            )
        };
        let outcome = match (failures.is_empty(), cancel) {
            (false, _) => GroupOutcome::Failed,
            (true, Some(_)) => GroupOutcome::Cancelled,
            (true, None) => GroupOutcome::Ok,
        };
        telemetry::group_closed(&self.span, outcome, counts);
        failures.sort_by_key(|f| f.child_index().unwrap_or(usize::MAX));
        let result = match ErrorGroup::new(self.name.clone(), failures) {
            Some(group) => {
                telemetry::group_raised(&self.span, &group);
                Err(group)
            }
            None => Ok(()),
        };
        if let Some(payload) = panic {
            // Every failure was reported above; the panic replaces the result.
            std::panic::resume_unwind(payload);
        }
        result
    }
}
