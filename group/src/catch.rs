//! The `except*` chain: one handler per error type, each run at most once with
//! the sub-group of its matches, and whatever no handler matched handed back,
//! together with whatever the handlers raised.

use std::error::Error;
use std::sync::Arc;

use crate::error_group::{BoxError, ErrorGroup, Failure};
use crate::into_failure::{BOXED_ERROR_TYPE, IntoFailure};
use crate::panic::guarded;
use crate::telemetry::{BARE_ERROR_GROUP, HANDLER_NAME};

/// A chain of handlers over an [`ErrorGroup`], started by
/// [`ErrorGroup::catch`] (or, for an error that may or may not hold a tree, by
/// [`Catch::error`]). Like a sequence of `except*` clauses: each handler runs
/// at most once, with the sub-group of the leaves it matches (tree shape
/// preserved), and the leaves no handler matched are returned by
/// [`rest`](Self::rest) so they cannot be silently swallowed.
///
/// A handler of [`try_catch`](Self::try_catch) may raise, as an `except*`
/// clause may: `Err(group.into())` re-raises the group it was given (its
/// failures go back into the tree as they were), `Err(error)` raises another
/// error (give it the matched group as its `source()` to keep the cause),
/// which joins the tree under the name [`HANDLER_NAME`](crate::telemetry::HANDLER_NAME).
///
/// ```
/// use cohort::{ErrorGroup, Failure};
///
/// let group = ErrorGroup::new("fetch", vec![
///     Failure::error("cache", Some(0), std::io::Error::other("cache unreachable")),
///     Failure::error("db", Some(1), "x".parse::<u32>().unwrap_err()),
/// ]).unwrap();
///
/// let mut connection_failures = 0;
/// let rest = group
///     .catch::<std::io::Error>(|g| connection_failures += g.leaves().len())
///     .rest();
///
/// assert_eq!(connection_failures, 1);
/// // The parse error matched no handler: it comes back as a group.
/// let rest = rest.unwrap_err();
/// assert_eq!(rest.leaves().len(), 1);
/// ```
#[derive(Debug)]
#[must_use = "failures no handler matched are in `rest()`; dropping the chain swallows them"]
pub struct Catch {
    name: Arc<str>,
    rest: Option<ErrorGroup>,
    raised: Vec<Failure>,
}

/// What a raising handler handed back, as failures to put into the tree:
/// a re-raised group's own failures, or a leaf for another error.
fn raised(error: BoxError) -> Vec<Failure> {
    match error.downcast::<ErrorGroup>() {
        Ok(group) => group.into_failures(),
        Err(error) => {
            let type_name = crate::error_types::dynamic_error_type(&*error, BOXED_ERROR_TYPE);
            vec![Failure::from_boxed(
                HANDLER_NAME.into(),
                None,
                type_name,
                error,
            )]
        }
    }
}

impl ErrorGroup {
    /// Starts an `except*` chain: runs `handler` with the sub-group of leaves
    /// whose error is of type `E`, if there are any.
    pub fn catch<E: Error + Send + Sync + 'static>(
        self,
        handler: impl FnOnce(ErrorGroup),
    ) -> Catch {
        Catch::from(self).catch::<E>(handler)
    }

    /// Starts an `except*` chain with a handler for the groups named `name`,
    /// each matched as one unit.
    pub fn catch_group(self, name: &str, handler: impl FnOnce(ErrorGroup)) -> Catch {
        Catch::from(self).catch_group(name, handler)
    }

    /// Starts an `except*` chain with a handler for the leaves of type `E`
    /// that may raise; see [`Catch::try_catch`].
    pub fn try_catch<E: Error + Send + Sync + 'static>(
        self,
        handler: impl FnOnce(ErrorGroup) -> Result<(), BoxError>,
    ) -> Catch {
        Catch::from(self).try_catch::<E>(handler)
    }

    /// Starts an `except*` chain with a handler for the panic leaves.
    pub fn catch_panics(self, handler: impl FnOnce(ErrorGroup)) -> Catch {
        Catch::from(self).catch_panics(handler)
    }

    /// Starts an `except*` chain with a handler for the leaves matching
    /// `predicate`.
    pub fn catch_if(
        self,
        predicate: impl FnMut(&Failure) -> bool,
        handler: impl FnOnce(ErrorGroup),
    ) -> Catch {
        Catch::from(self).catch_if(predicate, handler)
    }
}

impl From<ErrorGroup> for Catch {
    fn from(group: ErrorGroup) -> Self {
        Self {
            name: group.shared_name().clone(),
            rest: Some(group),
            raised: Vec::new(),
        }
    }
}

impl Catch {
    /// Starts a chain over any error: the tree it is, if it is an
    /// [`ErrorGroup`], else a group of that one error, named
    /// [`BARE_ERROR_GROUP`](crate::telemetry::BARE_ERROR_GROUP), as `except*` wraps a bare exception. For code
    /// that gets an `anyhow::Error` or a boxed error that may hold a tree.
    pub fn error<E: IntoFailure<K>, K>(error: E) -> Self {
        let (error, type_name) = error.into_failure();
        let group = match crate::into_failure::take::<ErrorGroup>(error) {
            Ok(group) => group,
            Err(error) => {
                let failure = Failure::from_boxed(BARE_ERROR_GROUP.into(), None, type_name, error);
                ErrorGroup::single(BARE_ERROR_GROUP.into(), failure)
            }
        };
        Self::from(group)
    }

