//! [`OwnToken`]: a child's flag for being cancelled alone, and its own
//! cancellation token, made on first use.
//!
//! Cancelling and making the token race (a handle cancels the child while a
//! group nested in it asks for its token): each side writes one thing and
//! reads the other's, which atomics alone do not order (the store-buffering
//! shape: both could read the old value). Both sides take the `own` lock, so
//! one of them comes first and the second sees what the first wrote: the
//! token is made cancelled, or `cancel` finds it. The flag stays an atomic
//! for the read every poll makes. Model-checked with loom (`loom_models.rs`).

use tokio_util::sync::CancellationToken;

use crate::sync::{AtomicBool, Mutex, Ordering, lock};

#[derive(Debug)]
pub(crate) struct OwnToken {
    own: Mutex<Option<CancellationToken>>,
    cancelled: AtomicBool,
}

impl OwnToken {
    pub fn new() -> Self {
        Self {
            own: Mutex::new(None),
            cancelled: AtomicBool::new(false),
        }
    }

    /// The token, if one was made.
    pub fn get(&self) -> Option<CancellationToken> {
        lock(&self.own).clone()
    }

    /// Cancels the child alone: sets the flag, and cancels the token if one
    /// was made.
    pub fn cancel(&self) {
        let own = {
            let own = lock(&self.own);
            self.cancelled.store(true, Ordering::Release);
            own.clone()
        };
        if let Some(token) = own {
            token.cancel();
        }
    }

    /// Whether [`Self::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    /// The token, made by `make` on first use; cancelled if the child was.
    pub fn token(&self, make: impl FnOnce() -> CancellationToken) -> CancellationToken {
        let (token, cancelled) = {
            let mut own = lock(&self.own);
            let token = own.get_or_insert_with(make).clone();
            (token, self.cancelled.load(Ordering::Relaxed))
        };
        if cancelled {
            token.cancel();
        }
        token
    }
}
