//! The group each thread saw last, so that a child's start and end find their
//! group without looking spans up in the registry: a fan-out's children start
//! in a row, and end in a row, on the same threads.
//!
//! An entry names its group by the group span's id, which the registry
//! reuses only once that span has closed; a group is marked closed before
//! its span is (see [`LiveGroup::close`]), so an entry whose group is closed
//! is stale and ignored. Entries are per layer: a process may have several.

use std::cell::RefCell;
use std::sync::Arc;

use crate::live::LiveGroup;

struct Recent {
    layer: u64,
    span: u64,
    group: Arc<LiveGroup>,
}

thread_local! {
    static LAST: RefCell<Option<Recent>> = const { RefCell::new(None) };
}

/// Runs `f` with the open group whose span is `span`, if this thread saw it
/// last in layer `layer`.
pub(crate) fn with_span<R>(
    layer: u64,
    span: u64,
    f: impl FnOnce(&Arc<LiveGroup>) -> R,
) -> Option<R> {
    with(layer, |recent| recent.span == span, f)
}

/// Runs `f` with the open group this thread saw last in layer `layer`.
pub(crate) fn with_last<R>(layer: u64, f: impl FnOnce(&Arc<LiveGroup>) -> R) -> Option<R> {
    with(layer, |_| true, f)
}

/// `f` runs inside the thread's borrow, without a clone of the group's
/// `Arc`; it must not call [`set`] (which would then do nothing).
fn with<R>(
    layer: u64,
    matches: impl Fn(&Recent) -> bool,
    f: impl FnOnce(&Arc<LiveGroup>) -> R,
) -> Option<R> {
    LAST.try_with(|last| {
        let last = last.try_borrow().ok()?;
        let recent = last
            .as_ref()
            .filter(|r| r.layer == layer && matches(r) && !r.group.is_closed())?;
        Some(f(&recent.group))
    })
    .ok()
    .flatten()
}

/// Remembers `group`, whose span is `span`, as this thread's last in layer
/// `layer`.
pub(crate) fn set(layer: u64, span: u64, group: &Arc<LiveGroup>) {
    let _ = LAST.try_with(|last| {
        if let Ok(mut last) = last.try_borrow_mut() {
            match last.as_mut() {
                Some(recent) if recent.layer == layer && Arc::ptr_eq(&recent.group, group) => {}
                _ => {
                    *last = Some(Recent {
                        layer,
                        span,
                        group: group.clone(),
                    });
                }
            }
        }
    });
}
