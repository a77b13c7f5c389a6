//! Leaf expansion: every leaf of every error tree logged exactly once, with
//! its path and ids, whoever reports the tree and however often.

mod support;

use std::collections::BTreeMap;
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;

use cohort::{ChildResult, ErrorGroup, Failure, Group, Policy};
use cohort_layer::{CohortLayer, fingerprint};
use proptest::prelude::*;
use support::{Invalid, Recorder, Refused, install};

/// Checks the leaf events against the tree: each leaf exactly once, with the
/// path, depth, ids, types and names the tree gives it.
fn assert_leaves_logged_once(recorder: &Recorder, tree: &ErrorGroup) {
    let events = recorder.leaves();
    let mut by_id: BTreeMap<u64, Vec<_>> = BTreeMap::new();
    for event in &events {
        by_id
            .entry(event.u64("exception.id"))
            .or_default()
            .push(event);
    }
    let leaves = tree.leaves();
    assert_eq!(
        by_id.len(),
        leaves.len(),
        "one event per leaf: {events:#?}\nfor {tree}"
    );
    let print = format!("{:016x}", fingerprint(tree));
    for leaf in leaves {
        let id = leaf.failure.id();
        let logged = by_id
            .get(&id)
            .unwrap_or_else(|| panic!("leaf {id} not logged"));
        assert_eq!(logged.len(), 1, "leaf {id} logged {} times", logged.len());
        let e = logged[0];
        assert_eq!(e.get("leaf.path"), leaf.path_string());
        assert_eq!(e.u64("leaf.depth"), leaf.depth() as u64);
        assert_eq!(e.u64("exception.parent_id"), leaf.group.id());
        assert_eq!(e.u64("exception.group.id"), tree.id());
        assert_eq!(e.get("exception.group.fingerprint"), print);
        assert_eq!(e.get("exception.type"), leaf.failure.error_type());
        assert_eq!(e.get("exception.message"), leaf.failure.message());
        assert_eq!(e.get("leaf.panic"), leaf.failure.is_panic().to_string());
        assert_eq!(e.get("group.name"), leaf.group.name());
        assert_eq!(e.get("child.name"), leaf.failure.child_name());
    }
}

fn log_again(tree: &ErrorGroup) {
    tracing::error!(error = tree as &(dyn Error + 'static), "request failed");
}

/// A service error that keeps the group as its source.
#[derive(Debug)]
struct RequestFailed(ErrorGroup);

impl fmt::Display for RequestFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("request failed")
    }
}

impl Error for RequestFailed {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.0)
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap()
}

