//! [`CohortFilter`]: the per-layer filter with what the cohort layer needs,
//! so that the layer neither depends on the service's own filter nor makes
//! every callsite of the process enabled.

use tracing::{Level, Metadata};
use tracing_subscriber::layer::{Context, Filter};

/// What the cohort layer reads: every span and event of target `cohort`,
/// tokio's `runtime.spawn` task spans (leak detection), and events at `WARN`
/// and above from any target (a service that logs an `ErrorGroup` itself, as
/// an error or a warning, gets its leaves expanded). Give it to the layer
/// with [`CohortLayer::filtered`](crate::CohortLayer::filtered).
///
/// A per-layer filter decides for its own layer only. A global filter (an
/// `EnvFilter` added with `.with(..)` rather than as a layer's filter)
/// decides for every layer, this one included, and no per-layer filter can
/// see past it: give the service's `EnvFilter` to its fmt layer with
/// `.with_filter(..)` instead.
#[derive(Clone, Copy, Debug, Default)]
pub struct CohortFilter(());

impl CohortFilter {
    /// The filter.
    pub fn new() -> Self {
        Self(())
    }

    /// Whether the layer wants spans or events of `meta`'s callsite.
    pub fn wants(meta: &Metadata<'_>) -> bool {
        meta.target() == cohort::telemetry::TARGET
            || (meta.is_span() && meta.target() == "tokio::task")
            || (meta.is_event() && *meta.level() <= Level::WARN)
    }
}

impl<S> Filter<S> for CohortFilter {
    fn enabled(&self, meta: &Metadata<'_>, _: &Context<'_, S>) -> bool {
        Self::wants(meta)
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> tracing::subscriber::Interest {
        if Self::wants(meta) {
            tracing::subscriber::Interest::always()
        } else {
            tracing::subscriber::Interest::never()
        }
    }
}
