//! [`CohortHandle`]: reading the layer from outside the subscriber.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::metrics::MetricsSnapshot;
use crate::shared::Shared;
use crate::tree::{self, GroupTree};

/// Reads a [`CohortLayer`](crate::CohortLayer)'s aggregates and live tree.
/// Cheap to clone; keep one wherever metrics are exported or the tree is
/// served.
#[derive(Clone)]
pub struct CohortHandle {
    pub(crate) shared: Arc<Shared>,
}

/// Whether the layer can see leaked tasks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LeakDetection {
    /// tokio's task spans reach the layer.
    On,
    /// A child ran and no task span reached the layer: leaks go unseen. The
    /// layer said so once, with the event `cohort.layer.leak_detection_off`.
    Off,
    /// No child has run yet.
    Unknown,
}

impl CohortHandle {
    /// The metric aggregates so far, by group name.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.shared.aggregates.snapshot()
    }

    /// The groups open right now, nested as they run.
    pub fn tree(&self) -> GroupTree {
        let open: Vec<_> = self.shared.open().values().cloned().collect();
        tree::build(&open)
    }

    /// Whether leaked tasks can be detected, as far as the layer knows.
    pub fn leak_detection(&self) -> LeakDetection {
        if self.shared.saw_task_spans.load(Ordering::Relaxed) {
            LeakDetection::On
        } else if self.shared.leak_notice.load(Ordering::Relaxed) {
            LeakDetection::Off
        } else {
            LeakDetection::Unknown
        }
    }
}

impl std::fmt::Debug for CohortHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CohortHandle")
            .field("open_groups", &self.shared.open().len())
            .finish_non_exhaustive()
    }
}
