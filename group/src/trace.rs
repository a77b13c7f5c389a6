//! Emitting cohort's spans and events, as [`crate::telemetry`] names them.
//! Nothing here runs unless a subscriber enables the callsite, so a group
//! with no subscriber pays only tracing's disabled-callsite check. Field
//! names are literals, as tracing's macros need; a test checks them against
//! the constants.

use std::time::Duration;

use tracing::{Id, Level, Span, field};

use crate::error_group::{ErrorGroup, Failure};
use crate::outcome::{CancelReason, ChildOutcome, GroupOutcome};
use crate::panic::guarded;

/// The counts recorded on the group span when it closes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub spawned: usize,
    pub succeeded: usize,
    pub failed: usize,
    pub cancelled: usize,
    /// Of the cancelled, those that never ran.
    pub unstarted: usize,
}

pub(crate) fn group_span(
    name: &str,
    mode: &'static str,
    limit: Option<usize>,
    timeout: Option<Duration>,
) -> Span {
    let span = tracing::info_span!(
        target: "cohort",
        "cohort.group",
        group.name = name,
        group.mode = mode,
        group.limit = field::Empty,
        group.timeout_s = field::Empty,
        group.queued = field::Empty,
        group.outcome = field::Empty,
        group.spawned = field::Empty,
        group.succeeded = field::Empty,
        group.failed = field::Empty,
        group.cancelled = field::Empty,
        group.unstarted = field::Empty,
        otel.name = name,
        otel.status_code = field::Empty,
    );
    if let Some(limit) = limit {
        span.record("group.limit", int(limit));
    }
    if let Some(timeout) = timeout {
        span.record("group.timeout_s", timeout.as_secs_f64());
    }
    span
}

/// Records how many children wait in the limit's queue, for a live view.
pub(crate) fn queued(span: &Span, queued: usize) {
    if !span.is_disabled() {
        span.record("group.queued", int(queued));
    }
}

/// A count or an index as a signed integer: OpenTelemetry has no unsigned
/// one, and tracing-opentelemetry exports a `u64` as a string.
pub(crate) fn int(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A child's span, named `group/child` for OpenTelemetry.
pub(crate) fn child_span(group: Option<Id>, group_name: &str, name: &str, index: usize) -> Span {
    tracing::info_span!(
        target: "cohort",
        parent: group,
        "cohort.child",
        child.name = name,
        child.index = int(index),
        child.outcome = field::Empty,
        error.type = field::Empty,
        cancel.cause = field::Empty,
        cancel.trigger.child.name = field::Empty,
        otel.name = format_args!("{group_name}/{name}"),
        otel.status_code = field::Empty,
    )
}

/// Why a child was cancelled, recorded before its outcome.
pub(crate) fn child_cancelled(span: &Span, cause: &str, trigger: Option<&str>) {
    if span.is_disabled() {
        return;
    }
    span.record("cancel.cause", cause);
    if let Some(trigger) = trigger {
        span.record("cancel.trigger.child.name", trigger);
    }
}

/// A failure, as an event of `span`: the child's, or the group's for the
/// scope body.
pub(crate) fn child_failed(span: Option<Id>, failure: &Failure) {
    guarded(|| child_failed_event(span, failure));
}

fn child_failed_event(span: Option<Id>, failure: &Failure) {
    tracing::event!(
        name: "cohort.child.failed",
        target: "cohort",
        parent: span,
        Level::WARN,
        child.name = failure.child_name(),
        child.index = failure.child_index().map(int),
        error.type = failure.error_type(),
        exception.message = %failure.message(),
        error = failure.as_error(),
        "child failed",
    );
}

/// Records the child's end; `child.outcome` last, as for the group.
pub(crate) fn child_closed(span: &Span, outcome: ChildOutcome, error_type: Option<&'static str>) {
    // A disabled span keeps its metadata, and `record` would still look each
    // field up by name, for nothing.
    if span.is_disabled() {
        return;
    }
    if let Some(error_type) = error_type {
        span.record("error.type", error_type);
        span.record("otel.status_code", "ERROR");
    }
    span.record("child.outcome", outcome.as_str());
}

/// The child whose ending made a group cancel: its name, index and, if it
/// failed, its `error.type`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Trigger<'a> {
    pub name: &'a str,
    pub index: Option<usize>,
    pub error_type: Option<&'static str>,
}

pub(crate) fn cancel_requested(
    span: Option<Id>,
    group: &str,
    reason: CancelReason,
    trigger: Option<Trigger<'_>>,
) {
    tracing::event!(
        name: "cohort.group.cancel_requested",
        target: "cohort",
        parent: span,
        Level::INFO,
        group.name = group,
        reason = reason.as_str(),
        cancel.cause = reason.cause(),
        trigger.child.name = trigger.map(|t| t.name),
        trigger.child.index = trigger.and_then(|t| t.index).map(int),
        trigger.error.type = trigger.and_then(|t| t.error_type),
        "group cancel requested",
    );
}

pub(crate) fn child_unresponsive(
    span: Option<Id>,
    group: &str,
    child: &str,
    index: usize,
    after: Duration,
) {
    tracing::event!(
        name: "cohort.child.unresponsive",
        target: "cohort",
        parent: span,
        Level::WARN,
        group.name = group,
        child.name = child,
        child.index = int(index),
        cancelled_for_s = after.as_secs_f64(),
        "child still running after cancellation",
    );
}

/// Records the run's end. `group.outcome` goes last: a layer takes it as the
/// signal that the counts are in and the group is done.
pub(crate) fn group_closed(span: &Span, outcome: GroupOutcome, counts: Counts) {
    span.record("group.spawned", int(counts.spawned));
    span.record("group.succeeded", int(counts.succeeded));
    span.record("group.failed", int(counts.failed));
    span.record("group.cancelled", int(counts.cancelled));
    if counts.unstarted > 0 {
        span.record("group.unstarted", int(counts.unstarted));
    }
    // A cancelled run is no failure (it is collateral, or stopped on
    // purpose): only a raise marks the span as an error.
    if matches!(outcome, GroupOutcome::Failed | GroupOutcome::TimedOut) {
        span.record("otel.status_code", "ERROR");
    }
    span.record("group.outcome", outcome.as_str());
}

pub(crate) fn group_raised(span: Option<Id>, group: &ErrorGroup) {
    guarded(|| group_raised_event(span, group));
}

fn group_raised_event(span: Option<Id>, group: &ErrorGroup) {
    tracing::event!(
        name: "cohort.group.raised",
        target: "cohort",
        parent: span,
        Level::ERROR,
        group.name = group.name(),
        error.count = int(group.leaves().len()),
        error = group as &(dyn std::error::Error + 'static),
        "group raised",
    );
}

#[cfg(test)]
mod tests {
    use tracing::Span;

    use crate::telemetry::{CHILD_FIELDS, GROUP_FIELDS};

    /// The literal field names of the spans are the constants a layer
    /// matches on, in order.
    #[test]
    fn the_spans_fields_are_the_named_ones() {
        tracing::subscriber::with_default(tracing_subscriber::registry(), || {
            let group = super::group_span("g", "fail_fast", None, None);
            let child = super::child_span(group.id(), "g", "c", 0);
            let names = |span: &Span| -> Vec<&str> {
                let meta = span.metadata().expect("a subscriber records it");
                meta.fields().iter().map(|f| f.name()).collect()
            };
            assert_eq!(names(&group), GROUP_FIELDS);
            assert_eq!(names(&child), CHILD_FIELDS);
        });
    }
}
