//! The readiness handshake of [`GroupHandle::start`](crate::GroupHandle::start):
//! a child signals once that it has started, handing its caller a value.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::oneshot;

use crate::child::Starter;
use crate::error_group::Failure;
use crate::handle::ChildHandle;
use crate::outcome::ChildOutcome;
use crate::start_error::StartError;

/// Given to a child spawned with `start`: call [`signal`](Self::signal) once
/// it has started (bound its socket, warmed its cache) to hand its caller a
/// value. Dropping it unsignalled leaves the caller waiting until the child
/// ends, which then fails the start.
#[derive(Debug)]
pub struct Ready<V> {
    shared: Arc<Starting<V>>,
}

impl<V> Ready<V> {
    /// Tells the caller of `start` that the child has started. From here on,
    /// the child's failure is the group's.
    pub fn signal(self, value: V) {
        if let Some(tx) = self.shared.take() {
            let _ = tx.send(Started::Ready(value));
        }
    }
}

pub(crate) enum Started<V> {
    Ready(V),
    Failed(Failure),
    Ended(ChildOutcome),
}

/// The sender, shared by the child's [`Ready`] and its settle hook: whichever
/// takes it first speaks to the caller.
struct Starting<V>(Mutex<Option<oneshot::Sender<Started<V>>>>);

impl<V> fmt::Debug for Starting<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Starting")
    }
}

impl<V> Starting<V> {
    fn take(&self) -> Option<oneshot::Sender<Started<V>>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

impl<V: Send> Starter for Starting<V> {
    fn child_ended(
        &self,
        outcome: ChildOutcome,
        failure: Option<Failure>,
    ) -> Result<(), Option<Failure>> {
        let Some(tx) = self.take() else {
            return Err(failure); // already signalled: the group's
        };
        let message = match failure {
            Some(failure) => Started::Failed(failure),
            None => Started::Ended(outcome),
        };
        // The caller may have stopped waiting (its future was dropped): the
        // failure then goes back to the group rather than being lost.
        tx.send(message).map_err(|unsent| match unsent {
            Started::Failed(failure) => Some(failure),
            _ => None,
        })
    }
}

pub(crate) type Signalled<V> = oneshot::Receiver<Started<V>>;

pub(crate) fn channel<V: Send + 'static>() -> (Ready<V>, Arc<dyn Starter>, Signalled<V>) {
    let (tx, rx) = oneshot::channel();
    let shared = Arc::new(Starting(Mutex::new(Some(tx))));
    (
        Ready {
            shared: shared.clone(),
        },
        shared,
        rx,
    )
}

/// Waits for the child to signal. If the caller stops waiting (its future
/// is dropped) first, the child is cancelled, as Trio cancels a task whose
/// `start` caller was cancelled: a child nobody waits for to start never
/// becomes an ordinary child of the group behind its caller's back.
pub(crate) async fn wait<T, V>(
    handle: ChildHandle<T>,
    signalled: Signalled<V>,
) -> Result<(ChildHandle<T>, V), StartError> {
    /// Cancels the child unless the wait came to an end.
    struct Waiting<'a, T>(Option<&'a ChildHandle<T>>);

    impl<T> Drop for Waiting<'_, T> {
        fn drop(&mut self) {
            if let Some(handle) = self.0 {
                handle.cancel();
            }
        }
    }

    let mut waiting = Waiting(Some(&handle));
    let started = signalled.await;
    waiting.0 = None;
    drop(waiting);
    match started {
        Ok(Started::Ready(value)) => Ok((handle, value)),
        Ok(Started::Failed(failure)) => Err(StartError::Failed(failure)),
        Ok(Started::Ended(outcome)) => Err(StartError::NotStarted {
            child: handle.name().into(),
            outcome,
        }),
        // The child's settle hook always speaks before it goes away.
        Err(_closed) => Err(StartError::NotStarted {
            child: handle.name().into(),
            outcome: ChildOutcome::Cancelled,
        }),
    }
}
