//! loom models of the concurrency core: every interleaving (and every
//! weak-memory outcome loom can produce) of the races the group's
//! correctness rests on, as tokio checks its JoinSet and task state.
//!
//! ```sh
//! RUSTFLAGS="--cfg cohort_loom" CARGO_TARGET_DIR=target/loom \
//!     cargo test -p cohort --lib --release loom_models
//! ```
//!
//! Only these tests run under `cohort_loom`: the rest of the crate's
//! primitives are loom's then, which work only inside a model.

use std::future::poll_fn;

use loom::sync::Arc;
use loom::thread;
use tokio_util::sync::CancellationToken;

use crate::admission::Admission;
use crate::own_token::OwnToken;

/// Explores `f` with at most three preemptions per execution unless
/// `LOOM_MAX_PREEMPTIONS` says otherwise: the bound tokio's CI uses for its
/// own models, which every race here needs fewer than.
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(3);
    }
    builder.check(f);
}

/// Waits as the group does at its end: until every child is gone, closing it.
fn wait_all_gone(admission: &Admission) {
    loom::future::block_on(poll_fn(|cx| admission.poll_all_gone(cx)));
}

/// A spawn racing the group's end: the child is admitted and supervised
/// (the group waits for it to go), or refused; never admitted after the
/// group closed, nor closed with it still running.
#[test]
fn admission_racing_the_close() {
    model(|| {
        let admission = Arc::new(Admission::new());
        let spawner = {
            let admission = admission.clone();
            thread::spawn(move || {
                let admitted = admission.admit().is_some();
                if admitted {
                    // The child runs and goes.
                    admission.child_gone();
                }
                admitted
            })
        };
        wait_all_gone(&admission);
        assert!(admission.is_closed());
        let at_close = (admission.admitted(), admission.gone());
        let admitted = spawner.join().unwrap();
        assert_eq!(at_close.0, at_close.1, "closed with a child still there");
        assert_eq!(admission.admitted(), at_close.0, "admitted after the close");
        assert_eq!(admission.admitted(), usize::from(admitted));
        assert!(admission.admit().is_none());
    });
}

/// The last children going while the group registers its waker and checks:
/// the group finishes, whoever is last (a lost wake-up deadlocks the model,
/// which loom reports).
#[test]
fn children_exiting_racing_the_final_wait() {
    model(|| {
        let admission = Arc::new(Admission::new());
        assert_eq!(admission.admit(), Some(0));
        assert_eq!(admission.admit(), Some(1));
        let children: Vec<_> = (0..2)
            .map(|_| {
                let admission = admission.clone();
                thread::spawn(move || admission.child_gone())
            })
            .collect();
        wait_all_gone(&admission);
        assert_eq!(admission.gone(), 2);
        for child in children {
            child.join().unwrap();
        }
    });
}

/// A nested group's hold given back as the last child goes: the group waits
/// for both and misses neither wake-up.
#[test]
fn a_hold_released_racing_the_last_child() {
    model(|| {
        let admission = Arc::new(Admission::new());
        assert_eq!(admission.admit(), Some(0));
        admission.take_hold();
        let child = {
            let admission = admission.clone();
            thread::spawn(move || admission.child_gone())
        };
        let nested = {
            let admission = admission.clone();
            thread::spawn(move || admission.release_hold())
        };
        wait_all_gone(&admission);
        assert_eq!(admission.gone(), 1);
        child.join().unwrap();
        nested.join().unwrap();
    });
}

/// A handle cancelling a child while a group nested in it makes the child's
/// token: the token ends cancelled, whichever side goes first.
#[test]
fn cancel_racing_the_token() {
    model(|| {
        let own = Arc::new(OwnToken::new());
        let parent = CancellationToken::new();
        let canceller = {
            let own = own.clone();
            thread::spawn(move || own.cancel())
        };
        let token = own.token(|| parent.child_token());
        canceller.join().unwrap();
        assert!(own.is_cancelled());
        assert!(token.is_cancelled(), "the nested group was never cancelled");
        assert!(!parent.is_cancelled());
    });
}
