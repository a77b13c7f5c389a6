//! [`Group`], the owner of one group run, and [`GroupHandle`], the cloneable
//! handle that spawns into it.

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll};

use std::num::NonZeroUsize;

use futures_util::{FutureExt as _, Stream, StreamExt as _};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::body::{Body, BodyEnd};
use crate::builder::GroupBuilder;
use crate::cancel_watch::CancelWatch;
use crate::child::{self, Starter};
use crate::completions::Completions;
use crate::ctl::Ctl;
use crate::error_group::{ErrorGroup, Failure};
use crate::handle::{ChildHandle, Link};
use crate::into_failure::IntoFailure;
use crate::name::Name;
use crate::no_success::NoSuccess;
use crate::outcome::{CancelReason, NoOutput};
use crate::queue::{self, Pending};
use crate::reaper::Reaper;
use crate::spawn_error::{SpawnError, SpawnErrorKind};
use crate::start::Ready;
use crate::start_error::StartError;
use crate::stream_slots::{Slotted, StreamSlots};
use crate::supervisor::{Reservation, Supervisor};
use crate::task::{ChildTask, Queueable};
use crate::telemetry::{BODY_NAME, NO_SUCCESS_NAME};

/// A supervised group of tasks that succeed together or fail together.
///
/// Children are spawned with [`spawn`](GroupHandle::spawn) (or through a cloned
/// [`GroupHandle`]) and run at once on the current tokio runtime. The first
/// child to fail or panic cancels every other child; [`join`](Self::join)
/// resolves only after every child has stopped, and returns all the failures
/// as one [`ErrorGroup`].
///
/// Dropping a `Group` (or its `join`/`scope` future) before it finishes
/// cancels all its children, and through their tokens every group nested in
/// them: no child outlives its group's owner unsupervised. The dropped run is
/// concluded once its children have stopped: its failures are still reported
/// (a `cohort.group.raised` event), and go into the tree of the group above
/// it, if it was built inside a child of one.
///
/// A group built inside a child (or a scope body) keeps the group above it
/// open until it has been joined, or dropped and its children have stopped,
/// so the outer group never finishes while tasks under it still run. Join or
/// drop a nested group where it was made: one handed out of its child
/// unjoined keeps the outer group waiting for it.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use cohort::Group;
///
/// let group = Group::new("shards");
/// let handles: Vec<_> = (0..4u32)
///     .map(|shard| group.spawn(format!("shard-{shard}"), async move {
///         Ok::<_, std::io::Error>(shard * 100)
///     }))
///     .collect::<Result<_, _>>()
///     .expect("the group is open");
/// let totals = group.join_all(handles).await.expect("no shard failed");
/// assert_eq!(totals, [0, 100, 200, 300]);
/// # }
/// ```
#[derive(Debug)]
#[must_use = "a group cancels its children when dropped; call `join` or `scope`"]
pub struct Group {
    handle: GroupHandle,
    finished: bool,
}

/// A cloneable handle to a [`Group`]: spawns children and cancels the group.
///
/// Clone it into children so they can spawn siblings: the group stays open
/// until its live set is empty, so a child that spawns keeps it open.
#[derive(Clone, Debug)]
pub struct GroupHandle {
    sup: Arc<Supervisor>,
}

