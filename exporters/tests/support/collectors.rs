//! Collectors in trouble, for the tests and the collector-down benchmark
//! (which includes this file).

#![allow(dead_code)]

use std::net::TcpListener;

/// An endpoint where nothing listens: connections are refused at once.
pub fn closed_port() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    endpoint
}

/// A collector that accepts connections and never answers.
pub fn hanging() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    endpoint
}
