//! Splitting an [`ErrorGroup`] by type or predicate: the tree-preserving half of
//! `except*`. Leaves move to one side or the other; nested groups are split
//! and keep their names and the child that ran them; a group left empty on
//! one side is dropped from that side. A group whose failures all go one way
//! moves whole, ids included, so a filter that removes nothing hands the tree
//! back unchanged. A nested group can also be matched as one unit, as
//! Python's `split(MyGroupType)` matches an `ExceptionGroup` subclass.
//!
//! The walk keeps its own stack rather than recursing, and moves each
//! failure a bounded number of times: a tree of any depth splits on a small
//! stack, in time linear in its size.

use std::error::Error;

use crate::error_group::{ErrorGroup, Failure, Node};

impl ErrorGroup {
    /// Splits the tree into the leaves whose error is of concrete type `E` and
    /// the rest: `(matching, rest)`. Either side is `None` when it would be
    /// empty. Panic leaves never match a type.
    pub fn split<E: Error + Send + Sync + 'static>(self) -> (Option<Self>, Option<Self>) {
        self.split_by(|leaf| leaf.downcast_ref::<E>().is_some())
    }

    /// Splits the tree by a predicate over leaves: `(matching, rest)`. The
    /// predicate sees leaves only (errors and panics), in tree order.
    pub fn split_by(
        self,
        mut predicate: impl FnMut(&Failure) -> bool,
    ) -> (Option<Self>, Option<Self>) {
        split_tree(self, &mut predicate, &mut |_| false)
    }

    /// Splits off the groups, this one or nested ones, for which `predicate`
    /// holds, each as one unit with every failure under it: `(matching,
    /// rest)`. Leaves outside a matching group go to the rest.
    pub fn split_groups_by(
        self,
        mut predicate: impl FnMut(&ErrorGroup) -> bool,
    ) -> (Option<Self>, Option<Self>) {
        split_tree(self, &mut |_| false, &mut predicate)
    }

    /// Splits off the groups named `name` (this one, or nested ones) as
    /// units: the failures of a nested fan-out handled as one.
    pub fn split_group(self, name: &str) -> (Option<Self>, Option<Self>) {
        self.split_groups_by(|group| group.name() == name)
    }

    /// Keeps only the leaves of concrete type `E`, dropping the rest. Use
    /// [`split`](Self::split) to keep both sides.
    pub fn subgroup<E: Error + Send + Sync + 'static>(self) -> Option<Self> {
        self.split::<E>().0
    }

    /// Keeps only the leaves matching `predicate`, dropping the rest. Use
    /// [`split_by`](Self::split_by) to keep both sides.
    pub fn subgroup_by(self, predicate: impl FnMut(&Failure) -> bool) -> Option<Self> {
        self.split_by(predicate).0
    }
}

type Predicate<'a, T> = dyn FnMut(&T) -> bool + 'a;

/// One group being split: its failures still to sort, and the two sides so
/// far. `node` is what holds it in its parent (none for the root).
struct Frame {
    node: Option<Node>,
    group: ErrorGroup,
    todo: std::vec::IntoIter<Failure>,
    matching: Vec<Failure>,
    rest: Vec<Failure>,
}

impl Frame {
    fn open(node: Option<Node>, mut group: ErrorGroup) -> Self {
        let todo = std::mem::take(group.failures_mut()).into_iter();
        Self {
            node,
            group,
            todo,
            matching: Vec::new(),
            rest: Vec::new(),
        }
    }

    /// The two sides: the group itself, its failures put back, when they
    /// all went one way; else a new group on each side.
    fn close(mut self) -> (Option<Node>, Option<ErrorGroup>, Option<ErrorGroup>) {
        let (matching, rest) = (
            std::mem::take(&mut self.matching),
            std::mem::take(&mut self.rest),
        );
        let (m, r) = match (matching.is_empty(), rest.is_empty()) {
            (false, true) => {
                *self.group.failures_mut() = matching;
                (Some(self.group), None)
            }
            (true, false) => {
                *self.group.failures_mut() = rest;
                (None, Some(self.group))
            }
            _ => {
                let name = self.group.shared_name().clone();
                (
                    ErrorGroup::new(name.clone(), matching),
                    ErrorGroup::new(name, rest),
                )
            }
        };
        (self.node, m, r)
    }
}

fn split_tree(
    group: ErrorGroup,
    leaf_matches: &mut Predicate<'_, Failure>,
    group_matches: &mut Predicate<'_, ErrorGroup>,
) -> (Option<ErrorGroup>, Option<ErrorGroup>) {
    if group_matches(&group) {
        return (Some(group), None);
    }
    let mut stack = vec![Frame::open(None, group)];
    while let Some(top) = stack.last_mut() {
        if let Some(failure) = top.todo.next() {
            let matches = match failure.nested() {
                None => leaf_matches(&failure),
                Some(inner) if group_matches(inner) => true,
                Some(_) => match failure.into_nested() {
                    Ok((node, inner)) => {
                        stack.push(Frame::open(Some(node), inner));
                        continue;
                    }
                    Err(failure) => {
                        top.rest.push(failure);
                        continue;
                    }
                },
            };
            if matches {
                top.matching.push(failure);
            } else {
                top.rest.push(failure);
            }
            continue;
        }
        let Some(frame) = stack.pop() else { break };
        let (node, matching, rest) = frame.close();
        let (Some(node), Some(parent)) = (node, stack.last_mut()) else {
            return (matching, rest); // the root
        };
        match (matching, rest) {
            (Some(whole), None) => parent.matching.push(node.hold(whole)),
            (None, Some(whole)) => parent.rest.push(node.hold(whole)),
            (matching, rest) => {
                parent.matching.extend(matching.map(|g| node.part(g)));
                parent.rest.extend(rest.map(|g| node.part(g)));
            }
        }
    }
    (None, None)
}