impl std::fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Group")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Group {
    /// A fail-fast group with default options: no grace period, panics
    /// reported as leaves. Use [`Group::builder`] for others.
    ///
    /// The name (like a child's) labels the group's spans and metrics, so
    /// keep it low-cardinality: one per operation (`fetch-profile`), never
    /// an id, a URL or user input, which belong in fields of your own spans.
    pub fn new(name: impl Into<Arc<str>>) -> Self {
        GroupBuilder::new(name.into()).assemble()
    }

    /// A builder for a group with options.
    pub fn builder(name: impl Into<Arc<str>>) -> GroupBuilder {
        GroupBuilder::new(name.into())
    }

    pub(crate) fn from_supervisor(sup: Supervisor) -> Self {
        Self {
            handle: GroupHandle { sup: Arc::new(sup) },
            finished: false,
        }
    }

    /// A cloneable handle that spawns into this group.
    pub fn handle(&self) -> GroupHandle {
        self.handle.clone()
    }

    /// Waits for every child to stop and returns their failures, if any.
    ///
    /// Under the default [`Policy::FailFast`](crate::Policy::FailFast),
    /// `Ok(())` when no child failed, including when the group was cancelled;
    /// see [`Policy`](crate::Policy) for the others. A passed deadline is an
    /// error. Children spawned by other children while the group is open are
    /// waited for too, and the group's deadline, if any, is enforced from here.
    ///
    /// # Panics
    ///
    /// Resumes the first child panic after every child has stopped, if the
    /// group was built with [`GroupBuilder::resume_panics`].
    pub async fn join(mut self) -> Result<(), ErrorGroup> {
        let sup = self.handle.sup.clone();
        let watch = sup.watch();
        tokio::pin!(watch);
        sup.wait(watch).await;
        self.finished = true;
        let (result, panic) = sup.finish();
        if let Some(payload) = panic {
            // Every failure was reported; the panic replaces the result.
            std::panic::resume_unwind(payload);
        }
        result
    }

    /// Joins the group, then reads the outputs of `handles` in their order:
    /// the `Vec<T>` of a fan-out in one call. Every failure comes back as the
    /// group's [`ErrorGroup`]; a child among `handles` that has no output
    /// although nothing failed (it was cancelled) makes an error too, with a
    /// [`NoOutput`](crate::NoOutput) leaf for each such child.
    ///
    /// # Errors
    ///
    /// The group's [`ErrorGroup`], or one of [`NoOutput`](crate::NoOutput) leaves.
    ///
    /// # Panics
    ///
    /// As [`join`](Self::join).
    pub async fn join_all<T>(
        self,
        handles: impl IntoIterator<Item = ChildHandle<T>>,
    ) -> Result<Vec<T>, ErrorGroup> {
        let name = self.handle.sup.name.clone();
        self.join().await?;
        let mut outputs = Vec::new();
        let mut missing = Vec::new();
        for handle in handles {
            let (child, index) = (handle.name().to_owned(), handle.index());
            match handle.into_output() {
                Ok(output) => outputs.push(output),
                Err(why) => missing.push(Failure::error(child, Some(index), why)),
            }
        }
        match ErrorGroup::new(name, missing) {
            Some(errors) => Err(errors),
            None => Ok(outputs),
        }
    }

    /// Joins the group and returns the winner's output: the child whose
    /// success ended a [`Policy::FirstSuccess`](crate::Policy::FirstSuccess)
    /// race, as the JDK's `anySuccessfulResultOrThrow` returns it (under
    /// another policy, the first of `handles` that succeeded).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::time::Duration;
    ///
    /// let race = cohort::Group::builder("replicas")
    ///     .policy(cohort::Policy::FirstSuccess)
    ///     .build()
    ///     .unwrap();
    /// let replicas: Vec<_> = [30u64, 10, 20]
    ///     .into_iter()
    ///     .map(|ms| {
    ///         race.spawn_infallible(format!("replica-{ms}"), async move {
    ///             tokio::time::sleep(Duration::from_millis(ms)).await;
    ///             ms
    ///         })
    ///         .unwrap()
    ///     })
    ///     .collect();
    /// assert_eq!(race.join_first(replicas).await.unwrap(), 10);
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// The group's [`ErrorGroup`]: every failure when no child succeeded, or
    /// a [`NoSuccess`](crate::NoSuccess) leaf when none succeeded nor failed.
    ///
    /// # Panics
    ///
    /// As [`join`](Self::join).
    pub async fn join_first<T>(
        self,
        handles: impl IntoIterator<Item = ChildHandle<T>>,
    ) -> Result<T, ErrorGroup> {
        let sup = self.handle.sup.clone();
        self.join().await?;
        let winner = sup.winner();
        let (mut first, mut cancelled) = (None, 0);
        for handle in handles {
            let index = handle.index();
            match handle.into_output() {
                Ok(output) if Some(index) == winner => return Ok(output),
                Ok(output) => {
                    first.get_or_insert(output);
                }
                Err(NoOutput::Cancelled) => cancelled += 1,
                Err(_) => {}
            }
        }
        first.ok_or_else(|| {
            let none = NoSuccess::new(sup.spawned(), cancelled);
            ErrorGroup::single(
                sup.name.clone(),
                Failure::error(NO_SUCCESS_NAME, None, none),
            )
        })
    }

    /// Runs `body` inside the group, then waits for every child.
    ///
    /// The body gets a [`GroupHandle`] to spawn with and runs concurrently with
    /// the children, as a member of the group: its error is a failure of the
    /// group (reported under [`BODY_NAME`]), and it is cancelled as a child is,
    /// by a child's failure, the deadline, an explicit
    /// [`cancel`](GroupHandle::cancel) or a cancelled parent: it stops at its
    /// next `.await`, or, with a [grace period](GroupBuilder::grace_period),
    /// may watch [`GroupHandle::cancelled`], finish its cleanup and return
    /// within it. Only a first success (under
    /// [`Policy::FirstSuccess`](crate::Policy::FirstSuccess)) leaves it
    /// running: that ends the race, not its owner.
    ///
    /// Returns `Ok(Some(value))` with the body's value once every child has
    /// succeeded or been cancelled, `Ok(None)` if the body was cancelled
    /// before it returned and nothing failed (an early exit, as an
    /// `async with TaskGroup()` block left by `TaskGroup.cancel()`), else
    /// every failure as one [`ErrorGroup`]. A body that returns a refused
    /// spawn's error (a `?` on a spawn into the closing group) is cancelled,
    /// not failed; one that returns a [`StartError::Failed`] contributes the
    /// started child's own failure, so that the tree's handlers find its type.
    /// The body need not be `'static`: it runs in the caller's task, so it may
    /// borrow.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let (a, b) = cohort::Group::new("pair")
    ///     .scope(|g| async move {
    ///         let a = g.spawn("a", async { Ok::<_, std::io::Error>(1) })?;
    ///         let b = g.spawn("b", async { Ok::<_, std::io::Error>(2) })?;
    ///         Ok::<_, cohort::SpawnError>((a, b))
    ///     })
    ///     .await
    ///     .expect("both succeed")
    ///     .expect("nothing cancelled the body");
    /// assert_eq!((a.into_output(), b.into_output()), (Ok(1), Ok(2)));
    /// # }
    /// ```
    ///
    /// # Panics
    ///
    /// As [`join`](Self::join). A panic in the body cancels the group like a
    /// failure; once every child has stopped, it is reported as a panic leaf
    /// of the body and resumed.
    pub async fn scope<B, Fut, R, E, K>(mut self, body: B) -> Result<Option<R>, ErrorGroup>
    where
        B: FnOnce(GroupHandle) -> Fut,
        Fut: Future<Output = Result<R, E>>,
        E: IntoFailure<K>,
        K: 'static,
    {
        let sup = self.handle.sup.clone();
        let watch = sup.watch();
        tokio::pin!(watch);
        let body = Body::new(&sup, body(self.handle()));
        tokio::pin!(body);
        // `watch` never completes: it enforces the deadline meanwhile.
        let ended = std::future::poll_fn(|cx| {
            let _ = watch.as_mut().poll(cx);
            body.as_mut().poll(cx)
        })
        .await;
        let (value, body_panic) = match ended {
            BodyEnd::Returned(Ok(value)) => (Some(value), None),
            BodyEnd::Returned(Err(error)) => {
                let (error, error_type) = error.into_failure();
                crate::body::returned(&sup, error, error_type);
                (None, None)
            }
            BodyEnd::Cancelled => (None, None),
            BodyEnd::Panicked(payload) => {
                let message = crate::panic::message(&*payload);
                let failure = Failure::panic(BODY_NAME, None, message);
                crate::trace::child_failed(sup.span_id(), &failure);
                sup.fail_body(failure);
                (None, Some(payload))
            }
        };
        sup.wait(watch).await;
        self.finished = true;
        let (result, child_panic) = sup.finish();
        if let Some(payload) = body_panic.or(child_panic) {
            std::panic::resume_unwind(payload);
        }
        result.map(|()| value)
    }
}

