//! The telemetry contract of `docs/telemetry.md`, as names: the target, the
//! span and event names, their fields, the reserved child names and the
//! `error.type` values of cohort's own errors. A subscriber matches on these,
//! so that it parses no string this crate does not export.

use std::cell::Cell;

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
/// Event: a [`Catch`](crate::Catch) chain handed back failures no handler
/// matched, the guide's "unhandled re-raise" (emitted in the current span).
/// Its `error` field holds the residual [`ErrorGroup`](crate::ErrorGroup).
pub const CATCH_UNHANDLED: &str = "cohort.catch.unhandled";
/// Event: the group finished with failures; its `error` field holds the
/// [`ErrorGroup`](crate::ErrorGroup) as a `dyn Error` (emitted in the group span).
pub const GROUP_RAISED: &str = "cohort.group.raised";

/// Field: the group's name, on the group span and its events.
pub const GROUP_NAME: &str = "group.name";
/// Field: the group's [`Policy`](crate::Policy).
pub const GROUP_MODE: &str = "group.mode";
/// Field: the group's concurrency limit, when it has one.
pub const GROUP_LIMIT: &str = "group.limit";
/// Field: the group's time budget in seconds, when it has one.
pub const GROUP_TIMEOUT_S: &str = "group.timeout_s";
/// Field: children waiting for a slot under the limit.
pub const GROUP_QUEUED: &str = "group.queued";
/// Field: how the run ended, a [`GroupOutcome`](crate::GroupOutcome); recorded last.
pub const GROUP_OUTCOME: &str = "group.outcome";
/// Field: children admitted.
pub const GROUP_SPAWNED: &str = "group.spawned";
/// Field: children that succeeded.
pub const GROUP_SUCCEEDED: &str = "group.succeeded";
/// Field: failures, the scope body's included.
pub const GROUP_FAILED: &str = "group.failed";
/// Field: children stopped by cancellation.
pub const GROUP_CANCELLED: &str = "group.cancelled";
/// Field: `ERROR` on a group or child that did not end well.
pub const OTEL_STATUS_CODE: &str = "otel.status_code";
/// The fields of a group span, in order.
pub const GROUP_FIELDS: &[&str] = &[
    GROUP_NAME,
    GROUP_MODE,
    GROUP_LIMIT,
    GROUP_TIMEOUT_S,
    GROUP_QUEUED,
    GROUP_OUTCOME,
    GROUP_SPAWNED,
    GROUP_SUCCEEDED,
    GROUP_FAILED,
    GROUP_CANCELLED,
    GROUP_UNSTARTED,
    OTEL_NAME,
    OTEL_STATUS_CODE,
];

/// Field: the child's name, on the child span and its events.
pub const CHILD_NAME: &str = "child.name";
/// Field: the child's spawn index.
pub const CHILD_INDEX: &str = "child.index";
/// Field: how the child ended, a [`ChildOutcome`](crate::ChildOutcome); recorded last.
pub const CHILD_OUTCOME: &str = "child.outcome";
/// Field: the failure's `error.type` (see [`crate::error_types`]).
pub const ERROR_TYPE: &str = "error.type";
/// The fields of a child span, in order.
pub const CHILD_FIELDS: &[&str] = &[
    CHILD_NAME,
    CHILD_INDEX,
    CHILD_OUTCOME,
    ERROR_TYPE,
    CANCEL_CAUSE,
    CANCEL_TRIGGER,
    OTEL_NAME,
    OTEL_STATUS_CODE,
];

/// Field of a cancelled child's span: why it was cancelled, the
/// `cancel.cause` of the metrics ([`CancelReason::cause`](crate::CancelReason::cause)).
pub const CANCEL_CAUSE: &str = "cancel.cause";
/// Field of a cancelled child's span: the child whose failure (or success,
/// in a first-success race) cancelled it, where there is one.
pub const CANCEL_TRIGGER: &str = "cancel.trigger.child.name";
/// Field of the group span: children cancelled before they ever ran (queued
/// under the limit, or cancelled alone first), which have no span of their own.
pub const GROUP_UNSTARTED: &str = "group.unstarted";
/// Span field: the span's name as OpenTelemetry exports it: the group's
/// name for a group, `group/child` for a child.
pub const OTEL_NAME: &str = "otel.name";
/// Event field of `cohort.group.cancel_requested`: the trigger's `error.type`.
pub const TRIGGER_ERROR_TYPE: &str = "trigger.error.type";

