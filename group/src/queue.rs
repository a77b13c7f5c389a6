//! A child waiting under the concurrency limit: its task, not yet spawned
//! ([`Deferred`]), and the cell through which its handle finds it once it
//! runs ([`Pending`]).
//!
//! A queued child is a stored future, not a task: the supervisor keeps its
//! boxed task and spawns that box when a slot frees (moving a pointer, not the
//! task), or drops it unstarted when the group cancels. Until then its handle
//! has no `JoinHandle` to read, so the two share a `Pending` cell, which the
//! task keeps while it waits. The cell holds the task's `JoinHandle` of
//! whatever output type the task has: the queue knows no child type.

use std::pin::Pin;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::Waker;

use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use crate::supervisor::Supervisor;

/// A queued child's task, type-erased for the supervisor's queue.
pub(crate) trait Deferred: Send {
    /// Spawns the child, which now holds one of the limit's slots.
    fn start(self: Pin<Box<Self>>, sup: &Supervisor, runtime: &Handle) -> std::io::Result<()>;
}

/// What a queued child's handle finds in its cell.
enum State<O> {
    /// Still queued; `cancelled` if its handle cancelled it meanwhile, and
    /// the task awaiting the handle, to wake as the child leaves the queue.
    Waiting {
        cancelled: bool,
        waiter: Option<Waker>,
    },
    /// Taken from the queue and spawned.
    Spawned(JoinHandle<O>),
    /// Dropped from the queue unstarted (the group cancelled), or the
    /// runtime refused the spawn.
    Dropped,
    /// The handle has taken what was here.
    Taken,
}

/// How a queued child left the queue, as its handle learns it.
pub(crate) enum Left<O> {
    /// It runs, as this task.
    Spawned(JoinHandle<O>),
    /// It never ran.
    Dropped,
}

/// Shared by a queued child and its handle; `O` is its task's output.
pub(crate) struct Pending<O> {
    state: Mutex<State<O>>,
}

impl<O> Pending<O> {
    pub(crate) fn new() -> Self {
        Self {
            state: Mutex::new(State::Waiting {
                cancelled: false,
                waiter: None,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<O>> {
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

    /// The child leaves the queue to run: `spawn` hands it to the runtime,
    /// under the cell's lock, so a handle never finds the cell still waiting
    /// once the child has run.
    pub(crate) fn spawn(
        &self,
        spawn: impl FnOnce() -> std::io::Result<JoinHandle<O>>,
    ) -> std::io::Result<()> {
        let mut state = self.lock();
        match spawn() {
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

    /// How the child left the queue, once it has; else `waiter` (if any) is
    /// woken when it does.
    pub(crate) fn take(&self, waiter: Option<&Waker>) -> Option<Left<O>> {
        let mut state = self.lock();
        match std::mem::replace(&mut *state, State::Taken) {
            State::Spawned(task) => Some(Left::Spawned(task)),
            State::Dropped => Some(Left::Dropped),
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
fn leave<O>(state: &mut State<O>, next: State<O>) {
    if let State::Waiting {
        waiter: Some(waiter),
        ..
    } = std::mem::replace(state, next)
    {
        waiter.wake();
    }
}
