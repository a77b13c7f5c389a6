//! [`GroupBuilder`]: a group's options, validated when the group is built.

use std::error::Error;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::group::Group;
use crate::supervisor::Supervisor;

/// `group.mode` of a fail-fast group.
pub(crate) const MODE_FAIL_FAST: &str = "fail_fast";

/// Options for a [`Group`]; start with [`Group::builder`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
///
/// let group = cohort::Group::builder("uploads")
///     .grace_period(Duration::from_millis(250))
///     .build()?;
/// group.join().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct GroupBuilder {
    name: Arc<str>,
    grace: Option<Duration>,
    resume_panics: bool,
}

impl GroupBuilder {
    pub(crate) fn new(name: Arc<str>) -> Self {
        Self {
            name,
            grace: None,
            resume_panics: false,
        }
    }

    /// How long a cancelled child may keep running to clean up (it can watch
    /// its token, see [`GroupHandle::spawn_with`](crate::GroupHandle::spawn_with))
    /// before it is aborted. Without one, a cancelled child is aborted at its
    /// next `.await`. A grace period needs the runtime's time driver.
    pub fn grace_period(mut self, grace: Duration) -> Self {
        self.grace = Some(grace);
        self
    }

    /// Re-raise the first child panic (with `std::panic::resume_unwind`) from
    /// `join`/`scope` once every child has stopped, instead of reporting
    /// panics as leaves of the [`ErrorGroup`](crate::ErrorGroup). Python's
    /// `TaskGroup` treats `BaseException`s this way.
    pub fn resume_panics(mut self, resume: bool) -> Self {
        self.resume_panics = resume;
        self
    }

    /// Builds the group. Its span opens now, under the current span.
    ///
    /// # Errors
    ///
    /// [`ConfigError::ZeroDuration`] for a zero grace period: leave it unset
    /// to abort cancelled children at their next `.await`.
    pub fn build(self) -> Result<Group, ConfigError> {
        if self.grace == Some(Duration::ZERO) {
            return Err(ConfigError::ZeroDuration {
                option: "grace_period",
                hint: "leave it unset to abort cancelled children at their next .await",
            });
        }
        Ok(self.assemble())
    }

    /// Builds the group from options known to be valid.
    pub(crate) fn assemble(self) -> Group {
        let span = crate::telemetry::group_span(&self.name, MODE_FAIL_FAST);
        let sup = Supervisor::new(self.name, span, self.grace, self.resume_panics);
        Group::from_supervisor(sup)
    }
}

/// A group option was invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A duration that must be positive was zero.
    ZeroDuration {
        /// The option's name.
        option: &'static str,
        /// What to do instead.
        hint: &'static str,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ZeroDuration { option, hint } => {
                write!(f, "{option} must be greater than zero; {hint}")
            }
        }
    }
}

impl Error for ConfigError {}
