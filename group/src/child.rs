//! Building one child: [`prepare`] makes its task (and its [`Ctl`] when its
//! group has a grace period); [`Ending`] is how its future ended.
//!
//! A child costs one allocation, the task tokio makes for it; one that waits
//! adds a box only in the cases `Extra` (in the task) lists. Its output goes
//! back to its handle through that task's `JoinHandle` (or, for a child of a
//! `Completions`, into its channel: see `crate::delivered`), and cancelling
//! it alone is `JoinHandle::abort`, which is exactly "stop at the next
//! `.await`". Only a group with a grace period needs a way into a running
//! child (to say "finish up" without dropping it), and pays one more
//! allocation per child for it: the shared [`Ctl`].

use std::any::Any;
use std::future::Future;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::ctl::Ctl;
use crate::error_group::{BoxError, Failure};
use crate::into_failure::IntoFailure;
use crate::name::Name;
use crate::outcome::ChildOutcome;
use crate::supervisor::Admitted;
use crate::task::{ChildTask, Settle};

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
    // Borrowed from the membership, not cloned: no reference count to take
    // and give back for every child.
    let sup = admitted.member.supervisor();
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
