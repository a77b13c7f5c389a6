//! Feature `console`: tokio-console's layer composed into the same
//! subscriber, its server up, and tokio's task spans still reaching the
//! cohort layer (they are filtered per layer, not globally).

#![cfg(feature = "console")]

mod support;

use std::net::{TcpListener, TcpStream};

use cohort_layer::LeakDetection;
use support::run_checkout;

#[test]
fn console_serves_while_cohort_still_sees_tasks() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // console-subscriber reads its address from the process environment.
    // SAFETY: this test binary has no other test, and no thread reads the
    // environment while it is set.
    unsafe { std::env::set_var("TOKIO_CONSOLE_BIND", format!("127.0.0.1:{port}")) };
    let (dispatch, telemetry) = support::subscriber(&[]);
    let tree = run_checkout(&dispatch);
    assert_eq!(tree.leaves().len(), 2);
    // Its server starts on a thread of its own: ready when it accepts.
    let started = std::time::Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed().as_secs() < 10,
            "no console server on {port}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let expected = if cfg!(tokio_unstable) {
        LeakDetection::On
    } else {
        LeakDetection::Off
    };
    assert_eq!(telemetry.cohort().leak_detection(), expected);
}
