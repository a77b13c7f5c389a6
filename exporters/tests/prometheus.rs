//! Feature `prometheus`: the cohort metrics pulled from the endpoint, named
//! the Prometheus way, without any collector.

#![cfg(feature = "prometheus")]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;

use support::{env, run_checkout};

fn request(address: std::net::SocketAddr, method: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(address).unwrap();
    // A server that never answers fails the test instead of hanging it.
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

fn get(address: std::net::SocketAddr, path: &str) -> String {
    request(address, "GET", path)
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
        // The default bounds are dense where fan-outs' timeouts live.
        r#"cohort_group_duration_seconds_bucket{group_name="checkout",group_outcome="failed",otel_scope_name="cohort",le="0.45"}"#,
    ] {
        assert!(page.contains(line), "{line} not in {page}");
    }
    // A nested group's failure is no error type of its own: its leaf is
    // counted once, by the group it failed in.
    assert!(
        !page.contains(r#"error_type="cohort::ErrorGroup""#),
        "{page}"
    );
    assert!(get(address, "/other").starts_with("HTTP/1.1 404"));
    assert!(request(address, "POST", "/metrics").starts_with("HTTP/1.1 405"));
    let head = request(address, "HEAD", "/metrics");
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(
        !head.contains("cohort_group_runs_total"),
        "HEAD has no body: {head}"
    );
    // The exposition format's content type, and a query string is fine.
    let with_query = get(address, "/metrics?name[]=cohort_group_runs_total");
    assert!(with_query.starts_with("HTTP/1.1 200 OK"), "{with_query}");
    assert!(
        with_query
            .to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{with_query}"
    );

    // A port in use is an error from init, not a panic.
    let taken = cohort_otlp::builder()
        .env(env(&[]))
        .prometheus(address)
        .build()
        .unwrap_err();
    assert!(taken.to_string().contains("prometheus"), "{taken}");
}

/// A client that connects and says nothing holds up no one: the next scrape
/// is answered while it idles, and the idle one is closed after the server's
/// head timeout.
#[test]
fn an_idle_connection_does_not_block_a_scrape() {
    let (_dispatch, telemetry) = cohort_otlp::builder()
        .env(env(&[]))
        .prometheus("127.0.0.1:0".parse().unwrap())
        .without_fmt()
        .build()
        .unwrap();
    let address = telemetry.prometheus_address().unwrap();
    let idle = TcpStream::connect(address).unwrap();
    let mut half = TcpStream::connect(address).unwrap();
    write!(half, "GET /metr").unwrap(); // a request head never finished
    let page = get(address, "/metrics");
    assert!(page.starts_with("HTTP/1.1 200 OK"), "{page}");
    drop((idle, half));
}
