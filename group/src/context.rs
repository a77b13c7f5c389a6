//! The ambient cancellation token of the child (or scope body) being polled.
//!
//! A group created inside a child takes a child token of it, so cancelling the
//! outer group reaches the inner group's children at once, during a grace
//! period too, rather than only when the outer child's future is dropped.
//! A child's own token is made only when something asks for it (a nested
//! group, `spawn_with`): creating one takes the group token's lock, which a
//! fan-out of trivial children should not pay for.

use std::future::Future;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

/// A child whose token is made on demand.
pub(crate) trait ChildToken: Send + Sync {
    fn token(&self) -> CancellationToken;
}

#[derive(Clone)]
pub(crate) enum Ambient {
    /// A scope body: it shares its group's token.
    Token(CancellationToken),
    /// A child.
    Child(Arc<dyn ChildToken>),
}

tokio::task_local! {
    static CURRENT: Ambient;
}

/// The token a new group's token descends from: the enclosing child's or body's.
pub(crate) fn parent_token() -> Option<CancellationToken> {
    CURRENT
        .try_with(|ambient| match ambient {
            Ambient::Token(token) => token.clone(),
            Ambient::Child(child) => child.token(),
        })
        .ok()
}

/// Runs `f` (one poll of a child) with `ambient` as what groups created
/// inside it descend from.
pub(crate) fn enter<R>(ambient: Ambient, f: impl FnOnce() -> R) -> R {
    CURRENT.sync_scope(ambient, f)
}

/// Runs `fut` with `ambient` as what groups created inside it descend from.
pub(crate) fn scope<F: Future>(ambient: Ambient, fut: F) -> impl Future<Output = F::Output> {
    CURRENT.scope(ambient, fut)
}
