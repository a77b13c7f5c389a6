//! Supervised task groups for tokio: a group of tasks that succeed together or
//! fail together, with every failure reported as one error tree and every
//! child traced.
//!
//! ```
//! use std::{fmt, io, time::Duration};
//!
//! #[derive(Debug)]
//! struct Invalid(&'static str);
//! impl fmt::Display for Invalid {
//!     fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
//!         write!(f, "invalid {}", self.0)
//!     }
//! }
//! impl std::error::Error for Invalid {}
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let result = cohort::Group::new("fetch")
//!     .scope(|g| async move {
//!         let db = g.spawn("db", async { Ok::<_, io::Error>("rows") })?;
//!         g.spawn("cache", async { Err::<(), _>(io::Error::other("cache unreachable")) })?;
//!         g.spawn("queue", async {
//!             tokio::time::sleep(Duration::from_secs(60)).await; // cancelled by the failure
//!             Err::<(), _>(Invalid("queue depth"))
//!         })?;
//!         Ok::<_, cohort::SpawnError>(db)
//!     })
//!     .await;
//!
//! // Every failure arrives in one group; `except*`-style handlers filter it by
//! // type. The cancelled sibling is not a failure.
//! let group = result.unwrap_err();
//! let (mut connection, mut validation) = (0, 0);
//! let unhandled = group
//!     .catch::<io::Error>(|g| connection = g.leaves().len())
//!     .catch::<Invalid>(|g| validation = g.leaves().len())
//!     .rest();
//! assert_eq!((connection, validation), (1, 0));
//! assert!(unhandled.is_ok(), "every leaf was handled");
//! # }
//! ```
//!
//! # The contract
//!
//! The semantics are those of Python's `asyncio.TaskGroup`, translated to
//! tokio:
//!
//! - **A group is all-or-nothing.** [`Group::join`] and [`Group::scope`]
//!   resolve only after every child has stopped, aborted ones included, and
//!   every task under them: a group built inside a child keeps the outer group
//!   open until it is done, even once that child is gone.
//! - **One failure cancels the group.** The first child to return `Err` or
//!   panic cancels every other child (and the scope body) and the group stops
//!   accepting children. Cancellation lands at each child's next suspension
//!   point, as in asyncio and Trio: a child already woken, or not yet polled,
//!   runs that step first, and a failure there is a leaf too. A cancelled
//!   child can watch its [`CancellationToken`] (see
//!   [`GroupHandle::spawn_with`]) and is stopped after the group's grace
//!   period, by default at its next `.await`. The scope body is cancelled the
//!   same way, by every cause but a first success. A group's token ends
//!   cancelled when its run ends, whatever ended it.
//! - **Errors arrive as a group.** Every failure, even a lone one, comes back
//!   in one [`ErrorGroup`]: leaves holding the children's own error values,
//!   panics as leaves of their own kind, and a failing nested group as a nested
//!   node. Cancellations the group injected itself are not failures.
//! - **`except*` filters by type and hands back the rest.**
//!   [`ErrorGroup::split`], [`ErrorGroup::subgroup`] and the
//!   [`catch`](ErrorGroup::catch) chain preserve the tree; what no handler
//!   matched is returned, never dropped.
//! - **No child escapes, no failure is lost.** Spawning into a closing or
//!   finished group is a [`SpawnError`] and the future is never polled; code
//!   that returns that refusal with `?` while it is being cancelled ends as
//!   cancelled, not failed. Dropping a group (an outer timeout, a cancelled
//!   parent) cancels everything under it, and its run is still concluded and
//!   reported once its children have stopped. A group can also be built
//!   under a caller's token ([`GroupBuilder::parent`]), for a graceful
//!   shutdown.
//!
//! Children may fail with any error a service uses ([`IntoFailure`]: every
//! `std::error::Error`, boxed errors, `anyhow::Error` and `eyre::Report` with
//! those features); [`error_types`] says what each is recorded as. Results
//! are read from each child's [`ChildHandle`] after the group, in spawn
//! order, or all at once with [`Group::join_all`] (a race's winner with
//! [`Group::join_first`]); a handle can also be awaited. Children spawned
//! through [`Completions`] have no handle: their results come back in the
//! order they end, as a `JoinSet`'s do. The outputs of
//! children that finished before a sibling failed are kept, which is how
//! partial results are collected. For the `gather(return_exceptions=True)`
//! pattern, use [`Policy::CollectAll`].
//!
//! # Boundaries and policies
//!
//! [`GroupBuilder`] sets a concurrency [`limit`](GroupBuilder::limit) (the
//! children over it wait as stored futures, not tasks, or their spawner waits
//! for a slot with [`GroupHandle::spawn_when_free`]), a
//! [`deadline`](GroupBuilder::deadline) (a `timed_out` outcome with a
//! [`DeadlineExceeded`] leaf and the partial results, unlike an outer
//! `tokio::time::timeout`; one already past times the group out at once), an [unresponsive-child
//! alarm](GroupBuilder::unresponsive_after), and a [`Policy`]: fail-fast,
//! collect-all (gather), supervise, or first-success.
//! [`GroupHandle::spawn_stream`] runs one child per stream item with bounded
//! memory, and [`GroupHandle::start`] waits for a child to signal readiness.
//!
//! # Telemetry
//!
//! Every group run is a `cohort.group` span and every child a `cohort.child`
//! span under it, with the child's own future running inside, so a fan-out
//! reads as a tree in any tracing back end; a group nested in a child nests
//! under that child's span. Failures, cancellations and the final error group
//! are events with target `cohort`. The names are in [`telemetry`] and the
//! whole schema in `docs/telemetry.md`. Built with `--cfg tokio_unstable`,
//! each child's task is named `group/child` for tokio-console.
//!
//! # Cost
//!
//! A child is one tokio task and, in a group without a limit or a grace
//! period and with a string-literal child name, nothing else: no allocation
//! of its own, no lock, and two atomic counts on the group, one as it is
//! admitted and one as it goes. One that waits leaves its waker with the
//! group the first time (one lock), for the group's cancellation to wake it;
//! in a group nested in another's child, it makes one box instead, to wait on
//! the group's token. Built with `tokio_unstable`, the task's `group/child`
//! name adds its string and tokio's copy of it. A subscriber that records
//! spans adds a box for the child's span while it waits. Its output
//! waits in its task until its handle reads it, as with a bare
//! `tokio::spawn`, and the task is freed then, on the thread that reads it.
//! With the allocator as it comes (glibc's, untuned), a fan-out of trivial
//! children costs less time than the same fan-out through a `JoinSet`, and
//! its handles 72 bytes a child more memory. A child spawned through
//! [`Completions`] has no handle: it hands its result over as it ends, into
//! a channel, and its task is freed soon after, on the thread that spawns
//! and reads, so such a fan-out holds no more than a `JoinSet` does. The
//! repository's `BENCHMARKS.md` has the figures and the commands.
//! A child that `spawn` queues under a limit waits in one cell besides,
//! shared with its handle, and becomes a task only when it gets its slot.
//! A spawner under a limit that waits for a slot
//! ([`GroupHandle::spawn_when_free`]) holds memory for the limit's children,
//! not for every child it will spawn.

