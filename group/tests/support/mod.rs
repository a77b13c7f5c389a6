//! Test support shared by the integration tests: a capturing subscriber and
//! small error types.

#![allow(dead_code)] // each test binary uses a different part

pub mod capture;

use std::fmt;

/// Stands in for Python's `ValueError` in the guide's examples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueError(pub String);

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ValueError {}

/// Stands in for Python's `ConnectionError`.
pub fn connection_error(msg: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::ConnectionRefused, msg.to_owned())
}

/// A future that never completes (until it is dropped).
pub async fn forever<T, E>() -> Result<T, E> {
    std::future::pending().await
}
