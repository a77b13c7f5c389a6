//! [`NoSuccess`]: the failure of a first-success race that nobody won.

use std::error::Error;
use std::fmt;

/// A [`Policy::FirstSuccess`](crate::Policy::FirstSuccess) group ended with
/// no child succeeding and none failing: none was spawned, or every one was
/// cancelled. Its run raises this, alone, under the name `(no success)`, as
/// the JDK's `anySuccessfulResultOrThrow` throws when no subtask succeeded: a
/// race nobody won has no winner to return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoSuccess {
    spawned: usize,
    cancelled: usize,
}

impl NoSuccess {
    pub(crate) fn new(spawned: usize, cancelled: usize) -> Self {
        Self { spawned, cancelled }
    }

    /// How many children the group spawned.
    pub fn spawned(&self) -> usize {
        self.spawned
    }

    /// How many of them were cancelled.
    pub fn cancelled(&self) -> usize {
        self.cancelled
    }
}

impl fmt::Display for NoSuccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.spawned {
            0 => f.write_str("no child succeeded: none was spawned"),
            n => write!(
                f,
                "no child succeeded: {n} spawned, {} cancelled",
                self.cancelled
            ),
        }
    }
}

impl Error for NoSuccess {}