/// A `Group` spawns, cancels and counts through its [`GroupHandle`]'s
/// methods: `group.spawn(..)` is `group.handle().spawn(..)`.
impl std::ops::Deref for Group {
    type Target = GroupHandle;

    fn deref(&self) -> &GroupHandle {
        &self.handle
    }
}

impl Drop for Group {
    /// Cancels the children of a group dropped unfinished; its run is
    /// concluded, and its failures reported, once they have all stopped.
    fn drop(&mut self) {
        if !self.finished {
            self.handle.sup.drop_unfinished();
        }
    }
}

/// What a spawn does when the group's limit has no free slot.
pub(crate) enum Slot<'a> {
    /// Queue the child: `spawn`.
    QueueIfFull,
    /// Refuse it: `try_spawn`.
    RefuseIfFull,
    /// The spawner waited for a slot and holds it: `spawn_when_free`.
    Reserved(Reservation<'a>),
}

/// Where a child is once spawned: running (with its control, if its group
/// has a grace period), or queued for a slot.
pub(crate) enum Started<O> {
    Spawned(JoinHandle<O>, Option<Arc<Ctl>>),
    Queued(Arc<Pending<O>>),
}

impl GroupHandle {
    /// The group's name (`group.name`).
    pub fn name(&self) -> &str {
        &self.sup.name
    }

