//! A child waiting under the concurrency limit: one [`Cell`] holds its task,
//! not yet spawned, and what its handle reads of it; the supervisor's queue
//! holds the same cell as an [`Entry`].
//!
//! A queued child is a stored future, not a task: its task waits in the cell
//! and moves into the runtime when a slot frees, or is dropped unstarted when
//! the group cancels. The handle and the queue see the one cell each through
//! the part it needs: the handle as [`Pending`] (it knows the output's type,
//! not the task's), the queue as [`Deferred`] (it knows neither). So a queued
//! child costs one allocation besides its task.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Waker;

use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use crate::ctl::Ctl;
use crate::supervisor::Supervisor;

/// A queued child's cell as the queue uses it.
pub(crate) trait Deferred: Send + Sync {
    /// Spawns the child, which now holds one of the limit's slots. Does
    /// nothing if it already left the queue.
    fn start(&self, sup: &Supervisor, runtime: &Handle) -> std::io::Result<()>;

    /// Drops the child unstarted (it settles as cancelled), if it has not
    /// left the queue yet.
    fn abandon(&self);
}

/// A queued child as the supervisor's queue holds it: started once, or
/// dropped unstarted as the entry drops (the group cancelled, or the queue
/// itself went).
pub(crate) struct Entry(Option<Arc<dyn Deferred>>);

impl Entry {
    pub(crate) fn new(cell: Arc<dyn Deferred>) -> Self {
        Self(Some(cell))
    }

    /// Spawns the child. A spawn the runtime refuses has nobody to tell but
    /// the child's handle, which then reads it as cancelled.
    pub(crate) fn start(mut self, sup: &Supervisor, runtime: &Handle) -> std::io::Result<()> {
        match self.0.take() {
            Some(cell) => cell.start(sup, runtime),
            None => Ok(()),
        }
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        if let Some(cell) = self.0.take() {
            cell.abandon();
        }
    }
}

/// What a queued child's handle finds in its cell.
enum State<O> {
    /// Still queued; `cancelled` if its handle cancelled it meanwhile, and
    /// the task awaiting the handle, to wake as the child leaves the queue
    /// (boxed: rarely anyone awaits a queued child, and every queued child's
    /// cell is a word smaller for it).
    Waiting {
        cancelled: bool,
        waiter: Option<Box<Waker>>,
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
    /// It runs, as this task (with its `Ctl`, in a group with a grace period).
    Spawned(JoinHandle<O>, Option<Arc<Ctl>>),
    /// It never ran.
    Dropped,
}

/// A queued child's cell: `O` is its task's output, `C` the place of the
/// task itself, an `Option` of it until the task leaves.
pub(crate) struct Cell<O, C: ?Sized> {
    /// Set only when the group has a grace period: cancelled through it, a
    /// child stops within the grace period, queued or not.
    ctl: Option<Arc<Ctl>>,
    inner: Mutex<Inner<O, C>>,
}

struct Inner<O, C: ?Sized> {
    state: State<O>,
    task: C,
}

/// A queued child's cell as its handle sees it: the task's type erased.
pub(crate) type Pending<O> = Cell<O, dyn Send>;

impl<O, C: ?Sized> Cell<O, C> {
    fn lock(&self) -> MutexGuard<'_, Inner<O, C>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Cancels the child: at once if it runs, else as soon as it leaves the
    /// queue (with a grace period, through its `Ctl`, which it checks as it
    /// starts).
    pub(crate) fn cancel(&self) {
        if let Some(ctl) = &self.ctl {
            // A child not started yet sees it as it starts, and ends then.
            return ctl.cancel();
        }
        match &mut self.lock().state {
            State::Waiting { cancelled, .. } => *cancelled = true,
            State::Spawned(task) => task.abort(),
            _ => {}
        }
    }

    /// How the child left the queue, once it has; else `waiter` (if any) is
    /// woken when it does.
    pub(crate) fn take(&self, waiter: Option<&Waker>) -> Option<Left<O>> {
        let state = &mut self.lock().state;
        match std::mem::replace(state, State::Taken) {
            State::Spawned(task) => Some(Left::Spawned(task, self.ctl.clone())),
            State::Dropped => Some(Left::Dropped),
            State::Waiting {
                cancelled,
                waiter: old,
            } => {
                let waiter = match (waiter, old) {
                    (Some(new), Some(mut old)) => {
                        (*old).clone_from(new);
                        Some(old)
                    }
                    (Some(new), None) => Some(Box::new(new.clone())),
                    (None, old) => old,
                };
                *state = State::Waiting { cancelled, waiter };
                None
            }
            State::Taken => None,
        }
    }
}

impl<O, T> Cell<O, Option<T>> {
    /// The cell of `task`, queued; `ctl` is the child's, if it has one.
    pub(crate) fn new(task: T, ctl: Option<Arc<Ctl>>) -> Self {
        Self {
            ctl,
            inner: Mutex::new(Inner {
                state: State::Waiting {
                    cancelled: false,
                    waiter: None,
                },
                task: Some(task),
            }),
        }
    }

