//! [`SpanEvents`]: cohort's events as OpenTelemetry span data, so a trace
//! answers "which child failed, why, and what was collateral" at a glance.
//!
//! tracing-opentelemetry turns an event into a span event named by its
//! message, with an `error` field's chain added as `error.chain` and
//! `exception.stacktrace` (empty for most errors) and `exception.message`
//! copied onto the span. For cohort's events that reads badly, so the
//! OpenTelemetry layer does not see them (see [`is_mapped`]) and this layer
//! writes them instead, through the span's OpenTelemetry context:
//!
//! - `cohort.child.failed`, on the child's span: an `exception` event
//!   (`exception.type`, `exception.message`) and status ERROR with
//!   `error.type: message` as its description;
//! - `cohort.group.raised`, on the group's span: status ERROR with the tree
//!   as its description, and `error.count` and `exception.group.fingerprint`
//!   as attributes;
//! - the cohort layer's leaf records, on the span of the report that
//!   carried the tree: `exception` events, as before;
//! - any other cohort event: an event of its own name.
//!
//! Attributes keep their types: integers export as integers, booleans as
//! booleans. Only events pass through here, a few per failure or cancel:
//! nothing per successful child.

use std::error::Error;
use std::fmt;
use std::sync::OnceLock;

use cohort::ErrorGroup;
use cohort::telemetry as names;
use opentelemetry::trace::{Status, TraceContextExt as _};
use opentelemetry::{KeyValue, Value};
use tracing::dispatcher::WeakDispatch;
use tracing::field::{Field, Visit};
use tracing::{Dispatch, Event, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// Whether an event is cohort's, written by [`SpanEvents`] rather than by
/// the OpenTelemetry layer.
pub(crate) fn is_mapped(meta: &Metadata<'_>) -> bool {
    meta.is_event() && meta.target() == names::TARGET
}

/// Writes cohort's events onto the OpenTelemetry spans; see the module docs.
#[derive(Default)]
pub(crate) struct SpanEvents {
    dispatch: OnceLock<WeakDispatch>,
}

/// An event's fields as typed attributes, and the error tree it carries.
#[derive(Default)]
struct Fields {
    attributes: Vec<KeyValue>,
    tree: Option<(usize, u64, String)>,
}

impl Fields {
    fn get(&self, key: &str) -> Option<&Value> {
        self.attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| &kv.value)
    }

    fn push(&mut self, field: &Field, value: impl Into<Value>) {
        if field.name() != "message" {
            self.attributes
                .push(KeyValue::new(field.name(), value.into()));
        }
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, value.to_owned());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        match i64::try_from(value) {
            Ok(value) => self.push(field, value),
            Err(_) => self.push(field, value.to_string()),
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, value);
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field, value);
    }

    fn record_error(&mut self, _: &Field, value: &(dyn Error + 'static)) {
        // The error is what the other fields describe; only a tree adds
        // something of its own: its size, fingerprint and rendering.
        if let Some(group) = value.downcast_ref::<ErrorGroup>() {
            let fingerprint = cohort_layer::fingerprint(group);
            self.tree = Some((group.leaves().len(), fingerprint, group.to_string()));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.push(field, format!("{value:?}"));
    }
}

impl<S> Layer<S> for SpanEvents
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_register_dispatch(&self, subscriber: &Dispatch) {
        let _ = self.dispatch.set(subscriber.downgrade());
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let meta = event.metadata();
        if !is_mapped(meta) {
            return;
        }
        // The span's id only: no extension may be held while the
        // OpenTelemetry layer looks the span up.
        let Some(id) = ctx.event_span(event).map(|span| span.id()) else {
            return;
        };
        let Some(dispatch) = self.dispatch.get().and_then(WeakDispatch::upgrade) else {
            return;
        };
        let Some(cx) = tracing_opentelemetry::get_otel_context(&id, &dispatch) else {
            return;
        };
        let span = cx.span();
        let mut fields = Fields::default();
        event.record(&mut fields);
        match meta.name() {
            names::CHILD_FAILED => {
                let error_type = fields.get(names::ERROR_TYPE).map(Value::as_str);
                let message = fields.get(names::EXCEPTION_MESSAGE).map(Value::as_str);
                let description = match (&error_type, &message) {
                    (Some(ty), Some(message)) => format!("{ty}: {message}"),
                    (Some(ty), None) => ty.to_string(),
                    _ => "failed".to_owned(),
                };
                let mut attributes = vec![];
                if let Some(ty) = error_type {
                    attributes.push(KeyValue::new("exception.type", ty.into_owned()));
                }
                if let Some(message) = message {
                    attributes.push(KeyValue::new("exception.message", message.into_owned()));
                }
                span.add_event("exception", attributes);
                span.set_status(Status::error(description));
            }
            names::GROUP_RAISED => {
                if let Some((count, fingerprint, rendered)) = fields.tree {
                    span.set_attribute(KeyValue::new(
                        names::ERROR_COUNT,
                        i64::try_from(count).unwrap_or(i64::MAX),
                    ));
                    span.set_attribute(KeyValue::new(
                        "exception.group.fingerprint",
                        format!("{fingerprint:016x}"),
                    ));
                    span.set_status(Status::error(rendered));
                }
            }
            cohort_layer::LEAF => span.add_event("exception", fields.attributes),
            name => span.add_event(name, fields.attributes),
        }
    }
}

