//! A subscriber layer that records every span and event, with fields, parent
//! links and close order, so tests can assert the telemetry contract.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::{Arc, Condvar, Mutex, Once};
use std::time::Duration;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;

#[derive(Clone, Debug, Default)]
pub struct SpanRecord {
    /// A sequence number unique within the capture (tracing ids are reused).
    pub id: u64,
    pub name: String,
    pub target: String,
    pub parent: Option<u64>,
    pub fields: BTreeMap<String, String>,
    pub closed: bool,
}

#[derive(Clone, Debug, Default)]
pub struct EventRecord {
    pub name: String,
    pub target: String,
    pub level: String,
    pub span: Option<u64>,
    pub fields: BTreeMap<String, String>,
    /// Whether the `error` field downcast to `cohort::ErrorGroup`, and its
    /// leaf count if so.
    pub error_group_leaves: Option<usize>,
}

#[derive(Default)]
struct Store {
    spans: Vec<SpanRecord>,
    events: Vec<EventRecord>,
}

/// The recorded telemetry; cheap to clone.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Store>>, Arc<Condvar>);

impl Captured {
    pub fn spans(&self) -> Vec<SpanRecord> {
        self.0.lock().unwrap().spans.clone()
    }

    pub fn events(&self) -> Vec<EventRecord> {
        self.0.lock().unwrap().events.clone()
    }

    pub fn spans_named(&self, name: &str) -> Vec<SpanRecord> {
        self.spans()
            .into_iter()
            .filter(|s| s.name == name)
            .collect()
    }

    pub fn events_named(&self, name: &str) -> Vec<EventRecord> {
        self.events()
            .into_iter()
            .filter(|e| e.name == name)
            .collect()
    }

    pub fn span(&self, id: u64) -> SpanRecord {
        self.spans()
            .into_iter()
            .find(|s| s.id == id)
            .expect("span recorded")
    }

    /// Blocks the thread until an event of that name is recorded, for at most
    /// `limit`; whether one was. For a test whose runtime's threads are
    /// blocked by design, where an async wait could not run.
    pub fn wait_for_event(&self, name: &str, limit: Duration) -> bool {
        let store = self.0.lock().unwrap();
        let (store, _) = self
            .1
            .wait_timeout_while(store, limit, |store| {
                !store.events.iter().any(|e| e.name == name)
            })
            .unwrap();
        store.events.iter().any(|e| e.name == name)
    }

    /// The span whose field `key` has the given (Debug-formatted for strings) value.
    pub fn span_where(&self, name: &str, key: &str, value: &str) -> SpanRecord {
        self.spans_named(name)
            .into_iter()
            .find(|s| s.fields.get(key).map(String::as_str) == Some(value))
            .unwrap_or_else(|| panic!("no {name} span with {key}={value}"))
    }
}

/// Routes what the one global subscriber sees to the capture of the test
/// that caused it: a span belongs to the capture current on its thread when
/// it opened (or to its parent's), an event to its thread's, else to its
/// span's. One global subscriber, installed once, rather than a scoped one
/// per test: a callsite first hit on one test thread while another test's
/// scoped subscriber registers can keep a stale "never" interest, and its
/// events then miss the capture.
struct CaptureLayer;

thread_local! {
    /// The capture of the test running on this thread.
    static CURRENT: RefCell<Option<Captured>> = const { RefCell::new(None) };
}

fn current() -> Option<Captured> {
    CURRENT.with(|c| c.borrow().clone())
}

/// The capture's own id of a span, and the capture it belongs to, kept in
/// the span's extensions.
#[derive(Clone)]
struct Seq(u64, Captured);

fn seq<S: Subscriber + for<'a> LookupSpan<'a>>(
    ctx: &Context<'_, S>,
    id: &Id,
) -> Option<(u64, Captured)> {
    ctx.span(id)?
        .extensions()
        .get::<Seq>()
        .map(|s| (s.0, s.1.clone()))
}

/// Ends a test's capture on its thread.
pub struct Guard(());

impl Drop for Guard {
    fn drop(&mut self) {
        CURRENT.with(|c| c.borrow_mut().take());
    }
}

/// Captures what this thread's test emits (and the spans it opens) until the
/// guard drops.
pub fn install() -> (Captured, Guard) {
    static GLOBAL: Once = Once::new();
    GLOBAL.call_once(|| {
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(CaptureLayer))
            .expect("no other global subscriber in this test binary");
    });
    let captured = Captured::default();
    CURRENT.with(|c| *c.borrow_mut() = Some(captured.clone()));
    (captured, Guard(()))
}

struct Fields<'a> {
    fields: &'a mut BTreeMap<String, String>,
    error_group_leaves: Option<usize>,
}

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.fields
            .insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.fields
            .insert(field.name().to_owned(), value.to_owned());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.fields
            .insert(field.name().to_owned(), value.to_string());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.fields
            .insert(field.name().to_owned(), value.to_string());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.fields
            .insert(field.name().to_owned(), value.to_string());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if let Some(group) = value.downcast_ref::<cohort::ErrorGroup>() {
            self.error_group_leaves = Some(group.leaves().len());
        }
        self.fields
            .insert(field.name().to_owned(), value.to_string());
    }
}

impl<S> Layer<S> for CaptureLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let span = ctx.span(id).expect("new span is registered");
        let parent = span
            .parent()
            .and_then(|p| p.extensions().get::<Seq>().cloned());
        let Some(captured) = current().or_else(|| parent.as_ref().map(|p| p.1.clone())) else {
            return;
        };
        let mut store = captured.0.lock().unwrap();
        let mut record = SpanRecord {
            id: store.spans.len() as u64,
            name: attrs.metadata().name().to_owned(),
            target: attrs.metadata().target().to_owned(),
            parent: parent.map(|p| p.0),
            ..SpanRecord::default()
        };
        span.extensions_mut()
            .insert(Seq(record.id, captured.clone()));
        attrs.record(&mut Fields {
            fields: &mut record.fields,
            error_group_leaves: None,
        });
        store.spans.push(record);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some((seq, captured)) = seq(&ctx, id) else {
            return;
        };
        let mut store = captured.0.lock().unwrap();
        if let Some(span) = store.spans.get_mut(seq as usize) {
            values.record(&mut Fields {
                fields: &mut span.fields,
                error_group_leaves: None,
            });
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let span = ctx
            .event_span(event)
            .and_then(|s| s.extensions().get::<Seq>().cloned());
        let Some(captured) = current().or_else(|| span.as_ref().map(|s| s.1.clone())) else {
            return;
        };
        let mut record = EventRecord {
            name: event.metadata().name().to_owned(),
            target: event.metadata().target().to_owned(),
            level: event.metadata().level().to_string(),
            span: span.map(|s| s.0),
            ..EventRecord::default()
        };
        let mut visitor = Fields {
            fields: &mut record.fields,
            error_group_leaves: None,
        };
        event.record(&mut visitor);
        record.error_group_leaves = visitor.error_group_leaves;
        captured.0.lock().unwrap().events.push(record);
        captured.1.notify_all();
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some((seq, captured)) = seq(&ctx, &id) else {
            return;
        };
        let mut store = captured.0.lock().unwrap();
        if let Some(span) = store.spans.get_mut(seq as usize) {
            span.closed = true;
        }
    }
}
