//! [`ChildHandle`]: what a spawner keeps of a child, and [`ChildResult`].

use std::sync::Arc;

use crate::child::Slot;
use crate::error_group::Failure;
use crate::outcome::ChildOutcome;

/// A handle to one child of a group, returned by `spawn`.
///
/// Read the child's output after the group has finished (in spawn order, if
/// you keep the handles in a `Vec`): the outputs of children that succeeded
/// before a sibling failed are still there, which is how partial results are
/// collected. Dropping the handle does not affect the child.
#[derive(Debug)]
pub struct ChildHandle<T> {
    slot: Arc<Slot<T>>,
}

impl<T> ChildHandle<T> {
    pub(crate) fn new(slot: Arc<Slot<T>>) -> Self {
        Self { slot }
    }

    /// The name the child was spawned with.
    pub fn name(&self) -> &str {
        &self.slot.name
    }

    /// The child's spawn index in its group (0 for the first child).
    pub fn index(&self) -> usize {
        self.slot.index
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
