//! [`Ctl`]: a way into one running child of a group with a grace period,
//! to say "finish up" without dropping it.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::own_token::OwnToken;
use crate::supervisor::Supervisor;
use crate::sync::AtomicWaker;

/// Cancelling one child of a group with a grace period. The group's token
/// stops every child; a child is stopped alone by its [`OwnToken`] (its
/// flag, and its own token if one was made), and its task is woken through
/// the waker it left when it last went pending.
#[derive(Debug)]
pub(crate) struct Ctl {
    sup: Arc<Supervisor>,
    own: OwnToken,
    pub(crate) waker: AtomicWaker,
}

impl Ctl {
    pub(crate) fn new(sup: Arc<Supervisor>) -> Self {
        Self {
            sup,
            own: OwnToken::new(),
            waker: AtomicWaker::new(),
        }
    }

    /// The child's own token, if one was made.
    pub(crate) fn own(&self) -> Option<CancellationToken> {
        self.own.get()
    }

    pub(crate) fn cancel(&self) {
        self.own.cancel();
        self.waker.wake();
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.own.is_cancelled()
    }

    /// The child's own token, a child of the group's, made on first use.
    pub(crate) fn token(&self) -> CancellationToken {
        self.own.token(|| self.sup.token.child_token())
    }
}
