//! ErrorGroup: the tree, its rendering, downcasting, and the except* analogues
//! (split, subgroup, the catch chain), with a property test over random trees.

mod support;

use std::error::Error;
use std::fmt;

use cohort::{ErrorGroup, Failure, FailureKind};
use proptest::prelude::*;
use support::ValueError;

/// An error with a source, to check that rendering walks `source()`.
#[derive(Debug)]
struct QueryFailed {
    source: std::io::Error,
}

impl fmt::Display for QueryFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("query failed")
    }
}

impl Error for QueryFailed {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.source)
    }
}

fn sample() -> ErrorGroup {
    let inner = ErrorGroup::new(
        "eu-shards",
        vec![
            Failure::error("eu-1", Some(0), ValueError("bad row".into())),
            Failure::error("eu-2", Some(2), std::io::Error::other("eu-2 down")),
        ],
    )
    .unwrap();
    ErrorGroup::new(
        "aggregate",
        vec![
            Failure::error(
                "billing",
                Some(1),
                QueryFailed {
                    source: std::io::Error::other("pool exhausted"),
                },
            ),
            Failure::panic("fraud", Some(3), "NaN score"),
            Failure::group("eu", Some(4), inner),
        ],
    )
    .unwrap()
}

#[test]
fn display_renders_the_whole_tree_with_source_chains() {
    let expected = r#"group "aggregate" failed with 3 errors:
  [1] billing: error_group::QueryFailed: query failed
      caused by: pool exhausted
  [3] fraud: panicked: NaN score
  [4] eu: group "eu-shards" failed with 2 errors:
    [0] eu-1: error_group::support::ValueError: bad row
    [2] eu-2: std::io::error::Error: eu-2 down"#;
    assert_eq!(sample().to_string(), expected);
    // As a `dyn Error` it reports no source: the tree is in the message.
    assert!(sample().source().is_none());
}

#[test]
fn leaves_walk_the_tree_depth_first_with_paths() {
    let group = sample();
    let leaves = group.leaves();
    let summary: Vec<_> = leaves
        .iter()
        .map(|l| {
            (
                l.path_string(),
                l.depth(),
                l.group.name(),
                l.failure.child_name(),
                l.failure.error_type(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "0".into(),
                1,
                "aggregate",
                "billing",
                "error_group::QueryFailed"
            ),
            ("1".into(), 1, "aggregate", "fraud", "panic"),
            (
                "2.0".into(),
                2,
                "eu-shards",
                "eu-1",
                "error_group::support::ValueError"
            ),
            (
                "2.1".into(),
                2,
                "eu-shards",
                "eu-2",
                "std::io::error::Error"
            ),
        ]
    );
    assert_eq!(
        group.failures()[2].error_type(),
        cohort::telemetry::GROUP_ERROR_TYPE
    );
}

/// A leaf holds the child's own value: downcast it by reference, or take the
/// box and downcast to own it, with no copy and no wrapper in between.
#[test]
fn leaves_hold_the_original_error_value() {
    let group = sample();
    let values: Vec<&ValueError> = group.errors::<ValueError>().collect();
    assert_eq!(values, [&ValueError("bad row".into())]);

    let billing = group.into_failures().into_iter().next().unwrap();
    let FailureKind::Error { type_name, error } = billing.into_kind() else {
        panic!("billing is an error leaf");
    };
    assert!(type_name.ends_with("QueryFailed"));
    let owned: Box<QueryFailed> = error.downcast().expect("the concrete type, unwrapped");
    assert_eq!(owned.source.to_string(), "pool exhausted");
}

#[test]
fn an_empty_group_cannot_be_built() {
    assert!(ErrorGroup::new("empty", Vec::new()).is_none());
}

#[test]
fn leaves_keep_their_ids_when_split_and_ids_are_unique() {
    let group = sample();
    let before: Vec<u64> = group.leaves().iter().map(|l| l.failure.id()).collect();
    let mut unique = before.clone();
    unique.push(group.id());
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), before.len() + 1, "ids collide: {before:?}");
    assert!(!unique.contains(&0));

    let (io, rest) = group.split::<std::io::Error>();
    let mut after: Vec<u64> = [io.unwrap(), rest.unwrap()]
        .iter()
        .flat_map(|g| {
            g.leaves()
                .iter()
                .map(|l| l.failure.id())
                .collect::<Vec<_>>()
        })
        .collect();
    after.sort_unstable();
    let mut before = before;
    before.sort_unstable();
    assert_eq!(after, before);
}