/// A span exporter that keeps one value per attribute key, the last one
/// recorded, in the place of the first: OpenTelemetry says a key set again
/// overwrites its value, and the SDK appends instead (`group.queued`,
/// recorded as the limit's queue grows and shrinks, would arrive once per
/// change). Runs on the exporter's thread, off the service's.
#[derive(Debug)]
pub(crate) struct LastValue<E>(pub E);

impl<E: opentelemetry_sdk::trace::SpanExporter> opentelemetry_sdk::trace::SpanExporter
    for LastValue<E>
{
    async fn export(
        &self,
        mut batch: Vec<opentelemetry_sdk::trace::SpanData>,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        for span in &mut batch {
            last_value_wins(&mut span.attributes);
        }
        self.0.export(batch).await
    }

    fn shutdown_with_timeout(
        &self,
        timeout: std::time::Duration,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.force_flush()
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        self.0.set_resource(resource);
    }
}

/// Keeps each key once, with its last value, where it first appeared.
fn last_value_wins(attributes: &mut Vec<KeyValue>) {
    // Most spans have no key twice: look before rebuilding.
    let twice = attributes
        .iter()
        .enumerate()
        .any(|(i, kv)| attributes[..i].iter().any(|earlier| earlier.key == kv.key));
    if !twice {
        return;
    }
    let mut kept: Vec<KeyValue> = Vec::with_capacity(attributes.len());
    for kv in attributes.drain(..) {
        match kept.iter_mut().find(|k| k.key == kv.key) {
            Some(earlier) => earlier.value = kv.value,
            None => kept.push(kv),
        }
    }
    *attributes = kept;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_set_again_keeps_its_place_and_takes_the_last_value() {
        let mut attributes = vec![
            KeyValue::new("group.name", "g"),
            KeyValue::new("group.queued", 3),
            KeyValue::new("group.spawned", 5),
            KeyValue::new("group.queued", 1),
            KeyValue::new("group.queued", 0),
        ];
        last_value_wins(&mut attributes);
        assert_eq!(
            attributes,
            [
                KeyValue::new("group.name", "g"),
                KeyValue::new("group.queued", 0),
                KeyValue::new("group.spawned", 5),
            ]
        );
        let mut once = vec![KeyValue::new("a", 1), KeyValue::new("b", 2)];
        last_value_wins(&mut once);
        assert_eq!(once.len(), 2);
    }
}
