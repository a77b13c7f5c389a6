//! Leaked tasks: a task spawned while a group's span (or a span inside it)
//! was current, not by the group, and still alive when the group is done.
//!
//! tokio, built with `--cfg tokio_unstable` and its `tracing` feature, opens
//! a `runtime.spawn` span for every task. That span is an explicit root, but
//! when it opens, the spawning code's span is still current, which tells the
//! group the task was spawned in. The group's own children are told apart
//! because cohort says so while it spawns them
//! ([`cohort::telemetry::spawning_child`]): their `loc.file` is the user's
//! spawn site, as for any other task. A stray task
//! leaves the group's list when its span closes, which tokio does when the
//! task's future is dropped, so a task that finished before its group did is
//! never reported.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tracing::span;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::{LookupSpan, SpanRef};

use crate::fields::TaskFields;
use crate::layer::group_of;
use crate::live::{LiveGroup, Stray};
use crate::shared::Shared;

/// On a stray task's span: the group it may leak from.
struct TaskExt {
    group: Arc<LiveGroup>,
}

pub(crate) fn task_spawned<S>(
    shared: &Shared,
    attrs: &span::Attributes<'_>,
    span: &SpanRef<'_, S>,
    ctx: &Context<'_, S>,
) where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    if !shared.saw_task_spans.load(Ordering::Relaxed) {
        shared.saw_task_spans.store(true, Ordering::Relaxed);
    }
    // The span opens inside the spawn call, on the spawning thread.
    if cohort::telemetry::spawning_child() {
        return;
    }
    let Some(group) = ctx
        .lookup_current()
        .and_then(|current| current.scope().find_map(|s| group_of(&s)))
    else {
        return;
    };
    let mut task = TaskFields::default();
    attrs.record(&mut task);
    let stray = Stray {
        task_id: task.id,
        location: task.location(),
        task_name: task.name,
    };
    {
        let mut state = group.state();
        if group.is_closed() {
            return;
        }
        state.strays.insert(span.id().into_u64(), stray);
    }
    span.extensions_mut().insert(TaskExt { group });
}

pub(crate) fn task_closed<S>(span: &SpanRef<'_, S>)
where
    S: for<'a> LookupSpan<'a>,
{
    if let Some(task) = span.extensions().get::<TaskExt>() {
        task.group.state().strays.remove(&span.id().into_u64());
    }
}
