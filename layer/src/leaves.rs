//! Leaf records: one per leaf of an [`ErrorGroup`] tree, owned, so they can
//! wait in a span until the tree's outermost report; and the bounded memory
//! of which leaves were already logged.

use std::collections::{HashSet, VecDeque};
use std::hash::Hasher;

use cohort::ErrorGroup;
use fnv::FnvHasher;
use tracing::Level;

/// Everything a leaf's log record carries.
#[derive(Debug, Clone)]
pub(crate) struct LeafRecord {
    /// The leaf's [`Failure::id`](cohort::Failure::id): `exception.id`.
    pub id: u64,
    /// The id of the group that holds the leaf: `exception.parent_id`.
    pub parent_id: u64,
    /// The id of the tree's root: `exception.group.id`.
    pub root_id: u64,
    /// The tree's [`fingerprint`].
    pub fingerprint: u64,
    /// Positions from the root, dotted: `0.2.1`.
    pub path: String,
    pub depth: usize,
    pub exception_type: &'static str,
    pub message: String,
    pub child_name: String,
    pub child_index: Option<usize>,
    /// The name of the group that holds the leaf.
    pub group_name: String,
    pub panic: bool,
    /// The level of the report that carried the tree.
    pub level: Level,
}

/// The failure pattern of a tree: a hash of the root group's name and the
/// sorted multiset of its leaves' error types, so that runs failing the same
/// way share a fingerprint in any back end, whatever the order, the messages,
/// or the nesting.
///
/// FNV-1a over the bytes, with `0xff` (never in UTF-8) between the parts: the
/// value is the same across processes, builds and Rust releases, which
/// `std`'s `DefaultHasher` does not promise.
pub fn fingerprint(group: &ErrorGroup) -> u64 {
    let mut types: Vec<&str> = group
        .leaves()
        .iter()
        .map(|leaf| leaf.failure.error_type())
        .collect();
    types.sort_unstable();
    let mut hasher = FnvHasher::default();
    hasher.write(group.name().as_bytes());
    for ty in types {
        hasher.write(&[0xff]);
        hasher.write(ty.as_bytes());
    }
    hasher.finish()
}

/// Records for the leaves of `root` that `wanted` accepts, with their paths
/// from `root`.
pub(crate) fn records(
    root: &ErrorGroup,
    level: Level,
    mut wanted: impl FnMut(u64) -> bool,
) -> Vec<LeafRecord> {
    let leaves = root.leaves();
    if !leaves.iter().any(|leaf| wanted(leaf.failure.id())) {
        return Vec::new();
    }
    let fingerprint = fingerprint(root);
    leaves
        .iter()
        .filter(|leaf| wanted(leaf.failure.id()))
        .map(|leaf| LeafRecord {
            id: leaf.failure.id(),
            parent_id: leaf.group.id(),
            root_id: root.id(),
            fingerprint,
            path: leaf.path_string(),
            depth: leaf.depth(),
            exception_type: leaf.failure.error_type(),
            message: leaf.failure.message(),
            child_name: leaf.failure.child_name().to_owned(),
            child_index: leaf.failure.child_index(),
            group_name: leaf.group.name().to_owned(),
            panic: leaf.failure.is_panic(),
            level,
        })
        .collect()
}

/// The ids of the leaves already logged, the most recent `capacity` of them:
/// memory stays bounded however long the service runs. A leaf reported again
/// after `capacity` newer leaves were logged is logged again.
#[derive(Debug)]
pub(crate) struct Seen {
    ids: HashSet<u64>,
    order: VecDeque<u64>,
    capacity: usize,
}

impl Seen {
    pub fn new(capacity: usize) -> Self {
        Self {
            ids: HashSet::new(),
            order: VecDeque::new(),
            capacity,
        }
    }

    pub fn contains(&self, id: u64) -> bool {
        self.ids.contains(&id)
    }

    /// Marks a leaf as logged; `false` if it already was.
    pub fn insert(&mut self, id: u64) -> bool {
        if !self.ids.insert(id) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.ids.remove(&old);
            }
        }
        true
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.order.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cohort::Failure;

    #[derive(Debug)]
    struct E(&'static str);
    impl std::fmt::Display for E {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl std::error::Error for E {}

    fn group(name: &str, failures: Vec<Failure>) -> ErrorGroup {
        ErrorGroup::new(name, failures).unwrap()
    }

    #[test]
    fn fingerprint_ignores_order_messages_and_nesting_but_not_types_or_name() {
        let a = group(
            "g",
            vec![
                Failure::error("a", Some(0), E("x")),
                Failure::panic("b", Some(1), "boom"),
            ],
        );
        let b = group(
            "g",
            vec![
                Failure::panic("q", Some(0), "other"),
                Failure::group(
                    "n",
                    Some(1),
                    group("inner", vec![Failure::error("z", Some(0), E("y"))]),
                ),
            ],
        );
        assert_eq!(fingerprint(&a), fingerprint(&b));
        let renamed = group("h", vec![Failure::panic("b", Some(1), "boom")]);
        let fewer = group("g", vec![Failure::panic("b", Some(1), "boom")]);
        assert_ne!(fingerprint(&fewer), fingerprint(&a));
        assert_ne!(fingerprint(&renamed), fingerprint(&fewer));
    }

    #[test]
    fn fingerprint_is_stable_across_builds() {
        // FNV-1a of "g", 0xff, "panic", computed independently. A change here
        // regroups every back end's history.
        let g = group("g", vec![Failure::panic("b", None, "boom")]);
        assert_eq!(
            fingerprint(&g),
            0xcac7_9cdc_6826_b11e,
            "{:#x}",
            fingerprint(&g)
        );
    }

    #[test]
    fn seen_forgets_the_oldest_beyond_capacity() {
        let mut seen = Seen::new(2);
        assert!(seen.insert(1));
        assert!(!seen.insert(1));
        assert!(seen.insert(2));
        assert!(seen.insert(3));
        assert_eq!(seen.len(), 2);
        assert!(!seen.contains(1));
        assert!(seen.contains(2) && seen.contains(3));
    }
}
