//! The live tree of a stuck fan-out, read as it runs, on the paused clock.

mod support;

use std::time::Duration;

use cohort::Group;
use cohort_layer::RunState;
use support::{Refused, forever, install};

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// A child that ignores its cancellation: it runs its own nested group, then
/// keeps working through its whole grace period.
async fn stuck() -> Result<(), Refused> {
    let inner = Group::new("inner");
    inner.spawn("deep", forever::<()>()).unwrap();
    let _ = inner.join().await;
    loop {
        tokio::time::sleep(secs(0.1)).await;
    }
}

#[tokio::test(start_paused = true)]
async fn the_tree_of_a_stuck_fan_out() {
    let (_, handle, _guard) = install();
    let group = Group::builder("fan-out")
        .limit(2)
        .timeout(secs(5.0))
        .grace_period(secs(10.0))
        .unresponsive_after(secs(1.0))
        .build()
        .unwrap();
    group.spawn("stuck", stuck()).unwrap();
    group
        .spawn("fails", async {
            tokio::time::sleep(secs(2.0)).await;
            Err::<(), _>(Refused("backend".into()))
        })
        .unwrap();
    for i in 0..3 {
        group.spawn(format!("q{i}"), forever::<()>()).unwrap();
    }
    let run = tokio::spawn(group.join());

    // One second in: two children run, three wait, one runs a nested group.
    tokio::time::sleep(secs(1.0)).await;
    let tree = handle.tree();
    assert_eq!(
        tree.to_string(),
        "\
fan-out (fail_fast, limit 2) running · open 1.000s · timeout 5.000s, 4.000s left · 3 queued
├── [0] stuck: running 1.000s
│   └── inner (fail_fast) running · open 1.000s
│       └── [0] deep: running 1.000s
└── [1] fails: running 1.000s
"
    );
    let json: serde_json::Value = serde_json::from_str(&tree.to_json()).unwrap();
    let fan_out = &json["groups"][0];
    assert_eq!(fan_out["name"], "fan-out");
    assert_eq!(fan_out["state"], "running");
    assert_eq!(fan_out["queued"], 3);
    assert_eq!(fan_out["deadline_in_s"], 4.0);
    assert_eq!(fan_out["children"][0]["groups"][0]["name"], "inner");
    assert_eq!(fan_out["children"][1]["name"], "fails");

    // 3.5 s in: "fails" failed at 2 s, the queue was dropped, the nested
    // group stopped, and "stuck" ignores its cancellation: flagged at 3 s.
    tokio::time::sleep(secs(2.5)).await;
    let tree = handle.tree();
    assert_eq!(
        tree.to_string(),
        "\
fan-out (fail_fast, limit 2) cancelling: child_failed, 1.500s ago · open 3.500s · timeout 5.000s, 1.500s left · 1 failure
└── [0] stuck: cancelling 3.500s, UNRESPONSIVE
"
    );
    let fan_out = tree.find("fan-out").unwrap();
    assert_eq!(fan_out.state, RunState::Cancelling);
    assert_eq!(fan_out.cancel_reason.as_deref(), Some("child_failed"));
    assert!(fan_out.children[0].unresponsive);
    assert!(tree.find("inner").is_none());

    // The grace period ends, the group with it: nothing is open.
    run.await.unwrap().unwrap_err();
    assert!(handle.tree().groups.is_empty());
    assert_eq!(handle.tree().to_string(), "no open groups\n");
}

#[tokio::test(start_paused = true)]
async fn groups_run_by_a_scope_body_nest_under_it() {
    let (_, handle, _guard) = install();
    let watched = handle.clone();
    Group::new("request")
        .scope(|_| async move {
            let lookups = Group::new("lookups");
            lookups.spawn("db", forever::<()>()).unwrap();
            tokio::task::yield_now().await;
            let tree = watched.tree();
            assert_eq!(tree.groups.len(), 1, "{tree}");
            let request = &tree.groups[0];
            assert_eq!(request.body_groups[0].name, "lookups");
            assert_eq!(request.body_groups[0].children[0].name, "db");
            assert!(
                tree.to_string()
                    .contains("└── (body) lookups (fail_fast) running"),
                "{tree}"
            );
            Ok::<_, Refused>(())
        })
        .await
        .unwrap();
}

/// Two layers in one process, each in its own subscriber, on one thread:
/// their registries hand out the same span ids, and a child starting or
/// ending under one never lands in the other's groups.
#[tokio::test(start_paused = true)]
async fn two_layers_on_one_thread_keep_their_groups_apart() {
    let (_, first, _first) = install();
    let a = Group::new("a");
    a.spawn("waits", forever::<()>()).unwrap();
    tokio::task::yield_now().await; // `waits` starts, under the first layer
    {
        let (_, second, _second) = install();
        let b = Group::new("b");
        for i in 0..2 {
            b.spawn(format!("b-{i}"), forever::<()>()).unwrap();
        }
        tokio::task::yield_now().await; // they start, under the second layer
        assert_eq!(
            second.tree().to_string(),
            "b (fail_fast) running · open 0.000s\n├── [0] b-0: running 0.000s\n└── [1] b-1: running 0.000s\n"
        );
        assert_eq!(
            first.tree().to_string(),
            "a (fail_fast) running · open 0.000s\n└── [0] waits: running 0.000s\n"
        );
        b.cancel();
        b.join().await.unwrap();
        assert!(second.tree().groups.is_empty());
        let b = second.metrics().group("b").cloned().unwrap();
        assert_eq!((b.runs.get("cancelled"), b.spawned), (Some(&1), 2));
    }
    assert_eq!(
        first.tree().to_string(),
        "a (fail_fast) running · open 0.000s\n└── [0] waits: running 0.000s\n"
    );
    a.cancel();
    a.join().await.unwrap();
    assert!(first.tree().groups.is_empty());
    assert!(first.metrics().group("b").is_none());
}
