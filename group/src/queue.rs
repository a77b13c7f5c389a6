//! A child waiting under the concurrency limit: its task, not yet spawned
//! ([`Deferred`]), and the cell through which its handle finds it once it
//! runs ([`Pending`]).
//!
//! A queued child is a stored future, not a task: the supervisor keeps its
//! boxed task and spawns that box when a slot frees (moving a pointer, not the
//! task), or drops it unstarted when the group cancels. Until then its handle
//! has no `JoinHandle` to read, so the two share a `Pending` cell, which the
//! task keeps while it waits.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::Waker;

use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use crate::handle::{Link, Out};
use crate::into_failure::IntoFailure;
use crate::supervisor::Supervisor;
use crate::task::ChildTask;

/// A queued child's task, type-erased for the supervisor's queue.
pub(crate) trait Deferred: Send {
    /// Spawns the child, which now holds one of the limit's slots.
    fn start(self: Pin<Box<Self>>, sup: &Supervisor, runtime: &Handle) -> std::io::Result<()>;
}

/// What a queued child's handle finds in its cell.
enum State<T> {
    /// Still queued; `cancelled` if its handle cancelled it meanwhile, and
    /// the task awaiting the handle, to wake as the child leaves the queue.
    Waiting {
        cancelled: bool,
        waiter: Option<Waker>,
    },
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
            state: Mutex::new(State::Waiting {
                cancelled: false,
                waiter: None,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Cancels the child: at once if it runs, else as soon as it leaves the
    /// queue.
    pub(crate) fn cancel(&self) {
        match &mut *self.lock() {
            State::Waiting { cancelled, .. } => *cancelled = true,
            State::Spawned(task) => task.abort(),
            _ => {}
        }
    }

    /// The child was dropped from the queue without running.
    pub(crate) fn dropped(&self) {
        leave(&mut self.lock(), State::Dropped);
    }

    /// Where the handle finds the child from now on, once it has left the
    /// queue; else `waiter` (if any) is woken when it does.
    pub(crate) fn take(&self, waiter: Option<&Waker>) -> Option<Link<T>> {
        let mut state = self.lock();
        match std::mem::replace(&mut *state, State::Taken) {
            State::Spawned(task) => Some(Link::Spawned(task)),
            State::Dropped => Some(Link::Ended(Out::Cancelled)),
            State::Waiting {
                cancelled,
                waiter: old,
            } => {
                let waiter = waiter.cloned().or(old);
                *state = State::Waiting { cancelled, waiter };
                None
            }
            State::Taken => None,
        }
    }
}

/// The child leaves the queue: the cell holds `next`, and the task awaiting
/// the handle is woken.
fn leave<T>(state: &mut State<T>, next: State<T>) {
    if let State::Waiting {
        waiter: Some(waiter),
        ..
    } = std::mem::replace(state, next)
    {
        waiter.wake();
    }
}

impl<F, T, E, K> Deferred for ChildTask<F, T, E, K>
where
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: IntoFailure<K>,
    K: 'static,
{
    fn start(mut self: Pin<Box<Self>>, sup: &Supervisor, runtime: &Handle) -> std::io::Result<()> {
        let name = self.name().clone();
        // Taken out of the task first: a task the runtime drops at once (it
        // is shutting down) must not reach for the cell locked below.
        let Some(pending) = self.as_mut().dequeue() else {
            return sup.spawn_task(runtime, &name, self).map(drop);
        };
        // Spawned under the cell's lock, so a handle never finds the cell
        // still waiting once the child has run.
        let mut state = pending.lock();
        match sup.spawn_task(runtime, &name, self) {
            Ok(task) => {
                if let State::Waiting {
                    cancelled: true, ..
                } = *state
                {
                    // Aborted before its first poll: it settles as cancelled
                    // and gives its slot back.
                    task.abort();
                }
                leave(&mut state, State::Spawned(task));
                Ok(())
            }
            Err(error) => {
                leave(&mut state, State::Dropped);
                Err(error)
            }
        }
    }
}
