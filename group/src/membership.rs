//! What keeps a group waiting: [`Membership`] for one of its children, and
//! [`Hold`] for a group nested in one of them.

use std::ops::Deref;
use std::sync::Arc;

use crate::error_group::{ErrorGroup, Failure};
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

/// A group nested in a child (or scope body) of `sup`: it keeps `sup` open
/// until the nested group is done, so that no task under a group outlives it,
/// even when the child that made the nested group is gone (cancelled, its
/// future dropped) while the nested group's children still wind down. Taken
/// when the nested group is built, given back when it finishes or, dropped
/// unfinished, once its last child is gone.
///
/// A failure the nested group raises with nobody to return it to (it was
/// dropped) is handed to `sup` in the name of the child that made it.
pub(crate) struct Hold {
    sup: Arc<Supervisor>,
    child: Arc<str>,
    index: Option<usize>,
}

impl Hold {
    pub(crate) fn take(sup: Arc<Supervisor>, child: Arc<str>, index: Option<usize>) -> Self {
        sup.take_hold();
        Self { sup, child, index }
    }

    /// Hands the nested group's failures to the enclosing group, in the name
    /// of the child (or body) that made it, and lets the enclosing group go.
    pub(crate) fn deliver(self, errors: ErrorGroup) {
        let failure = Failure::group(self.child.clone(), self.index, errors);
        self.sup.adopt(failure);
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        self.sup.release_hold();
    }
}
