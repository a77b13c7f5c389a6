//! Feature `prometheus`: the cohort metrics pulled from the endpoint, named
//! the Prometheus way, without any collector.

#![cfg(feature = "prometheus")]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;

use support::{env, run_checkout};

fn get(address: std::net::SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(address).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nhost: test\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn the_metrics_are_served_for_prometheus() {
    let (dispatch, telemetry) = cohort_otlp::builder()
        .env(env(&[("OTEL_SERVICE_NAME", "shop")]))
        .prometheus("127.0.0.1:0".parse().unwrap())
        .without_fmt()
        .build()
        .unwrap();
    assert!(!telemetry.is_exporting(), "no OTLP needed");
    let address = telemetry.prometheus_address().unwrap();
    run_checkout(&dispatch);

    let page = get(address, "/metrics");
    assert!(page.starts_with("HTTP/1.1 200 OK"), "{page}");
    for line in [
        r#"cohort_group_runs_total{group_name="checkout",group_outcome="failed""#,
        r#"cohort_group_duration_seconds_bucket{group_name="checkout",group_outcome="failed""#,
        r#"cohort_children_spawned_total{group_name="checkout""#,
        r#"cohort_child_errors_total{error_type="std::io::error::Error",group_name="inventory""#,
    ] {
        assert!(page.contains(line), "{line} not in {page}");
    }
    assert!(get(address, "/other").starts_with("HTTP/1.1 404"));

    // A port in use is an error from init, not a panic.
    let taken = cohort_otlp::builder()
        .env(env(&[]))
        .prometheus(address)
        .build()
        .unwrap_err();
    assert!(taken.to_string().contains("prometheus"), "{taken}");
}
