//! Feature `prometheus`: the cohort metrics on a pull endpoint, for services
//! without a collector. Prometheus names replace dots with underscores and
//! add the unit (`cohort_group_duration_seconds`, `cohort_group_runs_total`).
//!
//! The endpoint is a small HTTP/1.1 server on a thread of its own: one
//! request per connection, `GET /metrics` answered with the text format,
//! anything else 404. Scrapes are rare and small; a full HTTP stack would
//! cost more to build than it saves.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use prometheus::{Encoder, Registry, TextEncoder};

use crate::error::InitError;

/// The meter provider the Prometheus registry reads, and its server.
pub(crate) struct Endpoint {
    pub provider: SdkMeterProvider,
    pub address: SocketAddr,
    stop: Arc<AtomicBool>,
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
        let listener = TcpListener::bind(address).map_err(|e| failed(e.to_string()))?;
        let address = listener.local_addr().map_err(|e| failed(e.to_string()))?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        std::thread::Builder::new()
            .name("cohort-prometheus".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if stopping.load(Ordering::Relaxed) {
                        return;
                    }
                    if let Ok(stream) = stream {
                        // A client's error is that client's: keep serving.
                        let _ = serve(stream, &registry);
                    }
                }
            })
            .map_err(|e| failed(e.to_string()))?;
        Ok(Self {
            provider,
            address,
            stop,
        })
    }

    /// Stops serving; the server thread ends at its next connection, which
    /// this makes.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(self.address);
    }
}

fn serve(stream: TcpStream, registry: &Registry) -> std::io::Result<()> {
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    // Headers are read and ignored; requests have no body.
    let mut line = String::new();
    while reader.read_line(&mut line)? > 2 {
        line.clear();
    }
    let (status, body) = match request.split_whitespace().take(2).collect::<Vec<_>>()[..] {
        ["GET", "/metrics"] => {
            let mut body = Vec::new();
            let encoder = TextEncoder::new();
            match encoder.encode(&registry.gather(), &mut body) {
                Ok(()) => ("200 OK", body),
                Err(e) => ("500 Internal Server Error", e.to_string().into_bytes()),
            }
        }
        _ => ("404 Not Found", b"only GET /metrics is served\n".to_vec()),
    };
    write!(
        writer,
        "HTTP/1.1 {status}\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )?;
    writer.write_all(&body)
}
