//! A child waiting under the concurrency limit: its task, not yet spawned
//! ([`Deferred`]), and the cell through which its handle finds it once it
//! runs ([`Pending`]).
//!
//! A queued child is a stored future, not a task: the supervisor keeps the
//! boxed [`Deferred`] and spawns it when a slot frees, or drops it unstarted
//! when the group cancels. Until then its handle has no `JoinHandle` to read,
//! so the two share a `Pending` cell. The task waits in a box of its own and is
//! spawned as that box, so starting it moves a pointer, not the task, and its
//! tokio task cell holds only that pointer.

use std::error::Error;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use crate::handle::{Link, Out};
use crate::supervisor::Supervisor;
use crate::task::ChildTask;

/// A queued child, type-erased for the supervisor's queue.
pub(crate) trait Deferred: Send {
    /// Spawns the child, which now holds one of the limit's slots.
    fn start(self: Box<Self>, sup: &Supervisor, runtime: &Handle) -> std::io::Result<()>;
}

/// What a queued child's handle finds in its cell.
enum State<T> {
    /// Still queued; `cancelled` if its handle cancelled it meanwhile.
    Waiting { cancelled: bool },
    /// Taken from the queue and spawned.
    Spawned(JoinHandle<Out<T>>),
    /// Dropped from the queue unstarted (the group cancelled), or the
    /// runtime refused the spawn.
    Dropped,
    /// The handle has taken what was here.
    Taken,
}

/// Shared by a queued child and its handle.
pub(crate) struct Pending<T> {
    state: Mutex<State<T>>,
}

impl<T> Pending<T> {
    pub(crate) fn new() -> Self {
        Self {
            state: Mutex::new(State::Waiting { cancelled: false }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Cancels the child: at once if it runs, else as soon as it leaves the
    /// queue.
    pub(crate) fn cancel(&self) {
        match &mut *self.lock() {
            State::Waiting { cancelled } => *cancelled = true,
            State::Spawned(task) => task.abort(),
            _ => {}
        }
    }

    /// Where the handle finds the child from now on, once it has left the
    /// queue.
    pub(crate) fn take(&self) -> Option<Link<T>> {
        let mut state = self.lock();
        match std::mem::replace(&mut *state, State::Taken) {
            State::Spawned(task) => Some(Link::Spawned(task)),
            State::Dropped => Some(Link::Ended(Out::Cancelled)),
            waiting => {
                *state = waiting;
                None
            }
        }
    }
}

/// A queued child's task and its handle's cell.
pub(crate) struct DeferredChild<F, T, E> {
    task: Option<Pin<Box<ChildTask<F, T, E>>>>,
    pending: Arc<Pending<T>>,
}

impl<F, T, E> DeferredChild<F, T, E> {
    pub(crate) fn new(task: ChildTask<F, T, E>, pending: Arc<Pending<T>>) -> Self {
        Self {
            task: Some(Box::pin(task)),
            pending,
        }
    }
}

impl<F, T, E> Deferred for DeferredChild<F, T, E>
where
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Error + Send + Sync + 'static,
{
    fn start(mut self: Box<Self>, sup: &Supervisor, runtime: &Handle) -> std::io::Result<()> {
        let Some(mut task) = self.task.take() else {
            return Ok(());
        };
        task.as_mut().hold_slot();
        // Spawned under the cell's lock, so a handle never finds the cell
        // still waiting once the child has run.
        let mut state = self.pending.lock();
        let cancelled = matches!(*state, State::Waiting { cancelled: true });
        let name = task.name().clone();
        let spawned = sup.spawn_task(runtime, &name, task);
        match spawned {
            Ok(task) => {
                if cancelled {
                    // Aborted before its first poll: it settles as cancelled
                    // and gives its slot back.
                    task.abort();
                }
                *state = State::Spawned(task);
                Ok(())
            }
            Err(error) => {
                *state = State::Dropped;
                Err(error)
            }
        }
    }
}

impl<F, T, E> Drop for DeferredChild<F, T, E> {
    fn drop(&mut self) {
        if self.task.is_some() {
            // Marked before the task goes (as the fields drop, after this):
            // the task's ending is what lets the group finish, and by then its
            // handle must find it ended.
            *self.pending.lock() = State::Dropped;
        }
    }
}
