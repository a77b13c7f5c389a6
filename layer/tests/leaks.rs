//! Leaked tasks: reported when tokio's task spans reach the layer (built with
//! `--cfg tokio_unstable`), never for a group's own children or for strays
//! that finish in time; otherwise the layer says once that it cannot see them.

mod support;

use std::time::Duration;

use cohort::Group;
use cohort_layer::{LEAK_DETECTION_OFF, LeakDetection, TASK_LEAKED};
use support::{Refused, install};

fn hour() -> Duration {
    Duration::from_secs(3600)
}

/// A group whose one child spawns `stray` and returns at once.
async fn group_spawning(name: &str, stray: impl Future<Output = ()> + Send + 'static) {
    let group = Group::new(name);
    group
        .spawn("worker", async move {
            tokio::spawn(stray);
            Ok::<_, Refused>(())
        })
        .unwrap();
    group.join().await.unwrap();
}

#[cfg(tokio_unstable)]
mod detected {
    use super::*;
    use cohort_layer::CohortLayer;
    use support::Recorder;
    use tracing_subscriber::prelude::*;

    #[tokio::test(start_paused = true)]
    async fn a_stray_task_alive_when_its_group_ends_is_reported_once() {
        let (recorder, handle, _guard) = install();
        let group = Group::new("leaky");
        let line = line!() + 3;
        group
            .scope(|_| async {
                tokio::spawn(tokio::time::sleep(hour()));
                Ok::<_, Refused>(())
            })
            .await
            .unwrap();

        let leaks = recorder.named(TASK_LEAKED);
        assert_eq!(leaks.len(), 1, "{leaks:#?}");
        let leak = &leaks[0];
        assert_eq!(leak.get("group.name"), "leaky");
        assert_eq!(leak.level, tracing::Level::WARN);
        assert!(leak.u64("task.id") > 0);
        let location = format!("{}:{line}:", file!());
        assert!(
            leak.get("code.location").starts_with(&location),
            "{} is not at {location}",
            leak.get("code.location")
        );
        assert_eq!(leak.span.as_deref(), Some("cohort.group"));
        let metrics = handle.metrics();
        let leaked = &metrics.group("leaky").unwrap().leaked;
        assert_eq!(leaked.values().sum::<u64>(), 1);
        assert!(leaked.keys().all(|l| l.starts_with(&location)));
        assert_eq!(handle.leak_detection(), LeakDetection::On);
        assert!(recorder.named(LEAK_DETECTION_OFF).is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_stray_spawned_by_a_child_leaks_from_the_childs_group() {
        let (recorder, _, _guard) = install();
        group_spawning("crawler", tokio::time::sleep(hour())).await;
        let leaks = recorder.named(TASK_LEAKED);
        assert_eq!(leaks.len(), 1, "{leaks:#?}");
        assert_eq!(leaks[0].get("group.name"), "crawler");
    }

    #[tokio::test(start_paused = true)]
    async fn no_false_positives() {
        let (recorder, handle, _guard) = install();
        // Children spawned from the scope body, where the group's span is
        // current, as any stray's would be: still not strays.
        let watched = handle.clone();
        Group::new("body-spawns")
            .scope(|group| async move {
                for i in 0..3 {
                    group
                        .spawn(format!("c{i}"), async {
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            Ok::<_, Refused>(())
                        })
                        .unwrap();
                }
                tokio::task::yield_now().await;
                let tree = watched.tree();
                let node = tree.find("body-spawns").unwrap();
                assert_eq!(node.children.len(), 3, "{tree}");
                assert_eq!(node.stray_tasks, 0, "{tree}");
                Ok::<_, Refused>(())
            })
            .await
            .unwrap();
        // The group's own children, many of them, nested groups included.
        let group = Group::new("busy");
        for i in 0..50 {
            group
                .spawn(format!("c{i}"), async {
                    let inner = Group::new("inner");
                    inner.spawn("leaf", async { Ok::<_, Refused>(()) }).unwrap();
                    inner.join().await.map_err(|_| Refused("inner".into()))
                })
                .unwrap();
        }
        group.join().await.unwrap();
        // A stray that finished before its group did.
        group_spawning("tidy", async {}).await;
        let tidy = Group::new("awaits-its-stray");
        tidy.scope(|_| async {
            tokio::spawn(tokio::time::sleep(Duration::from_millis(5)))
                .await
                .unwrap();
            Ok::<_, Refused>(())
        })
        .await
        .unwrap();
        // A task spawned outside any group.
        tokio::spawn(tokio::time::sleep(hour()));

        assert!(recorder.named(TASK_LEAKED).is_empty());
        assert!(
            handle
                .metrics()
                .groups
                .values()
                .all(|g| g.leaked.is_empty())
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_filter_that_hides_task_spans_turns_detection_off_and_says_so_once() {
        let recorder = Recorder::default();
        let layer = CohortLayer::new();
        let handle = layer.handle();
        let hide_tasks = tracing_subscriber::filter::filter_fn(|m| m.target() != "tokio::task");
        let _guard = tracing_subscriber::registry()
            .with(recorder.clone())
            .with(layer.with_filter(hide_tasks))
            .set_default();
        group_spawning("one", tokio::time::sleep(hour())).await;
        group_spawning("two", tokio::time::sleep(hour())).await;
        assert_eq!(recorder.named(LEAK_DETECTION_OFF).len(), 1);
        assert!(recorder.named(TASK_LEAKED).is_empty());
        assert_eq!(handle.leak_detection(), LeakDetection::Off);
    }
}

#[cfg(not(tokio_unstable))]
#[tokio::test(start_paused = true)]
async fn without_tokio_unstable_detection_is_off_said_once_and_nothing_else_breaks() {
    let (recorder, handle, _guard) = install();
    assert_eq!(handle.leak_detection(), LeakDetection::Unknown);
    group_spawning("one", tokio::time::sleep(hour())).await;
    group_spawning("two", tokio::time::sleep(hour())).await;
    let notices = recorder.named(LEAK_DETECTION_OFF);
    assert_eq!(notices.len(), 1, "{notices:#?}");
    assert_eq!(notices[0].get("built_with_tokio_unstable"), "false");
    assert!(recorder.named(TASK_LEAKED).is_empty());
    assert_eq!(handle.leak_detection(), LeakDetection::Off);

    // Leaves and metrics work as ever.
    let group = Group::new("failing");
    group
        .spawn("bad", async { Err::<(), _>(Refused("x".into())) })
        .unwrap();
    group.join().await.unwrap_err();
    assert_eq!(recorder.leaves().len(), 1);
    assert_eq!(handle.metrics().group("failing").unwrap().failed, 1);
}
