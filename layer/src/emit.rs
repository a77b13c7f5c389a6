//! The events the layer writes: leaf records, leaked tasks, and its notices
//! (leak detection off, spans filtered, metrics overflowing). They are ordinary tracing events, dispatched
//! to the whole subscriber the layer belongs to, so fmt, OpenTelemetry and
//! every other layer see them.
//!
//! The hard part: the layer emits from inside tracing callbacks, where
//! tracing-core refuses to re-enter a thread's scoped dispatcher (the
//! `event!` macro would hand the event to a no-op subscriber, and
//! `with_default` panics there). So the layer keeps (weakly) the subscriber's
//! own `Dispatch` from `on_register_dispatch`, and sends each event to it
//! directly: `enabled`, then `event`, as the macro would. That needs callsites
//! of our own, declared below. And no span extension may be borrowed while
//! emitting: other layers take them for the event's parent span.

use std::sync::OnceLock;

use tracing::dispatcher::{self, Dispatch, WeakDispatch};
use tracing::field::{Field, Value};
use tracing::span::Id;
use tracing::{Event, Level, Metadata};
use tracing_core::callsite::DefaultCallsite;
use tracing_core::metadata::Kind;

use crate::leaves::LeafRecord;
use crate::live::Stray;

/// Event name of a leaf record.
pub const LEAF: &str = "cohort.error.leaf";
/// Event name of a leaked task.
pub const TASK_LEAKED: &str = "cohort.task.leaked";
/// Event name of the notice that leak detection is off.
pub const LEAK_DETECTION_OFF: &str = "cohort.layer.leak_detection_off";
/// Event name of the notice that cohort's spans do not reach the layer.
pub const SPANS_FILTERED: &str = "cohort.layer.spans_filtered";
/// Event name of the notice that group names went past the metrics' limit.
pub const METRICS_OVERFLOW: &str = "cohort.layer.metrics_overflow";

const LEAF_FIELDS: &[&str] = &[
    "message",
    "exception.type",
    "exception.message",
    "exception.id",
    "exception.parent_id",
    "exception.group.id",
    "exception.group.fingerprint",
    "leaf.path",
    "leaf.depth",
    "leaf.panic",
    "group.name",
    "child.name",
    "child.index",
];
const LEAKED_FIELDS: &[&str] = &[
    "message",
    "group.name",
    "task.id",
    "task.name",
    "code.location",
];
const NOTICE_FIELDS: &[&str] = &["message", "built_with_tokio_unstable"];
const FILTERED_FIELDS: &[&str] = &["message", "group.name"];
const OVERFLOW_FIELDS: &[&str] = &["message", "group.name", "limit"];

/// Declares an event callsite of target `cohort`: its metadata and the
/// callsite that registers it.
macro_rules! callsite {
    ($cs:ident, $meta:ident, $name:expr, $level:expr, $fields:expr) => {
        static $cs: DefaultCallsite = DefaultCallsite::new(&$meta);
        static $meta: Metadata<'static> = tracing_core::metadata! {
            name: $name,
            target: "cohort",
            level: $level,
            fields: $fields,
            callsite: &$cs,
            kind: Kind::EVENT,
        };
    };
}

callsite!(LEAF_ERROR_CS, LEAF_ERROR, LEAF, Level::ERROR, LEAF_FIELDS);
callsite!(LEAF_WARN_CS, LEAF_WARN, LEAF, Level::WARN, LEAF_FIELDS);
callsite!(LEAF_INFO_CS, LEAF_INFO, LEAF, Level::INFO, LEAF_FIELDS);
callsite!(LEAKED_CS, LEAKED, TASK_LEAKED, Level::WARN, LEAKED_FIELDS);
callsite!(
    NOTICE_CS,
    NOTICE,
    LEAK_DETECTION_OFF,
    Level::INFO,
    NOTICE_FIELDS
);
callsite!(
    FILTERED_CS,
    FILTERED,
    SPANS_FILTERED,
    // ERROR: the global filter that causes it lets little else through.
    Level::ERROR,
    FILTERED_FIELDS
);
callsite!(
    OVERFLOW_CS,
    OVERFLOW,
    METRICS_OVERFLOW,
    Level::WARN,
    OVERFLOW_FIELDS
);

/// Registers the callsites, so that subscribers built later (the one this
/// layer goes into) learn of them as they learn of every macro's.
pub(crate) fn register_callsites() {
    for cs in [
        &LEAF_ERROR_CS,
        &LEAF_WARN_CS,
        &LEAF_INFO_CS,
        &LEAKED_CS,
        &NOTICE_CS,
        &FILTERED_CS,
        &OVERFLOW_CS,
    ] {
        cs.register();
    }
}

/// A count or an id as a signed integer, for OpenTelemetry.
fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Sends one event to `dispatch`, its values in the order of the callsite's
/// fields (`None`: the field is absent).
fn send<const N: usize>(
    dispatch: &Dispatch,
    meta: &'static Metadata<'static>,
    parent: Option<Id>,
    values: [Option<&dyn Value>; N],
) {
    if !dispatch.enabled(meta) {
        return;
    }
    let fields: Vec<Field> = meta.fields().iter().collect();
    if fields.len() != N {
        // The field lists above and the value lists below are written side
        // by side; a mismatch drops the event rather than mislabel it.
        debug_assert_eq!(fields.len(), N, "{}: fields and values differ", meta.name());
        return;
    }
    let pairs: [(&Field, Option<&dyn Value>); N] = std::array::from_fn(|i| (&fields[i], values[i]));
    let values = meta.fields().value_set(&pairs);
    dispatch.event(&Event::new_child_of(parent, meta, &values));
}