/// Event field: the failure's message.
pub const EXCEPTION_MESSAGE: &str = "exception.message";
/// Event field: the error as a `dyn Error` (an `ErrorGroup` on a raise).
pub const ERROR: &str = "error";
/// Event field: why a group cancelled, a [`CancelReason`](crate::CancelReason).
pub const REASON: &str = "reason";
/// Event field: the child whose failure made the group cancel.
pub const TRIGGER_CHILD_NAME: &str = "trigger.child.name";
/// Event field: that child's index.
pub const TRIGGER_CHILD_INDEX: &str = "trigger.child.index";
/// Event field: the number of leaves of a raised tree.
pub const ERROR_COUNT: &str = "error.count";
/// Event field: how long an unresponsive child had been cancelled, in seconds.
pub const CANCELLED_FOR_S: &str = "cancelled_for_s";

/// The name a scope body's failure is reported under.
pub const BODY_NAME: &str = "(body)";
/// The name a deadline's failure is reported under.
pub const DEADLINE_NAME: &str = "(deadline)";
/// The name a first-success race's [`NoSuccess`](crate::NoSuccess) is
/// reported under.
pub const NO_SUCCESS_NAME: &str = "(no success)";
/// The name an `except*` handler's raised error is reported under, in the
/// tree [`Catch::rest`](crate::Catch::rest) returns.
pub const HANDLER_NAME: &str = "(handler)";
/// The name of the group [`Catch::error`](crate::Catch::error) wraps a bare
/// error in.
pub const BARE_ERROR_GROUP: &str = "(error)";

/// What a failure's message says where the error's `Display` panicked.
pub const DISPLAY_PANICKED: &str = "<the error's Display panicked>";

/// `error.type` of a panic leaf.
pub const PANIC_ERROR_TYPE: &str = "panic";
/// `error.type` of a child whose own group failed.
pub const GROUP_ERROR_TYPE: &str = "cohort::ErrorGroup";
/// `error.type` of a [`DeadlineExceeded`](crate::DeadlineExceeded) leaf.
pub const DEADLINE_ERROR_TYPE: &str = "cohort::DeadlineExceeded";
/// `error.type` of a [`NoSuccess`](crate::NoSuccess) leaf.
pub const NO_SUCCESS_ERROR_TYPE: &str = "cohort::NoSuccess";
/// `error.type` of a [`SpawnError`](crate::SpawnError).
pub const SPAWN_ERROR_TYPE: &str = "cohort::SpawnError";
/// `error.type` of a [`StartError`](crate::StartError) (one that is not the
/// child's own failure, which keeps its own type).
pub const START_ERROR_TYPE: &str = "cohort::StartError";
/// `error.type` of a [`NoOutput`](crate::NoOutput) leaf, from
/// [`Group::join_all`](crate::Group::join_all).
pub const NO_OUTPUT_ERROR_TYPE: &str = "cohort::NoOutput";
/// `error.type` of a [`ConfigError`](crate::ConfigError).
pub const CONFIG_ERROR_TYPE: &str = "cohort::ConfigError";

thread_local! {
    /// Set while cohort hands a child's task to tokio.
    static SPAWNING_CHILD: Cell<bool> = const { Cell::new(false) };
}

/// Whether the task being spawned on this thread right now is a group's
/// child. Built with `--cfg tokio_unstable`, tokio opens each task's
/// `runtime.spawn` span inside the spawn call, so a layer asks this as the
/// span opens to tell a group's children from tasks spawned beside them
/// (tokio's `loc.file` is the user's own spawn site, which tokio-console
/// shows). Always `false` without `tokio_unstable`, where there are no task
/// spans.
pub fn spawning_child() -> bool {
    SPAWNING_CHILD.with(Cell::get)
}

/// Makes [`spawning_child`] true until it is dropped (also on unwind).
#[cfg(tokio_unstable)]
pub(crate) struct SpawningChild(());

#[cfg(tokio_unstable)]
impl SpawningChild {
    pub(crate) fn start() -> Self {
        SPAWNING_CHILD.with(|flag| flag.set(true));
        Self(())
    }
}

#[cfg(tokio_unstable)]
impl Drop for SpawningChild {
    fn drop(&mut self) {
        SPAWNING_CHILD.with(|flag| flag.set(false));
    }
}
