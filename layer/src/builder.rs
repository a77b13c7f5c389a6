//! [`Builder`]: the layer's options.

use std::fmt;
use std::sync::Arc;

use crate::CohortLayer;
use crate::metrics::MetricSink;
use crate::shared::{Limits, Shared};

/// Options for a [`CohortLayer`], from [`CohortLayer::builder`].
#[derive(Default)]
pub struct Builder {
    seen_capacity: Option<usize>,
    max_group_names: Option<usize>,
    sinks: Vec<Arc<dyn MetricSink>>,
}

impl Builder {
    /// How many leaves the layer remembers having logged, by default.
    pub const DEFAULT_SEEN_CAPACITY: usize = 16_384;

    /// How many group names get aggregates of their own, by default:
    /// OpenTelemetry's default cardinality limit.
    pub const DEFAULT_MAX_GROUP_NAMES: usize = 2_000;

    pub(crate) const DEFAULT_LIMITS: Limits = Limits {
        seen_capacity: Self::DEFAULT_SEEN_CAPACITY,
        max_group_names: Self::DEFAULT_MAX_GROUP_NAMES,
    };

    /// How many logged leaves to remember, so that a tree reported again
    /// after it was logged (by the service's own log line, say) does not log
    /// them twice. Memory grows with it, a few words a leaf. A leaf reported
    /// again after this many newer leaves were logged is logged again.
    ///
    /// A tree on its way up through nested groups does not depend on it:
    /// its leaves wait in the spans that will report it, and are logged once
    /// at the top however large the tree is.
    pub fn seen_capacity(mut self, leaves: usize) -> Self {
        self.seen_capacity = Some(leaves);
        self
    }

    /// How many group names the built-in aggregates keep apart; the
    /// measurements of every later name are folded into
    /// [`MetricsSnapshot::overflow`](crate::MetricsSnapshot::overflow), and
    /// the first fold is announced once with the event
    /// [`METRICS_OVERFLOW`](crate::METRICS_OVERFLOW). Memory and the cost of
    /// [`CohortHandle::metrics`](crate::CohortHandle::metrics) grow with it,
    /// about 2.5 KB a name. Added sinks see every measurement unfolded.
    pub fn max_group_names(mut self, names: usize) -> Self {
        self.max_group_names = Some(names);
        self
    }

    /// Adds a sink that receives every measurement, beside the built-in
    /// aggregates.
    pub fn sink(mut self, sink: Arc<dyn MetricSink>) -> Self {
        self.sinks.push(sink);
        self
    }

    /// Builds the layer.
    pub fn build(self) -> Result<CohortLayer, BuildError> {
        let limits = Limits {
            seen_capacity: self.seen_capacity.unwrap_or(Self::DEFAULT_SEEN_CAPACITY),
            max_group_names: self
                .max_group_names
                .unwrap_or(Self::DEFAULT_MAX_GROUP_NAMES),
        };
        if limits.seen_capacity == 0 {
            return Err(BuildError::ZeroSeenCapacity);
        }
        if limits.max_group_names == 0 {
            return Err(BuildError::ZeroGroupNames);
        }
        Ok(CohortLayer {
            shared: Arc::new(Shared::new(limits, self.sinks)),
        })
    }
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("seen_capacity", &self.seen_capacity)
            .field("max_group_names", &self.max_group_names)
            .field("sinks", &self.sinks.len())
            .finish()
    }
}

/// A layer option was invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildError {
    /// `seen_capacity(0)` would log every leaf of a nested tree at every
    /// level that reports it.
    ZeroSeenCapacity,
    /// `max_group_names(0)` would keep no group's aggregates apart.
    ZeroGroupNames,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ZeroSeenCapacity => f.write_str(
                "seen_capacity must be at least 1: with 0 the layer cannot tell a leaf it already logged",
            ),
            Self::ZeroGroupNames => f.write_str(
                "max_group_names must be at least 1: with 0 every group's metrics would be folded together",
            ),
        }
    }
}

impl std::error::Error for BuildError {}
