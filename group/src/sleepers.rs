//! [`Sleepers`]: the pending children of a group with no parent, woken all
//! at once as it cancels.
//!
//! Such a group is cancelled only by itself, which sets its `cancelling`
//! flag before it wakes the sleepers: a child reads the flag, and needs no
//! waiter of its own, only its task's waker left here while it waits. The
//! child keeps its slot's key, inline in its task; a tokio task's waker does
//! not change between polls, so one registration lasts until the child ends.
//! A group nested in a child is also cancelled through its token, by its
//! parent, and its children wait on the token instead.
//!
//! Registration and the wake-up take the same lock: a child registering
//! after the group set its flag sees the flag under it, and is not left
//! asleep.

use std::task::Waker;

/// The wakers of a group's pending children, in reusable slots.
#[derive(Debug, Default)]
pub(crate) struct Sleepers {
    slots: Vec<Option<Waker>>,
    free: Vec<u32>,
    /// Set by [`Self::wake_all`]: the group is cancelling, and no child
    /// registers any more.
    woken: bool,
}

impl Sleepers {
    /// Leaves `waker` until the group cancels; `None` if it already has.
    pub(crate) fn add(&mut self, waker: &Waker) -> Option<u32> {
        if self.woken {
            return None;
        }
        match self.free.pop() {
            Some(key) => {
                self.slots[key as usize] = Some(waker.clone());
                Some(key)
            }
            None => {
                let key = u32::try_from(self.slots.len()).ok()?;
                self.slots.push(Some(waker.clone()));
                Some(key)
            }
        }
    }

    /// The child of `key` ended: its slot is free again.
    pub(crate) fn remove(&mut self, key: u32) {
        if self.woken {
            return; // every slot was emptied
        }
        if let Some(slot) = self.slots.get_mut(key as usize) {
            if slot.take().is_some() {
                self.free.push(key);
            }
        }
    }

    /// The group cancels: every waker, to be woken outside the lock.
    pub(crate) fn wake_all(&mut self) -> Vec<Waker> {
        self.woken = true;
        self.free = Vec::new();
        std::mem::take(&mut self.slots)
            .into_iter()
            .flatten()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn slots_are_reused_and_only_the_registered_are_woken() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut sleepers = Sleepers::default();
        let a = sleepers.add(&waker).unwrap();
        let b = sleepers.add(&waker).unwrap();
        sleepers.remove(a);
        let c = sleepers.add(&waker).unwrap();
        assert_eq!(c, a, "a freed slot is reused");
        assert_ne!(b, c);
        sleepers.remove(b);
        sleepers.wake_all().into_iter().for_each(Waker::wake);
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "only the sleeper left");
        assert_eq!(
            sleepers.add(&waker),
            None,
            "no registration after the wake-up"
        );
        sleepers.remove(c); // a no-op now
    }
}
