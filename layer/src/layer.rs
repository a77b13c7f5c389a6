//! [`CohortLayer`]: what the layer does at each tracing callback.
//!
//! Per child, the path is short: read two fields, insert into (and later
//! remove from) the child's own group's map, found through the span's parent.
//! Nothing is stored on a child's span unless a failure has leaves waiting
//! there. Everything else happens per group (open, done) or per failure, and
//! the aggregation itself is a sink's.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use cohort::ErrorGroup;
use cohort::telemetry as names;
use tokio::time::Instant;
use tracing::span::{self, Id};
use tracing::subscriber::Interest;
use tracing::{Dispatch, Event, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::{LookupSpan, SpanRef};

use crate::callsites::{Kind, kind};
use crate::emit;
use crate::fields::{ChildFields, ErrorGroups, EventFields, SpanFields};
use crate::filtered::FilteredLayer;
use crate::leaves::{self, LeafRecord};
use crate::live::{LiveChild, LiveGroup, Parent};
use crate::metrics::{CancelCause, GroupRun, Measurement};
use crate::pending::Pending;
use crate::recent;
use crate::shared::Shared;
use crate::{CohortHandle, leaks};

/// The tracing-subscriber layer. Add it to the subscriber a service already
/// has, last, with its own filter, and give the service's `EnvFilter` to its
/// fmt layer rather than to the whole subscriber (a filter added with
/// `.with(..)` decides for every layer, and would hide cohort's spans):
///
/// ```
/// use tracing_subscriber::prelude::*;
/// use tracing_subscriber::EnvFilter;
///
/// let layer = cohort_layer::CohortLayer::new();
/// let handle = layer.handle();
/// let subscriber = tracing_subscriber::registry()
///     .with(tracing_subscriber::fmt::layer().with_filter(EnvFilter::from_default_env()))
///     .with(layer.filtered());
/// # drop((subscriber, handle));
/// ```
///
/// Added last, its leaf records reach every layer without disturbing the
/// per-layer filters of the layers before it (tracing-subscriber keeps one
/// filter pass per thread, which an event emitted in the middle of another
/// event's dispatch would overwrite for the layers still to run). If a group
/// raises while its span never reached the layer (a global filter hides it),
/// the layer says so once, with the event `cohort.layer.spans_filtered`.
///
/// Add it with `.with(...)` (or `Layer::and_then`, or boxed), not inside a
/// `Vec` or an `Option` of layers: tracing-subscriber 0.3.23 does not pass
/// `on_register_dispatch` through those, and without it the layer can only
/// emit its records through the global default subscriber. The fix
/// (tokio-rs/tracing#3478) is merged upstream; once a release carries it,
/// this restriction goes.
pub struct CohortLayer {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for CohortLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CohortLayer").finish_non_exhaustive()
    }
}

/// The layer's data on a group's span.
pub(crate) struct GroupExt {
    pub live: Arc<LiveGroup>,
}

