//! The metrics of `docs/telemetry.md`, aggregated in process.
//!
//! The layer turns what it observes into [`Measurement`]s at a few points off
//! the per-child path (a group opens, a group is done, a child fails, a task
//! leaks) and hands each to every [`MetricSink`]: the built-in aggregate that
//! [`CohortHandle::metrics`](crate::CohortHandle::metrics) snapshots, and any
//! sink added with [`Builder::sink`](crate::Builder::sink), such as an
//! OpenTelemetry bridge that records into its own instruments.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

/// Why a group's children were cancelled: the `cancel.cause` attribute of
/// `cohort.children.cancelled`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelCause {
    /// A sibling (or the scope body) failed or panicked.
    Collateral,
    /// The group's deadline passed.
    Deadline,
    /// The enclosing child's cancellation reached the group.
    ParentCancelled,
    /// Code cancelled the group, or individual children through their handles.
    Explicit,
    /// The group, or its `join`/`scope` future, was dropped unfinished.
    Dropped,
    /// A child succeeded in a first-success group; the others lost the race.
    FirstSuccess,
}

impl CancelCause {
    /// The cause for the `reason` of a `cohort.group.cancel_requested` event;
    /// `None` (children cancelled one by one, no group-wide reason) is
    /// [`Explicit`](Self::Explicit).
    pub fn from_reason(reason: Option<&str>) -> Self {
        let cause = reason
            .and_then(cohort::CancelReason::from_str_value)
            .map_or("explicit", cohort::CancelReason::cause);
        [
            Self::Collateral,
            Self::Deadline,
            Self::ParentCancelled,
            Self::Dropped,
            Self::FirstSuccess,
        ]
        .into_iter()
        .find(|known| known.as_str() == cause)
        .unwrap_or(Self::Explicit)
    }

    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Collateral => "collateral",
            Self::Deadline => "deadline",
            Self::ParentCancelled => "parent_cancelled",
            Self::Explicit => "explicit",
            Self::Dropped => "dropped",
            Self::FirstSuccess => "first_success",
        }
    }
}

/// One observation, as the layer hands it to the sinks.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Measurement<'a> {
    /// A group opened: `cohort.groups.active` +1.
    GroupOpened {
        /// `group.name`.
        group: &'a str,
    },
    /// A group is done: `cohort.groups.active` -1, and its run's
    /// `cohort.group.runs`, `.duration`, `.partial_failure_rate`,
    /// `cohort.children.*` and `cohort.child.cancel_latency`.
    GroupRun(&'a GroupRun<'a>),
    /// A child (or a scope body) failed with an error of its own (not a
    /// nested group's, whose leaves its own group counts):
    /// `cohort.child.errors`.
    ChildError {
        /// `group.name`.
        group: &'a str,
        /// `error.type`.
        error_type: &'a str,
    },
    /// A leaf went through a `catch` chain and was handed back unmatched:
    /// `cohort.errors.unhandled`.
    Unhandled {
        /// `group.name` of the tree it was handed back in.
        group: &'a str,
        /// `error.type`.
        error_type: &'a str,
    },
    /// A child was still running a set time after its group cancelled it:
    /// `cohort.children.unresponsive`.
    ChildUnresponsive {
        /// `group.name`.
        group: &'a str,
    },
    /// A task spawned in the group, not by it, outlived it:
    /// `cohort.tasks.leaked`.
    TaskLeaked {
        /// `group.name`.
        group: &'a str,
        /// `code.location`: `file:line:col` of the spawn.
        location: &'a str,
    },
}

impl Measurement<'_> {
    /// The `group.name` the measurement is of.
    pub fn group(&self) -> &str {
        match self {
            Self::GroupOpened { group }
            | Self::ChildError { group, .. }
            | Self::Unhandled { group, .. }
            | Self::ChildUnresponsive { group }
            | Self::TaskLeaked { group, .. } => group,
            Self::GroupRun(run) => run.group,
        }
    }
}

/// What one finished group run measured.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupRun<'a> {
    /// `group.name`.
    pub group: &'a str,
    /// `group.outcome`: `ok`, `failed`, `timed_out`, `cancelled`.
    pub outcome: &'a str,
    /// From the group's creation to its end.
    pub duration: Duration,
    /// Children admitted.
    pub spawned: u64,
    /// Failures (children and the scope body).
    pub failed: u64,
    /// Children stopped by cancellation, all of one `cause`.
    pub cancelled: u64,
    /// Why they were cancelled.
    pub cause: CancelCause,
    /// `failed / spawned`; `None` for a group that spawned nothing.
    pub partial_failure_rate: Option<f64>,
    /// From the group's cancel request to its end: how long its children
    /// took to stop. `None` if it was never cancelled.
    pub cancel_latency: Option<Duration>,
}

/// Receives every [`Measurement`], on the thread that observed it. Keep it
/// quick: it runs inside tracing callbacks.
pub trait MetricSink: Send + Sync + 'static {
    /// Records one observation.
    fn record(&self, measurement: &Measurement<'_>);
}

