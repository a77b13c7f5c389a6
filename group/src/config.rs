//! A group's validated options, and the error for invalid ones.

use std::error::Error;
use std::fmt;
use std::time::Duration;

use tokio::time::Instant;

use crate::policy::Policy;

/// A group's validated options.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Config {
    pub policy: Policy,
    pub grace: Option<Duration>,
    pub resume_panics: bool,
    pub limit: Option<usize>,
    pub deadline: Option<Instant>,
    /// How long after the build the deadline falls.
    pub budget: Duration,
    pub unresponsive_after: Option<Duration>,
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
    /// A concurrency limit of zero would never run a child.
    ZeroLimit,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ZeroDuration { option, hint } => {
                write!(f, "{option} must be greater than zero; {hint}")
            }
            Self::ZeroLimit => {
                f.write_str("limit must be at least 1: a limit of 0 would never run a child")
            }
        }
    }
}

impl Error for ConfigError {}