/// The group a span belongs to: its own (a group span) or its group's (a
/// child span, whose parent is always its group's span).
pub(crate) fn group_of<S>(span: &SpanRef<'_, S>) -> Option<Arc<LiveGroup>>
where
    S: for<'a> LookupSpan<'a>,
{
    match kind(span.metadata()) {
        Kind::Group => own_group(span),
        Kind::Child => span.parent().as_ref().and_then(own_group),
        _ => None,
    }
}

/// The group recorded on a group's span.
fn own_group<S>(span: &SpanRef<'_, S>) -> Option<Arc<LiveGroup>>
where
    S: for<'a> LookupSpan<'a>,
{
    span.extensions().get::<GroupExt>().map(|g| g.live.clone())
}

impl CohortLayer {
    /// A layer with the default settings; see [`CohortLayer::builder`] for
    /// the others.
    pub fn new() -> Self {
        Self {
            shared: Arc::new(Shared::new(crate::Builder::DEFAULT_LIMITS, Vec::new())),
        }
    }

    /// Options: how many logged leaves to remember, extra metric sinks.
    pub fn builder() -> crate::Builder {
        crate::Builder::default()
    }

    /// The layer with its own per-layer filter,
    /// [`CohortFilter`](crate::CohortFilter): it sees what it needs whatever
    /// the other layers' filters are, and does not make every other callsite
    /// of the process enabled, as a layer with no filter does. (Rather than
    /// `.with_filter(CohortFilter::new())`, which works the same, but looks
    /// every span up at each enter, exit, record and close.)
    pub fn filtered<S>(self) -> FilteredLayer<S>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        FilteredLayer::new(self)
    }

    /// A handle to read the layer's metrics and live tree once the layer is
    /// inside a subscriber.
    pub fn handle(&self) -> CohortHandle {
        CohortHandle {
            shared: self.shared.clone(),
        }
    }

    fn group_opened<S>(&self, attrs: &span::Attributes<'_>, span: &SpanRef<'_, S>)
    where
        S: for<'a> LookupSpan<'a>,
    {
        let mut fields = SpanFields::default();
        attrs.record(&mut fields);
        let parent = span.parent().and_then(|p| enclosing(&p));
        let live = Arc::new(LiveGroup::new(self.shared.next_key(), fields, parent));
        self.shared.open().insert(live.key, live.clone());
        self.shared
            .record(&Measurement::GroupOpened { group: &live.name });
        span.extensions_mut().insert(GroupExt { live });
    }

    /// A child started. cohort gives a child span its group's span as an
    /// explicit parent: the group this thread saw last, most often, else one
    /// lookup finds it.
    fn child_started<S>(&self, attrs: &span::Attributes<'_>, id: &Id, ctx: &Context<'_, S>)
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let Some(parent) = attrs.parent() else {
            return;
        };
        let started = Instant::now();
        let layer = self.shared.id;
        let known = recent::with_span(layer, parent.into_u64(), |group| {
            add_child(group, attrs, id, started);
        });
        if known.is_none() {
            let Some(group) = ctx.span(parent).and_then(|parent| own_group(&parent)) else {
                return;
            };
            add_child(&group, attrs, id, started);
            recent::set(layer, parent.into_u64(), &group);
        }
        if self.shared.leak_detection_unseen() {
            self.shared.emitter.leak_detection_off();
        }
    }

    /// A child ended: it leaves the live tree, and any leaves still waiting
    /// in its span are logged. Its group is most often the one this thread
    /// saw last: then no span is looked up (unless leaves wait in it).
    fn child_ended<S>(&self, id: &Id, outcome: &str, ctx: &Context<'_, S>)
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let layer = self.shared.id;
        let known = recent::with_last(layer, |group| remove_child(group, id, outcome)).flatten();
        let has_pending = match known {
            Some(has_pending) => has_pending,
            None => {
                let Some(span) = ctx.span(id) else {
                    return;
                };
                let Some(parent) = span.parent() else {
                    return;
                };
                let Some(group) = own_group(&parent) else {
                    return;
                };
                recent::set(layer, parent.id().into_u64(), &group);
                let Some(has_pending) = remove_child(&group, id, outcome) else {
                    return;
                };
                has_pending
            }
        };
        if has_pending {
            if let Some(span) = ctx.span(id) {
                self.flush_pending(&span, Some(id.clone()));
            }
        }
    }

    /// Logs the leaves waiting in `span`, if any, under `parent`.
    fn flush_pending<S>(&self, span: &SpanRef<'_, S>, parent: Option<Id>)
    where
        S: for<'a> LookupSpan<'a>,
    {
        if span.extensions().get::<Pending>().is_none() {
            return;
        }
        let pending = span.extensions_mut().remove::<Pending>();
        if let Some(pending) = pending {
            self.log_unseen(parent.as_ref(), pending.drain());
        }
    }

    /// A group is done (its outcome recorded, or its span closed first):
    /// waiting leaves are logged, strays still alive are leaks, and the run
    /// is measured.
    fn group_done<S>(&self, span: &SpanRef<'_, S>, outcome: &str, events_parent: Option<Id>)
    where
        S: for<'a> LookupSpan<'a>,
    {
        let (live, pending) = {
            let mut ext = span.extensions_mut();
            let Some(live) = ext.get_mut::<GroupExt>().map(|g| g.live.clone()) else {
                return;
            };
            (live, ext.remove::<Pending>())
        };
        let now = Instant::now();
        let (run, strays) = {
            let mut state = live.state();
            if live.is_closed() {
                return;
            }
            live.close();
            let strays: Vec<_> = state.strays.drain().map(|(_, stray)| stray).collect();
            let reason = state.cancel.as_ref().map(|(reason, _)| reason.as_str());
            // A group dropped unfinished recorded no counts: use what the
            // layer saw (children still queued were never seen).
            let (spawned, failed, cancelled) = if state.counted {
                (state.spawned, state.failed, state.cancelled)
            } else {
                (state.started, state.failures, state.seen_cancelled)
            };
            let run = (
                spawned,
                failed,
                cancelled,
                CancelCause::from_reason(reason),
                state
                    .cancel
                    .as_ref()
                    .map(|(_, at)| now.saturating_duration_since(*at)),
            );
            (run, strays)
        };
        self.shared.open().remove(&live.key);
        if let Some(pending) = pending {
            self.log_unseen(events_parent.as_ref(), pending.drain());
        }
        self.shared
            .emitter
            .leaks(events_parent.as_ref(), &live.name, &strays);
        for stray in &strays {
            self.shared.record(&Measurement::TaskLeaked {
                group: &live.name,
                location: &stray.location,
            });
        }
        let (spawned, failed, cancelled, cause, cancel_latency) = run;
        let run = GroupRun {
            group: &live.name,
            outcome,
            duration: now.saturating_duration_since(live.created),
            spawned,
            failed,
            cancelled,
            cause,
            partial_failure_rate: (spawned > 0).then(|| (failed as f64 / spawned as f64).min(1.0)),
            cancel_latency,
        };
        self.shared.record(&Measurement::GroupRun(&run));
    }

    /// Logs the records whose leaves were not logged yet.
    fn log_unseen(&self, parent: Option<&Id>, mut records: Vec<LeafRecord>) {
        {
            let mut seen = self.shared.seen();
            records.retain(|r| seen.insert(r.id));
        }
        self.shared.emitter.leaves(parent, &records);
    }

    fn on_cohort_event<S>(&self, event: &Event<'_>, span: Option<&SpanRef<'_, S>>)
    where
        S: for<'a> LookupSpan<'a>,
    {
        let name = event.metadata().name();
        if name == names::CATCH_UNHANDLED {
            return self.unhandled(event);
        }
        if ![
            names::CHILD_FAILED,
            names::CANCEL_REQUESTED,
            names::CHILD_UNRESPONSIVE,
        ]
        .contains(&name)
        {
            return;
        }
        let Some(group) = span.and_then(group_of) else {
            return;
        };
        let mut fields = EventFields::default();
        event.record(&mut fields);
        if name == names::CHILD_FAILED {
            group.state().failures += 1;
            let error_type = fields.error_type.as_deref().unwrap_or("unknown");
            // A nested group's failure is not an error of its own: its
            // leaves were counted by the groups they failed in.
            if error_type != names::GROUP_ERROR_TYPE {
                self.shared.record(&Measurement::ChildError {
                    group: &group.name,
                    error_type,
                });
            }
        } else if name == names::CANCEL_REQUESTED {
            let mut state = group.state();
            if state.cancel.is_none() {
                state.cancel = Some((fields.reason.unwrap_or_default(), Instant::now()));
            }
        } else {
            if let Some(index) = fields.child_index {
                let mut state = group.state();
                if let Some(child) = state.children.values_mut().find(|c| c.index == index) {
                    child.unresponsive = true;
                }
            }
            self.shared
                .record(&Measurement::ChildUnresponsive { group: &group.name });
        }
    }

    /// A catch chain handed back leaves no handler matched: each is counted
    /// by its type, under the name of the tree it was handed back in.
    fn unhandled(&self, event: &Event<'_>) {
        event.record(&mut ErrorGroups(|group: &ErrorGroup| {
            for leaf in group.leaves() {
                self.shared.record(&Measurement::Unhandled {
                    group: group.name(),
                    error_type: leaf.failure.error_type(),
                });
            }
        }));
    }

    /// Expands the error trees an event carries into leaf records: logged
    /// now, or left waiting in the span of the report that will carry the
    /// tree further up (see [`deferral_target`]).
    fn expand<S>(&self, event: &Event<'_>, span: Option<&SpanRef<'_, S>>)
    where
        S: for<'a> LookupSpan<'a>,
    {
        let meta = event.metadata();
        let target = span.and_then(|s| deferral_target(meta, s));
        let level = *meta.level();
        let mut records = Vec::new();
        let mut taken = HashSet::new();
        event.record(&mut ErrorGroups(|group: &ErrorGroup| {
            // Which leaves are new, under the lock; their records (which
            // run the errors' `Display`, user code that may log) outside it.
            let new: HashSet<u64> = {
                let seen = self.shared.seen();
                group
                    .leaves()
                    .iter()
                    .map(|leaf| leaf.failure.id())
                    .filter(|id| !seen.contains(*id) && !taken.contains(id))
                    .collect()
            };
            if new.is_empty() {
                return;
            }
            records.extend(leaves::records(group, level, |id| new.contains(&id)));
            taken.extend(new);
        }));
        if records.is_empty() {
            return;
        }
        let Some(span) = span else {
            return self.log_unseen(None, records);
        };
        let records = take_waiting(span, target.as_ref(), records);
        match target.and_then(|target| span.scope().find(|s| s.id() == target)) {
            Some(target) => defer(&target, records),
            // Another thread may have logged the same leaves meanwhile:
            // `log_unseen`'s insert decides who writes each one.
            None => self.log_unseen(Some(&span.id()), records),
        }
    }
}

/// Whether any field of `event` holds an [`ErrorGroup`].
fn carries_error_group(event: &Event<'_>) -> bool {
    let mut found = false;
    event.record(&mut ErrorGroups(|_: &ErrorGroup| found = true));
    found
}

/// Enters a starting child in its group's live set.
fn add_child(group: &LiveGroup, attrs: &span::Attributes<'_>, id: &Id, started: Instant) {
    let mut state = group.state();
    let mut fields = ChildFields {
        state: &mut state,
        index: None,
        name: None,
    };
    attrs.record(&mut fields);
    let (index, name) = (fields.index, fields.name);
    let child = LiveChild {
        index: index.unwrap_or(u64::MAX),
        name: name.unwrap_or_else(|| Arc::from("")),
        started,
        unresponsive: false,
        has_pending: false,
    };
    state.children.insert(id.into_u64(), child);
    state.started += 1;
}

/// Takes an ended child out of its group's live set: whether leaves wait in
/// its span, or `None` if it is not this group's.
fn remove_child(group: &LiveGroup, id: &Id, outcome: &str) -> Option<bool> {
    let mut state = group.state();
    let child = state.children.remove(&id.into_u64())?;
    if outcome == cohort::ChildOutcome::Cancelled.as_str() {
        state.seen_cancelled += 1;
    }
    Some(child.has_pending)
}

impl Default for CohortLayer {
    fn default() -> Self {
        Self::new()
    }
}

/// Where a group sits: the nearest enclosing child (or group, for a scope
/// body) of `span`, itself included.
fn enclosing<S>(span: &SpanRef<'_, S>) -> Option<Parent>
where
    S: for<'a> LookupSpan<'a>,
{
    span.scope().find_map(|s| match kind(s.metadata()) {
        Kind::Group => own_group(&s).map(|g| Parent {
            group: g.key,
            child: None,
        }),
        Kind::Child => group_of(&s).map(|g| Parent {
            group: g.key,
            child: g.state().children.get(&s.id().into_u64()).map(|c| c.index),
        }),
        _ => None,
    })
}

/// The span whose later report will carry this event's trees again, so
/// their leaves should wait there instead of being logged now:
///
/// - a group raising inside a child (or a scope body): the child will fail
///   with that tree, or catch it (its span's end logs what is left);
/// - a child failing: its group will raise with the failure nested, or keep
///   it (collect-all), and its end logs what is left.
///
/// Anything else (the outermost raise, a service's own log of a tree) is
/// logged at once. So a nested failure is logged once, at the top, with its
/// full path.
fn deferral_target<S>(meta: &Metadata<'_>, span: &SpanRef<'_, S>) -> Option<Id>
where
    S: for<'a> LookupSpan<'a>,
{
    if meta.target() != names::TARGET {
        return None;
    }
    match (meta.name(), kind(span.metadata())) {
        (names::GROUP_RAISED, Kind::Group) => span
            .parent()
            .filter(|p| matches!(kind(p.metadata()), Kind::Child | Kind::Group))
            .map(|p| p.id()),
        (names::CHILD_FAILED, Kind::Child) => span
            .parent()
            .filter(|p| kind(p.metadata()) == Kind::Group)
            .map(|p| p.id()),
        (names::CHILD_FAILED, Kind::Group) => Some(span.id()),
        _ => None,
    }
}

/// Takes the leaves of `records` off the waiting lists from the event's span
/// up to `target` (to the root if the records are logged now): a leaf waits
/// in one place, the outermost known, with its path in the largest tree seen
/// so far, and a leaf logged now waits nowhere. Each record keeps the most
/// severe level its leaf was reported at.
///
/// Linear in the records and the spans walked, whatever the lists hold.
fn take_waiting<S>(
    span: &SpanRef<'_, S>,
    target: Option<&Id>,
    mut records: Vec<LeafRecord>,
) -> Vec<LeafRecord>
where
    S: for<'a> LookupSpan<'a>,
{
    for s in span.scope() {
        if s.extensions().get::<Pending>().is_some() {
            let mut ext = s.extensions_mut();
            if let Some(waiting) = ext.get_mut::<Pending>() {
                for record in &mut records {
                    if let Some(old) = waiting.take(record.id) {
                        record.level = record.level.min(old.level);
                    }
                }
                if waiting.is_empty() {
                    ext.remove::<Pending>();
                }
            }
        }
        if Some(&s.id()) == target {
            break;
        }
    }
    records
}

/// Leaves `records` waiting in `s`.
fn defer<S>(s: &SpanRef<'_, S>, records: Vec<LeafRecord>)
where
    S: for<'a> LookupSpan<'a>,
{
    {
        let mut ext = s.extensions_mut();
        match ext.get_mut::<Pending>() {
            Some(waiting) => waiting.extend(records),
            None => {
                let mut waiting = Pending::default();
                waiting.extend(records);
                ext.insert(waiting);
            }
        }
    }
    // A child's end looks for waiting leaves only when told to.
    if kind(s.metadata()) == Kind::Child {
        if let Some(group) = group_of(s) {
            if let Some(child) = group.state().children.get_mut(&s.id().into_u64()) {
                child.has_pending = true;
            }
        }
    }
}

impl CohortLayer {
    /// Says once that a group raised without its span reaching the layer.
    fn spans_filtered(&self, event: &Event<'_>) {
        if self
            .shared
            .said_spans_filtered
            .swap(true, Ordering::Relaxed)
        {
            return;
        }
        let mut fields = SpanFields::default();
        event.record(&mut fields);
        let group = fields.name.unwrap_or_default();
        self.shared.emitter.spans_filtered(&group);
    }
}

impl<S> Layer<S> for CohortLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_register_dispatch(&self, subscriber: &Dispatch) {
        self.shared.emitter.register(subscriber);
    }

    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        crate::callsites::register(meta);
        Interest::always()
    }

    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let kind = kind(attrs.metadata());
        if kind == Kind::Child {
            return self.child_started(attrs, id, &ctx);
        }
        if kind == Kind::Other {
            return;
        }
        let Some(span) = ctx.span(id) else {
            return;
        };
        match kind {
            Kind::Group => self.group_opened(attrs, &span),
            Kind::Task => leaks::task_spawned(&self.shared, attrs, &span, &ctx),
            Kind::Child | Kind::Other => {}
        }
    }

    fn on_record(&self, id: &Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        // The fields first: most records (a child's `error.type`, any
        // span's own fields) need no lookup at all.
        let mut fields = SpanFields::default();
        values.record(&mut fields);
        if !fields.is_relevant() {
            return;
        }
        if fields.child_outcome {
            // Only a child span has a `child.outcome`.
            if let Some(outcome) = fields.outcome {
                self.child_ended(id, outcome, &ctx);
            }
            return;
        }
        let Some(span) = ctx.span(id) else {
            return;
        };
        match kind(span.metadata()) {
            Kind::Group => {
                let Some(live) = own_group(&span) else {
                    return;
                };
                live.record(&fields);
                if let Some(outcome) = fields.outcome {
                    self.group_done(&span, outcome, Some(id.clone()));
                }
            }
            Kind::Child | Kind::Task | Kind::Other => {}
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let meta = event.metadata();
        if meta.target() == names::TARGET
            && [
                emit::LEAF,
                emit::TASK_LEAKED,
                emit::LEAK_DETECTION_OFF,
                emit::SPANS_FILTERED,
                emit::METRICS_OVERFLOW,
            ]
            .contains(&meta.name())
        {
            return;
        }
        if meta.target() != names::TARGET && !carries_error_group(event) {
            // A service's own event, with no error tree in it: nothing to
            // do, not even a look at its span.
            return;
        }
        let span = ctx.event_span(event);
        if meta.target() == names::TARGET {
            if meta.name() == names::GROUP_RAISED
                && !span
                    .as_ref()
                    .is_some_and(|s| kind(s.metadata()) == Kind::Group)
            {
                self.spans_filtered(event);
            }
            self.on_cohort_event(event, span.as_ref());
        }
        self.expand(event, span.as_ref());
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        // Behind a filter, the context's parent is the nearest span the
        // filter enabled.
        self.closed(&id, &ctx, |span| span.parent().map(|p| p.id()));
    }
}

impl CohortLayer {
    /// A span closed; `parent` finds the span its events go to: other
    /// layers may already have finished with the span itself.
    pub(crate) fn closed<S>(
        &self,
        id: &Id,
        ctx: &Context<'_, S>,
        parent: impl FnOnce(&SpanRef<'_, S>) -> Option<Id>,
    ) where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let Some(span) = ctx.span(id) else {
            return;
        };
        match kind(span.metadata()) {
            // Closed without an outcome: the run was dropped unfinished.
            Kind::Group => {
                let parent = parent(&span);
                self.group_done(&span, cohort::GroupOutcome::Cancelled.as_str(), parent)
            }
            // cohort records every child's outcome (a dropped child's too),
            // and its end has done the rest.
            Kind::Child => {}
            Kind::Task => leaks::task_closed(&span),
            Kind::Other => {}
        }
    }
}
