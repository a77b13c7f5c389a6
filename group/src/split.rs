//! Splitting an [`ErrorGroup`] by type or predicate: the tree-preserving half of
//! `except*`. Leaves move to one side or the other; nested groups are split
//! recursively and keep their names and the child that ran them; a group left
//! empty on one side is dropped from that side.

use std::error::Error;

use crate::error_group::{ErrorGroup, Failure, FailureKind};

impl ErrorGroup {
    /// Splits the tree into the leaves whose error is of concrete type `E` and
    /// the rest: `(matching, rest)`. Either side is `None` when it would be
    /// empty. Panic leaves never match a type.
    pub fn split<E: Error + 'static>(self) -> (Option<Self>, Option<Self>) {
        self.split_by(|leaf| leaf.downcast_ref::<E>().is_some())
    }

    /// Splits the tree by a predicate over leaves: `(matching, rest)`. The
    /// predicate sees leaves only (errors and panics), in tree order.
    pub fn split_by(
        self,
        mut predicate: impl FnMut(&Failure) -> bool,
    ) -> (Option<Self>, Option<Self>) {
        split_tree(self, &mut predicate)
    }

    /// Keeps only the leaves of concrete type `E`, dropping the rest. Use
    /// [`split`](Self::split) to keep both sides.
    pub fn subgroup<E: Error + 'static>(self) -> Option<Self> {
        self.split::<E>().0
    }

    /// Keeps only the leaves matching `predicate`, dropping the rest. Use
    /// [`split_by`](Self::split_by) to keep both sides.
    pub fn subgroup_by(self, predicate: impl FnMut(&Failure) -> bool) -> Option<Self> {
        self.split_by(predicate).0
    }
}

type Predicate<'a> = dyn FnMut(&Failure) -> bool + 'a;

fn split_tree(
    group: ErrorGroup,
    predicate: &mut Predicate<'_>,
) -> (Option<ErrorGroup>, Option<ErrorGroup>) {
    let name = group.shared_name().clone();
    let mut matching = Vec::new();
    let mut rest = Vec::new();
    for failure in group.into_failures() {
        if failure.is_leaf() {
            // Leaves move whole, keeping their ids.
            if predicate(&failure) {
                matching.push(failure);
            } else {
                rest.push(failure);
            }
            continue;
        }
        let (child, index, kind) = failure.into_parts();
        if let FailureKind::Group(inner) = kind {
            let (m, r) = split_tree(inner, predicate);
            let nest = |g| Failure::group(child.clone(), index, g);
            matching.extend(m.map(nest));
            rest.extend(r.map(nest));
        }
    }
    (
        ErrorGroup::new(name.clone(), matching),
        ErrorGroup::new(name, rest),
    )
}
