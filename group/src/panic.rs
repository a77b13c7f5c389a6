//! Panic payloads as text.

use std::any::Any;

/// The message of a panic payload: `panic!` produces a `&'static str` or a
/// `String`; anything else (from `std::panic::panic_any`) gets a placeholder.
pub(crate) fn message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_owned()
    }
}
