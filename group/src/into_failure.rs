//! [`IntoFailure`]: the errors a child or a scope body may fail with, and how
//! each becomes a leaf's boxed error and its `error.type`.
//!
//! Any `std::error::Error` is taken as it is and boxed once, under its type
//! name. An error that is already boxed (`Box<dyn Error + Send + Sync>`,
//! `cohort::BoxError`) is stored as it is, never boxed again, so a leaf's
//! `downcast_ref` reaches the concrete error. An `anyhow::Error` or an
//! `eyre::Report` (with the crate features of those names) is kept whole, so
//! that a leaf's `downcast_ref` sees through the context it added, as the
//! report's own does, and its backtrace is kept. The `error.type` of these
//! dynamic errors follows [`error_types`](crate::error_types)' rule.
//!
//! The blanket impl for every `Error` and the impl for a boxed error would
//! overlap as far as the compiler knows (std may one day make a boxed error
//! an `Error`), so each impl carries its own marker type `M`, which the
//! compiler infers: callers never name it.

use std::error::Error;

use crate::error_group::BoxError;
use crate::spawn_error::SpawnError;

/// An error a child or a scope body may fail with: every
/// `std::error::Error + Send + Sync + 'static`, a boxed error, and, with the
/// `anyhow` and `eyre` features, `anyhow::Error` and `eyre::Report`. `M` is
/// inferred; see the [markers](crate::marker).
pub trait IntoFailure<M>: Send + 'static {
    /// The error as a leaf holds it, boxed once, and its `error.type`.
    fn into_failure(self) -> (BoxError, &'static str);
}

/// The marker types that keep the [`IntoFailure`] impls apart. Inferred,
/// never written.
pub mod marker {
    /// An error of a concrete type, known when the child is spawned.
    #[derive(Debug)]
    pub enum Typed {}
    /// A boxed error, whose type is known only when it fails.
    #[derive(Debug)]
    pub enum Boxed {}
    /// An `anyhow::Error`.
    #[derive(Debug)]
    pub enum Anyhow {}
    /// An `eyre::Report`.
    #[derive(Debug)]
    pub enum Eyre {}
}

impl<E: Error + Send + Sync + 'static> IntoFailure<marker::Typed> for E {
    fn into_failure(self) -> (BoxError, &'static str) {
        (Box::new(self), crate::error_types::error_type::<E>())
    }
}

impl IntoFailure<marker::Boxed> for BoxError {
    fn into_failure(self) -> (BoxError, &'static str) {
        let error_type = crate::error_types::dynamic_error_type(&*self, BOXED_ERROR_TYPE);
        (self, error_type)
    }
}

/// The `error.type` of a boxed error no rule names.
pub(crate) const BOXED_ERROR_TYPE: &str = "dyn std::error::Error";

/// Reports of error-reporting crates (`anyhow::Error`, `eyre::Report`) are
/// kept whole in a leaf, behind this thin wrapper, so that their own
/// `downcast_ref`, which sees through the context they add, serves
/// [`Failure::downcast_ref`](crate::Failure::downcast_ref), and so that a
/// captured backtrace is kept. `Display` and `source()` are the report's.
macro_rules! report {
    ($feature:literal, $wrapper:ident, $report:ty, $marker:ident, $name:literal) => {
        #[cfg(feature = $feature)]
        pub(crate) struct $wrapper(pub(crate) $report);

        #[cfg(feature = $feature)]
        impl std::fmt::Debug for $wrapper {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Debug::fmt(&self.0, f)
            }
        }

        #[cfg(feature = $feature)]
        impl std::fmt::Display for $wrapper {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Display::fmt(&self.0, f)
            }
        }

        #[cfg(feature = $feature)]
        impl Error for $wrapper {
            fn source(&self) -> Option<&(dyn Error + 'static)> {
                self.0.source()
            }
        }

        #[cfg(feature = $feature)]
        impl IntoFailure<marker::$marker> for $report {
            fn into_failure(self) -> (BoxError, &'static str) {
                let top: &(dyn Error + 'static) = &*self;
                let error_type = crate::error_types::dynamic_error_type(top, $name);
                (Box::new($wrapper(self)), error_type)
            }
        }
    };
}

report!("anyhow", Anyhow, anyhow::Error, Anyhow, "anyhow::Error");
report!("eyre", Eyre, eyre::Report, Eyre, "eyre::Report");

/// `error` as an `E`, looking inside a report kept whole (see [`report!`]):
/// through the context it added, as the report's own `downcast_ref` does.
pub(crate) fn downcast_ref<'a, E: Error + Send + Sync + 'static>(
    error: &'a (dyn Error + 'static),
) -> Option<&'a E> {
    if let Some(direct) = error.downcast_ref::<E>() {
        return Some(direct);
    }
    #[cfg(feature = "anyhow")]
    if let Some(report) = error.downcast_ref::<Anyhow>() {
        return report.0.downcast_ref::<E>();
    }
    #[cfg(feature = "eyre")]
    if let Some(report) = error.downcast_ref::<Eyre>() {
        return report.0.downcast_ref::<E>();
    }
    None
}

/// Takes the `E` out of `error`, or out of a report kept whole; else hands
/// `error` back.
pub(crate) fn take<E: Error + Send + Sync + 'static>(error: BoxError) -> Result<E, BoxError> {
    let error = match error.downcast::<E>() {
        Ok(taken) => return Ok(*taken),
        Err(error) => error,
    };
    #[cfg(feature = "anyhow")]
    let error = match error.downcast::<Anyhow>() {
        Ok(report) => {
            return report
                .0
                .downcast::<E>()
                .map_err(|report| Box::new(Anyhow(report)) as BoxError);
        }
        Err(error) => error,
    };
    #[cfg(feature = "eyre")]
    let error = match error.downcast::<Eyre>() {
        Ok(report) => {
            return report
                .0
                .downcast::<E>()
                .map_err(|report| Box::new(Eyre(report)) as BoxError);
        }
        Err(error) => error,
    };
    Err(error)
}

/// Whether `error`, or an error in its `source()` chain, is a spawn refused
/// because its group is closing or finished: how a cancellation reaches code
/// that spawns with `?`.
pub(crate) fn is_refusal(error: &(dyn Error + 'static)) -> bool {
    std::iter::successors(Some(error), |&e| e.source())
        .filter_map(downcast_ref::<SpawnError>)
        .any(SpawnError::is_refusal)
}