/// The subscriber the layer was registered in.
#[derive(Default)]
pub(crate) struct Emitter {
    dispatch: OnceLock<WeakDispatch>,
}

impl Emitter {
    pub fn register(&self, dispatch: &Dispatch) {
        let _ = self.dispatch.set(dispatch.downgrade());
    }

    fn run(&self, f: impl FnOnce(&Dispatch)) {
        match self.dispatch.get().and_then(WeakDispatch::upgrade) {
            Some(dispatch) => f(&dispatch),
            // Never registered: the layer is not inside a `Dispatch`, so it
            // is not inside a callback of one either.
            None => {
                let mut f = Some(f);
                dispatcher::get_default(|dispatch| {
                    if let Some(f) = f.take() {
                        f(dispatch);
                    }
                });
            }
        }
    }

    /// Writes leaf records, each under `parent` (the span of the report that
    /// carried the tree).
    pub fn leaves(&self, parent: Option<&Id>, records: &[LeafRecord]) {
        if records.is_empty() {
            return;
        }
        self.run(|dispatch| {
            for r in records {
                let meta = match r.level {
                    Level::ERROR => &LEAF_ERROR,
                    Level::WARN => &LEAF_WARN,
                    _ => &LEAF_INFO,
                };
                let fingerprint = format!("{:016x}", r.fingerprint);
                // Signed: OpenTelemetry has no unsigned integer, and
                // tracing-opentelemetry exports a `u64` as a string.
                let [id, parent_id, root_id] = [r.id, r.parent_id, r.root_id].map(int);
                let depth = int(r.depth as u64);
                let index = r.child_index.map(|i| int(i as u64));
                send(
                    dispatch,
                    meta,
                    parent.cloned(),
                    [
                        // OpenTelemetry names exception events `exception`; bridges
                        // take an event's name from its message.
                        Some(&format_args!("exception") as &dyn Value),
                        Some(&r.exception_type),
                        Some(&r.message.as_str()),
                        Some(&id),
                        Some(&parent_id),
                        Some(&root_id),
                        Some(&fingerprint.as_str()),
                        Some(&r.path.as_str()),
                        Some(&depth),
                        Some(&r.panic),
                        Some(&r.group_name.as_str()),
                        Some(&r.child_name.as_str()),
                        index.as_ref().map(|i| i as &dyn Value),
                    ],
                );
            }
        });
    }

    /// Writes one warning per leaked task, under the group's span.
    pub fn leaks(&self, parent: Option<&Id>, group: &str, strays: &[Stray]) {
        if strays.is_empty() {
            return;
        }
        self.run(|dispatch| {
            for stray in strays {
                let task_id = int(stray.task_id);
                send(
                    dispatch,
                    &LEAKED,
                    parent.cloned(),
                    [
                        Some(&format_args!("task spawned in the group outlived it") as &dyn Value),
                        Some(&group),
                        Some(&task_id),
                        Some(&stray.task_name.as_str()),
                        Some(&stray.location.as_str()),
                    ],
                );
            }
        });
    }

    /// Says that a group raised while its span never reached the layer: a
    /// filter before the layer hides cohort's spans.
    pub fn spans_filtered(&self, group: &str) {
        self.run(|dispatch| {
            send(
                dispatch,
                &FILTERED,
                None,
                [
                    Some(&format_args!(
                        "cohort's group spans do not reach the cohort layer, which sees only \
                         the raise: a global filter (an EnvFilter added with `.with(..)`) hides \
                         them; give it to the fmt layer with `.with_filter(..)` instead"
                    ) as &dyn Value),
                    Some(&group),
                ],
            );
        });
    }

    /// Says that `group`, the first name beyond the limit, and every later
    /// one are aggregated together.
    pub fn metrics_overflow(&self, group: &str, limit: usize) {
        let limit = int(limit as u64);
        self.run(|dispatch| {
            send(
                dispatch,
                &OVERFLOW,
                None,
                [
                    Some(&format_args!(
                        "more group names than the metrics keep: this one and every later one \
                         are aggregated together as the overflow; group names must be few \
                         (one per operation, never an id or a URL)"
                    ) as &dyn Value),
                    Some(&group),
                    Some(&limit),
                ],
            );
        });
    }

    /// Says that no tokio task spans reach the layer, so leaks go unseen.
    pub fn leak_detection_off(&self) {
        self.run(|dispatch| {
            send(
                dispatch,
                &NOTICE,
                None,
                [
                    Some(&format_args!(
                        "leak detection is off: no tokio task spans reach the cohort layer; \
                         build with RUSTFLAGS=\"--cfg tokio_unstable\", enable tokio's `tracing` \
                         feature, and let target `tokio::task` at TRACE through the layer's filter"
                    ) as &dyn Value),
                    Some(&cfg!(tokio_unstable)),
                ],
            );
        });
    }
}
