//! The layer's work grows linearly with the failures it carries up.
//!
//! A complexity test, not a speed test: it compares the layer's time for the
//! same workload at two sizes, 8x apart, measured in one run. Linear work
//! takes about 8x as long (8.4x measured); the quadratic scan this guards
//! against took 33x. The bound (16x) leaves a 2x margin either way, and
//! each size is the best of three runs, so a loaded machine does not decide
//! the result.

mod support;

use std::time::{Duration, Instant};

use cohort::{Group, Policy};
use support::{Refused, install};

/// A supervise group of `n` children, each running a nested group whose one
/// child fails: `n` nested trees carried up through the outer group.
async fn failing_nested_groups(n: usize) {
    let outer = Group::builder("outer")
        .policy(Policy::Supervise)
        .build()
        .unwrap();
    for i in 0..n {
        outer
            .spawn("shard", async move {
                let inner = Group::new("inner");
                inner
                    .spawn("call", async move { Err::<(), _>(Refused(i.to_string())) })
                    .unwrap();
                inner.join().await
            })
            .unwrap();
    }
    let tree = outer.join().await.unwrap_err();
    assert_eq!(tree.leaves().len(), n);
}

fn best_of_three(n: usize) -> Duration {
    (0..3)
        .map(|_| {
            let (recorder, _, _guard) = install();
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            let start = Instant::now();
            rt.block_on(failing_nested_groups(n));
            let took = start.elapsed();
            assert_eq!(recorder.leaves().len(), n, "each leaf logged once");
            took
        })
        .min()
        .unwrap()
}

#[test]
fn carrying_nested_failures_up_is_linear_in_their_number() {
    let small = best_of_three(500);
    let large = best_of_three(4_000);
    let ratio = large.as_secs_f64() / small.as_secs_f64();
    println!("500 nested failures: {small:?}; 4000: {large:?}; ratio {ratio:.1} (linear: 8)");
    assert!(
        ratio < 16.0,
        "8x the failures took {ratio:.1}x as long ({small:?} against {large:?}): not linear"
    );
}
