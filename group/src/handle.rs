//! [`ChildHandle`]: what a spawner keeps of a child, and [`ChildResult`].
//!
//! A handle reads its child's output from the `JoinHandle` of the child's
//! task, so the output waits in tokio's task cell and a child costs no
//! allocation of its own. The hard part is the moment a child ends: tokio
//! drops a finished task's future (which is how the group learns that the
//! child settled) just *before* it stores the output. A handle read after the
//! group has finished can land in that gap on a multi-threaded runtime, and
//! then waits, parked rather than spinning, the few instructions it takes
//! tokio to store the output; a read while the group runs just sees the
//! child as not ended yet. Awaiting a handle simply awaits the task.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

use futures_util::FutureExt as _;
use tokio::task::JoinHandle;
use tokio::task::coop::unconstrained;

use crate::ctl::Ctl;
use crate::error_group::Failure;
use crate::group::Started;
use crate::name::Name;
use crate::outcome::ChildOutcome;
use crate::outcome::NoOutput;
use crate::queue::{Left, Pending};
use crate::supervisor::Supervisor;
use crate::task::Out;

/// Where a handle finds its child.
pub(crate) enum Link<T> {
    /// The child's task is running, or has ended and holds the output;
    /// `ctl` is set only when the group has a grace period. (Here rather
    /// than in the handle: a queued child's is in its cell, and the handle
    /// stays as small.)
    Spawned {
        task: JoinHandle<Out<T>>,
        ctl: Option<Arc<Ctl>>,
    },
    /// The child waits for a slot under the group's limit.
    Queued(Arc<Pending<Out<T>>>),
    /// The output has been read from the task.
    Ended(Out<T>),
}

impl<T> From<Left<Out<T>>> for Link<T> {
    fn from(left: Left<Out<T>>) -> Self {
        match left {
            Left::Spawned(task, ctl) => Self::Spawned { task, ctl },
            Left::Dropped => Self::Ended(Out::Cancelled),
        }
    }
}

impl<T> From<Started<Out<T>>> for Link<T> {
    fn from(started: Started<Out<T>>) -> Self {
        match started {
            Started::Spawned(task, ctl) => Self::Spawned { task, ctl },
            Started::Queued(pending) => Self::Queued(pending),
        }
    }
}

/// A handle to one child of a group, returned by `spawn`.
///
/// Read the child's output after the group has finished (in spawn order, if
/// you keep the handles in a `Vec`): the outputs of children that succeeded
/// before a sibling failed are still there, which is how partial results are
/// collected. Dropping the handle does not affect the child.
pub struct ChildHandle<T> {
    name: Name,
    index: usize,
    sup: Arc<Supervisor>,
    link: Mutex<Link<T>>,
}

impl<T> std::fmt::Debug for ChildHandle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildHandle")
            .field("name", &self.name)
            .field("index", &self.index)
            .field("outcome", &self.outcome())
            .finish_non_exhaustive()
    }
}

impl<T> ChildHandle<T> {
    pub(crate) fn new(name: Name, index: usize, sup: Arc<Supervisor>, link: Link<T>) -> Self {
        Self {
            name,
            index,
            sup,
            link: Mutex::new(link),
        }
    }

    /// The name the child was spawned with.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The child's spawn index in its group (0 for the first child).
    pub fn index(&self) -> usize {
        self.index
    }

    /// Cancels this child alone. It ends as cancelled, which is not a group
    /// failure: its siblings and the group carry on.
    ///
    /// Without a grace period the child is stopped at its next `.await`;
    /// with one, its token fires and it has the grace period to finish.
    pub fn cancel(&self) {
        match &*self.lock() {
            Link::Spawned { ctl: Some(ctl), .. } => ctl.cancel(),
            Link::Spawned { task, ctl: None } => task.abort(),
            Link::Queued(pending) => pending.cancel(),
            Link::Ended(_) => {}
        }
    }

    /// How the child ended, or `None` while it is still running.
    pub fn outcome(&self) -> Option<ChildOutcome> {
        match &*self.read() {
            Link::Ended(out) => Some(out.outcome()),
            _ => None,
        }
    }

    /// Whether the child has ended.
    pub fn is_finished(&self) -> bool {
        self.outcome().is_some()
    }

    /// Takes the child's output if it succeeded (and the output was not
    /// taken before). Else [`NoOutput`] says why: it failed, was cancelled,
    /// was read already, or, a misuse, is still running (read outputs after
    /// the group's join, or await the handle).
    pub fn take_output(&self) -> Result<T, NoOutput> {
        take(&mut self.read())
    }

    /// The child's output, consuming the handle. See [`take_output`](Self::take_output).
    pub fn into_output(mut self) -> Result<T, NoOutput> {
        let sup = &self.sup;
        let link = self.link.get_mut().unwrap_or_else(PoisonError::into_inner);
        read(link, sup);
        take(link)
    }

