//! [`Admission`]: counting a group's children in and out, and closing the
//! group to new ones in the same step as it sees the last one go.
//!
//! Two counters say when the group is done: the admission word counts the
//! children admitted, and `gone` the children whose task has been dropped (a
//! child's membership counts it as it goes). Groups nested in children hold
//! the group open too (`holds`). The group is finished when every admitted
//! child is gone, no hold is left, *and* it has set the admission word's
//! "closed" bit, which refuses new children. It sets the bit by a
//! compare-and-swap from the very count it found equal, so a spawn racing the
//! group's end either counts itself first (the swap fails, and the group
//! waits for it) or sees the bit (and is refused). No child ever runs
//! unsupervised.
//!
//! The last child to go wakes the group: it bumps `gone` and then reads the
//! admission count, while the group registers its waker, then reads the
//! admission count and then `gone`. Those four accesses are sequentially
//! consistent, so the group's check or the child's wake-up sees the other;
//! and even under acquire/release alone, as loom models them, the chain of
//! read-modify-writes on `gone` and on the waker's own state orders them.
//! The last hold given back always wakes the group.
//!
//! This is what tokio-util's `TaskTracker` does, done here because a
//! tracker's token costs a child four atomic read-modify-writes where the
//! counters cost one, on top of the admission it needs anyway, and because
//! the group must close admission and finish in one step. The protocol is
//! model-checked with loom (`loom_models.rs`).

use std::task::{Context, Poll, Waker};

use crate::sync::{AtomicUsize, AtomicWaker, Ordering};

/// The admission word's "closed" bit.
const CLOSED: usize = 1 << (usize::BITS - 1);

#[derive(Debug)]
pub(crate) struct Admission {
    /// Children admitted (the spawn index of the next one) and, in the top
    /// bit, whether the group is closed to new ones.
    word: AtomicUsize,
    /// Admitted children whose task, run or not, has been dropped.
    gone: AtomicUsize,
    /// Nested groups not done yet, each keeping this one open.
    holds: AtomicUsize,
    /// The group waiting for its children to go.
    all_gone: AtomicWaker,
}

impl Admission {
    pub fn new() -> Self {
        Self {
            word: AtomicUsize::new(0),
            gone: AtomicUsize::new(0),
            holds: AtomicUsize::new(0),
            all_gone: AtomicWaker::new(),
        }
    }

    /// Admits one child, returning its spawn index; `None` once the group
    /// is closed.
    pub fn admit(&self) -> Option<usize> {
        let mut admitted = self.word.load(Ordering::Relaxed);
        loop {
            if admitted & CLOSED != 0 {
                return None;
            }
            match self.word.compare_exchange_weak(
                admitted,
                admitted + 1,
                Ordering::SeqCst,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(admitted),
                Err(now) => admitted = now,
            }
        }
    }

    /// How many children were admitted.
    pub fn admitted(&self) -> usize {
        self.word.load(Ordering::Relaxed) & !CLOSED
    }

    /// How many admitted children are gone.
    pub fn gone(&self) -> usize {
        self.gone.load(Ordering::Relaxed)
    }

    /// Whether the group closed: every child went, for good. Only
    /// [`Self::poll_all_gone`] sets the bit, after reading every child's
    /// going, so a reader that sees it (Acquire) also sees each child's
    /// future dropped.
    pub fn is_closed(&self) -> bool {
        self.word.load(Ordering::Acquire) & CLOSED != 0
    }

    /// One child's task is gone. The last to go wakes the group.
    pub fn child_gone(&self) {
        let gone = self.gone.fetch_add(1, Ordering::SeqCst) + 1;
        if gone == self.word.load(Ordering::SeqCst) & !CLOSED {
            self.all_gone.wake();
        }
    }

    /// A group nested in a child keeps this one open. Taken while that child
    /// is alive, so before the group could see its children all gone.
    pub fn take_hold(&self) {
        self.holds.fetch_add(1, Ordering::SeqCst);
    }

    /// A nested group is done; the last one wakes the group, which looks
    /// for itself whether its children are gone too. (Checking here first
    /// would need the four accesses' single total order against a child
    /// going at the same moment; the wake-up needs only the waker's own
    /// synchronisation, and costs at most one needless poll per nested
    /// group.)
    pub fn release_hold(&self) {
        if self.holds.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.all_gone.wake();
        }
    }

    /// Ready once every admitted child is gone and no hold is left, having
    /// closed the group to new ones in the same step. Until then, `cx`'s
    /// waker is woken when that may have changed.
    pub fn poll_all_gone(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.all_gone.register(cx.waker());
        let mut admitted = self.word.load(Ordering::SeqCst);
        loop {
            if self.gone.load(Ordering::SeqCst) != admitted & !CLOSED
                || self.holds.load(Ordering::SeqCst) != 0
            {
                return Poll::Pending;
            }
            match self.word.compare_exchange(
                admitted,
                admitted | CLOSED,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => return Poll::Ready(()),
                // A child was admitted meanwhile: wait for it too.
                Err(now) => admitted = now,
            }
        }
    }

    /// Takes the registered waker out, so that what it holds goes.
    pub fn take_waker(&self) -> Option<Waker> {
        self.all_gone.take()
    }
}
