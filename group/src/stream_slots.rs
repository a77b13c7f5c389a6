//! [`StreamSlots`]: how many of a stream's children may run at once, for
//! `spawn_stream`. Each child holds a [`StreamSlot`] and gives it back as its
//! task is dropped, by any path; the feeder waits for one before it pulls the
//! next item. A counter and one waker, not a semaphore: there is only ever
//! one waiter (the feeder), and giving a slot back takes no lock.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::sync::{AtomicUsize, AtomicWaker, Ordering};

#[derive(Debug)]
pub(crate) struct StreamSlots {
    taken: AtomicUsize,
    limit: usize,
    feeder: AtomicWaker,
}

/// One taken slot, given back as it drops.
#[derive(Debug)]
pub(crate) struct StreamSlot(Arc<StreamSlots>);

impl StreamSlots {
    pub(crate) fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            taken: AtomicUsize::new(0),
            limit,
            feeder: AtomicWaker::new(),
        })
    }

    /// Takes a slot, at once if one is free, else once a child gives one
    /// back. Only one caller at a time (the feeder).
    pub(crate) async fn take(self: &Arc<Self>) -> StreamSlot {
        poll_fn(|cx| {
            if self.try_take() {
                return Poll::Ready(StreamSlot(self.clone()));
            }
            self.feeder.register(cx.waker());
            // A slot given back before the registration woke nobody.
            if self.try_take() {
                return Poll::Ready(StreamSlot(self.clone()));
            }
            Poll::Pending
        })
        .await
    }

    fn try_take(&self) -> bool {
        // Only the feeder takes: a load, then an add, cannot overshoot.
        if self.taken.load(Ordering::Acquire) >= self.limit {
            return false;
        }
        self.taken.fetch_add(1, Ordering::AcqRel);
        true
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let slots = &self.0;
        if slots.taken.fetch_sub(1, Ordering::AcqRel) == slots.limit {
            // It was full: the feeder may be waiting.
            slots.feeder.wake();
        }
    }
}

pin_project_lite::pin_project! {
    /// A streamed child's future with its slot, given back as the future
    /// completes (or as both are dropped unfinished). Nobody reads a
    /// streamed child's output: it is dropped as the future completes,
    /// before the slot goes back, so that a stream holds no more than its
    /// slots' worth of outputs (a panic in its `Drop` is the child's). A
    /// struct rather than an `async` block: the block would keep the future
    /// twice over (as its capture and as the value it awaits), and a task
    /// that large is copied with `memcpy` at each of its moves into tokio.
    pub(crate) struct Slotted<F> {
        #[pin]
        fut: F,
        slot: Option<StreamSlot>,
    }
}

impl<F> Slotted<F> {
    pub(crate) fn new(fut: F, slot: StreamSlot) -> Self {
        Self {
            fut,
            slot: Some(slot),
        }
    }
}

impl<F: Future<Output = Result<T, E>>, T, E> Future for Slotted<F> {
    type Output = Result<(), E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), E>> {
        let this = self.project();
        let out = std::task::ready!(this.fut.poll(cx)).map(drop);
        this.slot.take();
        Poll::Ready(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt as _;

    #[test]
    fn a_full_set_waits_until_a_slot_is_given_back() {
        let slots = StreamSlots::new(2);
        let a = slots.take().now_or_never().expect("free");
        let _b = slots.take().now_or_never().expect("free");
        let mut third = Box::pin(slots.take());
        assert!((&mut third).now_or_never().is_none(), "full");
        drop(a);
        assert!(third.now_or_never().is_some(), "given back");
    }

    #[test]
    fn a_slotted_future_gives_its_slot_back_as_it_completes_or_drops() {
        let slots = StreamSlots::new(1);
        let slot = slots.take().now_or_never().expect("free");
        // Pending at its first poll, ready at its second.
        let mut polled = false;
        let once = poll_fn(move |_| {
            if std::mem::replace(&mut polled, true) {
                Poll::Ready(Ok::<_, ()>(()))
            } else {
                Poll::Pending
            }
        });
        let mut child = Box::pin(Slotted::new(once, slot));
        assert!((&mut child).now_or_never().is_none(), "still running");
        assert!(slots.take().now_or_never().is_none(), "the child holds it");
        assert!((&mut child).now_or_never().is_some(), "done");
        // Completed, not yet dropped: the slot is back already.
        let slot = slots
            .take()
            .now_or_never()
            .expect("given back on completion");
        drop(Slotted::new(std::future::pending::<Result<(), ()>>(), slot));
        assert!(slots.take().now_or_never().is_some(), "given back on drop");
        drop(child);
    }
}
