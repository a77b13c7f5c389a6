//! [`CancelWaiter`]: what wakes a pending child as its group cancels.
//!
//! A group with no parent is cancelled only by itself, which sets its
//! `cancelling` flag: its children read the flag, and wait on the group's
//! own [`Notify`], registered once, for the wake-up. A group nested in a
//! child (or built under a token) is also cancelled through its token, by a
//! cancelled parent, which nothing in the group hears until its `watch`
//! does: its children wait on the token itself, whose state takes a lock to
//! read.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::{Notify, futures::OwnedNotified};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

pin_project_lite::pin_project! {
    /// Ready once the group has cancelled (or, for the token, its parent).
    #[project = Projection]
    pub(crate) enum CancelWaiter {
        /// The group's own wake-up: ready once it fired. Polled once, to
        /// register: a tokio task's waker does not change between polls,
        /// and the group's flag says whether it has cancelled.
        Group {
            #[pin]
            waiter: OwnedNotified,
            registered: bool,
        },
        Token {
            #[pin]
            waiter: WaitForCancellationFutureOwned,
        },
    }
}

impl CancelWaiter {
    /// Waits on the group's wake-up, `notify`.
    pub(crate) fn group(notify: &Arc<Notify>) -> Self {
        Self::Group {
            waiter: notify.clone().notified_owned(),
            registered: false,
        }
    }

    /// Waits on `token`.
    pub(crate) fn token(token: &CancellationToken) -> Self {
        Self::Token {
            waiter: token.clone().cancelled_owned(),
        }
    }
}

impl Future for CancelWaiter {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match self.project() {
            Projection::Group { waiter, registered } => {
                if *registered {
                    return Poll::Pending;
                }
                *registered = true;
                waiter.poll(cx)
            }
            Projection::Token { waiter } => waiter.poll(cx),
        }
    }
}
