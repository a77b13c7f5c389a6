//! The telemetry contract of `docs/telemetry.md`, in one place: the names a
//! subscriber matches on, and the functions that create cohort's spans and
//! emit its events. Nothing here runs unless a subscriber enables the callsite,
//! so a group with no subscriber pays only tracing's disabled-callsite check.

use std::time::Duration;

use tracing::{Level, Span, field};

use crate::error_group::{ErrorGroup, Failure};
use crate::outcome::{CancelReason, ChildOutcome, GroupOutcome};

/// The tracing target of every span and event cohort emits.
pub const TARGET: &str = "cohort";
/// The span of one group run.
pub const GROUP_SPAN: &str = "cohort.group";
/// The span of one child; a child of its group's span.
pub const CHILD_SPAN: &str = "cohort.child";
/// Event: a child returned an error or panicked (emitted in its child span).
pub const CHILD_FAILED: &str = "cohort.child.failed";
/// Event: the group started cancelling its children (emitted in the group span).
pub const CANCEL_REQUESTED: &str = "cohort.group.cancel_requested";
/// Event: a child was still running a set time after its group cancelled it
/// (emitted in the group span).
pub const CHILD_UNRESPONSIVE: &str = "cohort.child.unresponsive";
/// Event: the group finished with failures; its `error` field holds the
/// [`ErrorGroup`] as a `dyn Error` (emitted in the group span).
pub const GROUP_RAISED: &str = "cohort.group.raised";

/// The source file of the one place cohort hands a child to tokio. Built
/// with `--cfg tokio_unstable`, tokio records the spawning call's location on
/// each task's `runtime.spawn` span (`loc.file`), so a layer tells a group's
/// own child tasks from stray tasks spawned beside them by this value: the
/// compiler writes it exactly as it writes that location.
pub const CHILD_SPAWN_FILE: &str = crate::spawn::SPAWN_FILE;

/// The counts recorded on the group span when it closes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub spawned: usize,
    pub succeeded: usize,
    pub failed: usize,
    pub cancelled: usize,
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
        otel.status_code = field::Empty,
    );
    if let Some(limit) = limit {
        span.record("group.limit", limit);
    }
    if let Some(timeout) = timeout {
        span.record("group.timeout_s", timeout.as_secs_f64());
    }
    span
}

/// Records how many children wait in the limit's queue, for a live view.
pub(crate) fn queued(span: &Span, queued: usize) {
    if !span.is_disabled() {
        span.record("group.queued", queued);
    }
}

pub(crate) fn child_span(group: &Span, name: &str, index: usize) -> Span {
    tracing::info_span!(
        target: "cohort",
        parent: group,
        "cohort.child",
        child.name = name,
        child.index = index,
        child.outcome = field::Empty,
        error.type = field::Empty,
        otel.status_code = field::Empty,
    )
}

pub(crate) fn child_failed(span: &Span, failure: &Failure) {
    tracing::event!(
        name: "cohort.child.failed",
        target: "cohort",
        parent: span,
        Level::WARN,
        child.name = failure.child_name(),
        child.index = failure.child_index(),
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

pub(crate) fn cancel_requested(
    span: &Span,
    group: &str,
    reason: CancelReason,
    trigger: Option<(&str, Option<usize>)>,
) {
    tracing::event!(
        name: "cohort.group.cancel_requested",
        target: "cohort",
        parent: span,
        Level::INFO,
        group.name = group,
        reason = reason.as_str(),
        trigger.child.name = trigger.map(|(name, _)| name),
        trigger.child.index = trigger.and_then(|(_, index)| index),
        "group cancel requested",
    );
}

pub(crate) fn child_unresponsive(
    span: &Span,
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
        child.index = index,
        cancelled_for_s = after.as_secs_f64(),
        "child still running after cancellation",
    );
}

/// Records the run's end. `group.outcome` goes last: a layer takes it as the
/// signal that the counts are in and the group is done.
pub(crate) fn group_closed(span: &Span, outcome: GroupOutcome, counts: Counts) {
    span.record("group.spawned", counts.spawned);
    span.record("group.succeeded", counts.succeeded);
    span.record("group.failed", counts.failed);
    span.record("group.cancelled", counts.cancelled);
    if outcome != GroupOutcome::Ok {
        span.record("otel.status_code", "ERROR");
    }
    span.record("group.outcome", outcome.as_str());
}

pub(crate) fn group_raised(span: &Span, group: &ErrorGroup) {
    tracing::event!(
        name: "cohort.group.raised",
        target: "cohort",
        parent: span,
        Level::ERROR,
        group.name = group.name(),
        error.count = group.leaves().len(),
        error = group as &(dyn std::error::Error + 'static),
        "group raised",
    );
}
