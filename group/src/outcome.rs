//! The small vocabularies the telemetry contract is written in: how a group or a
//! child ended, and why a group was asked to cancel. Each has the exact string
//! recorded in spans and events (`docs/telemetry.md`).

use std::fmt;

/// How a group run ended, recorded as `group.outcome` on the `cohort.group` span.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GroupOutcome {
    /// Every child settled and none failed.
    Ok,
    /// At least one child (or the scope body) failed or panicked.
    Failed,
    /// The group's deadline passed before its children settled.
    TimedOut,
    /// The group was cancelled (explicitly, by a cancelled parent, or by being
    /// dropped) and nothing failed.
    Cancelled,
}

impl GroupOutcome {
    /// The value recorded as `group.outcome`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Failed => "failed",
            Self::TimedOut => "timed_out",
            Self::Cancelled => "cancelled",
        }
    }
}

/// How one child ended, recorded as `child.outcome` on the `cohort.child` span.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChildOutcome {
    /// The child returned `Ok`.
    Ok,
    /// The child returned `Err`; the error is a leaf (or nested group) of the
    /// group's [`ErrorGroup`](crate::ErrorGroup).
    Error,
    /// The child panicked.
    Panic,
    /// The child was stopped by cancellation before it settled.
    Cancelled,
}

impl ChildOutcome {
    /// The value recorded as `child.outcome`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Error => "error",
            Self::Panic => "panic",
            Self::Cancelled => "cancelled",
        }
    }
}

/// Why a group was asked to cancel its children: the `reason` field of the
/// `cohort.group.cancel_requested` event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CancelReason {
    /// A child returned an error (fail-fast).
    ChildFailed,
    /// A child panicked (fail-fast).
    ChildPanicked,
    /// The scope body returned an error.
    BodyFailed,
    /// [`GroupHandle::cancel`](crate::GroupHandle::cancel) was called (on
    /// the group or a handle).
    Explicit,
    /// The group's owner or its join/scope future was dropped before the group
    /// finished (an outer timeout, a cancelled parent task).
    Dropped,
    /// The cancellation token of the enclosing child or group was cancelled.
    ParentCancelled,
    /// The group's deadline passed.
    Deadline,
    /// A child succeeded in a [`Policy::FirstSuccess`](crate::Policy::FirstSuccess) group.
    FirstSuccess,
}

impl CancelReason {
    /// The value recorded as `reason`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ChildFailed => "child_failed",
            Self::ChildPanicked => "child_panicked",
            Self::BodyFailed => "body_failed",
            Self::Explicit => "explicit",
            Self::Dropped => "dropped",
            Self::ParentCancelled => "parent_cancelled",
            Self::Deadline => "deadline",
            Self::FirstSuccess => "first_success",
        }
    }

    /// The `cancel.cause` this reason is reported under, on cancelled
    /// children's spans and in the metrics: `collateral` (a sibling or the
    /// body failed), `deadline`, `parent_cancelled`, `explicit`, `dropped`,
    /// `first_success`; so a dashboard tells collateral damage from timeouts
    /// and shutdowns.
    pub const fn cause(self) -> &'static str {
        match self {
            Self::ChildFailed | Self::ChildPanicked | Self::BodyFailed => "collateral",
            Self::Deadline => "deadline",
            Self::ParentCancelled => "parent_cancelled",
            Self::Explicit => "explicit",
            Self::Dropped => "dropped",
            Self::FirstSuccess => "first_success",
        }
    }

    /// The reason recorded as `value` (its [`as_str`](Self::as_str)).
    pub fn from_str_value(value: &str) -> Option<Self> {
        [
            Self::ChildFailed,
            Self::ChildPanicked,
            Self::BodyFailed,
            Self::Explicit,
            Self::Dropped,
            Self::ParentCancelled,
            Self::Deadline,
            Self::FirstSuccess,
        ]
        .into_iter()
        .find(|reason| reason.as_str() == value)
    }

    /// Whether this cause also cancels the scope body, which is a member of
    /// the group like a child: every cause but a first success, which ends
    /// the race the body is waiting on, not its owner.
    pub(crate) const fn aborts_body(self) -> bool {
        !matches!(self, Self::FirstSuccess)
    }
}

/// Why a [`ChildHandle`](crate::ChildHandle) has no output to give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NoOutput {
    /// The child has not ended: a misuse. Read outputs once the group has
    /// been joined, or await the handle.
    Running,
    /// The child failed or panicked; its failure is in the group's
    /// [`ErrorGroup`](crate::ErrorGroup) (or, under
    /// [`Policy::CollectAll`](crate::Policy::CollectAll), in
    /// [`ChildHandle::into_result`](crate::ChildHandle::into_result)).
    Failed,
    /// The child was cancelled before it returned.
    Cancelled,
    /// The output was taken before.
    Taken,
}

impl std::fmt::Display for NoOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Running => {
                "the child is still running: read its output once the group has been joined, or await its handle"
            }
            Self::Failed => "the child failed",
            Self::Cancelled => "the child was cancelled",
            Self::Taken => "the child's output was taken already",
        })
    }
}

impl std::error::Error for NoOutput {}

macro_rules! display_as_str {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    )*};
}
display_as_str!(GroupOutcome, ChildOutcome, CancelReason);
