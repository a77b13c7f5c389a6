//! The ambient cancellation token of the child (or scope body) being polled.
//!
//! A group created inside a child takes a child token of it, so cancelling the
//! outer group reaches the inner group's children at once, during a grace
//! period too, rather than only when the outer child's future is dropped.

use std::future::Future;

use tokio_util::sync::CancellationToken;

tokio::task_local! {
    static CURRENT: CancellationToken;
}

/// The token a new group's token descends from: the enclosing child's or body's.
pub(crate) fn parent_token() -> Option<CancellationToken> {
    CURRENT.try_with(CancellationToken::clone).ok()
}

/// Runs `fut` with `token` as the ambient token.
pub(crate) fn with_token<F: Future>(
    token: CancellationToken,
    fut: F,
) -> impl Future<Output = F::Output> {
    CURRENT.scope(token, fut)
}
