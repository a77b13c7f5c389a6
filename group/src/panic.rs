//! Panic payloads as text, and emissions guarded against panics in the
//! user code a subscriber runs.

use std::any::Any;
use std::error::Error;

/// The message of a panic payload. `panic!` produces a `&'static str` or a
/// `String`; `std::panic::panic_any` can carry anything, and `Any` cannot
/// name a type, so the common ones are tried in turn (numbers, `bool`,
/// `char`, boxed errors); anything else says it is of another type.
pub(crate) fn message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        return (*s).to_owned();
    }
    if let Some(s) = payload.downcast_ref::<String>() {
        return s.clone();
    }
    if let Some(e) = payload.downcast_ref::<Box<dyn Error + Send + Sync>>() {
        return format!("panic payload (an error): {e}");
    }
    if let Some(e) = payload.downcast_ref::<Box<dyn Error + Send>>() {
        return format!("panic payload (an error): {e}");
    }
    macro_rules! shown {
        ($($t:ty),*) => {$(
            if let Some(v) = payload.downcast_ref::<$t>() {
                return format!("panic payload of type {}: {v:?}", stringify!($t));
            }
        )*};
    }
    shown!(
        i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize, f32, f64, bool, char
    );
    "panic payload of a type other than a string, a number or an error (from std::panic::panic_any)"
        .to_owned()
}

/// Runs an emission whose subscriber may call user code (an error's
/// `Display`), so that a panic there neither unwinds into cohort's own
/// bookkeeping nor loses the failure, which is recorded regardless.
pub(crate) fn guarded(emit: impl FnOnce()) {
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(emit));
}

#[cfg(test)]
mod tests {
    use super::message;

    #[test]
    fn payloads_say_what_they_can() {
        assert_eq!(message(&"boom"), "boom");
        assert_eq!(message(&String::from("boom")), "boom");
        assert_eq!(message(&42i32), "panic payload of type i32: 42");
        let error: Box<dyn std::error::Error + Send + Sync> = "disk full".into();
        assert_eq!(message(&error), "panic payload (an error): disk full");
        struct Opaque;
        assert!(message(&Opaque).contains("other than a string"));
    }
}
