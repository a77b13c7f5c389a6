//! A collector that is not there, hangs, or answers errors costs telemetry,
//! never the service: init succeeds, the workload runs, the guard shuts down
//! in bounded time inside a current-thread runtime, and the losses are
//! counted.

mod support;

use std::time::{Duration, Instant};

use cohort_otlp::{Protocol, SHUTDOWN_TIMEOUT, Signal};
use support::collectors::{closed_port, hanging};
use support::receiver::receiver_answering;
use support::{checkout, env};

fn run_against_nothing(protocol: Protocol) {
    run_against(closed_port(), protocol);
}

fn run_against(endpoint: String, protocol: Protocol) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Everything, the guard's drop included, inside the service's runtime.
    let (delivery, shutdown_took) = rt.block_on(async {
        let (dispatch, telemetry) = cohort_otlp::builder()
            .env(env(&[]))
            .endpoint(endpoint)
            .protocol(protocol)
            .without_fmt()
            .build()
            .unwrap();
        let _default = tracing::dispatcher::set_default(&dispatch);
        for _ in 0..20 {
            let tree = checkout().await;
            assert_eq!(tree.leaves().len(), 2);
        }
        let started = Instant::now();
        let delivery = telemetry.shutdown();
        (delivery, started.elapsed())
    });
    // Each signal may wait its own timeout, no more: a hang would never end.
    assert!(
        shutdown_took < SHUTDOWN_TIMEOUT * 3 + Duration::from_secs(5),
        "{shutdown_took:?}"
    );
    for signal in [Signal::Traces, Signal::Logs] {
        let d = delivery[&signal];
        assert_eq!(d.exported, 0, "{signal:?}: {d:?}");
        assert!(d.queued > 0, "{signal:?}: {d:?}");
        assert_eq!(d.lost(), d.queued, "every item is accounted for: {d:?}");
    }
}

#[test]
fn grpc_to_a_closed_port() {
    run_against_nothing(Protocol::Grpc);
}

#[test]
fn http_to_a_closed_port() {
    run_against_nothing(Protocol::HttpProtobuf);
}

#[test]
fn grpc_to_a_collector_that_never_answers() {
    run_against(hanging(), Protocol::Grpc);
}

#[test]
fn http_to_a_collector_answering_errors() {
    let (endpoint, _requests) = receiver_answering("503 Service Unavailable");
    run_against(endpoint, Protocol::HttpProtobuf);
}

#[test]
fn bad_settings_are_errors_from_init_not_panics() {
    let err = cohort_otlp::builder()
        .env(env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317")]))
        .build()
        .unwrap_err();
    assert!(
        err.to_string().contains("OTEL_EXPORTER_OTLP_ENDPOINT"),
        "{err}"
    );
    let err = cohort_otlp::builder()
        .env(env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "thrift"),
        ]))
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("unknown protocol"), "{err}");
    let err = cohort_otlp::builder()
        .env(env(&[]))
        .filter("info,[")
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("RUST_LOG"), "{err}");
    for (bounds, says) in [
        (vec![], "no bounds"),
        (vec![0.1, f64::NAN], "not finite"),
        (vec![0.5, 0.1], "increase strictly"),
        (vec![0.1, 0.1], "increase strictly"),
    ] {
        let err = cohort_otlp::builder()
            .env(env(&[]))
            .duration_bounds(bounds)
            .build()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("duration_bounds") && err.contains(says),
            "{err}"
        );
    }
}

#[test]
fn with_nothing_configured_nothing_is_exported_and_the_layer_still_works() {
    let (dispatch, telemetry) = support::subscriber(&[]);
    assert!(!telemetry.is_exporting());
    let tree = support::run_checkout(&dispatch);
    assert_eq!(tree.leaves().len(), 2);
    let metrics = telemetry.cohort().metrics();
    assert_eq!(
        metrics.group("checkout").unwrap().runs.get("failed"),
        Some(&1)
    );
    assert!(telemetry.shutdown().is_empty());

    // `without_export` wins over an endpoint in the environment.
    let (_, telemetry) = cohort_otlp::builder()
        .env(env(&[(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "http://collector:4317",
        )]))
        .without_export()
        .without_fmt()
        .build()
        .unwrap();
    assert!(!telemetry.is_exporting());
}
