//! The `except*` chain: one handler per error type, each run at most once with
//! the sub-group of its matches, and whatever no handler matched handed back.

use std::error::Error;

use crate::error_group::{ErrorGroup, Failure};

/// A chain of handlers over an [`ErrorGroup`], started by
/// [`ErrorGroup::catch`]. Like a sequence of `except*` clauses: each handler
/// runs at most once, with the sub-group of the leaves it matches (tree shape
/// preserved), and the leaves no handler matched are returned by
/// [`rest`](Self::rest) so they cannot be silently swallowed.
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
    rest: Option<ErrorGroup>,
}

impl ErrorGroup {
    /// Starts an `except*` chain: runs `handler` with the sub-group of leaves
    /// whose error is of type `E`, if there are any.
    pub fn catch<E: Error + Send + Sync + 'static>(
        self,
        handler: impl FnOnce(ErrorGroup),
    ) -> Catch {
        Catch { rest: Some(self) }.catch::<E>(handler)
    }

    /// Starts an `except*` chain with a handler for the groups named `name`,
    /// each matched as one unit.
    pub fn catch_group(self, name: &str, handler: impl FnOnce(ErrorGroup)) -> Catch {
        Catch { rest: Some(self) }.catch_group(name, handler)
    }

    /// Starts an `except*` chain with a handler for the panic leaves.
    pub fn catch_panics(self, handler: impl FnOnce(ErrorGroup)) -> Catch {
        Catch { rest: Some(self) }.catch_panics(handler)
    }

    /// Starts an `except*` chain with a handler for the leaves matching
    /// `predicate`.
    pub fn catch_if(
        self,
        predicate: impl FnMut(&Failure) -> bool,
        handler: impl FnOnce(ErrorGroup),
    ) -> Catch {
        Catch { rest: Some(self) }.catch_if(predicate, handler)
    }
}

impl Catch {
    /// Runs `handler` with the sub-group of remaining leaves whose error is of
    /// type `E`, if there are any.
    pub fn catch<E: Error + Send + Sync + 'static>(self, handler: impl FnOnce(ErrorGroup)) -> Self {
        self.catch_if(|leaf| leaf.downcast_ref::<E>().is_some(), handler)
    }

    /// Runs `handler` with the remaining groups named `name` (nested ones,
    /// or the whole tree), each matched as one unit, if there are any.
    pub fn catch_group(self, name: &str, handler: impl FnOnce(ErrorGroup)) -> Self {
        let Some(group) = self.rest else { return self };
        let (matching, rest) = group.split_group(name);
        if let Some(matching) = matching {
            handler(matching);
        }
        Self { rest }
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
        let Some(group) = self.rest else { return self };
        let (matching, rest) = group.split_by(predicate);
        if let Some(matching) = matching {
            handler(matching);
        }
        Self { rest }
    }

    /// Ends the chain: `Ok(())` if handlers matched every leaf, else the
    /// unmatched leaves as a group, to propagate with `?`.
    pub fn rest(self) -> Result<(), ErrorGroup> {
        self.rest.map_or(Ok(()), Err)
    }
}
