//! [`Completions`]: children of a group whose results come back in the
//! order they end, without a handle per child.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::Stream;
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};

use crate::delivered::{Delivered, Ended};
use crate::group::{GroupHandle, Slot, Started};
use crate::handle::ChildResult;
use crate::into_failure::IntoFailure;
use crate::name::Name;
use crate::reaper::Reaper;
use crate::spawn_error::SpawnError;

/// Endings taken from the channel at once, at most.
const BATCH: usize = 32;

/// Children of a group whose results come back as they end, in that order,
/// as a `JoinSet`'s do: made with [`GroupHandle::completions`].
///
/// Its children are the group's like any other: supervised, traced and
/// counted, cancelled by the group's failure, deadline or cancel, their
/// failures in the group's [`ErrorGroup`](crate::ErrorGroup). What differs
/// is how their results come back: none has a [`ChildHandle`](crate::ChildHandle);
/// each child's result waits here, until [`next`](Self::next) hands it over
/// with the child's spawn index, and its task is freed soon after the child
/// ends: at once on a runtime of one thread; on a runtime of many, by this,
/// on its own thread as it spawns or reads, as a `JoinSet` frees its tasks.
/// So a fan-out that reads its results as they come holds a task only for
/// each child still running (on many threads, for at most about twice as
/// many), and a result for each one not read yet.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// use std::time::Duration;
///
/// let group = cohort::Group::new("replicas");
/// let mut replies = group.completions();
/// for ms in [30u64, 10, 20] {
///     replies
///         .spawn("replica", async move {
///             tokio::time::sleep(Duration::from_millis(ms)).await;
///             Ok::<_, std::io::Error>(ms)
///         })
///         .unwrap();
/// }
/// let mut order = Vec::new();
/// while let Some((index, reply)) = replies.next().await {
///     order.push((index, reply.into_std().unwrap().unwrap()));
/// }
/// assert_eq!(order, [(1, 10), (2, 20), (0, 30)]);
/// group.join().await.unwrap();
/// # }
/// ```
///
/// Each result is the child's [`ChildResult`]: its output; its failure,
/// under [`Policy::CollectAll`](crate::Policy::CollectAll) (under the other
/// policies, [`ChildResult::Raised`] says the failure is in the group's
/// error); or [`ChildResult::Cancelled`]. Read them before or after the
/// group's [`join`](crate::Group::join): they wait either way. Dropping a
/// `Completions` leaves its children running, and drops the results that
/// were not read, as dropping their handles would.
pub struct Completions<T> {
    group: GroupHandle,
    to: Arc<UnboundedSender<Ended<T>>>,
    ended: UnboundedReceiver<Ended<T>>,
    /// Endings taken from the channel and not handed over yet, the next
    /// last: taken a batch at a time, for one look at the task's budget and
    /// one waker registration a batch rather than an item.
    taken: Vec<Ended<T>>,
    /// Children spawned through it whose result was not handed over yet:
    /// each hands over exactly one.
    in_flight: usize,
    /// The tasks of its children, kept to be freed here: see [`Reaper`].
    reaper: Reaper,
}

impl<T> std::fmt::Debug for Completions<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Completions")
            .field("group", &self.group.name())
            .field("in_flight", &self.in_flight)
            .finish_non_exhaustive()
    }
}

