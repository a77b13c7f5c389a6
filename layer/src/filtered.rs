//! [`FilteredLayer`]: the cohort layer behind its per-layer filter,
//! [`CohortFilter`], without the span lookups filtering would make for the
//! callbacks the layer has no use for.
//!
//! tracing-subscriber's `Filtered` looks each span up in the registry on
//! every enter, exit, record and close, to ask whether its filter enabled
//! that span, before it calls the layer, whether or not the layer does
//! anything there. The cohort layer does nothing on enter and exit, and
//! neither does its filter, so those calls stop here. A record goes straight
//! to the layer, which first reads the fields it knows (a child's outcome, a
//! group's counts): only cohort's spans carry them, and the filter always
//! enables those. So does a close: the layer looks the span up itself, and
//! since the filter decides on a span's metadata alone, the layer can tell
//! which of its ancestors the filter enabled. Everything else (callsites,
//! the filter's decision for each new span and event) goes through
//! `Filtered` as it is.

use std::any::TypeId;

use tracing::span::{self, Id};
use tracing::subscriber::Interest;
use tracing::{Dispatch, Event, Metadata, Subscriber};
use tracing_subscriber::filter::{Filtered, LevelFilter};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use crate::CohortLayer;
use crate::filter::CohortFilter;

/// The cohort layer with its per-layer filter, from
/// [`CohortLayer::filtered`]: what to add to a subscriber.
pub struct FilteredLayer<S> {
    inner: Filtered<CohortLayer, CohortFilter, S>,
}

impl<S> std::fmt::Debug for FilteredLayer<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FilteredLayer").finish_non_exhaustive()
    }
}

impl<S> FilteredLayer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    pub(crate) fn new(layer: CohortLayer) -> Self {
        Self {
            inner: Filtered::new(layer, CohortFilter::new()),
        }
    }
}

impl<S> Layer<S> for FilteredLayer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a> + 'static,
{
    fn on_register_dispatch(&self, subscriber: &Dispatch) {
        self.inner.on_register_dispatch(subscriber);
    }

    fn on_layer(&mut self, subscriber: &mut S) {
        self.inner.on_layer(subscriber);
    }

    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        self.inner.register_callsite(meta)
    }

    fn enabled(&self, meta: &Metadata<'_>, ctx: Context<'_, S>) -> bool {
        self.inner.enabled(meta, ctx)
    }

    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        self.inner.on_new_span(attrs, id, ctx);
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        self.inner.max_level_hint()
    }

    fn on_record(&self, id: &Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        self.inner.inner().on_record(id, values, ctx);
    }

    fn on_follows_from(&self, span: &Id, follows: &Id, ctx: Context<'_, S>) {
        self.inner.on_follows_from(span, follows, ctx);
    }

    fn event_enabled(&self, event: &Event<'_>, ctx: Context<'_, S>) -> bool {
        self.inner.event_enabled(event, ctx)
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        self.inner.on_event(event, ctx);
    }

    // Neither the layer nor its filter does anything on enter and exit.
    fn on_enter(&self, _: &Id, _: Context<'_, S>) {}

    fn on_exit(&self, _: &Id, _: Context<'_, S>) {}

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        // One lookup, the layer's own; the parent its events go to is the
        // nearest the filter enabled, as `Filtered`'s context would give.
        self.inner.inner().closed(&id, &ctx, |span| {
            span.scope()
                .skip(1)
                .find(|s| CohortFilter::wants(s.metadata()))
                .map(|s| s.id())
        });
    }

    fn on_id_change(&self, old: &Id, new: &Id, ctx: Context<'_, S>) {
        self.inner.on_id_change(old, new, ctx);
    }

    /// Passed on to `Filtered`: tracing-subscriber finds per-layer filters
    /// (and their ids) in a stack this way.
    #[doc(hidden)]
    #[allow(unsafe_code)]
    unsafe fn downcast_raw(&self, id: TypeId) -> Option<*const ()> {
        if id == TypeId::of::<Self>() {
            return Some(self as *const Self as *const ());
        }
        // SAFETY: `Filtered` returns pointers into itself, which lives as
        // long as `self`, each of the type `id` names.
        unsafe { self.inner.downcast_raw(id) }
    }
}