/// Upper bounds of the duration histograms' buckets, in seconds: dense
/// from 10 ms to 1 s, where fan-outs of network calls and their timeouts
/// live (a p99 interpolated in a 250 ms-wide bucket would read a 405 ms
/// timeout as 498 ms; here the bucket is 50 ms wide), sparse beyond.
/// cohort-otlp's `Builder::duration_bounds` sets others for export.
pub const SECONDS_BOUNDS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45,
    0.5, 0.6, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0,
];
/// Upper bounds of the partial-failure-rate histogram's buckets.
pub const RATE_BOUNDS: &[f64] = &[0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0];

/// A histogram with fixed bucket bounds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Histogram {
    /// Observations.
    pub count: u64,
    /// Their sum.
    pub sum: f64,
    /// The smallest; `0` when empty.
    pub min: f64,
    /// The largest; `0` when empty.
    pub max: f64,
    /// Upper bounds (inclusive) of the buckets; one more bucket counts the rest.
    pub bounds: &'static [f64],
    /// Counts per bucket, `bounds.len() + 1` of them.
    pub buckets: Vec<u64>,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Self {
            count: 0,
            sum: 0.0,
            min: 0.0,
            max: 0.0,
            bounds,
            buckets: vec![0; bounds.len() + 1],
        }
    }

    fn record(&mut self, value: f64) {
        if self.count == 0 {
            (self.min, self.max) = (value, value);
        } else {
            self.min = self.min.min(value);
            self.max = self.max.max(value);
        }
        self.count += 1;
        self.sum += value;
        let bucket = self.bounds.partition_point(|&bound| bound < value);
        self.buckets[bucket] += 1;
    }
}

/// The aggregates of one group name.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GroupMetrics {
    /// `cohort.group.runs`, by `group.outcome`.
    pub runs: BTreeMap<String, u64>,
    /// `cohort.group.duration` in seconds, by `group.outcome`.
    pub duration: BTreeMap<String, Histogram>,
    /// `cohort.group.partial_failure_rate`.
    pub partial_failure_rate: Histogram,
    /// The partial-failure rate's last value (the gauge).
    pub last_partial_failure_rate: Option<f64>,
    /// `cohort.children.spawned`.
    pub spawned: u64,
    /// `cohort.children.failed`.
    pub failed: u64,
    /// `cohort.children.cancelled`, by `cancel.cause`.
    pub cancelled: BTreeMap<CancelCause, u64>,
    /// `cohort.child.errors`, by `error.type`.
    pub errors: BTreeMap<String, u64>,
    /// `cohort.errors.unhandled`, by `error.type`: leaves catch chains
    /// handed back unmatched.
    pub unhandled: BTreeMap<String, u64>,
    /// `cohort.child.cancel_latency` in seconds.
    pub cancel_latency: Histogram,
    /// `cohort.tasks.leaked`, by `code.location`.
    pub leaked: BTreeMap<String, u64>,
    /// `cohort.children.unresponsive`.
    pub unresponsive: u64,
    /// `cohort.groups.active`.
    pub active: i64,
}

impl Default for GroupMetrics {
    fn default() -> Self {
        Self {
            runs: BTreeMap::new(),
            duration: BTreeMap::new(),
            partial_failure_rate: Histogram::new(RATE_BOUNDS),
            last_partial_failure_rate: None,
            spawned: 0,
            failed: 0,
            cancelled: BTreeMap::new(),
            errors: BTreeMap::new(),
            unhandled: BTreeMap::new(),
            cancel_latency: Histogram::new(SECONDS_BOUNDS),
            leaked: BTreeMap::new(),
            unresponsive: 0,
            active: 0,
        }
    }
}

impl GroupMetrics {
    /// All cancellations, whatever their cause.
    pub fn cancelled_total(&self) -> u64 {
        self.cancelled.values().sum()
    }
}

/// Every aggregate, by `group.name`: what
/// [`CohortHandle::metrics`](crate::CohortHandle::metrics) returns.
///
/// At most [`Builder::max_group_names`](crate::Builder::max_group_names)
/// names are kept (2,000 by default, OpenTelemetry's cardinality limit);
/// the measurements of every later name are folded into [`overflow`], as
/// OpenTelemetry folds them into its `otel.metric.overflow` stream. Group
/// names are meant to be few: a name per operation, never per request or id.
///
/// [`overflow`]: Self::overflow
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct MetricsSnapshot {
    /// The aggregates of each group name seen so far, up to the limit.
    pub groups: BTreeMap<String, GroupMetrics>,
    /// The aggregates of the names beyond the limit, all together; `None`
    /// while the limit was never reached.
    pub overflow: Option<GroupMetrics>,
    /// How many measurements went to [`overflow`](Self::overflow).
    pub folded: u64,
}

impl MetricsSnapshot {
    /// The aggregates of one group name, if it ran and was kept.
    pub fn group(&self, name: &str) -> Option<&GroupMetrics> {
        self.groups.get(name)
    }
}

