//! What was delivered and what was lost, per signal.
//!
//! The SDK's batch processors already protect the service: a bounded queue
//! in front of each exporter (items beyond it are dropped, not buffered), a
//! thread of their own, a timeout on each export. What they do not do is
//! tell the service. So the processors and exporters are wrapped here:
//! items handed to a processor, items exported, items whose export failed.
//! The first failure is said once, as a warning; the totals are in
//! [`Telemetry::delivery`](crate::Telemetry::delivery) and said again at
//! shutdown if anything was lost.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use opentelemetry::Context;
use opentelemetry::InstrumentationScope;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{LogBatch, LogExporter, LogProcessor, SdkLogRecord};
use opentelemetry_sdk::metrics::Temporality;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::trace::{Span, SpanData, SpanExporter, SpanProcessor};

use crate::config::Signal;

/// The counters of one signal.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Items handed to the batch processor (spans ended, records emitted).
    queued: AtomicU64,
    exported: AtomicU64,
    failed: AtomicU64,
    /// Shared by the signals of one setup: the first failure of any is said.
    warned: Arc<AtomicBool>,
    /// This signal's own: the back end said it takes none of it.
    refused: AtomicBool,
}

/// One signal's delivery so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Items handed to the SDK (spans, log records; for metrics, the number
    /// of export attempts).
    pub queued: u64,
    /// Items the collector accepted.
    pub exported: u64,
    /// Items in exports that failed (collector unreachable, slow past the
    /// timeout, or answering an error).
    pub failed: u64,
}

impl Delivery {
    /// Items handed to the SDK and neither exported nor failed: dropped when
    /// the queue was full, or still queued.
    pub fn unaccounted(&self) -> u64 {
        self.queued.saturating_sub(self.exported + self.failed)
    }

    /// Whether anything was lost.
    pub fn lost(&self) -> u64 {
        self.failed + self.unaccounted()
    }
}

impl Counters {
    /// Counters for one signal, sharing `warned` with the others.
    pub fn new(warned: Arc<AtomicBool>) -> Self {
        Self {
            warned,
            ..Self::default()
        }
    }

    /// Whether the back end said it takes none of this signal.
    pub fn refused(&self) -> bool {
        self.refused.load(Ordering::Relaxed)
    }

    pub fn snapshot(&self) -> Delivery {
        Delivery {
            queued: self.queued.load(Ordering::Relaxed),
            exported: self.exported.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
        }
    }

    fn exported(&self, signal: Signal, items: u64, result: &OTelSdkResult) {
        match result {
            Ok(()) => {
                self.exported.fetch_add(items, Ordering::Relaxed);
            }
            Err(error) => {
                self.failed.fetch_add(items, Ordering::Relaxed);
                let error = error.to_string();
                if takes_none(&error) {
                    // Said for each signal a traces-only back end (Jaeger)
                    // refuses, plainly, instead of as a failure.
                    if !self.refused.swap(true, Ordering::Relaxed) {
                        tracing::warn!(
                            target: "cohort_otlp",
                            signal = ?signal,
                            %error,
                            "the OTLP endpoint takes no {}: it is a traces-only back end \
                             (such as Jaeger); to export traces alone, set \
                             OTEL_EXPORTER_OTLP_TRACES_ENDPOINT instead of \
                             OTEL_EXPORTER_OTLP_ENDPOINT",
                            signal.noun(),
                        );
                    }
                    return;
                }
                if !self.warned.swap(true, Ordering::Relaxed) {
                    // Once for all signals: a collector that is down must not
                    // flood the log.
                    tracing::warn!(
                        target: "cohort_otlp",
                        signal = ?signal,
                        items,
                        %error,
                        "OTLP export failed; dropping this data and counting further losses \
                         (reported again at shutdown)",
                    );
                }
            }
        }
    }
}

/// An exporter that counts what it delivers.
#[derive(Debug)]
pub(crate) struct Counted<E> {
    pub inner: E,
    pub signal: Signal,
    pub counters: Arc<Counters>,
}

impl<E: SpanExporter> SpanExporter for Counted<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let items = batch.len() as u64;
        let result = self.inner.export(batch).await;
        self.counters.exported(self.signal, items, &result);
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

impl<E: LogExporter> LogExporter for Counted<E> {
    async fn export(&self, batch: LogBatch<'_>) -> OTelSdkResult {
        let items = batch.iter().count() as u64;
        let result = self.inner.export(batch).await;
        self.counters.exported(self.signal, items, &result);
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

impl<E: PushMetricExporter> PushMetricExporter for Counted<E> {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        self.counters.queued.fetch_add(1, Ordering::Relaxed);
        let result = self.inner.export(metrics).await;
        self.counters.exported(self.signal, 1, &result);
        result
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn temporality(&self) -> Temporality {
        self.inner.temporality()
    }
}

/// Whether an export failed because the back end does not take the signal
/// at all: gRPC's `Unimplemented` (no such service), HTTP's 404 (no such
/// path).
fn takes_none(error: &str) -> bool {
    error.contains("Unimplemented") || error.contains("unimplemented") || error.contains("404")
}

/// A processor that counts what it is handed.
#[derive(Debug)]
pub(crate) struct Counting<P> {
    pub inner: P,
    pub counters: Arc<Counters>,
}

impl<P: SpanProcessor> SpanProcessor for Counting<P> {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        self.counters.queued.fetch_add(1, Ordering::Relaxed);
        self.inner.on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

impl<P: LogProcessor> LogProcessor for Counting<P> {
    fn emit(&self, data: &mut SdkLogRecord, instrumentation: &InstrumentationScope) {
        self.counters.queued.fetch_add(1, Ordering::Relaxed);
        self.inner.emit(data, instrumentation);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}
