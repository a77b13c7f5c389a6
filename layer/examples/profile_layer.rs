//! A fan-out under a subscriber, to profile what the cohort layer costs a
//! child: `ITERS` rounds (default 100) of `N` children (default 10,000) on a
//! current-thread runtime, every run under a registry with a no-op layer on
//! it (a bare registry never frees its closed spans, so it is no baseline).
//! Counting instructions with callgrind for 1 and for 6 rounds and taking the
//! difference gives the cost of five rounds without the set-up.
//!
//! ```sh
//! cargo build --release -p cohort-layer --example profile_layer
//! ITERS=6 valgrind --tool=callgrind target/release/examples/profile_layer layer
//! ```
//!
//! What to run: `naive` (the baseline: a `JoinSet` whose every task runs in
//! an `info_span!`), `cohort` (a group, its own spans, no cohort layer) or
//! `layer` (the group under the cohort layer too, filtered as documented)
//! or `filter_only` (the group under a no-op layer behind the cohort layer's
//! filter: what tracing-subscriber's per-layer filtering costs by itself)
//! or `floor` (the same no-op layer, skipping the callbacks `filtered()`
//! skips: what any layer behind `filtered()`'s path costs before it does
//! any work).

use std::convert::Infallible;
use std::hint::black_box;

use std::any::TypeId;

use tracing::Instrument as _;
use tracing::span::{Attributes, Id};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Filtered;
use tracing_subscriber::layer::Context;
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;

/// A layer that does nothing: with it on the registry, closed spans are freed.
struct Noop;

impl<S: tracing::Subscriber> Layer<S> for Noop {}

/// A filtered layer that, as `CohortLayer::filtered()` does, hands only
/// callsites, the filter's decisions, new spans and events to `Filtered`,
/// and nothing of enter, exit, record or close.
struct Floor<S>(Filtered<Noop, cohort_layer::CohortFilter, S>);

impl<S> Layer<S> for Floor<S>
where
    S: Subscriber + for<'a> LookupSpan<'a> + 'static,
{
    fn on_layer(&mut self, subscriber: &mut S) {
        self.0.on_layer(subscriber);
    }

    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        self.0.register_callsite(meta)
    }

    fn enabled(&self, meta: &Metadata<'_>, ctx: Context<'_, S>) -> bool {
        self.0.enabled(meta, ctx)
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        self.0.on_new_span(attrs, id, ctx);
    }

    fn event_enabled(&self, event: &Event<'_>, ctx: Context<'_, S>) -> bool {
        self.0.event_enabled(event, ctx)
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        self.0.on_event(event, ctx);
    }

    // Passed on, as `filtered()` does, so that the subscriber sees a
    // per-layer filter.
    #[allow(unsafe_code)]
    unsafe fn downcast_raw(&self, id: TypeId) -> Option<*const ()> {
        if id == TypeId::of::<Self>() {
            return Some(self as *const Self as *const ());
        }
        // SAFETY: `Filtered` returns pointers into itself, which lives as
        // long as `self`, each of the type `id` names.
        unsafe { self.0.downcast_raw(id) }
    }
}

fn main() {
    let mode = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "layer".to_owned());
    let rounds: usize = std::env::var("ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let children: u64 = std::env::var("N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let registry = tracing_subscriber::registry().with(Noop);
    let dispatch = match mode.as_str() {
        "layer" => {
            tracing::Dispatch::new(registry.with(cohort_layer::CohortLayer::new().filtered()))
        }
        "filter_only" => tracing::Dispatch::new(
            registry.with(Noop.with_filter(cohort_layer::CohortFilter::new())),
        ),
        "floor" => tracing::Dispatch::new(
            registry.with(Floor(Noop.with_filter(cohort_layer::CohortFilter::new()))),
        ),
        _ => tracing::Dispatch::new(registry),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    tracing::dispatcher::with_default(&dispatch, || {
        runtime.block_on(async {
            for _ in 0..rounds {
                let sum = match mode.as_str() {
                    "naive" => naive(children).await,
                    _ => cohort(children).await,
                };
                black_box(sum);
            }
        })
    });
}

async fn child(i: u64) -> Result<u64, Infallible> {
    Ok(black_box(i))
}

async fn naive(n: u64) -> u64 {
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n {
        set.spawn(child(i).instrument(tracing::info_span!("child", index = i)));
    }
    let mut sum = 0;
    while let Some(output) = set.join_next().await {
        sum += output.expect("no task panics").unwrap_or_default();
    }
    sum
}

async fn cohort(n: u64) -> u64 {
    let group = cohort::Group::new("profile");
    let handles: Vec<_> = (0..n)
        .map(|i| group.spawn("child", child(i)).expect("the group is open"))
        .collect();
    group.join().await.expect("no child fails");
    handles
        .into_iter()
        .filter_map(|h| h.into_output().ok())
        .sum()
}