/// The built-in sink: cumulative aggregates behind one lock, taken once per
/// measurement (a few per group run, none per successful child), for at most
/// `limit` group names.
#[derive(Debug)]
pub(crate) struct Aggregates {
    all: Mutex<MetricsSnapshot>,
    limit: usize,
}

/// What became of a measurement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kept {
    /// Under its group's name.
    Named,
    /// In the overflow, which it is the first to reach.
    FirstFolded,
    /// In the overflow.
    Folded,
}

impl Aggregates {
    pub fn new(limit: usize) -> Self {
        Self {
            all: Mutex::default(),
            limit,
        }
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    pub fn snapshot(&self) -> MetricsSnapshot {
        self.all.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn with(&self, group: &str, f: impl FnOnce(&mut GroupMetrics)) -> Kept {
        let mut all = self.all.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(metrics) = all.groups.get_mut(group) {
            f(metrics);
            return Kept::Named;
        }
        if all.groups.len() < self.limit {
            f(all.groups.entry(group.to_owned()).or_default());
            return Kept::Named;
        }
        // Names are never evicted: a name kept once keeps its series whole,
        // and a folded one always folds (its opens and ends meet).
        all.folded += 1;
        let first = all.overflow.is_none();
        f(all.overflow.get_or_insert_with(GroupMetrics::default));
        if first {
            Kept::FirstFolded
        } else {
            Kept::Folded
        }
    }

    /// Adds one measurement.
    pub fn record(&self, measurement: &Measurement<'_>) -> Kept {
        match measurement {
            Measurement::GroupOpened { group } => self.with(group, |m| m.active += 1),
            Measurement::GroupRun(run) => self.with(run.group, |m| {
                m.active -= 1;
                *m.runs.entry(run.outcome.to_owned()).or_default() += 1;
                m.duration
                    .entry(run.outcome.to_owned())
                    .or_insert_with(|| Histogram::new(SECONDS_BOUNDS))
                    .record(run.duration.as_secs_f64());
                if let Some(rate) = run.partial_failure_rate {
                    m.partial_failure_rate.record(rate);
                    m.last_partial_failure_rate = Some(rate);
                }
                m.spawned += run.spawned;
                m.failed += run.failed;
                if run.cancelled > 0 {
                    *m.cancelled.entry(run.cause).or_default() += run.cancelled;
                }
                if let Some(latency) = run.cancel_latency {
                    m.cancel_latency.record(latency.as_secs_f64());
                }
            }),
            Measurement::ChildError { group, error_type } => self.with(group, |m| {
                *m.errors.entry((*error_type).to_owned()).or_default() += 1;
            }),
            Measurement::Unhandled { group, error_type } => self.with(group, |m| {
                *m.unhandled.entry((*error_type).to_owned()).or_default() += 1;
            }),
            Measurement::ChildUnresponsive { group } => self.with(group, |m| m.unresponsive += 1),
            Measurement::TaskLeaked { group, location } => self.with(group, |m| {
                *m.leaked.entry((*location).to_owned()).or_default() += 1;
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_by_inclusive_upper_bound() {
        let mut h = Histogram::new(&[1.0, 2.0]);
        for v in [0.5, 1.0, 1.5, 2.0, 9.0] {
            h.record(v);
        }
        assert_eq!(h.buckets, [2, 2, 1]);
        assert_eq!((h.count, h.min, h.max, h.sum), (5, 0.5, 9.0, 14.0));
    }

    #[test]
    fn names_beyond_the_limit_fold_into_the_overflow() {
        let aggregates = Aggregates::new(2);
        let opened = |group| Measurement::GroupOpened { group };
        assert_eq!(aggregates.record(&opened("a")), Kept::Named);
        assert_eq!(aggregates.record(&opened("b")), Kept::Named);
        assert_eq!(aggregates.record(&opened("c")), Kept::FirstFolded);
        assert_eq!(aggregates.record(&opened("d")), Kept::Folded);
        // A kept name stays kept.
        assert_eq!(aggregates.record(&opened("a")), Kept::Named);
        let all = aggregates.snapshot();
        assert_eq!(all.groups.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(all.groups["a"].active, 2);
        assert_eq!(all.overflow.map(|m| m.active), Some(2));
        assert_eq!(all.folded, 2);
    }

    #[test]
    fn reasons_map_to_causes() {
        use CancelCause::*;
        for (reason, cause) in [
            (Some("child_failed"), Collateral),
            (Some("child_panicked"), Collateral),
            (Some("body_failed"), Collateral),
            (Some("deadline"), Deadline),
            (Some("parent_cancelled"), ParentCancelled),
            (Some("explicit"), Explicit),
            (None, Explicit),
            (Some("dropped"), Dropped),
            (Some("first_success"), FirstSuccess),
        ] {
            assert_eq!(CancelCause::from_reason(reason), cause, "{reason:?}");
        }
    }
}
