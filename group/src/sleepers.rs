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
//! asleep. The lock is a shard's: a thread keeps to one shard, each on a
//! cache line of its own, so that workers leaving and taking back wakers at
//! once do not contend for one lock. The wake-up takes every shard's lock
//! in turn.

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::task::Waker;

use crossbeam_utils::CachePadded;

/// Shards at most: a key keeps its shard in its low bits.
const MAX_SHARDS: usize = 16;
const SHARD_BITS: u32 = MAX_SHARDS.trailing_zeros();

/// The wakers of a group's pending children, in shards.
#[derive(Debug)]
pub(crate) struct Sleepers {
    /// How many shards there are, once made.
    count: usize,
    /// Made as a child first leaves its waker, or as the group cancels (which
    /// must take every shard's lock): a group whose children never wait
    /// allocates none.
    shards: OnceLock<Box<[CachePadded<Mutex<Shard>>]>>,
}

impl Sleepers {
    /// Sleepers for a group whose children run on `workers` threads: a shard
    /// for each (to a power of two, at most 16), one for a current-thread
    /// runtime.
    pub(crate) fn new(workers: usize) -> Self {
        Self {
            count: workers.clamp(1, MAX_SHARDS).next_power_of_two(),
            shards: OnceLock::new(),
        }
    }

    fn shards(&self) -> &[CachePadded<Mutex<Shard>>] {
        self.shards
            .get_or_init(|| (0..self.count).map(|_| CachePadded::default()).collect())
    }

    fn lock(shard: &Mutex<Shard>) -> std::sync::MutexGuard<'_, Shard> {
        shard.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Leaves `waker` until the group cancels: its key, or `None` if the
    /// group has (or the thread's shard is full, at 268 million).
    pub(crate) fn add(&self, waker: &Waker) -> Option<u32> {
        let shards = self.shards();
        let n = thread_shard() & (shards.len() - 1);
        let slot = Self::lock(&shards[n]).add(waker)?;
        Some(slot << SHARD_BITS | n as u32)
    }

    /// The child of `key` ended: its slot is free again.
    pub(crate) fn remove(&self, key: u32) {
        // A key was handed out, so the shards exist.
        let shard = self
            .shards
            .get()
            .and_then(|s| s.get(key as usize & (MAX_SHARDS - 1)));
        if let Some(shard) = shard {
            Self::lock(shard).remove(key >> SHARD_BITS);
        }
    }

    /// The group cancels: every waker, to be woken outside the locks.
    pub(crate) fn wake_all(&self) -> Vec<Waker> {
        let mut wakers = Vec::new();
        for shard in self.shards() {
            wakers.extend(Self::lock(shard).wake_all());
        }
        wakers
    }
}

/// This thread's shard, before masking: threads are numbered as they first
/// leave a waker, so that a runtime's workers spread over the shards.
fn thread_shard() -> usize {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    thread_local! {
        static SHARD: Cell<Option<u32>> = const { Cell::new(None) };
    }
    SHARD
        .try_with(|shard| match shard.get() {
            Some(n) => n,
            None => {
                let n = NEXT.fetch_add(1, Ordering::Relaxed);
                shard.set(Some(n));
                n
            }
        })
        .unwrap_or(0) as usize
}

/// One shard's wakers, in reusable slots.
#[derive(Debug, Default)]
struct Shard {
    slots: Vec<Option<Waker>>,
    free: Vec<u32>,
    /// Set by [`Self::wake_all`]: the group is cancelling, and no child
    /// registers any more.
    woken: bool,
}

impl Shard {
    /// Leaves `waker` until the group cancels; `None` if it already has.
    fn add(&mut self, waker: &Waker) -> Option<u32> {
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
                if key >= u32::MAX >> SHARD_BITS {
                    return None;
                }
                self.slots.push(Some(waker.clone()));
                Some(key)
            }
        }
    }

    /// The child of `key` ended: its slot is free again.
    fn remove(&mut self, key: u32) {
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
    fn wake_all(&mut self) -> Vec<Waker> {
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
    use crate::sync::counting_waker;

    #[test]
    fn slots_are_reused_and_only_the_registered_are_woken() {
        let (count, waker) = counting_waker::new();
        let mut sleepers = Shard::default();
        let a = sleepers.add(&waker).unwrap();
        let b = sleepers.add(&waker).unwrap();
        sleepers.remove(a);
        let c = sleepers.add(&waker).unwrap();
        assert_eq!(c, a, "a freed slot is reused");
        assert_ne!(b, c);
        sleepers.remove(b);
        sleepers.wake_all().into_iter().for_each(Waker::wake);
        assert_eq!(count.get(), 1, "only the sleeper left");
        assert_eq!(
            sleepers.add(&waker),
            None,
            "no registration after the wake-up"
        );
        sleepers.remove(c); // a no-op now
    }

    #[test]
    fn keys_name_their_shard_and_the_wake_up_reaches_every_shard() {
        let (count, waker) = counting_waker::new();
        let sleepers = Sleepers::new(4);
        // Threads of their own, so that they take shards of their own.
        let keys: Vec<u32> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..6)
                .map(|_| s.spawn(|| sleepers.add(&waker).unwrap()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let shards: std::collections::BTreeSet<u32> =
            keys.iter().map(|k| k & (MAX_SHARDS as u32 - 1)).collect();
        assert!(shards.len() > 1, "spread over shards: {keys:?}");
        sleepers.remove(keys[0]);
        sleepers.wake_all().into_iter().for_each(Waker::wake);
        assert_eq!(count.get(), 5, "all but the one removed");
        assert_eq!(sleepers.add(&waker), None, "every shard refuses now");
    }
}
