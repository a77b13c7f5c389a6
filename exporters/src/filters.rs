//! Per-layer filters. There is no global filter: each layer sees what it
//! needs, so tokio's task spans reach tokio-console and the cohort layer's
//! leak detection while the OpenTelemetry layers never export them.

use tracing::Metadata;

/// Targets the OpenTelemetry layers never export: the exporters' own stack
/// (exporting their logs would export forever) and tokio's instrumentation
/// (one span per task, poll and resource: it would flood the back end).
const NOT_EXPORTED: &[&str] = &[
    "opentelemetry",
    "tonic",
    "h2",
    "hyper",
    "tower",
    "reqwest",
    "cohort_otlp",
    "tokio",
    "runtime",
];

/// Whether a span or event is tokio's or the exporters' own.
pub(crate) fn is_internal(meta: &Metadata<'_>) -> bool {
    let target = meta.target();
    NOT_EXPORTED.iter().any(|prefix| {
        target
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['_', ':', '-']))
    }) || meta.name().starts_with("runtime.")
}

/// The OpenTelemetry SDK's and exporters' own diagnostics, which repeat on
/// every failed export.
pub(crate) fn is_sdk_internal(meta: &Metadata<'_>) -> bool {
    meta.target().starts_with("opentelemetry")
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;
    use tracing_core::callsite::Callsite;
    use tracing_core::field::FieldSet;
    use tracing_core::metadata::Kind;

    struct Cs;
    impl Callsite for Cs {
        fn set_interest(&self, _: tracing_core::Interest) {}
        fn metadata(&self) -> &Metadata<'_> {
            unimplemented!()
        }
    }

    fn meta(target: &'static str, name: &'static str) -> Metadata<'static> {
        Metadata::new(
            name,
            target,
            Level::INFO,
            None,
            None,
            None,
            FieldSet::new(&[], tracing_core::identify_callsite!(&Cs)),
            Kind::SPAN,
        )
    }

    #[test]
    fn tokio_and_exporter_internals_are_not_exported() {
        for (target, name) in [
            ("tokio::task", "runtime.spawn"),
            ("runtime::resource", "runtime.resource"),
            ("opentelemetry_sdk", "BatchSpanProcessor.Export"),
            ("h2::codec", "poll"),
            ("hyper_util::client", "connect"),
            ("cohort_otlp", "warn"),
        ] {
            assert!(is_internal(&meta(target, name)), "{target}");
        }
        for (target, name) in [
            ("cohort", "cohort.group"),
            ("my_service", "handle"),
            ("tokiotastic", "x"),
            ("hyperion::api", "call"),
        ] {
            assert!(!is_internal(&meta(target, name)), "{target}");
        }
    }
}
