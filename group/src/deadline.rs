//! [`DeadlineExceeded`]: the failure a group records when its deadline passes.

use std::error::Error;
use std::fmt;
use std::time::Duration;

/// The group's deadline passed before its children settled.
///
/// Recorded as a leaf of the group's [`ErrorGroup`](crate::ErrorGroup) under
/// the name `(deadline)`, next to any child that failed in the same window, so
/// a timeout is told apart from a child failure by type:
/// `errors.catch::<DeadlineExceeded>(..)`. The group's outcome is `timed_out`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeadlineExceeded {
    after: Duration,
}

impl DeadlineExceeded {
    pub(crate) fn new(after: Duration) -> Self {
        Self { after }
    }

    /// How long after the group was built its deadline fell: the group's
    /// timeout.
    pub fn after(&self) -> Duration {
        self.after
    }
}

impl fmt::Display for DeadlineExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "group deadline of {:?} exceeded", self.after)
    }
}

impl Error for DeadlineExceeded {}
