//! A trace across services: a fan-out whose children call a downstream HTTP
//! service running in a second process on loopback. Each child writes its
//! span's trace context into the request (`traceparent`); the downstream
//! service continues the trace, so in Jaeger its `GET /stock` spans sit
//! under the `storefront/stock-*` child spans that called them, in one trace.
//!
//! `cross_service` starts `cross_service downstream 3` (itself, in a second
//! process), waits for its port, fans out three calls and waits for it to
//! end. Export with `OTEL_EXPORTER_OTLP_ENDPOINT`; both processes read it.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use cohort::Group;
use cohort_examples::finish_telemetry;
use http_body_util::{BodyExt as _, Empty, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tracing::Instrument as _;

const REGIONS: [&str; 3] = ["eu", "us", "ap"];

fn telemetry(service: &str) -> cohort_otlp::Telemetry {
    match cohort_otlp::builder().service_name(service).init() {
        Ok(telemetry) => telemetry,
        Err(error) => {
            eprintln!("telemetry: {error}");
            std::process::exit(2);
        }
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("downstream") => {
            let requests = args
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(REGIONS.len());
            downstream(requests);
        }
        _ => upstream(),
    }
}

/// The storefront: one group, a child per region, each calling the stock
/// service with its trace context in the headers.
fn upstream() {
    let telemetry = telemetry("storefront");
    let mut stock = Command::new(std::env::current_exe().expect("the program's path"))
        .args(["downstream", &REGIONS.len().to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("the stock service starts");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(stock.stdout.take().expect("piped")),
        &mut line,
    )
    .expect("the stock service says its port");
    let port: u16 = line
        .trim()
        .strip_prefix("listening on ")
        .and_then(|p| p.parse().ok())
        .expect("a port");

    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        let group = Group::new("storefront");
        for region in REGIONS {
            group
                .spawn(format!("stock-{region}"), call_stock(port, region))
                .expect("the group is open");
        }
        group.join().await.expect("every region answers");
    });
    let status = stock.wait().expect("the stock service ends");
    println!("stock service: {status}");
    finish_telemetry(telemetry);
}

/// One call to the stock service, its connection driven inside the child
/// rather than by a task of its own (a pooled client's connection task,
/// spawned from the child, would outlive the group: a leak the cohort layer
/// reports).
async fn call_stock(port: u16, region: &'static str) -> Result<(), BoxError> {
    let mut request = Request::get(format!("http://127.0.0.1:{port}/stock?region={region}"))
        .body(Empty::<Bytes>::new())?;
    // The child's span is the current one: its context goes along.
    cohort_otlp::propagation::inject_current(request.headers_mut());
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    let call = async move {
        let response = sender.send_request(request).await?;
        let body = response.into_body().collect().await?.to_bytes();
        Ok::<_, BoxError>(body) // the sender goes: the connection closes
    };
    let (body, connection) = tokio::join!(call, connection);
    connection?;
    println!("{region}: {}", String::from_utf8_lossy(&body?));
    Ok(())
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The stock service: answers `requests` requests, each in a span that
/// continues the caller's trace, then ends.
fn downstream(requests: usize) {
    let telemetry = telemetry("stock-service");
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        println!("listening on {}", listener.local_addr().expect("bound").port());
        let served = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(tokio::sync::Notify::new());
        let mut connections = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    let (served, done) = (served.clone(), done.clone());
                    let service = hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                        let (served, done) = (served.clone(), done.clone());
                        let span = tracing::info_span!("GET /stock", http.route = "/stock");
                        // Continue the caller's trace, before the span starts.
                        let _ = cohort_otlp::propagation::continue_trace(&span, request.headers());
                        async move {
                            tokio::time::sleep(Duration::from_millis(5)).await;
                            let region = request.uri().query().unwrap_or("region=?").to_owned();
                            if served.fetch_add(1, Ordering::SeqCst) + 1 == requests {
                                done.notify_one();
                            }
                            Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from(
                                format!("in stock ({region})"),
                            ))))
                        }
                        .instrument(span)
                    });
                    connections.spawn(async move {
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
                () = done.notified() => break,
            }
        }
        // Let the last answers go out: the client closes its connections.
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            while connections.join_next().await.is_some() {}
        })
        .await;
    });
    drop(runtime);
    if let Some(delivery) = telemetry.is_exporting().then(|| telemetry.shutdown()) {
        eprintln!("stock service telemetry: {delivery:?}");
    }
}
