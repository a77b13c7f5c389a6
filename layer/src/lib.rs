//! A tracing-subscriber layer for [`cohort`] groups: every leaf of every error
//! tree logged exactly once, tasks leaked past their group reported, metric
//! aggregates for each group name, and a live tree of the groups open now.
//!
//! Add it, last, to the subscriber the service already has:
//!
//! ```
//! use cohort::Group;
//! use tracing_subscriber::prelude::*;
//!
//! # #[derive(Debug)] struct Refused;
//! # impl std::fmt::Display for Refused {
//! #     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("refused") }
//! # }
//! # impl std::error::Error for Refused {}
//! #[tokio::main]
//! async fn main() {
//!     let cohort = cohort_layer::CohortLayer::new();
//!     let handle = cohort.handle();
//!     let _guard = tracing_subscriber::registry()
//!         .with(tracing_subscriber::fmt::layer())
//!         .with(cohort.filtered()) // its own filter: see `CohortFilter`
//!         .set_default();
//!
//!     let mut group = Group::new("fetch");
//!     group.spawn("eu", async { Ok::<_, Refused>(1) }).unwrap();
//!     group.spawn("us", async { Err::<u32, _>(Refused) }).unwrap();
//!     let errors = group.join().await.unwrap_err();
//!     assert_eq!(errors.leaves().len(), 1);
//!
//!     // The raise was logged, and so was its one leaf, as `cohort.error.leaf`
//!     // with exception.type, exception.message, leaf.path, ids and the
//!     // failure's fingerprint. The run is in the metrics:
//!     let fetch = handle.metrics().group("fetch").cloned().unwrap();
//!     assert_eq!(fetch.runs["failed"], 1);
//!     assert_eq!(fetch.failed, 1);
//!     assert_eq!(fetch.last_partial_failure_rate, Some(0.5));
//!     assert!(handle.tree().groups.is_empty()); // nothing open any more
//! }
//! ```
//!
//! # What it writes
//!
//! - **`cohort.error.leaf`**, one event per leaf of each [`cohort::ErrorGroup`]
//!   an event carries in a `dyn Error` field (the field itself or anywhere
//!   down its `source()` chain): `exception.type`, `exception.message`,
//!   `leaf.path` (`0.2.1`), `leaf.depth`, `leaf.panic`, `group.name`,
//!   `child.name`, `child.index`, and the tree's identity for back ends that
//!   understand exception groups: `exception.id`, `exception.parent_id` (the
//!   group holding the leaf), `exception.group.id` (the root) and
//!   `exception.group.fingerprint` (see [`fingerprint`]). A nested group's
//!   leaves are logged once, at the outermost report of the tree, with their
//!   full paths; a tree logged again (by an enclosing group, or by the
//!   service itself) logs nothing new.
//! - **`cohort.task.leaked`** (WARN): a task spawned inside a group, not by it,
//!   still alive when the group is done: `task.id`, `task.name`,
//!   `code.location`, `group.name`. Needs tokio's task spans (`--cfg
//!   tokio_unstable`, tokio's `tracing` feature, and `tokio::task=trace`
//!   through the layer's filter); without them the layer says so once
//!   (`cohort.layer.leak_detection_off`) and does everything else.
//!
//! These are ordinary tracing events: fmt prints them, OpenTelemetry exports
//! them, under the span of the report that carried them.
//!
//! # What it keeps
//!
//! - [`CohortHandle::metrics`]: the instruments of `docs/telemetry.md` by group
//!   name, cancellations by [`CancelCause`]. A [`MetricSink`] added with
//!   [`Builder::sink`] receives each [`Measurement`] as it happens.
//! - [`CohortHandle::tree`]: the groups open now, nested, with their running
//!   children; JSON with [`GroupTree::to_json`], text with `Display`.

// One `unsafe` item, allowed where it is: `FilteredLayer` passes
// tracing-subscriber's `downcast_raw` on to the `Filtered` it wraps.
#![deny(unsafe_code)]

mod builder;
mod callsites;
mod emit;
mod fields;
mod filter;
mod filtered;
mod handle;
mod layer;
mod leaks;
mod leaves;
mod live;
mod metrics;
mod pending;
mod recent;
mod shared;
mod tree;

pub use builder::{BuildError, Builder};
pub use emit::{LEAF, LEAK_DETECTION_OFF, METRICS_OVERFLOW, SPANS_FILTERED, TASK_LEAKED};
pub use filter::CohortFilter;
pub use filtered::FilteredLayer;
pub use handle::{CohortHandle, LeakDetection};
pub use layer::CohortLayer;
pub use leaves::fingerprint;
pub use metrics::{
    CancelCause, GroupMetrics, GroupRun, Histogram, Measurement, MetricSink, MetricsSnapshot,
    RATE_BOUNDS, SECONDS_BOUNDS,
};
pub use tree::{ChildNode, GroupNode, GroupTree, RunState};