#[test]
fn split_by_type_preserves_nesting_and_order_and_drops_empty_groups() {
    let (io, rest) = sample().split::<std::io::Error>();
    let io = io.unwrap();
    // Only eu-2 is an io::Error (billing's io error is its *source*, not the leaf).
    assert_eq!(
        io.to_string(),
        r#"group "aggregate" failed with 1 error:
  [4] eu: group "eu-shards" failed with 1 error:
    [2] eu-2: std::io::error::Error: eu-2 down"#
    );
    let rest = rest.unwrap();
    let names: Vec<_> = rest
        .leaves()
        .iter()
        .map(|l| l.failure.child_name().to_owned())
        .collect();
    assert_eq!(names, ["billing", "fraud", "eu-1"]);
    assert_eq!(rest.leaves()[2].path_string(), "2.0");

    // A type that matches nothing leaves everything on the rest side.
    let (none, all) = sample().split::<fmt::Error>();
    assert!(none.is_none());
    assert_eq!(all.unwrap().leaves().len(), 4);
}

#[test]
fn subgroup_and_predicates() {
    let values = sample().subgroup::<ValueError>().unwrap();
    assert_eq!(values.leaves().len(), 1);
    assert_eq!(
        values.leaves()[0].path_string(),
        "0.0",
        "the nested group is kept, re-indexed"
    );

    let panics = sample().subgroup_by(Failure::is_panic).unwrap();
    assert_eq!(panics.leaves()[0].failure.child_name(), "fraud");

    let (deep, shallow) = sample().split_by(|leaf| leaf.child_name().starts_with("eu"));
    assert_eq!(deep.unwrap().len(), 1);
    assert_eq!(shallow.unwrap().len(), 2);
    assert!(sample().subgroup::<fmt::Error>().is_none());
}

#[test]
fn catch_runs_each_handler_once_with_its_matches_and_returns_the_rest() {
    let mut calls = Vec::new();
    let rest = sample()
        .catch::<std::io::Error>(|g| calls.push(("io", g.leaves().len())))
        .catch::<ValueError>(|g| calls.push(("value", g.leaves().len())))
        .catch::<fmt::Error>(|g| calls.push(("fmt", g.leaves().len())))
        .rest()
        .unwrap_err();
    assert_eq!(
        calls,
        [("io", 1), ("value", 1)],
        "a handler with no match does not run"
    );
    let left: Vec<_> = rest
        .leaves()
        .iter()
        .map(|l| l.failure.child_name().to_owned())
        .collect();
    assert_eq!(left, ["billing", "fraud"]);

    let mut panics = 0;
    let rest = rest
        .catch_panics(|g| panics = g.leaves().len())
        .catch_if(|leaf| leaf.child_name() == "billing", |_| {})
        .rest();
    assert_eq!(panics, 1);
    assert!(rest.is_ok(), "every leaf handled");
}

/// A random tree of three kinds of leaves.
#[derive(Debug, Clone)]
enum Node {
    Value,
    Io,
    Panic,
    Group(Vec<Node>),
}

fn arb_node() -> impl Strategy<Value = Node> {
    let leaf = prop_oneof![Just(Node::Value), Just(Node::Io), Just(Node::Panic)];
    leaf.prop_recursive(4, 40, 5, |inner| {
        prop::collection::vec(inner, 1..5).prop_map(Node::Group)
    })
}

/// Builds the tree; leaves are named in tree order (`v0`, `io1`, `p2`, ...)
/// so names are unique and their order checkable.
fn build(name: &str, nodes: &[Node], next: &mut usize) -> Option<ErrorGroup> {
    let mut failures = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        let id = *next;
        *next += 1;
        failures.push(match node {
            Node::Value => Failure::error(format!("v{id}"), Some(i), ValueError(id.to_string())),
            Node::Io => Failure::error(
                format!("io{id}"),
                Some(i),
                std::io::Error::other(id.to_string()),
            ),
            Node::Panic => Failure::panic(format!("p{id}"), Some(i), id.to_string()),
            Node::Group(children) => Failure::group(
                format!("g{id}"),
                Some(i),
                build(&format!("{name}.{i}"), children, next)?,
            ),
        });
    }
    ErrorGroup::new(name, failures)
}

