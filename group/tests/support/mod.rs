//! Test support shared by the integration tests: a capturing subscriber and
//! small error types.

#![allow(dead_code)] // each test binary uses a different part

pub mod capture;

use std::fmt;
use std::time::Duration;

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

/// Milliseconds, for the paused clock.
pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A child that fails with `ValueError("boom")` after `delay` on the clock.
pub async fn fails_after(delay: Duration) -> Result<(), ValueError> {
    tokio::time::sleep(delay).await;
    Err(ValueError("boom".into()))
}

/// The guide's gather example: task `i` sleeps `10 * i` ms; task 2 fails.
pub async fn guide_task(i: u64) -> Result<u64, ValueError> {
    tokio::time::sleep(ms(10 * i)).await;
    if i == 2 {
        return Err(ValueError(format!("task {i} failed")));
    }
    Ok(i)
}
