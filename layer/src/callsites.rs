//! What a span is to the layer ([`Kind`]), decided once per callsite: a
//! callsite registers with the layer before its first span, and the layer
//! keeps the callsites of cohort's group and child spans and of tokio's task
//! spans, so that every later callback tells them apart by the metadata's
//! address instead of comparing its target and name. A callsite the table
//! has no room for (or one never registered) is classified by its strings,
//! as before.

use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU8, AtomicUsize, Ordering};

use cohort::telemetry as names;
use tracing::Metadata;

/// What a span is to the layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Group,
    Child,
    /// tokio's `runtime.spawn` span of a task.
    Task,
    Other,
}

impl Kind {
    fn of(meta: &Metadata<'_>) -> Self {
        match (meta.target(), meta.name()) {
            (names::TARGET, names::GROUP_SPAN) => Self::Group,
            (names::TARGET, names::CHILD_SPAN) => Self::Child,
            ("tokio::task", "runtime.spawn") => Self::Task,
            _ => Self::Other,
        }
    }

    fn from_u8(n: u8) -> Self {
        match n {
            0 => Self::Group,
            1 => Self::Child,
            2 => Self::Task,
            _ => Self::Other,
        }
    }
}

/// A handful of callsites: cohort has one group and one child span callsite,
/// tokio a few task spawn callsites.
const ROOM: usize = 16;

/// The registered callsites, shared by every layer of the process (callsites
/// are global). Filled once, read without a lock: a slot's kind is written
/// before its address, and read after it.
struct Table {
    len: AtomicUsize,
    metas: [AtomicPtr<Metadata<'static>>; ROOM],
    kinds: [AtomicU8; ROOM],
}

static TABLE: Table = Table {
    len: AtomicUsize::new(0),
    metas: [const { AtomicPtr::new(ptr::null_mut()) }; ROOM],
    kinds: [const { AtomicU8::new(u8::MAX) }; ROOM],
};

/// Called from `register_callsite`: keeps `meta` if it is a span the layer
/// tells apart.
pub(crate) fn register(meta: &'static Metadata<'static>) {
    let kind = Kind::of(meta);
    if kind == Kind::Other || lookup(meta).is_some() {
        return;
    }
    // Claim a slot; the table only grows, and a full one stays full.
    let slot = TABLE.len.fetch_add(1, Ordering::AcqRel);
    if slot >= ROOM {
        TABLE.len.store(ROOM, Ordering::Release);
        return;
    }
    TABLE.kinds[slot].store(kind as u8, Ordering::Relaxed);
    TABLE.metas[slot].store(ptr::from_ref(meta).cast_mut(), Ordering::Release);
}

fn lookup(meta: &Metadata<'_>) -> Option<Kind> {
    let len = TABLE.len.load(Ordering::Acquire).min(ROOM);
    let wanted = ptr::from_ref(meta).cast::<()>();
    (0..len).find_map(|slot| {
        let known = TABLE.metas[slot]
            .load(Ordering::Acquire)
            .cast_const()
            .cast::<()>();
        (known == wanted).then(|| Kind::from_u8(TABLE.kinds[slot].load(Ordering::Relaxed)))
    })
}

/// What the span of `meta` is to the layer.
pub(crate) fn kind(meta: &Metadata<'_>) -> Kind {
    lookup(meta).unwrap_or_else(|| Kind::of(meta))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_callsites_keep_their_kind_and_others_are_classified_by_name() {
        let subscriber = tracing_subscriber::registry();
        tracing::subscriber::with_default(subscriber, || {
            let spans = [
                (
                    tracing::info_span!(target: "cohort", "cohort.group"),
                    Kind::Group,
                ),
                (
                    tracing::info_span!(target: "cohort", "cohort.child"),
                    Kind::Child,
                ),
                (tracing::info_span!("cohort.child"), Kind::Other),
            ];
            for (span, expected) in spans {
                let meta = span.metadata().expect("an enabled span");
                register(meta);
                assert_eq!(kind(meta), expected);
                assert_eq!(lookup(meta), (expected != Kind::Other).then_some(expected));
            }
        });
    }
}