#[test]
fn a_nested_failure_is_logged_once_at_the_top_with_its_full_path() {
    let (recorder, _, _guard) = install();
    let tree = rt().block_on(support::nested_failures());
    assert_leaves_logged_once(&recorder, &tree);
    let paths: Vec<String> = recorder
        .leaves()
        .iter()
        .map(|e| e.get("leaf.path").to_owned())
        .collect();
    assert_eq!(paths, ["0.0", "0.1"]);
    // Logged under the outer group's span, at the raise's level.
    for leaf in recorder.leaves() {
        assert_eq!(leaf.span.as_deref(), Some("cohort.group"));
        assert_eq!(leaf.level, tracing::Level::ERROR);
    }
    // The inner raise, the child's failure and the outer raise all carried
    // the tree; the service logging it again adds nothing.
    log_again(&tree);
    let tree = RequestFailed(tree);
    tracing::error!(error = &tree as &(dyn Error + 'static), "wrapped");
    assert_leaves_logged_once(&recorder, &tree.0);
}

#[test]
fn a_tree_the_service_logs_itself_is_expanded_once_even_down_a_source_chain() {
    let (recorder, _, _guard) = install();
    let tree = ErrorGroup::new(
        "checkout",
        vec![
            Failure::error("card", Some(0), Refused("card".into())),
            Failure::panic("fraud", Some(2), "NaN score"),
        ],
    )
    .unwrap();
    let wrapped = RequestFailed(tree);
    tracing::warn!(
        error = &wrapped as &(dyn Error + 'static),
        "checkout failed"
    );
    assert_leaves_logged_once(&recorder, &wrapped.0);
    assert!(
        recorder
            .leaves()
            .iter()
            .all(|e| e.level == tracing::Level::WARN)
    );
    log_again(&wrapped.0);
    assert_leaves_logged_once(&recorder, &wrapped.0);
}

#[test]
fn a_group_a_child_catches_is_logged_when_the_child_ends() {
    let (recorder, _, _guard) = install();
    rt().block_on(async {
        let outer = Group::new("outer");
        outer
            .spawn("tolerant", async {
                let inner = Group::new("optional");
                inner
                    .spawn("extra", async { Err::<(), _>(Refused("x".into())) })
                    .unwrap();
                // Handled here: the outer group never sees it.
                let _ = inner.join().await;
                Ok::<_, Refused>(())
            })
            .unwrap();
        outer.join().await.unwrap();
    });
    let leaves = recorder.leaves();
    assert_eq!(leaves.len(), 1, "{leaves:#?}");
    assert_eq!(leaves[0].get("leaf.path"), "0");
    assert_eq!(leaves[0].get("group.name"), "optional");
    assert_eq!(leaves[0].span.as_deref(), Some("cohort.child"));
}

#[test]
fn collect_all_logs_its_childrens_nested_failures_once_when_it_ends() {
    let (recorder, _, _guard) = install();
    rt().block_on(async {
        let outer = Group::builder("gather")
            .policy(Policy::CollectAll)
            .build()
            .unwrap();
        let handle = outer
            .spawn("nested", async {
                let inner = Group::new("inner");
                inner
                    .spawn("a", async { Err::<(), _>(Invalid("a".into())) })
                    .unwrap();
                inner.join().await
            })
            .unwrap();
        outer.join().await.unwrap();
        assert!(matches!(handle.into_result(), ChildResult::Err(_)));
    });
    let leaves = recorder.leaves();
    assert_eq!(leaves.len(), 1, "{leaves:#?}");
    assert_eq!(
        leaves[0].get("exception.type"),
        std::any::type_name::<Invalid>()
    );
    assert_eq!(leaves[0].span.as_deref(), Some("cohort.group"));
}

#[test]
fn threads_logging_the_same_tree_at_once_write_each_leaf_once() {
    use tracing_subscriber::prelude::*;
    let recorder = Recorder::default();
    let dispatch = tracing::Dispatch::new(
        tracing_subscriber::registry()
            .with(recorder.clone())
            .with(CohortLayer::new()),
    );
    let failures = (0..50)
        .map(|i| Failure::error(format!("c{i}"), Some(i), Refused(i.to_string())))
        .collect();
    let tree = ErrorGroup::new("shared", failures).unwrap();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                tracing::dispatcher::with_default(&dispatch, || {
                    for _ in 0..20 {
                        log_again(&tree);
                    }
                })
            });
        }
    });
    assert_leaves_logged_once(&recorder, &tree);
}

#[test]
fn a_zero_seen_capacity_is_refused() {
    let err = CohortLayer::builder()
        .seen_capacity(0)
        .build()
        .err()
        .unwrap();
    assert!(err.to_string().contains("at least 1"), "{err}");
}

#[test]
fn a_tree_larger_than_the_seen_window_carried_up_is_logged_once() {
    // The window remembers 64 leaves; the tree has 200, and it waits in three
    // spans on its way up (the nested group's, the child's, the outer
    // group's) before the outer raise logs it.
    let layer = CohortLayer::builder().seen_capacity(64).build().unwrap();
    let (recorder, _, _guard) = support::install_layer(layer);
    let tree = rt().block_on(async {
        let outer = Group::new("outer");
        outer
            .spawn("region", async {
                let inner = Group::builder("shards")
                    .policy(Policy::Supervise)
                    .build()
                    .unwrap();
                for i in 0..200 {
                    inner
                        .spawn("shard", async move { Err::<(), _>(Refused(i.to_string())) })
                        .unwrap();
                }
                inner.join().await
            })
            .unwrap();
        outer.join().await.unwrap_err()
    });
    assert_eq!(tree.leaves().len(), 200);
    assert_leaves_logged_once(&recorder, &tree);
}

#[test]
fn memory_for_logged_leaves_is_bounded() {
    let layer = CohortLayer::builder().seen_capacity(2).build().unwrap();
    let (recorder, _, _guard) = support::install_layer(layer);
    let tree =
        |n: &str| ErrorGroup::new("g", vec![Failure::error(n, None, Refused(n.into()))]).unwrap();
    let first = tree("first");
    log_again(&first);
    log_again(&first);
    assert_eq!(recorder.leaves().len(), 1);
    // Two newer leaves push the first out of the window: it is logged again.
    log_again(&tree("second"));
    log_again(&tree("third"));
    log_again(&first);
    assert_eq!(recorder.leaves().len(), 4);
}

