//! The `error.type` recorded for a child's error type: its type name, or, for
//! cohort's own error types, their public path (`std::any::type_name` gives
//! the path of the module that defines a type, which users cannot name).

use std::any::TypeId;

use crate::builder::ConfigError;
use crate::deadline::{DEADLINE_ERROR_TYPE, DeadlineExceeded};
use crate::error_group::{ErrorGroup, GROUP_ERROR_TYPE};
use crate::no_success::{NO_SUCCESS_ERROR_TYPE, NoSuccess};
use crate::spawn_error::SpawnError;
use crate::start::StartError;

/// The value recorded as `error.type` for a [`SpawnError`].
pub const SPAWN_ERROR_TYPE: &str = "cohort::SpawnError";

/// The value recorded as `error.type` for a [`StartError`] (one that is not
/// the child's own failure, which keeps its own type).
pub const START_ERROR_TYPE: &str = "cohort::StartError";

/// The value recorded as `error.type` for a [`ConfigError`].
pub const CONFIG_ERROR_TYPE: &str = "cohort::ConfigError";

/// The `error.type` of errors of type `E`.
pub(crate) fn error_type<E: 'static>() -> &'static str {
    let id = TypeId::of::<E>();
    let own = [
        (TypeId::of::<SpawnError>(), SPAWN_ERROR_TYPE),
        (TypeId::of::<StartError>(), START_ERROR_TYPE),
        (TypeId::of::<ConfigError>(), CONFIG_ERROR_TYPE),
        (TypeId::of::<DeadlineExceeded>(), DEADLINE_ERROR_TYPE),
        (TypeId::of::<NoSuccess>(), NO_SUCCESS_ERROR_TYPE),
        (TypeId::of::<ErrorGroup>(), GROUP_ERROR_TYPE),
    ];
    own.into_iter()
        .find_map(|(own, name)| (own == id).then_some(name))
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
    }
}
