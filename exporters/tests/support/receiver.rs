//! A minimal OTLP/HTTP receiver: answers 200 to every request and hands the
//! decoded protobuf bodies (gzip or not) to the test, if it still listens.
//! The collector-down benchmark includes this file for its healthy collector.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::Metric;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

/// One OTLP/HTTP request: its path and body.
pub struct Request {
    pub path: String,
    pub body: Vec<u8>,
}

/// Serves OTLP/HTTP on a loopback port until the sender side is dropped,
/// answering 200 to every request and handing each to the test.
pub fn receiver() -> (String, mpsc::Receiver<Request>) {
    receiver_answering("200 OK")
}

/// [`receiver`], answering every request with `status` (e.g. a 503).
pub fn receiver_answering(status: &'static str) -> (String, mpsc::Receiver<Request>) {
    receiver_by_path(move |_| status)
}

/// A traces-only back end, as Jaeger is: 200 for traces, 404 for the rest.
pub fn traces_only_receiver() -> (String, mpsc::Receiver<Request>) {
    receiver_by_path(|path| {
        if path == "/v1/traces" {
            "200 OK"
        } else {
            "404 Not Found"
        }
    })
}

/// [`receiver`], answering each request with `status(path)`.
pub fn receiver_by_path(
    status: impl Fn(&str) -> &'static str + Send + Sync + Copy + 'static,
) -> (String, mpsc::Receiver<Request>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let tx = tx.clone();
            std::thread::spawn(move || serve(stream, tx, status));
        }
    });
    (address, rx)
}

/// Reads keep-alive requests off one connection.
fn serve(
    stream: std::net::TcpStream,
    tx: mpsc::Sender<Request>,
    status: impl Fn(&str) -> &'static str,
) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        let (mut length, mut gzip) = (0, false);
        loop {
            let mut header = String::new();
            reader.read_line(&mut header).unwrap();
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap();
                }
                if name.eq_ignore_ascii_case("content-encoding") {
                    gzip = value.trim() == "gzip";
                }
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        if gzip {
            let mut plain = Vec::new();
            flate2::read::GzDecoder::new(&body[..])
                .read_to_end(&mut plain)
                .unwrap();
            body = plain;
        }
        let status = status(&path);
        // Dropping the receiving side leaves an endpoint that only answers.
        let _ = tx.send(Request { path, body });
        let answer = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n"
        );
        if writer.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

/// Everything received, by signal.
#[derive(Default)]
pub struct Received {
    pub spans: Vec<Span>,
    pub logs: Vec<LogRecord>,
    pub metrics: Vec<Metric>,
}

impl Received {
    /// Decodes what has arrived, waiting up to `wait` for at least
    /// `at_least` spans (a collector in between batches before forwarding).
    pub fn collect(requests: &mpsc::Receiver<Request>, at_least: usize, wait: Duration) -> Self {
        let mut all = Self::default();
        let started = Instant::now();
        loop {
            while let Ok(request) = requests.recv_timeout(Duration::from_millis(50)) {
                all.add(request);
            }
            if all.spans.len() >= at_least || started.elapsed() >= wait {
                return all;
            }
        }
    }

    fn add(&mut self, request: Request) {
        let body = &*request.body;
        match request.path.as_str() {
            "/v1/traces" => self.spans.extend(
                ExportTraceServiceRequest::decode(body)
                    .unwrap()
                    .resource_spans
                    .into_iter()
                    .flat_map(|r| r.scope_spans)
                    .flat_map(|s| s.spans),
            ),
            "/v1/logs" => self.logs.extend(
                ExportLogsServiceRequest::decode(body)
                    .unwrap()
                    .resource_logs
                    .into_iter()
                    .flat_map(|r| r.scope_logs)
                    .flat_map(|s| s.log_records),
            ),
            "/v1/metrics" => self.metrics.extend(
                ExportMetricsServiceRequest::decode(body)
                    .unwrap()
                    .resource_metrics
                    .into_iter()
                    .flat_map(|r| r.scope_metrics)
                    .flat_map(|s| s.metrics),
            ),
            other => panic!("unexpected path {other}"),
        }
    }
}