/// A random group tree to run: children that succeed, fail with one of two
/// types, panic, or run a group of their own.
#[derive(Debug, Clone)]
enum Node {
    Ok,
    Refused,
    Invalid,
    Panic,
    Group(Vec<Node>),
}

fn arb_node() -> impl Strategy<Value = Node> {
    let leaf = prop_oneof![
        Just(Node::Ok),
        Just(Node::Refused),
        Just(Node::Invalid),
        Just(Node::Panic),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop::collection::vec(inner, 1..4).prop_map(Node::Group)
    })
}

/// Runs a supervise group (every failure reaches the top) of `nodes`; `Send`,
/// to run as a child.
fn run(
    name: String,
    nodes: Vec<Node>,
) -> Pin<Box<dyn Future<Output = Result<(), ErrorGroup>> + Send>> {
    Box::pin(async move {
        let group = Group::builder(name.clone())
            .policy(Policy::Supervise)
            .build()
            .unwrap();
        for (i, node) in nodes.into_iter().enumerate() {
            let child = format!("{name}.{i}");
            match node {
                Node::Ok => group.spawn(child, async { Ok::<_, Refused>(()) }),
                Node::Refused => group.spawn(child.clone(), async { Err(Refused(child)) }),
                Node::Invalid => group.spawn(child.clone(), async { Err(Invalid(child)) }),
                Node::Panic => group.spawn(child, async {
                    if true {
                        panic!("injected panic");
                    }
                    Ok::<_, Refused>(())
                }),
                Node::Group(nodes) => group.spawn(child.clone(), run(child, nodes)),
            }
            .unwrap();
        }
        group.join().await
    })
}

fn quiet_injected_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let injected = info
                .payload()
                .downcast_ref::<&str>()
                .is_some_and(|m| m.starts_with("injected"));
            if !injected {
                default(info);
            }
        }));
    });
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Random nested groups, run for real: every leaf of the final tree is
    /// logged exactly once, with its path and ids, though each nested group
    /// raised it first and each enclosing child failed with it; logging the
    /// tree again adds nothing.
    #[test]
    fn every_leaf_of_a_random_run_is_logged_exactly_once(nodes in prop::collection::vec(arb_node(), 1..5)) {
        quiet_injected_panics();
        let (recorder, _, _guard) = install();
        let result = rt().block_on(run("root".into(), nodes));
        match result {
            Ok(()) => prop_assert!(recorder.leaves().is_empty()),
            Err(tree) => {
                assert_leaves_logged_once(&recorder, &tree);
                log_again(&tree);
                assert_leaves_logged_once(&recorder, &tree);
            }
        }
    }
}

/// A tree 10,000 groups deep is logged leaf by leaf on a 2 MiB stack: the
/// layer walks it without recursion, as the group crate does.
#[test]
fn a_very_deep_tree_is_logged_on_a_small_stack() {
    let worker = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| {
            let (recorder, _, _guard) = install();
            let mut deep = ErrorGroup::new(
                "level-0",
                vec![Failure::error("leaf", Some(0), Refused("bottom".into()))],
            )
            .unwrap();
            for level in 1..10_000 {
                deep = ErrorGroup::new(
                    format!("level-{level}"),
                    vec![Failure::group("nested", Some(0), deep)],
                )
                .unwrap();
            }
            log_again(&deep);
            let leaves = recorder.leaves();
            assert_eq!(leaves.len(), 1);
            assert_eq!(leaves[0].u64("leaf.depth"), 10_000);
        })
        .unwrap();
    worker.join().expect("no stack overflow");
}

/// A leaf whose error's `Display` panics is still logged, with a message
/// saying so, and the caller still gets its `ErrorGroup`: the panic does not
/// unwind out of `join`.
#[test]
fn a_leaf_whose_display_panics_is_logged_and_the_tree_returned() {
    #[derive(Debug)]
    struct Unprintable;
    impl fmt::Display for Unprintable {
        fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
            panic!("Display is broken")
        }
    }
    impl Error for Unprintable {}

    let (recorder, _, _guard) = install();
    let eg = rt().block_on(async {
        let group = Group::new("fragile");
        group
            .spawn("unprintable", async { Err::<(), _>(Unprintable) })
            .unwrap();
        group.join().await.unwrap_err()
    });
    assert_eq!(eg.leaves().len(), 1);
    let leaves = recorder.leaves();
    assert_eq!(leaves.len(), 1);
    assert_eq!(
        leaves[0].get("exception.message"),
        cohort::telemetry::DISPLAY_PANICKED
    );
}
