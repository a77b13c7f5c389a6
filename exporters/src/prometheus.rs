//! Feature `prometheus`: the cohort metrics on a pull endpoint, for services
//! without a collector. Prometheus names replace dots with underscores and
//! add the unit (`cohort_group_duration_seconds`, `cohort_group_runs_total`).
//!
//! The endpoint is hyper's HTTP/1.1 server on a runtime thread of its own:
//! connections are served concurrently, so an idle or slow client holds up
//! nobody; a client gets 10 s to send its request head (16 KiB at most) and
//! 30 s in all; `GET` (or `HEAD`) `/metrics`, with any query string, is
//! answered in the text exposition format, anything else with 404 or 405.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use prometheus::{Encoder, Registry, TextEncoder};
use tokio::sync::Notify;

use crate::error::InitError;

/// How long a client has to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a connection may last in all.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest request head read.
const MAX_HEAD: usize = 16 * 1024;

/// The meter provider the Prometheus registry reads, and its server.
pub(crate) struct Endpoint {
    pub provider: SdkMeterProvider,
    pub address: SocketAddr,
    stop: Arc<Notify>,
}

impl Endpoint {
    pub fn start(address: SocketAddr, resource: Resource) -> Result<Self, InitError> {
        let failed = |e: String| InitError::invalid("prometheus", &address.to_string(), e);
        let registry = Registry::new();
        let reader = opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            .build()
            .map_err(|e| failed(e.to_string()))?;
        let provider = SdkMeterProvider::builder()
            .with_reader(reader)
            .with_resource(resource)
            .build();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| failed(e.to_string()))?;
        // Bound here, so that a port in use is an error from `init`.
        let listener = std::net::TcpListener::bind(address)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(|e| failed(e.to_string()))?;
        let address = listener.local_addr().map_err(|e| failed(e.to_string()))?;
        let stop = Arc::new(Notify::new());
        let stopping = stop.clone();
        std::thread::Builder::new()
            .name("cohort-prometheus".into())
            .spawn(move || runtime.block_on(serve(listener, registry, stopping)))
            .map_err(|e| failed(e.to_string()))?;
        Ok(Self {
            provider,
            address,
            stop,
        })
    }

    /// Stops serving: no new connection is accepted, and the ones open are
    /// dropped as the server's runtime ends.
    pub fn stop(&self) {
        self.stop.notify_one();
    }
}

async fn serve(listener: std::net::TcpListener, registry: Registry, stop: Arc<Notify>) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    let registry = Arc::new(registry);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // A client's failure is that client's: keep serving.
                Err(_) => continue,
            },
            () = stop.notified() => return,
        };
        let registry = registry.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let registry = registry.clone();
                async move { Ok::<_, Infallible>(answer(&request, &registry)) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEAD_TIMEOUT)
                .max_buf_size(MAX_HEAD)
                .serve_connection(TokioIo::new(stream), service);
            let _ = tokio::time::timeout(CONNECTION_TIMEOUT, connection).await;
        });
    }
}

fn answer(request: &Request<Incoming>, registry: &Registry) -> Response<Full<Bytes>> {
    let reply = |status: StatusCode, content_type: &str, body: Vec<u8>| {
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = status;
        if let Ok(value) = content_type.parse() {
            response
                .headers_mut()
                .insert(hyper::header::CONTENT_TYPE, value);
        }
        response
    };
    let text = "text/plain; charset=utf-8";
    if request.uri().path() != "/metrics" {
        return reply(
            StatusCode::NOT_FOUND,
            text,
            b"only /metrics is served\n".to_vec(),
        );
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return reply(
            StatusCode::METHOD_NOT_ALLOWED,
            text,
            b"GET /metrics\n".to_vec(),
        );
    }
    let encoder = TextEncoder::new();
    let mut body = Vec::new();
    match encoder.encode(&registry.gather(), &mut body) {
        Ok(()) => reply(StatusCode::OK, encoder.format_type(), body),
        Err(e) => reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            text,
            e.to_string().into_bytes(),
        ),
    }
}