mod admission;
mod body;
mod builder;
mod cancel_watch;
mod catch;
mod child;
mod completions;
mod config;
mod context;
mod ctl;
mod deadline;
mod delivered;
mod error_group;
pub mod error_types;
mod group;
mod handle;
mod into_failure;
mod membership;
mod name;
mod no_success;
mod outcome;
mod own_token;
mod panic;
mod policy;
mod queue;
mod reaper;
mod sleepers;
mod spawn;
mod spawn_error;
mod split;
mod start;
mod start_error;
mod stream_slots;
mod supervisor;
mod sync;
mod task;
pub mod telemetry;
mod trace;

#[cfg(all(test, cohort_loom))]
mod loom_models;

pub use builder::GroupBuilder;
pub use catch::Catch;
pub use completions::Completions;
pub use config::ConfigError;
pub use deadline::DeadlineExceeded;
pub use error_group::{BoxError, ErrorGroup, Failure, FailureKind, Leaf};
pub use group::{Group, GroupHandle};
pub use handle::{ChildFuture, ChildHandle, ChildResult};
pub use into_failure::{IntoFailure, marker};
pub use name::Name;
pub use no_success::NoSuccess;
pub use outcome::{CancelReason, ChildOutcome, GroupOutcome, NoOutput};
pub use policy::Policy;
pub use spawn_error::{SpawnError, SpawnErrorKind};
pub use start::Ready;
pub use start_error::StartError;
pub use tokio_util::sync::CancellationToken;
