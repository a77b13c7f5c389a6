//! [`Membership`]: what keeps a group waiting for one of its children.

use std::ops::Deref;
use std::sync::Arc;

use crate::supervisor::Supervisor;

/// A child's place in its group, from admission until its task is gone: the
/// group does not finish while one exists. Made when the child is admitted and
/// kept, as the last thing it drops, by the child's task, so the group is done
/// only once each child's future, span and bookkeeping have been dropped,
/// whether it ran, was aborted, or was dropped from the queue unstarted.
///
/// It is also the child's reference to its supervisor: one reference count,
/// and one atomic increment as it goes ([`Supervisor::child_gone`]).
pub(crate) struct Membership(Arc<Supervisor>);

impl Membership {
    /// Called by [`Supervisor::admit`] only, once it has counted the child in.
    pub(crate) fn new(sup: Arc<Supervisor>) -> Self {
        Self(sup)
    }

    pub(crate) fn supervisor(&self) -> &Arc<Supervisor> {
        &self.0
    }
}

impl Deref for Membership {
    type Target = Supervisor;

    fn deref(&self) -> &Supervisor {
        &self.0
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.0.child_gone();
    }
}
