//! The ambient parent of new groups: the child (or scope body) being polled
//! on this thread.
//!
//! A group created inside a child takes a child token of it, so cancelling the
//! outer group reaches the inner group's children at once, during a grace
//! period too, rather than only when the outer child's future is dropped.
//! A child's own token is made only when something asks for it (a nested
//! group, `spawn_with`): creating one takes the group token's lock, which a
//! fan-out of trivial children should not pay for.
//!
//! Every poll of every child sets the ambient parent, so it must cost next to
//! nothing. It is a borrowed pointer in a thread-local, set for the duration of
//! one poll and restored after it, on unwind too: no reference count to touch,
//! no `RefCell`, nothing to drop. A task-local (`tokio::task_local!`) would
//! need an owned value, an `Arc` clone and release a poll: about 5% of a
//! trivial child's time in a fan-out (BENCHMARKS.md).

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll};

use tokio_util::sync::CancellationToken;

/// What a new group's token descends from: a child whose token is made on
/// demand, or a scope body, which shares its group's token.
pub(crate) trait ChildToken: Send + Sync {
    fn token(&self) -> CancellationToken;
}

impl ChildToken for CancellationToken {
    fn token(&self) -> CancellationToken {
        self.clone()
    }
}

thread_local! {
    /// Set only by [`enter`], for the duration of its closure.
    static CURRENT: Cell<Option<NonNull<dyn ChildToken>>> = const { Cell::new(None) };
}

/// The token a new group's token descends from: the enclosing child's or body's.
pub(crate) fn parent_token() -> Option<CancellationToken> {
    let current = CURRENT.with(Cell::get)?;
    // SAFETY: only `enter` sets `CURRENT`, to a pointer borrowed for the whole
    // of its closure, and puts the previous value back when the closure
    // returns or unwinds. So a pointer read here, on this thread, points to a
    // value still borrowed by an `enter` further up this thread's stack.
    let current = unsafe { current.as_ref() };
    Some(current.token())
}

/// Runs `f` (one poll of a child) with `ambient` as what groups created inside
/// it descend from.
#[inline]
pub(crate) fn enter<R>(ambient: &(dyn ChildToken + 'static), f: impl FnOnce() -> R) -> R {
    /// Puts the previous ambient parent back, also when `f` unwinds.
    struct Restore(Option<NonNull<dyn ChildToken>>);

    impl Drop for Restore {
        fn drop(&mut self) {
            CURRENT.with(|current| current.set(self.0));
        }
    }

    let previous = CURRENT.with(|current| current.replace(Some(NonNull::from(ambient))));
    let _restore = Restore(previous);
    f()
}

pin_project_lite::pin_project! {
    /// A scope body, polled with its group's token as the ambient parent.
    pub(crate) struct Scoped<F> {
        token: CancellationToken,
        #[pin]
        fut: F,
    }
}

impl<F: Future> Future for Scoped<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let token: &CancellationToken = this.token;
        enter(token, || this.fut.poll(cx))
    }
}

/// Runs `fut` with `token` as what groups created inside it descend from.
pub(crate) fn scope<F: Future>(token: CancellationToken, fut: F) -> Scoped<F> {
    Scoped { token, fut }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_innermost_parent_wins_and_the_outer_one_comes_back() {
        let outer = CancellationToken::new();
        let inner = CancellationToken::new();
        assert!(parent_token().is_none());
        enter(&outer, || {
            enter(&inner, || {
                inner.cancel();
                assert!(parent_token().unwrap().is_cancelled());
            });
            assert!(!parent_token().unwrap().is_cancelled());
        });
        assert!(parent_token().is_none());
    }

    #[test]
    fn a_panicking_poll_puts_the_previous_parent_back() {
        let outer = CancellationToken::new();
        enter(&outer, || {
            let inner = CancellationToken::new();
            inner.cancel();
            let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                enter(&inner, || panic!("child panicked"))
            }));
            assert!(unwound.is_err());
            assert!(
                !parent_token().unwrap().is_cancelled(),
                "the outer parent is back"
            );
        });
        assert!(parent_token().is_none());
    }
}
