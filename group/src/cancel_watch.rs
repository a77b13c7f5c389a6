//! [`CancelWatch`]: how a task that waits on something else (the feeder of
//! `spawn_stream`, waiting for a slot or for its stream) learns that its
//! group started cancelling, for the price of a flag read per wake-up.
//!
//! A group with no parent is cancelled only by itself, which sets its
//! `cancelling` flag before it wakes its sleepers (see `crate::sleepers`):
//! the watcher leaves its waker there once, and looks at the flag. A group
//! nested in a child is also cancelled through its token, by its parent:
//! the watcher then waits on the token, whose every poll takes the token's
//! locks. So does a watcher the sleepers refused (a full shard).

use std::pin::Pin;
use std::task::{Context, Waker};

use futures_util::FutureExt as _;
use tokio_util::sync::WaitForCancellationFuture;

use crate::supervisor::Supervisor;

pub(crate) struct CancelWatch<'s> {
    sup: &'s Supervisor,
    /// Its key among the group's sleepers, and the waker left there.
    sleeper: Option<(u32, Waker)>,
    /// The token's cancellation, for a group with a parent or a watcher
    /// the sleepers refused; made when first needed.
    token: Option<Pin<Box<WaitForCancellationFuture<'s>>>>,
}

impl<'s> CancelWatch<'s> {
    pub(crate) fn new(sup: &'s Supervisor) -> Self {
        Self {
            sup,
            sleeper: None,
            token: None,
        }
    }

    /// Whether the group is cancelling; if not, the task of `cx` is woken
    /// when it starts to. Once the group has finished, either answer may
    /// come (its token ends cancelled): the caller tells that case apart.
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> bool {
        if self.sup.is_cancelling() {
            return true;
        }
        if self.token.is_none() && self.sup.has_sleepers() {
            // A waker left with the group serves until the task's changes.
            if self
                .sleeper
                .as_ref()
                .is_some_and(|(_, left)| left.will_wake(cx.waker()))
            {
                return false;
            }
            self.leave();
            match self.sup.sleep(cx.waker()) {
                Some(key) => {
                    self.sleeper = Some((key, cx.waker().clone()));
                    return false;
                }
                // Refused under the sleepers' lock: the group cancelled
                // meanwhile, or the sleepers are full.
                None if self.sup.is_cancelling() => return true,
                None => {}
            }
        }
        let sup = self.sup;
        self.token
            .get_or_insert_with(|| Box::pin(sup.token.cancelled()))
            .poll_unpin(cx)
            .is_ready()
    }

    fn leave(&mut self) {
        if let Some((key, _)) = self.sleeper.take() {
            self.sup.woke(key);
        }
    }
}

impl Drop for CancelWatch<'_> {
    fn drop(&mut self) {
        self.leave();
    }
}
