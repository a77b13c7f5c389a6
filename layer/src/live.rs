//! The layer's record of one open group: shared by the group's span, its
//! children's spans and the layer's index of open groups, so the live tree
//! can be read at any time. A child touches only its own group's lock, never
//! a global one.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use fnv::FnvHasher;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::fields::SpanFields;

/// Where a group sits: inside a child of another group, or in another
/// group's scope body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Parent {
    pub group: u64,
    /// The child running it; `None` for the enclosing group's scope body.
    pub child: Option<u64>,
}

#[derive(Debug)]
pub(crate) struct LiveGroup {
    /// The layer's own id for the group (span ids are reused once closed).
    pub key: u64,
    pub name: String,
    pub mode: String,
    pub created: Instant,
    pub parent: Option<Parent>,
    /// Recorded by cohort as the limit's queue grows and shrinks; read
    /// without the lock.
    pub queued: AtomicU64,
    /// Set as the group is done, under the state's lock (nothing is added
    /// to the state after it), and before its span closes and its id can be
    /// reused: read without the lock too, by [`crate::recent`].
    closed: AtomicBool,
    pub state: Mutex<GroupState>,
}

#[derive(Debug, Default)]
pub(crate) struct GroupState {
    pub limit: Option<u64>,
    pub timeout: Option<Duration>,
    /// Running children by the id of their span: one insert and one remove
    /// per child, FNV-hashed (cheap for integer keys); sorted by index only
    /// for a snapshot. Presence here is what "not ended yet" means.
    pub children: HashMap<u64, LiveChild, BuildHasherDefault<FnvHasher>>,
    pub failures: u64,
    /// The cancel request's reason and time.
    pub cancel: Option<(String, Instant)>,
    /// Tasks spawned inside the group but not by it, still alive, by the id
    /// of their tokio span.
    pub strays: HashMap<u64, Stray>,
    pub spawned: u64,
    pub failed: u64,
    pub cancelled: u64,
    /// Whether cohort recorded the counts above (it does when the run ends;
    /// not when the group is dropped unfinished).
    pub counted: bool,
    /// What the layer saw itself, for a group dropped unfinished: children
    /// that started, and those of them that ended cancelled.
    pub started: u64,
    pub seen_cancelled: u64,
    /// The last child's name: the next child's is most often the same, and
    /// then shares it rather than copying it.
    pub last_name: Option<Arc<str>>,
}

impl GroupState {
    /// `name` as a shared string, the last child's if it is the same.
    pub fn intern(&mut self, name: &str) -> Arc<str> {
        match &self.last_name {
            Some(last) if **last == *name => last.clone(),
            _ => self.last_name.insert(Arc::from(name)).clone(),
        }
    }
}

#[derive(Debug)]
pub(crate) struct LiveChild {
    pub index: u64,
    pub name: Arc<str>,
    pub started: Instant,
    pub unresponsive: bool,
    /// Leaves wait in the child's span for its end.
    pub has_pending: bool,
}

/// A task spawned inside a group, not by it.
#[derive(Debug, Clone)]
pub(crate) struct Stray {
    pub task_id: u64,
    pub task_name: String,
    pub location: String,
}

impl LiveGroup {
    pub fn new(key: u64, fields: SpanFields, parent: Option<Parent>) -> Self {
        let state = GroupState {
            limit: fields.limit,
            timeout: fields.timeout_s.and_then(seconds),
            ..GroupState::default()
        };
        Self {
            key,
            name: fields.name.unwrap_or_default(),
            mode: fields.mode.unwrap_or_default(),
            created: Instant::now(),
            parent,
            queued: AtomicU64::new(fields.queued.unwrap_or(0)),
            closed: AtomicBool::new(false),
            state: Mutex::new(state),
        }
    }

    /// The group is done; called under the state's lock, so that a holder
    /// of the lock that sees the group open may still add to it. See
    /// [`Self::is_closed`].
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    /// Whether the group is done: its span may have closed, and its id be
    /// another span's now.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    pub fn state(&self) -> std::sync::MutexGuard<'_, GroupState> {
        // The state stays consistent across a panic elsewhere: every update
        // is a single assignment or map operation.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies fields recorded on the group's span after its creation.
    pub fn record(&self, fields: &SpanFields) {
        if let Some(queued) = fields.queued {
            self.queued.store(queued, Ordering::Relaxed);
        }
        if fields.limit.is_none()
            && fields.timeout_s.is_none()
            && fields.spawned.is_none()
            && fields.failed.is_none()
            && fields.cancelled.is_none()
        {
            return;
        }
        let mut state = self.state();
        if let Some(limit) = fields.limit {
            state.limit = Some(limit);
        }
        if let Some(timeout) = fields.timeout_s.and_then(seconds) {
            state.timeout = Some(timeout);
        }
        if let Some(n) = fields.spawned {
            state.spawned = n;
            state.counted = true;
        }
        if let Some(n) = fields.failed {
            state.failed = n;
        }
        if let Some(n) = fields.cancelled {
            state.cancelled = n;
        }
    }
}

fn seconds(s: f64) -> Option<Duration> {
    Duration::try_from_secs_f64(s).ok()
}
