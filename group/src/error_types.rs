//! The `error.type` recorded for a failure, and the registry that names
//! dynamic errors.
//!
//! The rule, in order:
//!
//! 1. A child or body error of a concrete type: that type's name
//!    (`std::any::type_name`), or, for cohort's own errors, their public path
//!    (`cohort::SpawnError`; `type_name` would give the path of the private
//!    module that defines them).
//! 2. A dynamic error (`Box<dyn Error + Send + Sync>`, `anyhow::Error`,
//!    `eyre::Report`): the name of the innermost error in its `source()`
//!    chain, itself included, whose type was [`register`]ed
//!    (`std::io::Error` and cohort's own errors are registered from the
//!    start).
//! 3. Else what the [classifier](set_classifier) says of it, if one is set.
//! 4. Else the wrapper's name: `dyn std::error::Error`, `anyhow::Error`,
//!    `eyre::Report`.
//!
//! Names must stay low-cardinality: a type or a kind, never a message.
//!
//! ```
//! #[derive(Debug)]
//! struct BillingError;
//! impl std::fmt::Display for BillingError {
//!     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
//!         f.write_str("billing refused")
//!     }
//! }
//! impl std::error::Error for BillingError {}
//!
//! cohort::error_types::register_as::<BillingError>("billing::BillingError");
//! let boxed: cohort::BoxError = Box::new(BillingError);
//! assert_eq!(cohort::error_types::of_dynamic(&*boxed), Some("billing::BillingError"));
//! ```

use std::any::TypeId;
use std::error::Error;
use std::sync::{PoisonError, RwLock};

use crate::config::ConfigError;
use crate::deadline::DeadlineExceeded;
use crate::error_group::ErrorGroup;
use crate::no_success::NoSuccess;
use crate::outcome::NoOutput;
use crate::spawn_error::SpawnError;
use crate::start_error::StartError;
use crate::telemetry::{
    CONFIG_ERROR_TYPE, DEADLINE_ERROR_TYPE, GROUP_ERROR_TYPE, NO_OUTPUT_ERROR_TYPE,
    NO_SUCCESS_ERROR_TYPE, SPAWN_ERROR_TYPE, START_ERROR_TYPE,
};

/// Tells whether an error is of one registered type.
type Is = fn(&(dyn Error + 'static)) -> bool;

/// Names what no registered type names.
type Classifier = fn(&(dyn Error + 'static)) -> Option<&'static str>;

struct Registry {
    types: Vec<(TypeId, Is, &'static str)>,
    classifier: Option<Classifier>,
}

static REGISTRY: RwLock<Registry> = RwLock::new(Registry {
    types: Vec::new(),
    classifier: None,
});

fn is<E: Error + 'static>(error: &(dyn Error + 'static)) -> bool {
    error.is::<E>()
}

/// cohort's own errors, with their public names, and `std::io::Error`.
fn builtin() -> [(TypeId, Is, &'static str); 8] {
    [
        (
            TypeId::of::<NoOutput>(),
            is::<NoOutput>,
            NO_OUTPUT_ERROR_TYPE,
        ),
        (
            TypeId::of::<SpawnError>(),
            is::<SpawnError>,
            SPAWN_ERROR_TYPE,
        ),
        (
            TypeId::of::<StartError>(),
            is::<StartError>,
            START_ERROR_TYPE,
        ),
        (
            TypeId::of::<ConfigError>(),
            is::<ConfigError>,
            CONFIG_ERROR_TYPE,
        ),
        (
            TypeId::of::<DeadlineExceeded>(),
            is::<DeadlineExceeded>,
            DEADLINE_ERROR_TYPE,
        ),
        (
            TypeId::of::<NoSuccess>(),
            is::<NoSuccess>,
            NO_SUCCESS_ERROR_TYPE,
        ),
        (
            TypeId::of::<ErrorGroup>(),
            is::<ErrorGroup>,
            GROUP_ERROR_TYPE,
        ),
        (
            TypeId::of::<std::io::Error>(),
            is::<std::io::Error>,
            "std::io::error::Error",
        ),
    ]
}

/// Registers `E` under its type name: a dynamic error whose `source()`
/// chain holds an `E` (innermost registered type first) is recorded as one.
/// Registering a type again replaces its name.
pub fn register<E: Error + 'static>() {
    register_as::<E>(std::any::type_name::<E>());
}

/// Registers `E` under `name`; see [`register`].
pub fn register_as<E: Error + 'static>(name: &'static str) {
    let mut registry = REGISTRY.write().unwrap_or_else(PoisonError::into_inner);
    let id = TypeId::of::<E>();
    registry.types.retain(|(registered, ..)| *registered != id);
    registry.types.push((id, is::<E>, name));
}

/// Sets the classifier asked about a dynamic error whose chain holds no
/// registered type: it may name the error's kind (`Some("timeout")`), or
/// leave it to the wrapper's name (`None`). It must not panic.
pub fn set_classifier(classify: fn(&(dyn Error + 'static)) -> Option<&'static str>) {
    REGISTRY
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .classifier = Some(classify);
}

/// What rules 2 and 3 of the [module docs](self) name a dynamic error:
/// `None` if neither does.
pub fn of_dynamic(error: &(dyn Error + 'static)) -> Option<&'static str> {
    let registry = REGISTRY.read().unwrap_or_else(PoisonError::into_inner);
    let builtin = builtin();
    let named = |e: &(dyn Error + 'static)| {
        registry
            .types
            .iter()
            .chain(&builtin)
            .find_map(|(_, is, name)| is(e).then_some(*name))
    };
    let innermost = std::iter::successors(Some(error), |&e| e.source())
        .filter_map(named)
        .last();
    innermost.or_else(|| registry.classifier.and_then(|classify| classify(error)))
}

/// The `error.type` of a dynamic error, `wrapper` if no rule names it.
pub(crate) fn dynamic_error_type(
    error: &(dyn Error + 'static),
    wrapper: &'static str,
) -> &'static str {
    of_dynamic(error).unwrap_or(wrapper)
}

/// The `error.type` of errors of the concrete type `E`.
pub(crate) fn error_type<E: 'static>() -> &'static str {
    let id = TypeId::of::<E>();
    builtin()
        .into_iter()
        .find_map(|(own, _, name)| (own == id).then_some(name))
        .unwrap_or_else(std::any::type_name::<E>)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_types_read_as_their_public_paths_and_others_as_their_type_names() {
        assert_eq!(error_type::<SpawnError>(), "cohort::SpawnError");
        assert_eq!(error_type::<StartError>(), "cohort::StartError");
        assert_eq!(error_type::<std::io::Error>(), "std::io::error::Error");
        assert_eq!(error_type::<std::fmt::Error>(), "core::fmt::Error");
    }
}