    /// Spawns a child named `name` running `fut`, and returns its handle.
    ///
    /// The child runs at once on the current runtime, inside a `cohort.child`
    /// span under the group's span. If it returns `Err` or panics, the group
    /// cancels every other child. Its error type is recorded as `error.type`.
    ///
    /// # Errors
    ///
    /// Refuses, without ever polling `fut`, when the group is closing (a child
    /// failed, it was cancelled) or finished, or when called outside a tokio
    /// runtime.
    #[track_caller]
    pub fn spawn<F, T, E, K>(
        &self,
        name: impl Into<Name>,
        fut: F,
    ) -> Result<ChildHandle<T>, SpawnError>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: IntoFailure<K>,
        K: 'static,
    {
        self.spawn_child(name.into(), |_| fut, false, None, Slot::QueueIfFull)
    }

    /// Spawns a child only if it can run at once: under a
    /// [`limit`](crate::GroupBuilder::limit) with every slot taken it is
    /// refused with [`SpawnErrorKind::AtLimit`] instead of queued, as Go's
    /// `errgroup.TryGo`. Without a limit it is [`spawn`](Self::spawn).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let group = cohort::Group::builder("one").limit(1).build().unwrap();
    /// group.try_spawn("first", async { Ok::<_, std::io::Error>(()) }).unwrap();
    /// let full = group.try_spawn("second", async { Ok::<_, std::io::Error>(()) });
    /// assert!(matches!(full.unwrap_err().kind(), cohort::SpawnErrorKind::AtLimit(1)));
    /// group.join().await.unwrap();
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`spawn`](Self::spawn), and [`SpawnErrorKind::AtLimit`].
    #[track_caller]
    pub fn try_spawn<F, T, E, K>(
        &self,
        name: impl Into<Name>,
        fut: F,
    ) -> Result<ChildHandle<T>, SpawnError>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: IntoFailure<K>,
        K: 'static,
    {
        self.spawn_child(name.into(), |_| fut, false, None, Slot::RefuseIfFull)
    }

    /// Waits until the group's [`limit`](crate::GroupBuilder::limit) has a
    /// free slot, then spawns the child into it: Go's errgroup `Go` under
    /// `SetLimit`, which blocks its caller. A loop that spawns this way holds
    /// at most the limit's children, where [`spawn`](Self::spawn) would queue
    /// every one of them. Children queued by `spawn` go first as slots free,
    /// then the waiting spawners, in the order they began to wait. Dropped
    /// while it waits (under a timeout, say), it takes no slot with it.
    /// Without a limit it is [`spawn`](Self::spawn).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let group = cohort::Group::builder("crawl").limit(4).build().unwrap();
    /// for page in 0..100u32 {
    ///     group
    ///         .spawn_when_free("page", async move { Ok::<_, std::io::Error>(page) })
    ///         .await
    ///         .unwrap();
    ///     // Never more than four children at a time, none queued.
    ///     assert!(group.running() <= 4 && group.queued() == 0);
    /// }
    /// group.join().await.unwrap();
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`spawn`](Self::spawn), also while it waits: the group's
    /// cancellation ends the wait with [`SpawnErrorKind::Closing`]. `fut` is
    /// dropped unpolled then.
    pub async fn spawn_when_free<F, T, E, K>(
        &self,
        name: impl Into<Name>,
        fut: F,
    ) -> Result<ChildHandle<T>, SpawnError>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: IntoFailure<K>,
        K: 'static,
    {
        let name = name.into();
        let slot = self.free_slot(&name).await?;
        self.spawn_child(name, |_| fut, false, None, slot)
    }

    /// Waits for a free slot under the group's limit, for the child `name`:
    /// the slot, or the refusal that ended the wait.
    pub(crate) async fn free_slot(&self, name: &Name) -> Result<Slot<'_>, SpawnError> {
        match self.sup.reserve().await {
            Ok(slot) => Ok(Slot::Reserved(slot)),
            Err(kind) => Err(SpawnError::new(&self.sup.name, name.to_shared(), kind)),
        }
    }

    /// Spawns a child whose future cannot fail: its output is the value it
    /// returns, and only a panic makes it a failure. No error type to name.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let group = cohort::Group::new("sum");
    /// let a = group.spawn_infallible("a", async { 1 }).unwrap();
    /// let b = group.spawn_infallible("b", async { 2 }).unwrap();
    /// assert_eq!(group.join_all([a, b]).await.unwrap(), [1, 2]);
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`spawn`](Self::spawn).
    #[track_caller]
    pub fn spawn_infallible<F, T>(
        &self,
        name: impl Into<Name>,
        fut: F,
    ) -> Result<ChildHandle<T>, SpawnError>
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        self.spawn(name, fut.map(Ok::<T, std::convert::Infallible>))
    }

    /// Spawns a child whose future is built from its cancellation token, so it
    /// can watch for cancellation and clean up before it is aborted (within the
    /// group's grace period, if one is set).
    ///
    /// # Errors
    ///
    /// As [`spawn`](Self::spawn); `make` is not called when the spawn is refused.
    #[track_caller]
    pub fn spawn_with<F, T, E, K>(
        &self,
        name: impl Into<Name>,
        make: impl FnOnce(CancellationToken) -> F,
    ) -> Result<ChildHandle<T>, SpawnError>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: IntoFailure<K>,
        K: 'static,
    {
        let make = |token: Option<CancellationToken>| make(token.unwrap_or_default());
        self.spawn_child(name.into(), make, true, None, Slot::QueueIfFull)
    }

    /// Spawns a child and waits until it signals, through its [`Ready`], that
    /// it has started, returning the value it signalled: Trio's
    /// `nursery.start()`. Until it signals, the child is not yet the group's:
    /// if it fails first, the failure comes back here (and does not cancel the
    /// group); once it has signalled, it is an ordinary child. A scope body
    /// that returns that failure with `?` hands the group the child's own
    /// failure, so `catch::<ItsErrorType>` finds it in the tree.
    ///
    /// If this future is dropped before the child signals (its caller was
    /// cancelled, or timed out), the child is cancelled as well, as in Trio:
    /// it stops at its next `.await`, or within the grace period. A failure
    /// it still returns while stopping has no caller to go to and is the
    /// group's, never lost.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let group = cohort::Group::new("server");
    /// let (_listener, port) = group
    ///     .handle()
    ///     .start("listener", |ready| async move {
    ///         ready.signal(8080u16); // bound: tell the caller the port
    ///         Ok::<_, std::io::Error>(())
    ///     })
    ///     .await
    ///     .expect("the listener starts");
    /// assert_eq!(port, 8080);
    /// group.join().await.unwrap();
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`StartError::Spawn`] if the spawn is refused, [`StartError::Failed`]
    /// with the child's own failure if it failed before signalling, and
    /// [`StartError::NotStarted`] if it ended otherwise (returned, or was
    /// cancelled) without signalling.
    pub async fn start<F, T, E, K, V>(
        &self,
        name: impl Into<Name>,
        make: impl FnOnce(Ready<V>) -> F,
    ) -> Result<(ChildHandle<T>, V), StartError>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: IntoFailure<K>,
        K: 'static,
        V: Send + 'static,
    {
        let name = name.into();
        let (ready, starting, signalled) = crate::start::channel();
        let handle = self
            .spawn_child(
                name,
                |_| make(ready),
                false,
                Some(starting),
                Slot::QueueIfFull,
            )
            .map_err(StartError::Spawn)?;
        crate::start::wait(handle, signalled).await
    }

    #[track_caller]
    fn spawn_child<F, T, E, K>(
        &self,
        name: Name,
        make: impl FnOnce(Option<CancellationToken>) -> F,
        with_token: bool,
        starter: Option<Arc<dyn Starter>>,
        slot: Slot<'_>,
    ) -> Result<ChildHandle<T>, SpawnError>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: IntoFailure<K>,
        K: 'static,
    {
        let (name, index, link) = self.spawn_link(name, make, with_token, starter, slot)?;
        Ok(ChildHandle::new(name, index, self.sup.clone(), link))
    }

    /// Spawns a child, and returns what its handle is made of.
    #[track_caller]
    fn spawn_link<F, T, E, K>(
        &self,
        name: Name,
        make: impl FnOnce(Option<CancellationToken>) -> F,
        with_token: bool,
        starter: Option<Arc<dyn Starter>>,
        slot: Slot<'_>,
    ) -> Result<(Name, usize, Link<T>), SpawnError>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: IntoFailure<K>,
        K: 'static,
    {
        let (name, index, started) =
            self.spawn_wrapped(name, make, with_token, starter, slot, |task| task)?;
        Ok((name, index, started.into()))
    }

    /// Spawns a child whose task is `wrap` of the one it would have (the
    /// task itself for a handle; one that hands its ending to a channel for
    /// [`Completions`]), and says where it is now.
    #[track_caller]
    #[inline(always)]
    pub(crate) fn spawn_wrapped<F, T, E, K, W>(
        &self,
        name: Name,
        make: impl FnOnce(Option<CancellationToken>) -> F,
        with_token: bool,
        starter: Option<Arc<dyn Starter>>,
        slot: Slot<'_>,
        wrap: impl FnOnce(ChildTask<F, T, E, K>) -> W,
    ) -> Result<(Name, usize, Started<W::Output>), SpawnError>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: IntoFailure<K>,
        K: 'static,
        W: Queueable,
    {
        let refuse = |kind| SpawnError::new(&self.sup.name, name.to_shared(), kind);
        let runtime = self
            .sup
            .runtime()
            .ok_or_else(|| refuse(SpawnErrorKind::NoRuntime))?;
        let admitted = match slot {
            Slot::QueueIfFull => self.sup.admit(&name, false),
            Slot::RefuseIfFull => self.sup.admit_now(&name),
            // Refused, the reservation gives its slot back as it drops.
            Slot::Reserved(slot) => self.sup.admit(&name, true).inspect(|_| slot.used()),
        };
        let admitted = admitted.map_err(refuse)?;
        let (index, run_now) = (admitted.index, admitted.run_now);
        let (task, ctl) = child::prepare(admitted, name.clone(), with_token, starter, make);
        let task = wrap(task);
        let started = if run_now {
            self.sup
                .spawn_task(&runtime, &name, task)
                .map(|task| Started::Spawned(task, ctl))
        } else {
            let cell = Arc::new(queue::Cell::new(task, ctl));
            let pending: Arc<Pending<_>> = cell.clone();
            self.sup
                .enqueue(runtime, queue::Entry::new(cell))
                .map(|()| Started::Queued(pending))
        };
        let started = started.map_err(|e| refuse(SpawnErrorKind::Runtime(e)))?;
        Ok((name, index, started))
    }

    /// Spawns one child per item of `stream`, with at most `in_flight` of them
    /// running at once: the next item is pulled only when a slot is free, so a
    /// slow group slows the stream down and memory stays flat however long
    /// the stream is. Each child is named `name` (its spawn index tells them
    /// apart), and has no handle: its output is dropped as it ends (a panic
    /// in that `Drop` fails the child, as any panic of its would). Stops
    /// pulling when the group starts cancelling, e.g. after a failure under
    /// [`Policy::FailFast`](crate::Policy::FailFast).
    ///
    /// Returns how many children it spawned, once the stream has ended or the
    /// group has started cancelling.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::num::NonZeroUsize;
    ///
    /// let group = cohort::Group::new("ingest");
    /// let items = futures_util::stream::iter(0..1_000u32);
    /// let in_flight = NonZeroUsize::new(100).unwrap();
    /// let spawned = group
    ///     .handle()
    ///     .spawn_stream("record", items, in_flight, |n| async move { Ok::<_, std::io::Error>(n) })
    ///     .await
    ///     .unwrap();
    /// assert_eq!(spawned, 1_000);
    /// group.join().await.unwrap();
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// A [`SpawnError`] when an item already pulled could not be spawned (the
    /// group was closing, or there is no runtime): the error names the child
    /// the item was for.
    pub async fn spawn_stream<S, M, F, T, E, K>(
        &self,
        name: impl Into<Name>,
        stream: S,
        in_flight: NonZeroUsize,
        mut make: M,
    ) -> Result<u64, SpawnError>
    where
        S: Stream,
        M: FnMut(S::Item) -> F,
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: IntoFailure<K>,
        K: 'static,
    {
        let name = name.into();
        let slots = StreamSlots::new(in_flight.get());
        let mut spawned = 0;
        // Made once, and looked at only while a slot or the stream keeps the
        // loop waiting: an item that is ready at once costs no more than a
        // look at the group's flag.
        let mut cancel = CancelWatch::new(&self.sup);
        // Frees the children's tasks here rather than on the workers, as
        // [`Completions`] does.
        let mut reaper = Reaper::default();
        tokio::pin!(stream);
        loop {
            // A finished group is not cancelling: the next item's spawn is
            // refused, an error, as a spawn would be.
            if self.sup.is_cancelling() && !self.sup.is_settled() {
                break;
            }
            let next = async {
                let slot = slots.take().await;
                Some((slot, stream.next().await?))
            };
            tokio::pin!(next);
            let mut woken = false;
            let next = std::future::poll_fn(|cx| {
                // Woken, the group's cancellation comes first: the slot it
                // freed must not pull one more item.
                let mut watch = |cx: &mut Context<'_>| !self.sup.is_settled() && cancel.poll(cx);
                if woken && watch(cx) {
                    return Poll::Ready(None);
                }
                if let Poll::Ready(next) = next.as_mut().poll(cx) {
                    return Poll::Ready(next);
                }
                woken = true;
                if watch(cx) {
                    return Poll::Ready(None);
                }
                Poll::Pending
            });
            let Some((slot, item)) = next.await else {
                break;
            };
            // The slot is freed when the child ends, by any path.
            let child = Slotted::new(make(item), slot);
            // Nobody reads a streamed child's handle: none is made, and its
            // task is left to the reaper.
            let (_, _, started) = self.spawn_wrapped(
                name.clone(),
                |_| child,
                false,
                None,
                Slot::QueueIfFull,
                |task| task,
            )?;
            if let Started::Spawned(task, _) = started {
                reaper.keep(task, || self.runtime_flavor());
            }
            spawned += 1;
        }
        Ok(spawned)
    }

    /// A set of children of this group whose results come back in the order
    /// they end, without a handle each: see [`Completions`].
    pub fn completions<T: Send + 'static>(&self) -> Completions<T> {
        Completions::new(self.clone())
    }

    /// The flavor of the runtime its children are spawned on, if any.
    pub(crate) fn runtime_flavor(&self) -> Option<tokio::runtime::RuntimeFlavor> {
        self.sup.runtime().map(|runtime| runtime.runtime_flavor())
    }

    /// How many children are running now.
    pub fn running(&self) -> usize {
        self.sup.running()
    }

    /// How many children wait for a slot under the group's
    /// [`limit`](crate::GroupBuilder::limit).
    pub fn queued(&self) -> usize {
        self.sup.queued()
    }

    /// Cancels every child and the scope body, and refuses new children: an
    /// early exit, not an error (asyncio's `TaskGroup.cancel()`, Trio's
    /// `nursery.cancel_scope.cancel()`). Each stops at its next `.await`,
    /// after the grace period if the group has one, and ends as cancelled;
    /// `join` returns `Ok(())` unless something had failed, and `scope`
    /// `Ok(None)` if its body had not returned yet. Calling it again, or
    /// after the group ended, does nothing.
    pub fn cancel(&self) {
        self.sup.cancel(CancelReason::Explicit, None);
    }

    /// Whether the group is cancelling (for any reason) or has ended: its
    /// token ends cancelled however the run ended, as Go's errgroup cancels
    /// its context when `Wait` returns, so that helpers watching it (the
    /// tokens `spawn_with` hands out descend from it) stop too.
    pub fn is_cancelled(&self) -> bool {
        self.sup.token.is_cancelled()
    }

    /// Resolves when the group starts cancelling its children, for any
    /// reason, or has ended.
    pub async fn cancelled(&self) {
        self.sup.token.cancelled().await;
    }
}