    /// Runs `handler` with the sub-group of remaining leaves whose error is of
    /// type `E`, if there are any.
    pub fn catch<E: Error + Send + Sync + 'static>(self, handler: impl FnOnce(ErrorGroup)) -> Self {
        self.catch_if(|leaf| leaf.downcast_ref::<E>().is_some(), handler)
    }

    /// Runs `handler` with the remaining groups named `name` (nested ones,
    /// or the whole tree), each matched as one unit, if there are any.
    pub fn catch_group(self, name: &str, handler: impl FnOnce(ErrorGroup)) -> Self {
        self.apply(
            |group| group.split_group(name),
            |g| {
                handler(g);
                Ok(())
            },
        )
    }

    /// Runs `handler` with the sub-group of remaining panic leaves, if any.
    pub fn catch_panics(self, handler: impl FnOnce(ErrorGroup)) -> Self {
        self.catch_if(Failure::is_panic, handler)
    }

    /// Runs `handler` with the sub-group of remaining leaves matching
    /// `predicate`, if there are any.
    pub fn catch_if(
        self,
        predicate: impl FnMut(&Failure) -> bool,
        handler: impl FnOnce(ErrorGroup),
    ) -> Self {
        self.apply(
            |group| group.split_by(predicate),
            |g| {
                handler(g);
                Ok(())
            },
        )
    }

    /// Runs `handler` with the sub-group of remaining leaves whose error is of
    /// type `E`, if there are any; an error it returns is raised (see the
    /// [type's docs](Self)).
    ///
    /// ```
    /// use cohort::{ErrorGroup, Failure};
    ///
    /// #[derive(Debug)]
    /// struct Unavailable(ErrorGroup);
    /// impl std::fmt::Display for Unavailable {
    ///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    ///         f.write_str("the service is unavailable")
    ///     }
    /// }
    /// impl std::error::Error for Unavailable {
    ///     fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
    ///         Some(&self.0) // the matched group, as the cause
    ///     }
    /// }
    ///
    /// let group = ErrorGroup::new("fetch", vec![
    ///     Failure::error("db", Some(0), std::io::Error::other("refused")),
    /// ]).unwrap();
    /// let rest = group
    ///     .try_catch::<std::io::Error>(|g| Err(Box::new(Unavailable(g))))
    ///     .rest()
    ///     .unwrap_err();
    /// assert_eq!(rest.failures()[0].child_name(), cohort::telemetry::HANDLER_NAME);
    /// assert!(rest.failures()[0].downcast_ref::<Unavailable>().is_some());
    /// ```
    pub fn try_catch<E: Error + Send + Sync + 'static>(
        self,
        handler: impl FnOnce(ErrorGroup) -> Result<(), BoxError>,
    ) -> Self {
        self.try_catch_if(|leaf| leaf.downcast_ref::<E>().is_some(), handler)
    }

    /// Runs `handler` with the sub-group of remaining leaves matching
    /// `predicate`, if there are any; an error it returns is raised.
    pub fn try_catch_if(
        self,
        predicate: impl FnMut(&Failure) -> bool,
        handler: impl FnOnce(ErrorGroup) -> Result<(), BoxError>,
    ) -> Self {
        self.apply(|group| group.split_by(predicate), handler)
    }

    /// Splits the remaining tree with `split`, and runs `handler` with the
    /// matching side; what it raises waits for [`rest`](Self::rest).
    fn apply(
        mut self,
        split: impl FnOnce(ErrorGroup) -> (Option<ErrorGroup>, Option<ErrorGroup>),
        handler: impl FnOnce(ErrorGroup) -> Result<(), BoxError>,
    ) -> Self {
        let Some(group) = self.rest.take() else {
            return self;
        };
        let (matching, rest) = split(group);
        self.rest = rest;
        if let Some(matching) = matching {
            if let Err(error) = handler(matching) {
                self.raised.extend(raised(error));
            }
        }
        self
    }

    /// Ends the chain: `Ok(())` if handlers matched every leaf and raised
    /// nothing, else one group of what they raised and the unmatched leaves
    /// (in spawn order, raised errors last), to propagate with `?`.
    ///
    /// Leaves no handler matched are also reported, as the guide's
    /// "unhandled re-raise" alarm: the event
    /// [`CATCH_UNHANDLED`](crate::telemetry::CATCH_UNHANDLED) (WARN) carries
    /// them as a group, and `cohort-layer` counts them by `error.type`, so a
    /// dashboard shows which error types escape the handlers. What handlers
    /// raised on purpose is not counted.
    pub fn rest(self) -> Result<(), ErrorGroup> {
        let Self { name, rest, raised } = self;
        if let Some(unmatched) = &rest {
            guarded(|| unhandled_event(unmatched));
        }
        if raised.is_empty() {
            return rest.map_or(Ok(()), Err);
        }
        let mut failures = rest.map(ErrorGroup::into_failures).unwrap_or_default();
        failures.extend(raised);
        failures.sort_by_key(|f| f.child_index().unwrap_or(usize::MAX));
        ErrorGroup::new(name, failures).map_or(Ok(()), Err)
    }
}

fn unhandled_event(unmatched: &ErrorGroup) {
    tracing::event!(
        name: "cohort.catch.unhandled",
        target: "cohort",
        tracing::Level::WARN,
        group.name = unmatched.name(),
        // Signed, as every count of the schema: OpenTelemetry has no u64.
        error.count = i64::try_from(unmatched.leaves().len()).unwrap_or(i64::MAX),
        error = unmatched as &(dyn Error + 'static),
        "failures no handler matched, handed back",
    );
}
