//! What one child's task and its handle share ([`Slot`]), how one child is
//! cancelled alone ([`Ctl`]), and [`prepare`], which builds a child's task and
//! handle.
//!
//! Everything per child that is not the child's own future lives in the one
//! `Slot` allocation, so the task tokio allocates (cache-line aligned, which
//! makes large ones dear) stays small.

use std::any::Any;
use std::error::Error;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use futures_util::task::AtomicWaker;
use tokio_util::sync::CancellationToken;
use tokio_util::task::task_tracker::TaskTrackerToken;

use crate::context::ChildToken;
use crate::error_group::{BoxError, Failure};
use crate::handle::ChildHandle;
use crate::name::Name;
use crate::outcome::ChildOutcome;
use crate::supervisor::Supervisor;
use crate::task::ChildTask;

/// What a child's task and its handle share.
#[derive(Debug)]
pub(crate) struct Slot<T> {
    pub(crate) name: Name,
    pub(crate) index: usize,
    pub(crate) ctl: Ctl,
    state: Mutex<SlotState<T>>,
}

pub(crate) struct SlotState<T> {
    pub(crate) outcome: Option<ChildOutcome>,
    pub(crate) value: Option<T>,
    /// The child's failure, when its group leaves failures with the children.
    pub(crate) failure: Option<Failure>,
    /// A `start` caller still waiting for the child's signal.
    pub(crate) starter: Option<Arc<dyn Starter>>,
}

impl<T> std::fmt::Debug for SlotState<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlotState")
            .field("outcome", &self.outcome)
            .finish_non_exhaustive()
    }
}

impl<T> Slot<T> {
    pub(crate) fn lock(&self) -> MutexGuard<'_, SlotState<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<T: Send> ChildToken for Slot<T> {
    fn token(&self) -> CancellationToken {
        self.ctl.token()
    }
}

/// Cancelling one child. The group's token stops every child; a child is
/// stopped alone by its flag (and its own token, if one was made), and its
/// task is woken through the waker it left when it last went pending.
#[derive(Debug)]
pub(crate) struct Ctl {
    group: CancellationToken,
    pub(crate) own: OnceLock<CancellationToken>,
    cancelled: AtomicBool,
    pub(crate) waker: AtomicWaker,
}

impl Ctl {
    /// The child's own token, a child of the group's, made on first use.
    pub(crate) fn token(&self) -> CancellationToken {
        let token = self.own.get_or_init(|| self.group.child_token()).clone();
        // `cancel` sets the flag before it looks for the token: one of the
        // two sees the other.
        if self.cancelled.load(Ordering::SeqCst) {
            token.cancel();
        }
        token
    }

    pub(crate) fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
        if let Some(token) = self.own.get() {
            token.cancel();
        }
        self.waker.wake();
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
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

/// How to build one child.
pub(crate) struct Spec {
    pub name: Name,
    pub index: usize,
    /// Make the child's own token up front (`spawn_with` hands it over).
    pub with_token: bool,
    pub tracked: TaskTrackerToken,
    pub starter: Option<Arc<dyn Starter>>,
}

/// Builds the task that runs one child, and the handle to it. `make` gets the
/// child's own token if the spec asks for it.
pub(crate) fn prepare<M, F, T, E>(
    sup: Arc<Supervisor>,
    spec: Spec,
    make: M,
) -> (ChildTask<F, T, E>, ChildHandle<T>)
where
    M: FnOnce(Option<CancellationToken>) -> F,
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Error + Send + Sync + 'static,
{
    let slot = Arc::new(Slot {
        name: spec.name,
        index: spec.index,
        ctl: Ctl {
            group: sup.token.clone(),
            own: OnceLock::new(),
            cancelled: AtomicBool::new(false),
            waker: AtomicWaker::new(),
        },
        state: Mutex::new(SlotState {
            outcome: None,
            value: None,
            failure: None,
            starter: spec.starter,
        }),
    });
    let fut = make(spec.with_token.then(|| slot.ctl.token()));
    let task = ChildTask::new(fut, sup, slot.clone(), spec.tracked);
    (task, ChildHandle::new(slot))
}
