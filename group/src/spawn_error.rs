//! [`SpawnError`]: why a child was not spawned. The child's future is dropped
//! without ever being polled; the error names it so nothing is lost unreported.

use std::error::Error;
use std::fmt;
use std::sync::Arc;

use crate::outcome::CancelReason;

/// A child could not be spawned. Its future was never polled.
#[derive(Debug)]
pub struct SpawnError {
    group: Arc<str>,
    child: Arc<str>,
    kind: SpawnErrorKind,
}

/// Why a spawn was refused.
#[derive(Debug)]
#[non_exhaustive]
pub enum SpawnErrorKind {
    /// The group is cancelling its children (after a failure, an explicit
    /// cancel, or its parent's cancellation) and takes no new ones.
    Closing(CancelReason),
    /// The group has finished: its join or scope completed.
    Closed,
    /// `try_spawn` found every one of the group's limit's slots taken (the
    /// limit is given); `spawn` would have queued the child.
    AtLimit(usize),
    /// The call was made outside a tokio runtime.
    NoRuntime,
    /// The runtime refused the task.
    Runtime(std::io::Error),
}

impl SpawnError {
    pub(crate) fn new(group: &Arc<str>, child: Arc<str>, kind: SpawnErrorKind) -> Self {
        Self {
            group: group.clone(),
            child,
            kind,
        }
    }

    /// The group the child was meant for.
    pub fn group(&self) -> &str {
        &self.group
    }

    /// The name of the child that was not spawned.
    pub fn child(&self) -> &str {
        &self.child
    }

    /// Why the spawn was refused.
    pub fn kind(&self) -> &SpawnErrorKind {
        &self.kind
    }
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot spawn child {:?} into group {:?}: ",
            &*self.child, &*self.group
        )?;
        match &self.kind {
            SpawnErrorKind::Closing(reason) => write!(f, "the group is closing ({reason})"),
            SpawnErrorKind::Closed => f.write_str("the group has finished"),
            SpawnErrorKind::AtLimit(limit) => {
                write!(f, "all {limit} of the group's slots are taken")
            }
            SpawnErrorKind::NoRuntime => f.write_str("not called from within a tokio runtime"),
            SpawnErrorKind::Runtime(e) => write!(f, "the runtime refused the task: {e}"),
        }
    }
}

impl Error for SpawnError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match &self.kind {
            SpawnErrorKind::Runtime(e) => Some(e),
            _ => None,
        }
    }
}

impl SpawnError {
    /// Whether the spawn was refused because the group is closing or has
    /// finished, rather than for want of a runtime.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self.kind,
            SpawnErrorKind::Closing(_) | SpawnErrorKind::Closed
        )
    }
}
