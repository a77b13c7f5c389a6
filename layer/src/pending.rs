//! [`Pending`]: the leaf records waiting in a span for the outermost report
//! of their tree.
//!
//! A leaf moves outward one report at a time (a nested group raises into its
//! child, the child fails into its group), and every move takes it off the
//! list it waited in. A group's list can hold a record for each of its
//! children's leaves, so taking one off must not scan the list: records are
//! found by leaf id, and a taken one leaves an empty slot until the list is
//! drained, keeping the order they arrived in.

use std::collections::HashMap;

use crate::leaves::LeafRecord;

/// Leaf records in arrival order, found by leaf id.
#[derive(Default)]
pub(crate) struct Pending {
    slots: Vec<Option<LeafRecord>>,
    /// Leaf id to its slot; holds exactly the filled slots.
    index: HashMap<u64, usize>,
}

impl Pending {
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Takes the record of leaf `id` off the list, if it waits here.
    pub fn take(&mut self, id: u64) -> Option<LeafRecord> {
        let slot = self.index.remove(&id)?;
        let record = self.slots[slot].take();
        if self.index.is_empty() {
            // Nothing left: the empty slots go too.
            self.slots.clear();
        }
        record
    }

    /// Adds records at the end; a leaf already waiting here keeps its place
    /// and takes the new record.
    pub fn extend(&mut self, records: impl IntoIterator<Item = LeafRecord>) {
        for record in records {
            match self.index.get(&record.id) {
                Some(&slot) => self.slots[slot] = Some(record),
                None => {
                    self.index.insert(record.id, self.slots.len());
                    self.slots.push(Some(record));
                }
            }
        }
    }

    /// Every waiting record, in arrival order.
    pub fn drain(self) -> Vec<LeafRecord> {
        self.slots.into_iter().flatten().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    fn record(id: u64) -> LeafRecord {
        LeafRecord {
            id,
            parent_id: 0,
            root_id: 0,
            fingerprint: 0,
            path: String::new(),
            depth: 0,
            exception_type: "E",
            message: id.to_string(),
            child_name: String::new(),
            child_index: None,
            group_name: String::new(),
            panic: false,
            level: Level::ERROR,
        }
    }

    fn ids(pending: Pending) -> Vec<u64> {
        pending.drain().iter().map(|r| r.id).collect()
    }

    #[test]
    fn records_drain_in_arrival_order_without_the_taken_ones() {
        let mut pending = Pending::default();
        pending.extend([1, 2, 3, 4].map(record));
        assert_eq!(pending.take(2).map(|r| r.id), Some(2));
        assert!(pending.take(2).is_none());
        assert!(pending.take(9).is_none());
        pending.extend([5].map(record));
        assert_eq!(ids(pending), [1, 3, 4, 5]);
    }

    #[test]
    fn a_leaf_added_again_keeps_its_place() {
        let mut pending = Pending::default();
        pending.extend([1, 2].map(record));
        let mut again = record(1);
        again.message = "again".into();
        pending.extend([again, record(3)]);
        let drained = pending.drain();
        assert_eq!(drained.iter().map(|r| r.id).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(drained[0].message, "again");
    }

    #[test]
    fn an_emptied_list_frees_its_slots() {
        let mut pending = Pending::default();
        pending.extend([1, 2].map(record));
        pending.take(1);
        pending.take(2);
        assert!(pending.is_empty());
        assert!(pending.slots.is_empty());
        pending.extend([3].map(record));
        assert_eq!(ids(pending), [3]);
    }
}