    /// The child's result, consuming the handle. Under
    /// [`Policy::CollectAll`](crate::Policy::CollectAll) a failure stays with
    /// its child and comes back here as [`ChildResult::Err`]; under the other
    /// policies it is part of the group's [`ErrorGroup`](crate::ErrorGroup)
    /// and this says [`ChildResult::Raised`].
    pub fn into_result(mut self) -> ChildResult<T> {
        let sup = &self.sup;
        let link = self.link.get_mut().unwrap_or_else(PoisonError::into_inner);
        read(link, sup);
        match std::mem::replace(link, Link::Ended(Out::Taken)) {
            Link::Ended(out) => ChildResult::from_out(out),
            Link::Spawned { .. } | Link::Queued(_) => ChildResult::Running,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Link<T>> {
        self.link.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The link, with the child's output read into it if the child has ended.
    fn read(&self) -> MutexGuard<'_, Link<T>> {
        let mut link = self.lock();
        read(&mut link, &self.sup);
        link
    }
}

/// Reads the child's output into `link` if the child has ended.
fn read<T>(link: &mut Link<T>, sup: &Supervisor) {
    if let Link::Queued(pending) = link {
        if let Some(left) = pending.take(None) {
            *link = left.into();
        }
    }
    if let Link::Spawned { task, .. } = link {
        if !task.is_finished() && !sup.is_settled() {
            return; // still running
        }
        // Finished, or in the gap before tokio stores the output (see the
        // module docs): read it outside the coop budget, which could
        // otherwise report a finished task as pending.
        let result = match unconstrained(&mut *task).now_or_never() {
            Some(result) => result,
            None => wait_parked(task),
        };
        *link = Link::Ended(ended(result));
    }
}

/// What a child's task returned, as its handle keeps it.
fn ended<T>(result: Result<Out<T>, tokio::task::JoinError>) -> Out<T> {
    // A task error is an abort, or a drop at the runtime's shutdown. The
    // child's own panics are caught in its task; one from elsewhere in the
    // task (a subscriber's) reads as cancelled too.
    result.unwrap_or(Out::Cancelled)
}

/// Waits for a task the group saw go, parked: tokio is storing its output,
/// on another thread, and wakes this one as it does.
fn wait_parked<T>(task: &mut JoinHandle<Out<T>>) -> Result<Out<T>, tokio::task::JoinError> {
    struct Unpark(std::thread::Thread);

    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }

    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(result) = Pin::new(&mut unconstrained(&mut *task)).poll(&mut cx) {
            return result;
        }
        std::thread::park();
    }
}

/// Takes a successful child's output out of `link`, or says why there is none.
fn take<T>(link: &mut Link<T>) -> Result<T, NoOutput> {
    let Link::Ended(out) = link else {
        return Err(NoOutput::Running);
    };
    let why = match out {
        Out::Ok(_) => match std::mem::replace(out, Out::Taken) {
            Out::Ok(value) => return Ok(value),
            _ => NoOutput::Taken,
        },
        Out::Taken => NoOutput::Taken,
        Out::Cancelled => NoOutput::Cancelled,
        Out::Raised(_) | Out::Failed(_) => NoOutput::Failed,
    };
    Err(why)
}

/// Awaiting a handle waits for its child to end (not for the whole group),
/// and gives its [`ChildResult`].
impl<T> IntoFuture for ChildHandle<T> {
    type Output = ChildResult<T>;
    type IntoFuture = ChildFuture<T>;

    fn into_future(self) -> ChildFuture<T> {
        ChildFuture { handle: Some(self) }
    }
}

/// The future of an awaited [`ChildHandle`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct ChildFuture<T> {
    handle: Option<ChildHandle<T>>,
}

// Nothing in it is ever pinned: the output is moved out, never polled.
impl<T> Unpin for ChildFuture<T> {}

impl<T> Future for ChildFuture<T> {
    type Output = ChildResult<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<ChildResult<T>> {
        let Some(handle) = self.handle.as_mut() else {
            return Poll::Ready(ChildResult::Taken);
        };
        let link = handle
            .link
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        loop {
            match link {
                Link::Queued(pending) => match pending.take(Some(cx.waker())) {
                    Some(left) => *link = left.into(),
                    None => return Poll::Pending,
                },
                Link::Spawned { task, .. } => {
                    let result = std::task::ready!(Pin::new(task).poll(cx));
                    *link = Link::Ended(ended(result));
                }
                Link::Ended(_) => break,
            }
        }
        match self.handle.take() {
            Some(handle) => Poll::Ready(handle.into_result()),
            None => Poll::Ready(ChildResult::Taken),
        }
    }
}

/// A child's result, from [`ChildHandle::into_result`].
#[derive(Debug)]
#[must_use]
#[non_exhaustive]
pub enum ChildResult<T> {
    /// The child succeeded with this output.
    Ok(T),
    /// The child failed; its failure stayed with it (under
    /// [`Policy::CollectAll`](crate::Policy::CollectAll)).
    Err(Failure),
    /// The child failed; its failure is in the group's error.
    Raised,
    /// The child was cancelled before it settled.
    Cancelled,
    /// The child succeeded, but its output was already taken.
    Taken,
    /// The child has not settled yet.
    Running,
}

impl<T> ChildResult<T> {
    /// What a handle (or [`Completions`](crate::Completions)) says of `out`.
    pub(crate) fn from_out(out: Out<T>) -> Self {
        match out {
            Out::Ok(value) => Self::Ok(value),
            Out::Taken => Self::Taken,
            Out::Cancelled => Self::Cancelled,
            Out::Raised(_) => Self::Raised,
            Out::Failed(failure) => Self::Err(*failure),
        }
    }

    /// `Ok(output)`, `Err(failure)`, and `None` for the other cases: the shape
    /// of `gather(return_exceptions=True)`'s list entries.
    pub fn into_std(self) -> Option<Result<T, Failure>> {
        match self {
            Self::Ok(value) => Some(Ok(value)),
            Self::Err(failure) => Some(Err(failure)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    /// A fan-out keeps a handle per child, in the caller's `Vec`: its size is
    /// most of what a child costs beyond its task (see BENCHMARKS.md).
    #[test]
    fn a_handle_stays_at_nine_words() {
        let size = std::mem::size_of::<super::ChildHandle<u64>>();
        assert!(size <= 72, "{size}");
    }
}
