//! The ambient parent of new groups: the child (or scope body) being polled
//! on this thread.
//!
//! A group created inside a child takes a child token of it, so cancelling the
//! outer group reaches the inner group's children at once, during a grace
//! period too, rather than only when the outer child's future is dropped. It
//! also takes a [`Hold`] on the outer group, so that the outer group does not
//! finish while the inner one still has tasks, even once the child that made
//! it is gone.
//! A child's own token is made only when something asks for it (a nested
//! group, `spawn_with`): creating one takes the group token's lock, which a
//! fan-out of trivial children should not pay for.
//!
//! Every poll of every child sets the ambient parent, so it must cost next to
//! nothing. It is a borrowed pointer in a thread-local, set for the duration of
//! one poll and restored after it, on unwind too: no reference count to touch,
//! no `RefCell`, nothing to drop. A task-local (`tokio::task_local!`) would
//! need an owned value, an `Arc` clone and release a poll.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio_util::sync::CancellationToken;

use crate::membership::Hold;
use crate::supervisor::Supervisor;
use crate::telemetry::BODY_NAME;

/// What a new group descends from: a child, whose token is made on demand, or
/// a scope body, which shares its group's token.
pub(crate) trait Ambient {
    /// The token the new group's token descends from.
    fn token(&self) -> CancellationToken;
    /// Keeps the enclosing group open until the new group is done.
    fn hold(&self) -> Option<Hold>;
}

impl Ambient for CancellationToken {
    fn token(&self) -> CancellationToken {
        self.clone()
    }

    fn hold(&self) -> Option<Hold> {
        None
    }
}

thread_local! {
    /// Set only by [`enter`], for the duration of its closure.
    static CURRENT: Cell<Option<NonNull<dyn Ambient>>> = const { Cell::new(None) };
}

/// What a new group descends from: the token and the hold of the enclosing
/// child or body.
pub(crate) fn parent() -> Option<(CancellationToken, Option<Hold>)> {
    let current = CURRENT.with(Cell::get)?;
    // SAFETY: only `enter` sets `CURRENT`, to a pointer borrowed for the whole
    // of its closure, and puts the previous value back when the closure
    // returns or unwinds. So a pointer read here, on this thread, points to a
    // value still borrowed by an `enter` further up this thread's stack.
    let current = unsafe { current.as_ref() };
    Some((current.token(), current.hold()))
}

/// The token a new group's token would descend from, for tests.
#[cfg(test)]
fn parent_token() -> Option<CancellationToken> {
    parent().map(|(token, _)| token)
}

/// Runs `f` (one poll of a child) with `ambient` as what groups created inside
/// it descend from.
#[inline]
pub(crate) fn enter<R>(ambient: &(dyn Ambient + 'static), f: impl FnOnce() -> R) -> R {
    /// Puts the previous ambient parent back, also when `f` unwinds.
    struct Restore(Option<NonNull<dyn Ambient>>);

    impl Drop for Restore {
        fn drop(&mut self) {
            CURRENT.with(|current| current.set(self.0));
        }
    }

    let previous = CURRENT.with(|current| current.replace(Some(NonNull::from(ambient))));
    let _restore = Restore(previous);
    f()
}

/// A scope body as the ambient parent: its groups take its group's token
/// and hold its group open.
pub(crate) struct BodyParent(pub(crate) Arc<Supervisor>);

impl Ambient for BodyParent {
    fn token(&self) -> CancellationToken {
        self.0.token.clone()
    }

    fn hold(&self) -> Option<Hold> {
        Some(Hold::take(self.0.clone(), BODY_NAME.into(), None))
    }
}

pin_project_lite::pin_project! {
    /// A scope body, polled as the ambient parent of the groups it creates.
    pub(crate) struct Scoped<F> {
        parent: BodyParent,
        #[pin]
        fut: F,
    }
}

impl<F: Future> Future for Scoped<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let parent: &BodyParent = this.parent;
        enter(parent, || this.fut.poll(cx))
    }
}

/// Runs the body `fut` of `sup`'s scope as what groups created inside it
/// descend from.
pub(crate) fn scope<F: Future>(sup: Arc<Supervisor>, fut: F) -> Scoped<F> {
    Scoped {
        parent: BodyParent(sup),
        fut,
    }
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