fn leaf_names(group: &Option<ErrorGroup>) -> Vec<String> {
    group
        .as_ref()
        .map(|g| {
            g.leaves()
                .iter()
                .map(|l| l.failure.child_name().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn has_empty_group(group: &ErrorGroup) -> bool {
    group.is_empty()
        || group.failures().iter().any(|f| match f.kind() {
            FailureKind::Group(inner) => has_empty_group(inner),
            _ => false,
        })
}

proptest! {
    /// Splitting loses and duplicates nothing: the two sides partition the
    /// leaves, each side keeps tree order, no side has an empty group, and
    /// every leaf keeps the name of the group that held it.
    #[test]
    fn split_partitions_the_leaves(nodes in prop::collection::vec(arb_node(), 1..6)) {
        let group = build("root", &nodes, &mut 0).unwrap();
        let all = leaf_names(&Some(build("root", &nodes, &mut 0).unwrap()));
        let holders: Vec<_> = group.leaves().iter().map(|l| (l.failure.child_name().to_owned(), l.group.name().to_owned())).collect();

        let (values, rest) = group.split::<ValueError>();
        let (matched, unmatched) = (leaf_names(&values), leaf_names(&rest));
        prop_assert!(matched.iter().all(|n| n.starts_with('v')));
        prop_assert!(unmatched.iter().all(|n| !n.starts_with('v')));
        prop_assert_eq!(matched.clone(), all.iter().filter(|n| n.starts_with('v')).cloned().collect::<Vec<_>>());
        prop_assert_eq!(unmatched, all.iter().filter(|n| !n.starts_with('v')).cloned().collect::<Vec<_>>());
        for side in [&values, &rest].into_iter().flatten() {
            prop_assert!(!has_empty_group(side));
            for leaf in side.leaves() {
                let holder = holders.iter().find(|(n, _)| n == leaf.failure.child_name()).map(|(_, g)| g.as_str());
                prop_assert_eq!(Some(leaf.group.name()), holder);
            }
        }
    }
}

/// A split that moves nothing hands the tree back unchanged, ids and all, on
/// whichever side took everything; so does one that takes everything.
#[test]
fn a_split_that_moves_nothing_hands_back_the_same_tree() {
    let group = sample();
    let ids = |g: &ErrorGroup| {
        let mut ids = vec![g.id()];
        ids.extend(g.failures().iter().map(Failure::id));
        ids.extend(g.leaves().iter().map(|l| l.failure.id()));
        ids.extend(g.leaves().iter().map(|l| l.group.id()));
        ids
    };
    let before = ids(&group);
    let (none, rest) = group.split::<std::fmt::Error>();
    assert!(none.is_none());
    let rest = rest.unwrap();
    assert_eq!(ids(&rest), before);
    let (all, none) = rest.split_by(|_| true);
    assert!(none.is_none());
    assert_eq!(ids(&all.unwrap()), before);
}

/// A nested group can be matched as one unit, by its name or a predicate on
/// groups, as Python's `split(MyGroupType)` does: it moves whole, with its
/// id, and the leaves outside it stay behind.
#[test]
fn a_nested_group_splits_off_as_one_unit() {
    let group = sample();
    let eu_id = group.failures()[2].nested().unwrap().id();
    let (eu, rest) = group.split_group("eu-shards");
    let eu = eu.unwrap();
    assert_eq!(eu.len(), 1);
    assert_eq!(eu.failures()[0].nested().unwrap().id(), eu_id);
    assert_eq!(eu.leaves().len(), 2);
    assert_eq!(rest.unwrap().leaves().len(), 2);

    let (whole, rest) = sample().split_groups_by(|g| g.name() == "aggregate");
    assert_eq!(whole.unwrap().leaves().len(), 4);
    assert!(rest.is_none());

    let mut shards = 0;
    let rest = sample()
        .catch_group("eu-shards", |g| shards = g.leaves().len())
        .catch::<QueryFailed>(|_| {})
        .catch_panics(|_| {})
        .rest();
    assert_eq!(shards, 2);
    assert!(rest.is_ok());
}

/// Trees 10,000 groups deep and 100,000 leaves wide are built, walked,
/// split, rendered (`Display` and `Debug`) and dropped on a 2 MiB stack,
/// which recursion over the tree would overflow; a split asks about each
/// leaf once.
#[test]
fn deep_and_wide_trees_need_no_deep_stack() {
    let worker = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| {
            let mut deep = ErrorGroup::new(
                "level-0",
                vec![Failure::error("leaf", Some(0), ValueError("bottom".into()))],
            )
            .unwrap();
            for level in 1..10_000 {
                let sibling = Failure::error("sibling", Some(1), std::io::Error::other("x"));
                deep = ErrorGroup::new(
                    format!("level-{level}"),
                    vec![Failure::group("nested", Some(0), deep), sibling],
                )
                .unwrap();
            }
            assert_eq!(deep.leaves().len(), 10_000);
            assert_eq!(deep.leaves()[0].depth(), 10_000);
            let rendered = deep.to_string();
            assert_eq!(rendered.lines().count(), 1 + 10_000 + 9_999);
            assert!(format!("{deep:?}").contains("bottom"));
            let mut asked = 0;
            let (values, io) = deep.split_by(|leaf| {
                asked += 1;
                leaf.downcast_ref::<ValueError>().is_some()
            });
            assert_eq!(asked, 10_000);
            assert_eq!(values.as_ref().unwrap().leaves().len(), 1);
            assert_eq!(io.as_ref().unwrap().leaves().len(), 9_999);
            drop((values, io));

            let wide = ErrorGroup::new(
                "wide",
                (0..100_000)
                    .map(|i| Failure::error("leaf", Some(i), ValueError(i.to_string())))
                    .collect(),
            )
            .unwrap();
            let mut asked = 0;
            let (even, odd) = wide.split_by(|leaf| {
                asked += 1;
                leaf.child_index().unwrap() % 2 == 0
            });
            assert_eq!(asked, 100_000);
            assert_eq!(even.unwrap().len(), 50_000);
            assert_eq!(odd.unwrap().to_string().lines().count(), 50_001);
        })
        .unwrap();
    worker.join().expect("no stack overflow");
}

/// A handler may raise, as an `except*` clause may: re-raising the group it
/// was given puts its failures back as they were, and raising a new error
/// (with the matched group as its cause) adds it under the handler's name;
/// both come back with the unmatched rest.
#[test]
fn handlers_may_re_raise_or_raise_anew() {
    #[derive(Debug)]
    struct Unavailable(ErrorGroup);
    impl fmt::Display for Unavailable {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("the shards are unavailable")
        }
    }
    impl Error for Unavailable {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }

    let group = sample();
    let before: Vec<u64> = group.leaves().iter().map(|l| l.failure.id()).collect();
    let rest = group
        .try_catch::<QueryFailed>(|g| Err(g.into())) // looked, and re-raised
        .try_catch::<ValueError>(|g| Err(Box::new(Unavailable(g))))
        .catch_panics(|_| {})
        .rest()
        .unwrap_err();
    let names: Vec<_> = rest.failures().iter().map(Failure::child_name).collect();
    assert_eq!(names, ["billing", "eu", cohort::telemetry::HANDLER_NAME]);
    assert_eq!(rest.failures()[0].id(), before[0], "re-raised as it was");
    let raised = rest.failures()[2].downcast_ref::<Unavailable>().unwrap();
    assert_eq!(
        raised.0.leaves()[0].failure.id(),
        before[2],
        "the cause kept"
    );
}

/// The chain also starts from a bare error (a service's `anyhow::Error` or
/// boxed error): the tree inside it, if it is one, else a group of one.
#[test]
fn a_chain_starts_from_a_bare_error_or_a_tree() {
    let bare: cohort::BoxError = Box::new(ValueError("bad input".into()));
    let mut handled = 0;
    let rest = cohort::Catch::error(bare)
        .catch::<ValueError>(|g| handled = g.leaves().len())
        .rest();
    assert_eq!(handled, 1);
    assert!(rest.is_ok());

    let tree: cohort::BoxError = Box::new(sample());
    let rest = cohort::Catch::error(tree)
        .catch::<ValueError>(|_| {})
        .rest()
        .unwrap_err();
    assert_eq!(rest.name(), "aggregate");
    assert_eq!(rest.leaves().len(), 3);
}