impl<T: Send + 'static> Completions<T> {
    pub(crate) fn new(group: GroupHandle) -> Self {
        let (to, ended) = mpsc::unbounded_channel();
        Self {
            group,
            to: Arc::new(to),
            ended,
            taken: Vec::new(),
            in_flight: 0,
            reaper: Reaper::default(),
        }
    }

    /// Spawns a child into the group, as [`GroupHandle::spawn`] does (queued
    /// under a [`limit`](crate::GroupBuilder::limit) with no free slot), its
    /// result to come back here. Returns the child's spawn index in its
    /// group, which [`next`](Self::next) gives with its result.
    ///
    /// # Errors
    ///
    /// As [`GroupHandle::spawn`]: `fut` is never polled, and nothing comes
    /// back here for it.
    #[track_caller]
    pub fn spawn<F, E, K>(&mut self, name: impl Into<Name>, fut: F) -> Result<usize, SpawnError>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        E: IntoFailure<K>,
        K: 'static,
    {
        let index = spawn_delivered(
            &self.group,
            &self.to,
            name.into(),
            fut,
            Slot::QueueIfFull,
            &mut self.reaper,
        )?;
        self.in_flight += 1;
        Ok(index)
    }

    /// Waits until the group's [`limit`](crate::GroupBuilder::limit) has a
    /// free slot, then spawns the child into it, as
    /// [`GroupHandle::spawn_when_free`] does: a loop that spawns this way
    /// holds at most the limit's children, and the results not read yet.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let group = cohort::Group::builder("crawl").limit(4).build().unwrap();
    /// let mut pages = group.completions();
    /// let mut total = 0;
    /// for page in 0..100u64 {
    ///     pages
    ///         .spawn_when_free("page", async move { Ok::<_, std::io::Error>(page) })
    ///         .await
    ///         .unwrap();
    ///     assert!(group.running() <= 4 && group.queued() == 0);
    /// }
    /// while let Some((_, page)) = pages.next().await {
    ///     total += page.into_std().unwrap().unwrap();
    /// }
    /// assert_eq!(total, 4950);
    /// group.join().await.unwrap();
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`GroupHandle::spawn_when_free`].
    pub async fn spawn_when_free<F, E, K>(
        &mut self,
        name: impl Into<Name>,
        fut: F,
    ) -> Result<usize, SpawnError>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        E: IntoFailure<K>,
        K: 'static,
    {
        let name = name.into();
        let slot = self.group.free_slot(&name).await?;
        let index = spawn_delivered(&self.group, &self.to, name, fut, slot, &mut self.reaper)?;
        self.in_flight += 1;
        Ok(index)
    }

    /// The next child to end, as its spawn index and its result; `None` once
    /// every child spawned through this has been handed over (more may be
    /// spawned after). Cancel-safe: a result is handed over only by the call
    /// that returns it.
    pub async fn next(&mut self) -> Option<(usize, ChildResult<T>)> {
        poll_fn(|cx| self.poll_ended(cx)).await
    }

    /// How many children spawned through this have a result still to hand
    /// over: those still running or queued, and those that ended unread.
    pub fn len(&self) -> usize {
        self.in_flight
    }

    /// Whether every child spawned through this has been handed over.
    pub fn is_empty(&self) -> bool {
        self.in_flight == 0
    }

    fn poll_ended(&mut self, cx: &mut Context<'_>) -> Poll<Option<(usize, ChildResult<T>)>> {
        if self.in_flight == 0 {
            return Poll::Ready(None);
        }
        if self.taken.is_empty() {
            // Never closed, as this holds a sender: a batch of at least one.
            let taken = std::task::ready!(self.ended.poll_recv_many(cx, &mut self.taken, BATCH));
            if taken == 0 {
                return Poll::Ready(None);
            }
            self.taken.reverse();
            self.reaper.reap(taken);
        }
        Poll::Ready(self.taken.pop().map(|(index, out)| {
            self.in_flight -= 1;
            (index, ChildResult::from_out(out))
        }))
    }
}

/// Spawns a child of `group` whose ending goes to `to`.
#[track_caller]
fn spawn_delivered<F, T, E, K>(
    group: &GroupHandle,
    to: &Arc<UnboundedSender<Ended<T>>>,
    name: Name,
    fut: F,
    slot: Slot<'_>,
    reaper: &mut Reaper,
) -> Result<usize, SpawnError>
where
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: IntoFailure<K>,
    K: 'static,
{
    let to = to.clone();
    let (_, index, started) = group.spawn_wrapped(
        name,
        |_| fut,
        false,
        None,
        slot,
        |task| Delivered::new(task, to),
    )?;
    if let Started::Spawned(task, _) = started {
        reaper.keep(task, || group.runtime_flavor());
    }
    Ok(index)
}

// Nothing in it is ever pinned: results are moved out, never polled.
impl<T> Unpin for Completions<T> {}

/// The results as a stream, in the order the children end: see
/// [`Completions::next`].
impl<T: Send + 'static> Stream for Completions<T> {
    type Item = (usize, ChildResult<T>);

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_ended(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.in_flight, Some(self.in_flight))
    }
}