    /// The child leaves the queue to run: `spawn` hands its task to the
    /// runtime under the cell's lock, so a handle never finds the cell still
    /// waiting once the child has run. (The task knows nothing of the cell:
    /// one the runtime drops at once does not reach for this lock.)
    pub(crate) fn start_with(
        &self,
        spawn: impl FnOnce(T) -> std::io::Result<JoinHandle<O>>,
    ) -> std::io::Result<()> {
        let mut inner = self.lock();
        let Some(task) = inner.task.take() else {
            return Ok(());
        };
        match spawn(task) {
            Ok(task) => {
                if let State::Waiting {
                    cancelled: true, ..
                } = inner.state
                {
                    // Aborted before its first poll: it settles as cancelled
                    // and gives its slot back.
                    task.abort();
                }
                leave(&mut inner.state, State::Spawned(task));
                Ok(())
            }
            Err(error) => {
                leave(&mut inner.state, State::Dropped);
                Err(error)
            }
        }
    }

    /// The task, taken from the queue unstarted, the cell marked as dropped:
    /// for the caller to drop outside the lock. Marked first, because the
    /// task's membership goes with it: the group is done only once its
    /// handle would read the child as ended.
    pub(crate) fn take_unstarted(&self) -> Option<T> {
        let mut inner = self.lock();
        let task = inner.task.take()?;
        leave(&mut inner.state, State::Dropped);
        Some(task)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::counting_waker;

    /// A cell as the queue sees it (here, with a string for a task).
    type Queued = Arc<Cell<(), Option<String>>>;

    /// The queue's view and the handle's view are one cell.
    fn views(task: String) -> (Queued, Arc<Pending<()>>) {
        let cell = Arc::new(Cell::new(task, None));
        let pending: Arc<Pending<()>> = cell.clone();
        (cell, pending)
    }

    #[test]
    fn a_child_dropped_from_the_queue_is_handed_back_once_and_its_waiter_woken() {
        let (cell, pending) = views("task".to_owned());
        let (count, waker) = counting_waker::new();
        assert!(pending.take(Some(&waker)).is_none(), "still queued");
        assert_eq!(cell.take_unstarted().as_deref(), Some("task"));
        assert_eq!(count.get(), 1, "the waiter is woken");
        assert!(cell.take_unstarted().is_none(), "handed back once");
        let never = cell.start_with(|_| unreachable!("a dropped child never starts"));
        assert!(never.is_ok());
        assert!(matches!(pending.take(None), Some(Left::Dropped)));
        assert!(pending.take(None).is_none(), "read once");
    }

    #[test]
    fn a_refused_spawn_reads_as_dropped() {
        let (cell, pending) = views("task".to_owned());
        let (count, waker) = counting_waker::new();
        assert!(pending.take(Some(&waker)).is_none());
        let refused = cell.start_with(|task| {
            assert_eq!(task, "task", "the spawn is given the task");
            Err(std::io::Error::other("shutting down"))
        });
        assert!(refused.is_err(), "the refusal is passed on");
        assert_eq!(count.get(), 1);
        assert!(matches!(pending.take(None), Some(Left::Dropped)));
        assert!(
            cell.take_unstarted().is_none(),
            "the task went to the spawn"
        );
    }

    #[test]
    fn only_the_latest_waiter_is_woken() {
        let (cell, pending) = views("task".to_owned());
        let (first, first_waker) = counting_waker::new();
        let (second, second_waker) = counting_waker::new();
        assert!(pending.take(Some(&first_waker)).is_none());
        assert!(pending.take(Some(&second_waker)).is_none());
        assert!(pending.take(None).is_none(), "a look keeps the waiter");
        drop(cell.take_unstarted());
        assert_eq!(first.get(), 0);
        assert_eq!(second.get(), 1);
    }
}
