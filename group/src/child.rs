//! Building one child: [`prepare`] makes its task; [`Ctl`]
//! cancels it alone when its group has a grace period; [`Ending`] is how its
//! future ended.
//!
//! A child costs one allocation, the task tokio makes for it, until it first
//! waits (see `Extra` in the task). Its output goes back to its handle through
//! that task's `JoinHandle`, and cancelling it alone is `JoinHandle::abort`,
//! which is exactly "stop at the next `.await`". Only a group with a grace
//! period needs a way into a running child (to say "finish up" without
//! dropping it), and pays one more allocation per child for it: the shared
//! [`Ctl`].

use std::any::Any;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures_util::task::AtomicWaker;
use tokio_util::sync::CancellationToken;

use crate::error_group::{BoxError, Failure};
use crate::into_failure::IntoFailure;
use crate::name::Name;
use crate::outcome::ChildOutcome;
use crate::supervisor::{Admitted, Supervisor};
use crate::task::{ChildTask, Settle};

/// Cancelling one child of a group with a grace period. The group's token
/// stops every child; a child is stopped alone by its flag (and its own token,
/// if one was made), and its task is woken through the waker it left when it
/// last went pending.
///
/// Cancelling and making the token race (a handle cancels the child while a
/// group nested in it asks for its token): each side writes one thing and
/// reads the other's, which atomics alone do not order. Both sides take the
/// `own` lock, so one of them comes first and the second sees what the
/// first wrote: the token is made cancelled, or `cancel` finds it. The flag
/// stays an atomic for the read every poll makes.
#[derive(Debug)]
pub(crate) struct Ctl {
    sup: Arc<Supervisor>,
    own: Mutex<Option<CancellationToken>>,
    cancelled: AtomicBool,
    pub(crate) waker: AtomicWaker,
}

impl Ctl {
    fn new(sup: Arc<Supervisor>) -> Self {
        Self {
            sup,
            own: Mutex::new(None),
            cancelled: AtomicBool::new(false),
            waker: AtomicWaker::new(),
        }
    }

    fn own_lock(&self) -> MutexGuard<'_, Option<CancellationToken>> {
        self.own.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The child's own token, if one was made.
    pub(crate) fn own(&self) -> Option<CancellationToken> {
        self.own_lock().clone()
    }

    pub(crate) fn cancel(&self) {
        let own = {
            let own = self.own_lock();
            self.cancelled.store(true, Ordering::Release);
            own.clone()
        };
        if let Some(token) = own {
            token.cancel();
        }
        self.waker.wake();
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    /// The child's own token, a child of the group's, made on first use.
    pub(crate) fn token(&self) -> CancellationToken {
        let (token, cancelled) = {
            let mut own = self.own_lock();
            let token = own
                .get_or_insert_with(|| self.sup.token.child_token())
                .clone();
            (token, self.cancelled.load(Ordering::Relaxed))
        };
        if cancelled {
            token.cancel();
        }
        token
    }
}

/// How a child's future ended, before it is turned into telemetry and a
/// [`Failure`].
pub(crate) enum Ending<T> {
    Ok(T),
    Cancelled,
    Error(&'static str, BoxError),
    Panic(Box<dyn Any + Send>),
}

/// A `start` call waiting for its child to signal readiness: a failure before
/// the signal goes to the caller, not to the group.
pub(crate) trait Starter: Send + Sync {
    /// Hands the child's ending to the waiting caller, if it still waits.
    /// Returns the failure back when the child had already signalled.
    fn child_ended(
        &self,
        outcome: ChildOutcome,
        failure: Option<Failure>,
    ) -> Result<(), Option<Failure>>;
}

/// Builds the task that runs an admitted child, and its [`Ctl`] if the group
/// has a grace period. `make` gets the child's own token if `with_token`
/// (`spawn_with` hands it over); `starter` is a `start` caller.
///
/// Inlined, as are `ChildTask::new` and the spawn calls after it, so that the
/// task is built where tokio moves it into its cell rather than copied through
/// each call.
#[inline(always)]
pub(crate) fn prepare<M, F, T, E, K>(
    admitted: Admitted,
    name: Name,
    with_token: bool,
    starter: Option<Arc<dyn Starter>>,
    make: M,
) -> (ChildTask<F, T, E, K>, Option<Arc<Ctl>>)
where
    M: FnOnce(Option<CancellationToken>) -> F,
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: IntoFailure<K>,
    K: 'static,
{
    let sup = admitted.member.supervisor().clone();
    let ctl = sup
        .config
        .grace
        .is_some()
        .then(|| Arc::new(Ctl::new(sup.clone())));
    let own = match (with_token, &ctl) {
        (false, _) => None,
        (true, Some(ctl)) => Some(ctl.token()),
        (true, None) => Some(sup.token.child_token()),
    };
    let mut settle = Settle::new(name, admitted.index, admitted.member, admitted.run_now);
    // `make` is the caller's code: if it panics, `settle` is dropped, and the
    // child settles as cancelled, giving back its slot and its live entry.
    let fut = make(own.clone());
    // With a `Ctl`, the own token lives there.
    let own = own.filter(|_| ctl.is_none());
    if ctl.is_some() || own.is_some() || starter.is_some() {
        settle.control(ctl.clone(), own, starter);
    }
    (ChildTask::new(fut, settle), ctl)
}
