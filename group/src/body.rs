//! [`Body`]: a scope body, run in its caller's task as a member of its group.
//!
//! It is cancelled as a child is: by every cause but a first success (see
//! [`CancelReason::aborts_body`](crate::CancelReason)), at its next
//! suspension point, after the group's grace period if it has one, during
//! which it can watch [`GroupHandle::cancelled`](crate::GroupHandle::cancelled)
//! and return. A panic in it is caught, so that the group can still wait for
//! its children before the panic goes on.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::FutureExt as _;
use futures_util::future::CatchUnwind;
use tokio::time::Sleep;
use tokio_util::sync::WaitForCancellationFutureOwned;
use tracing::Instrument as _;
use tracing::instrument::Instrumented;

use crate::context::Scoped;
use crate::error_group::{BoxError, Failure};
use crate::start_error::StartError;
use crate::supervisor::Supervisor;
use crate::telemetry::BODY_NAME;

/// How a scope body ended.
pub(crate) enum BodyEnd<T> {
    /// It returned.
    Returned(T),
    /// It was stopped by its group's cancellation.
    Cancelled,
    /// It panicked; the payload is to be resumed once the group is done.
    Panicked(Box<dyn Any + Send>),
}

pin_project_lite::pin_project! {
    pub(crate) struct Body<F> {
        #[pin]
        fut: CatchUnwind<AssertUnwindSafe<Instrumented<Scoped<F>>>>,
        #[pin]
        abort: WaitForCancellationFutureOwned,
        grace: Option<Duration>,
        // Set once the body is cancelled within a grace period.
        #[pin]
        timer: Option<Sleep>,
    }
}

impl<F: Future> Body<F> {
    pub(crate) fn new(sup: &Arc<Supervisor>, fut: F) -> Self {
        let fut =
            crate::context::scope(sup.clone(), fut).instrument(sup.with_span(tracing::Span::clone));
        Self {
            fut: AssertUnwindSafe(fut).catch_unwind(),
            abort: sup.abort.clone().cancelled_owned(),
            grace: sup.config.grace,
            timer: None,
        }
    }
}

impl<F: Future> Future for Body<F> {
    type Output = BodyEnd<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        // The step the body was woken for runs, cancelled or not.
        if let Poll::Ready(ended) = this.fut.poll(cx) {
            return Poll::Ready(match ended {
                Ok(value) => BodyEnd::Returned(value),
                Err(payload) => BodyEnd::Panicked(payload),
            });
        }
        if this.timer.is_none() {
            if this.abort.poll(cx).is_pending() {
                return Poll::Pending;
            }
            let Some(grace) = *this.grace else {
                return Poll::Ready(BodyEnd::Cancelled);
            };
            this.timer.set(Some(tokio::time::sleep(grace)));
        }
        match this.timer.as_pin_mut().map(|timer| timer.poll(cx)) {
            Some(Poll::Pending) => Poll::Pending,
            _ => Poll::Ready(BodyEnd::Cancelled),
        }
    }
}

/// The body returned `error`, of `error.type` `type_name`: a refused spawn
/// while the group cancels is the cancellation reaching it; a failed `start`
/// is the started child's own failure; anything else is the body's failure.
pub(crate) fn returned(sup: &Supervisor, error: BoxError, type_name: &'static str) {
    if sup.is_cancelling() && crate::into_failure::is_refusal(&*error) {
        return;
    }
    let failure = match crate::into_failure::take::<StartError>(error) {
        Ok(start) => match start {
            // Reported by the child as it failed.
            StartError::Failed(failure) => return sup.fail_body(failure),
            other => Failure::from_boxed(BODY_NAME.into(), None, type_name, Box::new(other)),
        },
        Err(error) => Failure::from_boxed(BODY_NAME.into(), None, type_name, error),
    };
    crate::trace::child_failed(sup.span_id(), &failure);
    sup.fail_body(failure);
}
