//! Field visitors: what the layer reads off cohort's spans and events and off
//! tokio's task spans. Each copies only the fields it knows; the rest cost one
//! no-op call each.

use std::error::Error;
use std::fmt;
use std::sync::Arc;

use cohort::telemetry as names;
use cohort::{ChildOutcome, ErrorGroup, GroupOutcome};
use tracing::field::{Field, Visit};

use crate::live::GroupState;

/// A cohort span's fields, from its creation or from a later `record`.
#[derive(Debug, Default)]
pub(crate) struct SpanFields {
    /// `group.name` or `child.name`.
    pub name: Option<String>,
    pub mode: Option<String>,
    pub index: Option<u64>,
    pub limit: Option<u64>,
    pub timeout_s: Option<f64>,
    pub queued: Option<u64>,
    pub spawned: Option<u64>,
    pub failed: Option<u64>,
    pub cancelled: Option<u64>,
    /// `group.outcome` or `child.outcome`: the span's last record.
    pub outcome: Option<&'static str>,
    /// The outcome is a child's (`child.outcome`): the span is a child's.
    pub child_outcome: bool,
}

impl SpanFields {
    /// Whether a record carries anything the layer keeps.
    pub fn is_relevant(&self) -> bool {
        self.outcome.is_some()
            || self.queued.is_some()
            || self.limit.is_some()
            || self.timeout_s.is_some()
            || self.spawned.is_some()
            || self.failed.is_some()
            || self.cancelled.is_some()
    }
}

/// An outcome as a static string: recorded once per child, so not worth an
/// allocation. Values outside the contract read as `unknown`.
fn outcome(value: &str) -> &'static str {
    [
        GroupOutcome::Ok.as_str(),
        GroupOutcome::Failed.as_str(),
        GroupOutcome::TimedOut.as_str(),
        GroupOutcome::Cancelled.as_str(),
        ChildOutcome::Error.as_str(),
        ChildOutcome::Panic.as_str(),
    ]
    .into_iter()
    .find(|known| *known == value)
    .unwrap_or("unknown")
}

impl Visit for SpanFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            names::GROUP_NAME | names::CHILD_NAME => self.name = Some(value.to_owned()),
            names::GROUP_MODE => self.mode = Some(value.to_owned()),
            names::GROUP_OUTCOME => self.outcome = Some(outcome(value)),
            names::CHILD_OUTCOME => {
                self.outcome = Some(outcome(value));
                self.child_outcome = true;
            }
            _ => {}
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        let slot = match field.name() {
            names::CHILD_INDEX => &mut self.index,
            names::GROUP_LIMIT => &mut self.limit,
            names::GROUP_QUEUED => &mut self.queued,
            names::GROUP_SPAWNED => &mut self.spawned,
            names::GROUP_FAILED => &mut self.failed,
            names::GROUP_CANCELLED => &mut self.cancelled,
            _ => return,
        };
        *slot = Some(value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if let Ok(value) = u64::try_from(value) {
            self.record_u64(field, value);
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if field.name() == names::GROUP_TIMEOUT_S {
            self.timeout_s = Some(value);
        }
    }

    fn record_debug(&mut self, _: &Field, _: &dyn fmt::Debug) {}
}

/// A child span's fields as it starts: its index, and its name, shared with
/// the group's last child's when it is the same (most often: a fan-out names
/// its children alike), so that a child's start copies no string.
pub(crate) struct ChildFields<'s> {
    pub state: &'s mut GroupState,
    pub index: Option<u64>,
    pub name: Option<Arc<str>>,
}

impl Visit for ChildFields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == names::CHILD_NAME {
            self.name = Some(self.state.intern(value));
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == names::CHILD_INDEX {
            self.index = Some(value);
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if let Ok(value) = u64::try_from(value) {
            self.record_u64(field, value);
        }
    }

    fn record_debug(&mut self, _: &Field, _: &dyn fmt::Debug) {}
}

/// The fields of cohort's own events that feed the live view and the metrics.
#[derive(Debug, Default)]
pub(crate) struct EventFields {
    pub reason: Option<String>,
    pub error_type: Option<String>,
    pub child_index: Option<u64>,
}

impl Visit for EventFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            names::REASON => self.reason = Some(value.to_owned()),
            names::ERROR_TYPE => self.error_type = Some(value.to_owned()),
            _ => {}
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == names::CHILD_INDEX {
            self.child_index = Some(value);
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if let Ok(value) = u64::try_from(value) {
            self.record_u64(field, value);
        }
    }

    fn record_debug(&mut self, _: &Field, _: &dyn fmt::Debug) {}
}

/// Finds every [`ErrorGroup`] an event carries in a `dyn Error` field, the
/// field's value itself or anywhere down its `source()` chain, and hands each
/// to `found` while the event's borrow lasts.
pub(crate) struct ErrorGroups<F>(pub F);

impl<F: FnMut(&ErrorGroup)> Visit for ErrorGroups<F> {
    fn record_error(&mut self, _: &Field, value: &(dyn Error + 'static)) {
        let mut next = Some(value);
        while let Some(error) = next {
            if let Some(group) = error.downcast_ref::<ErrorGroup>() {
                // A group's own leaves are walked from here; its `source()` is
                // `None` by design, so the chain ends at it anyway.
                (self.0)(group);
                return;
            }
            next = error.source();
        }
    }

    fn record_debug(&mut self, _: &Field, _: &dyn fmt::Debug) {}
}

/// The identity of a task tokio spawned: read only for tasks that are not a
/// group's children.
#[derive(Debug, Default)]
pub(crate) struct TaskFields {
    pub id: u64,
    pub name: String,
    pub file: String,
    pub line: u64,
    pub col: u64,
}

impl TaskFields {
    /// `file:line:col`, the `code.location` of a leaked task.
    pub fn location(&self) -> String {
        format!("{}:{}:{}", self.file, self.line, self.col)
    }
}

impl Visit for TaskFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "loc.file" {
            self.file = value.to_owned();
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        match field.name() {
            "task.id" => self.id = value,
            "loc.line" => self.line = value,
            "loc.col" => self.col = value,
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "task.name" {
            self.name = format!("{value:?}");
        }
    }
}
