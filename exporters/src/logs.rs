//! Logs with their trace: the OpenTelemetry log bridge, given the trace and
//! span ids of each event's own span.
//!
//! The SDK stamps a log record with the ids of the OpenTelemetry context
//! current on the thread, which tracing-opentelemetry activates when a span
//! is *entered*. cohort's events (and the cohort layer's leaf records) name
//! their span explicitly without entering it, so this wrapper activates the
//! event's span's context around the bridge.

use std::sync::OnceLock;

use tracing::dispatcher::WeakDispatch;
use tracing::{Dispatch, Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

pub(crate) struct InSpanContext<L> {
    inner: L,
    dispatch: OnceLock<WeakDispatch>,
}

impl<L> InSpanContext<L> {
    pub fn new(inner: L) -> Self {
        Self {
            inner,
            dispatch: OnceLock::new(),
        }
    }
}

impl<S, L> Layer<S> for InSpanContext<L>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    L: Layer<S>,
{
    fn on_register_dispatch(&self, subscriber: &Dispatch) {
        let _ = self.dispatch.set(subscriber.downgrade());
        self.inner.on_register_dispatch(subscriber);
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let span = event
            .parent()
            .cloned()
            .or_else(|| ctx.lookup_current().map(|s| s.id()));
        let cx = span.zip(self.dispatch.get().and_then(WeakDispatch::upgrade));
        match cx.and_then(|(id, dispatch)| tracing_opentelemetry::get_otel_context(&id, &dispatch))
        {
            Some(cx) => {
                let _active = cx.attach();
                self.inner.on_event(event, ctx);
            }
            None => self.inner.on_event(event, ctx),
        }
    }
}
