//! Children and scope bodies failing with the errors services use: boxed
//! errors, `anyhow::Error` and `eyre::Report` (the crate features of those
//! names), stored as the error they hold, and the `error.type` rule for them.

mod support;

use std::error::Error;
use std::fmt;
use std::num::ParseIntError;

use cohort::{BoxError, Group};

/// An error type of the tests' own, one per test, so that registering one
/// does not change what another test sees.
macro_rules! error_type {
    ($name:ident) => {
        #[derive(Debug)]
        struct $name;
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(stringify!($name))
            }
        }
        impl Error for $name {}
    };
}

/// A child failing with a boxed error keeps the error it holds: the leaf
/// downcasts to it, and an `io::Error` (registered from the start) names
/// its type.
#[tokio::test(start_paused = true)]
async fn a_boxed_error_is_stored_as_the_error_it_holds() {
    let group = Group::new("boxed");
    group
        .spawn("io", async {
            Err::<(), BoxError>(Box::new(std::io::Error::other("disk full")))
        })
        .unwrap();
    let eg = group.join().await.unwrap_err();
    let leaf = &eg.failures()[0];
    assert_eq!(
        leaf.downcast_ref::<std::io::Error>().unwrap().to_string(),
        "disk full"
    );
    assert_eq!(leaf.error_type(), "std::io::error::Error");
}

/// A boxed error of a type nobody registered is recorded under the
/// wrapper's name until its type is registered.
#[tokio::test(start_paused = true)]
async fn a_boxed_error_of_an_unregistered_type_reads_as_the_wrapper() {
    error_type!(Unregistered);
    let fail = || async { Err::<(), BoxError>(Box::new(Unregistered)) };
    let group = Group::new("boxed");
    group.spawn("plain", fail()).unwrap();
    let eg = group.join().await.unwrap_err();
    assert_eq!(eg.failures()[0].error_type(), "dyn std::error::Error");

    cohort::error_types::register_as::<Unregistered>("tests::Unregistered");
    let group = Group::new("boxed");
    group.spawn("plain", fail()).unwrap();
    let eg = group.join().await.unwrap_err();
    assert_eq!(eg.failures()[0].error_type(), "tests::Unregistered");
}

/// An `anyhow::Error` a child returns with `?` holds the original error:
/// `catch::<ParseIntError>` finds it, and once the type is registered, it
/// names the leaf's `error.type`.
#[tokio::test(start_paused = true)]
async fn an_anyhow_child_keeps_its_error_for_except_star() {
    let run = || async {
        let group = Group::new("parse");
        group
            .spawn("count", async {
                let n: u32 = "not a number".parse()?;
                Ok::<_, anyhow::Error>(n)
            })
            .unwrap();
        group.join().await.unwrap_err()
    };
    let eg = run().await;
    assert_eq!(eg.failures()[0].error_type(), "anyhow::Error");
    let mut caught = 0;
    let rest = eg
        .catch::<ParseIntError>(|g| caught = g.leaves().len())
        .rest();
    assert_eq!(caught, 1);
    assert!(rest.is_ok());

    cohort::error_types::register::<ParseIntError>();
    let eg = run().await;
    assert_eq!(
        eg.failures()[0].error_type(),
        "core::num::error::ParseIntError"
    );
}

/// An `io::Error` that travelled inside an `anyhow::Error` is found by
/// `catch::<io::Error>`, with context added to it too (as anyhow's own
/// `downcast_ref` sees through context); the context is the leaf's message,
/// and the chain's innermost registered type names the leaf.
#[tokio::test(start_paused = true)]
async fn an_io_error_inside_anyhow_is_caught_as_one() {
    let group = Group::new("fetch");
    group
        .spawn("db", async {
            Err::<(), _>(anyhow::Error::from(std::io::Error::other("refused")))
        })
        .unwrap();
    group
        .spawn("cache", async {
            let failed: Result<(), std::io::Error> = Err(std::io::Error::other("timed out"));
            anyhow::Context::context(failed, "reading the cache")
        })
        .unwrap();
    let eg = group.join().await.unwrap_err();
    let types: Vec<_> = eg.failures().iter().map(|f| f.error_type()).collect();
    assert_eq!(types, ["std::io::error::Error", "std::io::error::Error"]);
    assert_eq!(eg.failures()[1].message(), "reading the cache");
    assert!(eg.to_string().contains("caused by: timed out"), "{eg}");
    let mut caught = Vec::new();
    let rest = eg
        .catch::<std::io::Error>(|g| {
            caught = g
                .leaves()
                .iter()
                .map(|l| l.failure.child_name().to_owned())
                .collect()
        })
        .rest();
    assert_eq!(caught, ["db", "cache"]);
    assert!(rest.is_ok());
}

/// A scope body may use `?` on several error types through `anyhow::Result`,
/// and its leaf holds the error that failed it.
#[tokio::test(start_paused = true)]
async fn a_scope_body_may_fail_with_anyhow() {
    let eg = Group::new("handler")
        .scope(|g| async move {
            g.spawn("ok", async { Ok::<_, anyhow::Error>(()) })?;
            let port: u16 = "70000".parse()?;
            Ok::<_, anyhow::Error>(port)
        })
        .await
        .unwrap_err();
    let body = &eg.failures()[0];
    assert_eq!(body.child_name(), cohort::telemetry::BODY_NAME);
    assert!(body.downcast_ref::<ParseIntError>().is_some());
}

/// An `eyre::Report` is taken the same way.
#[tokio::test(start_paused = true)]
async fn an_eyre_child_keeps_its_error() {
    error_type!(EyreFailure);
    let group = Group::new("eyre");
    group
        .spawn("report", async {
            Err::<(), _>(eyre::Report::new(EyreFailure))
        })
        .unwrap();
    let eg = group.join().await.unwrap_err();
    assert!(eg.failures()[0].downcast_ref::<EyreFailure>().is_some());
    assert_eq!(eg.failures()[0].error_type(), "eyre::Report");
}

/// A classifier names the dynamic errors no registered type names.
#[tokio::test(start_paused = true)]
async fn a_classifier_names_what_no_registered_type_does() {
    error_type!(Classified);
    cohort::error_types::set_classifier(|error| error.is::<Classified>().then_some("classified"));
    let group = Group::new("classified");
    group
        .spawn("boxed", async { Err::<(), BoxError>(Box::new(Classified)) })
        .unwrap();
    let eg = group.join().await.unwrap_err();
    assert_eq!(eg.failures()[0].error_type(), "classified");
}

/// Through `anyhow` too, a scope body's `?` on a refused spawn is its
/// cancellation, and on a failed `start` the started child's own failure.
#[tokio::test(start_paused = true)]
async fn refusals_and_start_failures_keep_their_meaning_through_anyhow() {
    let value = Group::new("refused")
        .scope(|g| async move {
            g.cancel();
            g.spawn("too-late", async { Ok::<_, anyhow::Error>(()) })?;
            Ok::<_, anyhow::Error>(())
        })
        .await
        .expect("a refused spawn is not a failure");
    assert_eq!(value, None);

    let eg = Group::new("server")
        .scope(|g| async move {
            g.start("listener", |_ready: cohort::Ready<u16>| async {
                Err::<(), _>(std::io::Error::other("address in use"))
            })
            .await?;
            Ok::<_, anyhow::Error>(())
        })
        .await
        .unwrap_err();
    assert_eq!(eg.failures()[0].child_name(), "listener");
    assert!(eg.failures()[0].downcast_ref::<std::io::Error>().is_some());
}
