//! `CohortLayer::filtered` skips span lookups tracing-subscriber's `Filtered`
//! makes: what the service's other layers receive, and what the layer
//! measures, must be exactly what the same layer behind a plain `Filtered`
//! with the same filter gives.

mod support;

use std::time::Duration;

use cohort::{Group, Policy};
use cohort_layer::{CohortFilter, CohortHandle, CohortLayer};
use support::{Invalid, Recorder, Refused, Seen};
use tracing::Instrument as _;
use tracing_subscriber::prelude::*;

/// Failures nested and collected, a group dropped before it raised inside a
/// service's span (which the layer's filter does not take), a task leaked
/// past its group, and a tree a service logs itself.
async fn workload() {
    let tree = support::nested_failures().await;
    tracing::error!(
        error = &tree as &(dyn std::error::Error + 'static),
        "request failed"
    );

    let request = tracing::info_span!(target: "service", "request");
    async {
        let dropped = Group::new("dropped-in-a-request");
        dropped
            .spawn("bad", async { Err::<(), _>(Refused("x".into())) })
            .unwrap();
        dropped
            .spawn("leaks", async {
                tokio::spawn(tokio::time::sleep(Duration::from_secs(3600)));
                Ok::<_, Refused>(())
            })
            .unwrap();
        tokio::task::yield_now().await;
        drop(dropped);
    }
    .instrument(request)
    .await;

    let collected = Group::builder("collected")
        .policy(Policy::CollectAll)
        .build()
        .unwrap();
    let handle = collected
        .spawn("nested", async {
            let inner = Group::new("inner");
            inner
                .spawn("deep", async { Err::<(), _>(Invalid("deep".into())) })
                .unwrap();
            inner.join().await
        })
        .unwrap();
    collected.join().await.unwrap();
    drop(handle);
}

/// What the other layers saw, without the ids that differ between runs.
fn seen(recorder: &Recorder) -> Vec<Seen> {
    recorder
        .events()
        .into_iter()
        .map(|mut event| {
            event
                .fields
                .retain(|name, _| !name.ends_with(".id") && !name.ends_with("_id"));
            event
        })
        .collect()
}

/// The workload under the stack `stack` builds around a cohort layer and a
/// recorder.
fn run(
    stack: impl FnOnce(CohortLayer, Recorder) -> tracing::Dispatch,
) -> (Vec<Seen>, CohortHandle) {
    let cohort = CohortLayer::new();
    let handle = cohort.handle();
    let recorder = Recorder::default();
    let dispatch = stack(cohort, recorder.clone());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    tracing::dispatcher::with_default(&dispatch, || rt.block_on(workload()));
    (seen(&recorder), handle)
}

#[test]
fn the_filtered_layer_sends_and_measures_what_a_plain_filtered_one_does() {
    let (fast, fast_handle) = run(|cohort, recorder| {
        let stack = tracing_subscriber::registry().with(recorder);
        tracing::Dispatch::new(stack.with(cohort.filtered()))
    });
    let (plain, plain_handle) = run(|cohort, recorder| {
        let stack = tracing_subscriber::registry().with(recorder);
        tracing::Dispatch::new(stack.with(cohort.with_filter(CohortFilter::new())))
    });
    assert!(
        fast.iter().any(|e| e.name == cohort_layer::LEAF),
        "the workload logs leaves: {fast:#?}"
    );
    assert_eq!(fast.len(), plain.len(), "{fast:#?}\n{plain:#?}");
    for (fast, plain) in fast.iter().zip(&plain) {
        assert_eq!(
            (&fast.name, fast.level, &fast.fields, &fast.span),
            (&plain.name, plain.level, &plain.fields, &plain.span)
        );
    }
    assert_eq!(fast_handle.metrics(), plain_handle.metrics());
    assert_eq!(
        fast_handle.tree().to_json(),
        plain_handle.tree().to_json(),
        "the live tree"
    );
}
