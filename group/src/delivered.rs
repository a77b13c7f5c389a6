//! [`Delivered`]: a child's task that hands its ending to a channel, for
//! [`Completions`](crate::Completions), rather than leave it in the task for
//! a `JoinHandle` to read.
//!
//! So the task can be freed as soon as the child ends, and what it left
//! waits in the channel, in the order the children ended. Every child hands
//! over exactly one ending: the one it settled with, or, if its task is
//! dropped before that (aborted, dropped from the queue by a cancellation,
//! or at the runtime's shutdown), a cancellation. Either is sent after the
//! child's task is dropped, once its group has counted it gone, as tokio
//! stores a task's output only after it has dropped the task's future.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use tokio::sync::mpsc::UnboundedSender;

use crate::into_failure::IntoFailure;
use crate::name::Name;
use crate::task::{ChildTask, Out, Queueable};

/// What a child hands over as it ends: its spawn index and its output.
pub(crate) type Ended<T> = (usize, Out<T>);

pin_project_lite::pin_project! {
    /// A child's task, with the channel its ending goes to.
    pub(crate) struct Delivered<F, T, E, K> {
        #[pin]
        state: State<F, T, E, K>,
        // Shared rather than cloned: a sender's clone counts senders too.
        to: Arc<UnboundedSender<Ended<T>>>,
    }

    impl<F, T, E, K> PinnedDrop for Delivered<F, T, E, K> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            let ending = match this.state.as_mut().project() {
                // Dropped before it ended: the child settles as cancelled as
                // its task goes, and says so.
                StateProj::Running { task } => (task.index(), Out::Cancelled),
                StateProj::Ended { index, out } => (*index, std::mem::replace(out, Out::Taken)),
                StateProj::Sent => return,
            };
            // Sent as this goes, even if dropping the task panics (a
            // `Drop` of the child's): its `Completions` waits for every
            // ending.
            let _send = SendOnDrop { to: this.to, ending: Some(ending) };
            this.state.set(State::Sent);
        }
    }
}

/// Sends an ending as it is dropped.
struct SendOnDrop<'a, T> {
    to: &'a UnboundedSender<Ended<T>>,
    ending: Option<Ended<T>>,
}

impl<T> Drop for SendOnDrop<'_, T> {
    fn drop(&mut self) {
        if let Some(ending) = self.ending.take() {
            // A receiver gone (its `Completions` dropped) takes nothing more.
            let _ = self.to.send(ending);
        }
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<F, T, E, K> {
        Running {
            #[pin]
            task: ChildTask<F, T, E, K>,
        },
        // Its task dropped, the ending waits for the task's future to be
        // dropped in turn, which tokio does at once.
        Ended {
            index: usize,
            out: Out<T>,
        },
        Sent,
    }
}

impl<F, T, E, K> Delivered<F, T, E, K> {
    /// `task`, its ending to go to `to`.
    pub(crate) fn new(task: ChildTask<F, T, E, K>, to: Arc<UnboundedSender<Ended<T>>>) -> Self {
        Self {
            state: State::Running { task },
            to,
        }
    }
}

impl<F, T, E, K> Future for Delivered<F, T, E, K>
where
    F: Future<Output = Result<T, E>>,
    T: Send + 'static,
    E: IntoFailure<K>,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut this = self.project();
        let StateProj::Running { task } = this.state.as_mut().project() else {
            return Poll::Ready(());
        };
        let index = task.index();
        let out = ready!(task.poll(cx));
        this.state.set(State::Ended { index, out });
        Poll::Ready(())
    }
}

impl<F, T, E, K> Queueable for Delivered<F, T, E, K>
where
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: IntoFailure<K>,
    K: 'static,
{
    fn name(&self) -> &Name {
        match &self.state {
            State::Running { task } => task.name(),
            // Only a queued task is asked, and it has not run.
            State::Ended { .. } | State::Sent => Name::empty(),
        }
    }

    fn given_slot(&mut self) {
        if let State::Running { task } = &mut self.state {
            task.given_slot();
        }
    }
}
