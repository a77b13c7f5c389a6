//! [`StartError`]: why a [`GroupHandle::start`](crate::GroupHandle::start)
//! failed.

use std::error::Error;
use std::fmt;
use std::sync::Arc;

use crate::error_group::Failure;
use crate::outcome::ChildOutcome;
use crate::spawn_error::SpawnError;

/// Why a `start` failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum StartError {
    /// The child could not be spawned.
    Spawn(SpawnError),
    /// The child failed before signalling; this is its own failure (the
    /// group did not record it, nor cancel because of it).
    Failed(Failure),
    /// The child ended without signalling: it returned, or was cancelled.
    NotStarted {
        /// The child's name.
        child: Arc<str>,
        /// How it ended.
        outcome: ChildOutcome,
    },
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Spawn(e) => e.fmt(f),
            Self::Failed(failure) => write!(
                f,
                "child {:?} failed before it started: {}",
                failure.child_name(),
                failure.message()
            ),
            Self::NotStarted { child, outcome } => {
                write!(
                    f,
                    "child {child:?} ended ({outcome}) without signalling that it started"
                )
            }
        }
    }
}

impl Error for StartError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            Self::Spawn(e) => Some(e),
            Self::Failed(failure) => failure.as_error(),
            Self::NotStarted { .. } => None,
        }
    }
}
