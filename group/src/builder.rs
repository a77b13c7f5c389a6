//! [`GroupBuilder`]: a group's options, validated when the group is built.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, ConfigError};
use crate::group::Group;
use crate::policy::Policy;
use crate::supervisor::Supervisor;

/// Options for a [`Group`]; start with [`Group::builder`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
///
/// let group = cohort::Group::builder("uploads")
///     .limit(8)                                  // at most 8 children at once
///     .timeout(Duration::from_secs(30))          // the whole group's budget
///     .grace_period(Duration::from_millis(250))  // time to clean up when cancelled
///     .build()?;
/// group.join().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct GroupBuilder {
    name: Arc<str>,
    config: Config,
    timeout: Option<Duration>,
    parent: Option<CancellationToken>,
}

impl GroupBuilder {
    pub(crate) fn new(name: Arc<str>) -> Self {
        Self {
            name,
            config: Config::default(),
            timeout: None,
            parent: None,
        }
    }

    /// Runs the group under `token`, as its child: cancelling the token
    /// cancels the group (reason `parent_cancelled`), as a graceful shutdown
    /// cancels the work of a service that shares one tokio-util token. A
    /// group built inside a child descends from that child as well.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use cohort::CancellationToken;
    ///
    /// let shutdown = CancellationToken::new();
    /// let group = cohort::Group::builder("workers").parent(shutdown.clone()).build().unwrap();
    /// group.spawn("worker", async {
    ///     std::future::pending::<Result<(), std::io::Error>>().await
    /// }).unwrap();
    /// shutdown.cancel(); // Ctrl-C, say
    /// assert!(group.join().await.is_ok(), "a shutdown is not a failure");
    /// # }
    /// ```
    pub fn parent(mut self, token: CancellationToken) -> Self {
        self.parent = Some(token);
        self
    }

    /// How the group reacts to its children's outcomes; [`Policy::FailFast`]
    /// by default.
    pub fn policy(mut self, policy: Policy) -> Self {
        self.config.policy = policy;
        self
    }

    /// How long a cancelled child may keep running to clean up (it can watch
    /// its token, see [`GroupHandle::spawn_with`](crate::GroupHandle::spawn_with))
    /// before it is aborted. Without one, a cancelled child is aborted at its
    /// next `.await`. A grace period needs the runtime's time driver.
    pub fn grace_period(mut self, grace: Duration) -> Self {
        self.config.grace = Some(grace);
        self
    }

    /// Re-raise the first child panic (with `std::panic::resume_unwind`) from
    /// `join`/`scope` once every child has stopped, instead of reporting
    /// panics as leaves of the [`ErrorGroup`](crate::ErrorGroup). Python's
    /// `TaskGroup` treats `BaseException`s this way.
    pub fn resume_panics(mut self, resume: bool) -> Self {
        self.config.resume_panics = resume;
        self
    }

    /// At most `limit` children run at once; the others wait in a queue, as
    /// stored futures rather than spawned tasks, and start in spawn order as
    /// slots free up. After a cancellation, queued children never start.
    /// A spawner that would rather wait than queue, so that a loop over
    /// many items holds memory for `limit` children and not for every item,
    /// uses [`GroupHandle::spawn_when_free`](crate::GroupHandle::spawn_when_free).
    pub fn limit(mut self, limit: usize) -> Self {
        self.config.limit = Some(limit);
        self
    }

    /// A budget for the whole group, from when it is built; see
    /// [`deadline`](Self::deadline).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// When the deadline passes, the group cancels everything (children get
    /// their grace period) and reports a distinct `timed_out` outcome: its
    /// error holds a [`DeadlineExceeded`](crate::DeadlineExceeded) leaf, next
    /// to the failure of any child that failed in the same window, and the
    /// outputs of children that finished stay in their handles.
    ///
    /// Unlike wrapping the group in `tokio::time::timeout`, which drops the
    /// group's future and with it the results, the error tree and the wait for
    /// cancelled children, the group ends normally: `join` returns after every
    /// child has stopped. The deadline is enforced while the group is being
    /// joined (or its scope runs), when the group regains control: a child
    /// that ended before then counts as ended, even if the deadline passed
    /// while it held the thread. It needs the runtime's time driver.
    pub fn deadline(mut self, deadline: Instant) -> Self {
        self.config.deadline = Some(deadline);
        self
    }

    /// Report (with a `cohort.child.unresponsive` event) every child still
    /// running this long after the group cancelled it: a child that swallows
    /// its cancellation, blocks its thread, or blocks in its `Drop` once
    /// stopped, which makes the group hang.
    pub fn unresponsive_after(mut self, after: Duration) -> Self {
        self.config.unresponsive_after = Some(after);
        self
    }

    /// Builds the group. Its span opens now, under the current span.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for a limit of zero or a zero grace period or alarm.
    /// A deadline already past (or a zero timeout) is no error: the group
    /// times out as soon as it is joined, as a request whose deadline passed
    /// upstream should, and as asyncio's `timeout_at` and Trio's
    /// `move_on_at` do.
    pub fn build(mut self) -> Result<Group, ConfigError> {
        let zero = |option, hint| ConfigError::ZeroDuration { option, hint };
        if self.config.grace == Some(Duration::ZERO) {
            return Err(zero(
                "grace_period",
                "leave it unset to abort cancelled children at their next .await",
            ));
        }
        if self.config.unresponsive_after == Some(Duration::ZERO) {
            return Err(zero(
                "unresponsive_after",
                "the alarm needs time to be worth raising",
            ));
        }
        if self.config.limit == Some(0) {
            return Err(ConfigError::ZeroLimit);
        }
        let now = Instant::now();
        if let Some(timeout) = self.timeout {
            // Saturate: a timeout too large for the clock means no deadline.
            let deadline = now.checked_add(timeout);
            self.config.deadline = self.config.deadline.into_iter().chain(deadline).min();
        }
        if let Some(deadline) = self.config.deadline {
            self.config.budget = deadline.saturating_duration_since(now);
        }
        Ok(self.assemble())
    }

    /// Builds the group from options known to be valid.
    pub(crate) fn assemble(self) -> Group {
        let policy = self.config.policy;
        let timeout = self.config.deadline.map(|_| self.config.budget);
        let span =
            crate::trace::group_span(&self.name, policy.as_str(), self.config.limit, timeout);
        Group::from_supervisor(Supervisor::new(self.name, span, self.config, self.parent))
    }
}
