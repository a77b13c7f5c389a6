//! The state the layer and its handles share.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::emit::Emitter;
use crate::leaves::Seen;
use crate::live::LiveGroup;
use crate::metrics::{Aggregates, Kept, Measurement, MetricSink};

/// The layer's bounds on its own memory.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// Leaves remembered as logged.
    pub seen_capacity: usize,
    /// Group names with aggregates of their own.
    pub max_group_names: usize,
}

pub(crate) struct Shared {
    /// This layer's own number, told apart from other layers' in the
    /// thread-local cache of [`crate::recent`].
    pub id: u64,
    seen: Mutex<Seen>,
    pub aggregates: Aggregates,
    sinks: Vec<Arc<dyn MetricSink>>,
    /// Every open group, by the layer's key: the live tree's index.
    open: Mutex<HashMap<u64, Arc<LiveGroup>>>,
    next_key: AtomicU64,
    /// Set by the first tokio task span the layer sees.
    pub saw_task_spans: AtomicBool,
    /// The layer said that cohort's spans are filtered out before it.
    pub said_spans_filtered: AtomicBool,
    /// Set once the "leak detection is off" notice went out.
    pub leak_notice: AtomicBool,
    pub emitter: Emitter,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every update under these locks is a single map or counter operation,
    // consistent even if a sink panicked while one was held.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    pub fn new(limits: Limits, sinks: Vec<Arc<dyn MetricSink>>) -> Self {
        crate::emit::register_callsites();
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            seen: Mutex::new(Seen::new(limits.seen_capacity)),
            aggregates: Aggregates::new(limits.max_group_names),
            sinks,
            open: Mutex::default(),
            next_key: AtomicU64::new(1),
            saw_task_spans: AtomicBool::new(false),
            said_spans_filtered: AtomicBool::new(false),
            leak_notice: AtomicBool::new(false),
            emitter: Emitter::default(),
        }
    }

    pub fn seen(&self) -> MutexGuard<'_, Seen> {
        lock(&self.seen)
    }

    pub fn open(&self) -> MutexGuard<'_, HashMap<u64, Arc<LiveGroup>>> {
        lock(&self.open)
    }

    pub fn next_key(&self) -> u64 {
        self.next_key.fetch_add(1, Ordering::Relaxed)
    }

    /// Hands a measurement to the aggregates and every added sink.
    pub fn record(&self, measurement: &Measurement<'_>) {
        if self.aggregates.record(measurement) == Kept::FirstFolded {
            self.emitter
                .metrics_overflow(measurement.group(), self.aggregates.limit());
        }
        for sink in &self.sinks {
            sink.record(measurement);
        }
    }

    /// Whether a child started and still no task span was seen, reported
    /// once: then tokio's task spans do not reach the layer.
    pub fn leak_detection_unseen(&self) -> bool {
        !self.saw_task_spans.load(Ordering::Relaxed)
            && !self.leak_notice.swap(true, Ordering::Relaxed)
    }
}
