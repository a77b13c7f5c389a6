//! [`ChildHandle`]: what a spawner keeps of a child, and [`ChildResult`].
//!
//! A handle reads its child's output from the `JoinHandle` of the child's
//! task, so the output waits in tokio's task cell and a child costs no
//! allocation of its own. The hard part is the moment a child ends: tokio
//! drops a finished task's future (which is how the group learns that the
//! child settled) just *before* it stores the output. A handle read after the
//! group has finished can land in that gap on a multi-threaded runtime, and
//! then waits the few instructions it takes tokio to store the output; a read
//! while the group runs just sees the child as not ended yet.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures_util::FutureExt as _;
use tokio::task::JoinHandle;

use crate::child::Ctl;
use crate::error_group::Failure;
use crate::name::Name;
use crate::outcome::ChildOutcome;
use crate::queue::Pending;
use crate::supervisor::Supervisor;

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
    fn outcome(&self) -> ChildOutcome {
        match self {
            Self::Ok(_) | Self::Taken => ChildOutcome::Ok,
            Self::Cancelled => ChildOutcome::Cancelled,
            Self::Raised(outcome) => *outcome,
            Self::Failed(failure) if failure.is_panic() => ChildOutcome::Panic,
            Self::Failed(_) => ChildOutcome::Error,
        }
    }
}

/// Where a handle finds its child.
pub(crate) enum Link<T> {
    /// The child's task is running, or has ended and holds the output.
    Spawned(JoinHandle<Out<T>>),
    /// The child waits for a slot under the group's limit.
    Queued(Arc<Pending<T>>),
    /// The output has been read from the task.
    Ended(Out<T>),
}

/// A handle to one child of a group, returned by `spawn`.
///
/// Read the child's output after the group has finished (in spawn order, if
/// you keep the handles in a `Vec`): the outputs of children that succeeded
/// before a sibling failed are still there, which is how partial results are
/// collected. Dropping the handle does not affect the child.
pub struct ChildHandle<T> {
    name: Name,
    index: usize,
    sup: Arc<Supervisor>,
    /// Set only when the group has a grace period.
    ctl: Option<Arc<Ctl>>,
    link: Mutex<Link<T>>,
}

impl<T> std::fmt::Debug for ChildHandle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildHandle")
            .field("name", &self.name)
            .field("index", &self.index)
            .field("outcome", &self.outcome())
            .finish_non_exhaustive()
    }
}

impl<T> ChildHandle<T> {
    pub(crate) fn new(
        name: Name,
        index: usize,
        sup: Arc<Supervisor>,
        ctl: Option<Arc<Ctl>>,
        link: Link<T>,
    ) -> Self {
        Self {
            name,
            index,
            sup,
            ctl,
            link: Mutex::new(link),
        }
    }

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
    ///
    /// Without a grace period the child is stopped at its next `.await`;
    /// with one, its token fires and it has the grace period to finish.
    pub fn cancel(&self) {
        if let Some(ctl) = &self.ctl {
            ctl.cancel();
            return;
        }
        match &*self.lock() {
            Link::Spawned(task) => task.abort(),
            Link::Queued(pending) => pending.cancel(),
            Link::Ended(_) => {}
        }
    }

    /// How the child ended, or `None` while it is still running.
    pub fn outcome(&self) -> Option<ChildOutcome> {
        match &*self.read() {
            Link::Ended(out) => Some(out.outcome()),
            _ => None,
        }
    }

    /// Whether the child has ended.
    pub fn is_finished(&self) -> bool {
        self.outcome().is_some()
    }

    /// Takes the child's output: `Some` if it succeeded (and the output was not
    /// taken before), `None` if it failed, was cancelled or is still running.
    pub fn take_output(&self) -> Option<T> {
        take(&mut self.read())
    }

    /// The child's output, consuming the handle. See [`take_output`](Self::take_output).
    pub fn into_output(mut self) -> Option<T> {
        let sup = &self.sup;
        let link = self.link.get_mut().unwrap_or_else(PoisonError::into_inner);
        read(link, sup);
        take(link)
    }

    /// The child's result, consuming the handle. Under
    /// [`Policy::CollectAll`](crate::Policy::CollectAll) a failure stays with
    /// its child and comes back here as [`ChildResult::Err`]; under the other
    /// policies it is part of the group's [`ErrorGroup`](crate::ErrorGroup)
    /// and this says [`ChildResult::Raised`].
    pub fn into_result(mut self) -> ChildResult<T> {
        let sup = &self.sup;
        let link = self.link.get_mut().unwrap_or_else(PoisonError::into_inner);
        read(link, sup);
        match std::mem::replace(link, Link::Ended(Out::Taken)) {
            Link::Ended(Out::Ok(value)) => ChildResult::Ok(value),
            Link::Ended(Out::Taken) => ChildResult::Taken,
            Link::Ended(Out::Cancelled) => ChildResult::Cancelled,
            Link::Ended(Out::Raised(_)) => ChildResult::Raised,
            Link::Ended(Out::Failed(failure)) => ChildResult::Err(*failure),
            Link::Spawned(_) | Link::Queued(_) => ChildResult::Running,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Link<T>> {
        self.link.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The link, with the child's output read into it if the child has ended.
    fn read(&self) -> MutexGuard<'_, Link<T>> {
        let mut link = self.lock();
        read(&mut link, &self.sup);
        link
    }
}

/// Reads the child's output into `link` if the child has ended.
fn read<T>(link: &mut Link<T>, sup: &Supervisor) {
    if let Link::Queued(pending) = link {
        if let Some(next) = pending.take() {
            *link = next;
        }
    }
    if let Link::Spawned(task) = link {
        if !task.is_finished() {
            if !sup.is_settled() {
                return; // still running
            }
            // The group has finished, so this child's future has been
            // dropped: tokio is storing its output (see the module docs).
            while !task.is_finished() {
                std::thread::yield_now();
            }
        }
        // Finished, so ready: read it outside the coop budget, which could
        // otherwise report a finished task as pending.
        let out = match tokio::task::coop::unconstrained(task).now_or_never() {
            Some(Ok(out)) => out,
            // Aborted, or dropped at the runtime's shutdown. The child's own
            // panics are caught in its task; one from elsewhere in the task
            // (a subscriber's) reads as cancelled too.
            Some(Err(_)) => Out::Cancelled,
            None => return,
        };
        *link = Link::Ended(out);
    }
}

/// Takes a successful child's output out of `link`.
fn take<T>(link: &mut Link<T>) -> Option<T> {
    match link {
        Link::Ended(out @ Out::Ok(_)) => match std::mem::replace(out, Out::Taken) {
            Out::Ok(value) => Some(value),
            _ => None,
        },
        _ => None,
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
