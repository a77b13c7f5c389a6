//! Carrying a trace to another service, and on from one: the W3C
//! trace-context and baggage propagator ([`Builder::init`](crate::Builder::init)
//! and [`Builder::layers`](crate::Builder::layers) install it as
//! OpenTelemetry's global one), and the two calls a service needs around an
//! HTTP or gRPC request, on `http::HeaderMap` (hyper's, reqwest's, axum's,
//! and tonic's through `MetadataMap::into_headers`/`from_headers`).
//!
//! A child calling another service:
//!
//! ```
//! # async fn call() {
//! let mut request = http::Request::new(());
//! // Inside the child: its span is the current one.
//! cohort_otlp::propagation::inject_current(request.headers_mut());
//! # }
//! ```
//!
//! The other service, handling it:
//!
//! ```
//! # fn handle(request: http::Request<()>) {
//! let span = tracing::info_span!("GET /stock");
//! cohort_otlp::propagation::continue_trace(&span, request.headers());
//! let _entered = span.enter();
//! // ... the handler ...
//! # }
//! ```

use opentelemetry::propagation::TextMapCompositePropagator;
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use tracing_opentelemetry::{OpenTelemetrySpanExt as _, SetParentError};

/// Installs W3C trace context (`traceparent`, `tracestate`) and baggage as
/// the global propagator.
pub(crate) fn install() {
    opentelemetry::global::set_text_map_propagator(TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
    ]));
}

/// Writes `span`'s trace context into `headers`, for an outgoing request.
/// Nothing is written if the span is not exported (no tracer, or filtered).
pub fn inject(span: &tracing::Span, headers: &mut http::HeaderMap) {
    let cx = span.context();
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&cx, &mut HeaderInjector(headers));
    });
}

/// [`inject`] with the current span: inside a child, the child's.
pub fn inject_current(headers: &mut http::HeaderMap) {
    inject(&tracing::Span::current(), headers);
}

/// The trace context an incoming request carries, if any.
pub fn extract(headers: &http::HeaderMap) -> opentelemetry::Context {
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&HeaderExtractor(headers))
    })
}

/// Makes `span` continue the trace an incoming request carries: its parent
/// becomes the caller's span. Call it before the span is first entered.
///
/// # Errors
///
/// The span was already started, or no OpenTelemetry layer records it.
pub fn continue_trace(
    span: &tracing::Span,
    headers: &http::HeaderMap,
) -> Result<(), SetParentError> {
    span.set_parent(extract(headers))
}
