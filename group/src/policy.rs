//! [`Policy`]: what a group does when a child settles, and what its run
//! returns. Every policy runs through the same supervisor; a policy only
//! answers two questions, asked as each child settles and as the group ends:
//! does this outcome cancel the rest, and does the run raise its failures?
//! That keeps fail-fast, gather, supervision and racing one code path.

use crate::outcome::{CancelReason, ChildOutcome};

/// How a group reacts to its children's outcomes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Policy {
    /// The first error or panic cancels every other child; `join` returns
    /// every failure as one [`ErrorGroup`](crate::ErrorGroup). `asyncio.TaskGroup`.
    #[default]
    FailFast,
    /// Nothing is cancelled and the group does not raise: each child's result,
    /// success or failure, is read from its handle with
    /// [`ChildHandle::into_result`](crate::ChildHandle::into_result), in spawn
    /// order. `asyncio.gather(return_exceptions=True)`.
    CollectAll,
    /// Failures do not affect siblings; they are recorded and `join` returns
    /// them all at the end. New children are accepted after a failure.
    Supervise,
    /// The first success cancels the rest; `join` returns `Ok` if any child
    /// succeeded, else every failure. Happy-eyeballs-style racing of replicas.
    FirstSuccess,
}

impl Policy {
    /// The value recorded as `group.mode`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::FailFast => "fail_fast",
            Self::CollectAll => "collect_all",
            Self::Supervise => "supervise",
            Self::FirstSuccess => "first_success",
        }
    }

    /// Whether a child ending this way cancels the group, and why.
    pub(crate) const fn cancels_on(self, outcome: ChildOutcome) -> Option<CancelReason> {
        match (self, outcome) {
            (Self::FailFast, ChildOutcome::Error) => Some(CancelReason::ChildFailed),
            (Self::FailFast, ChildOutcome::Panic) => Some(CancelReason::ChildPanicked),
            (Self::FirstSuccess, ChildOutcome::Ok) => Some(CancelReason::FirstSuccess),
            _ => None,
        }
    }

    /// Whether a failure stays with its child (its handle) rather than going
    /// into the group's error.
    pub(crate) const fn leaves_failures_with_children(self) -> bool {
        matches!(self, Self::CollectAll)
    }

    /// Whether a run whose children recorded failures raises them, given how
    /// many children succeeded.
    pub(crate) const fn raises(self, succeeded: usize) -> bool {
        match self {
            Self::FirstSuccess => succeeded == 0,
            _ => true,
        }
    }
}
