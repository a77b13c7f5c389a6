//! [`ErrorGroup`]: every failure of a group run, as a tree.
//!
//! The Rust counterpart of Python's `ExceptionGroup`: a group always holds at
//! least one failure, a failing child that itself ran a group contributes that
//! group as a nested node (never flattened), and the leaves keep the children's
//! own error values so they can be downcast to their concrete types.

use std::error::Error;
use std::fmt::{self, Write as _};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::telemetry::{DISPLAY_PANICKED, GROUP_ERROR_TYPE, PANIC_ERROR_TYPE};

/// The type-erased error a leaf holds: the child's own error value, boxed.
pub type BoxError = Box<dyn Error + Send + Sync + 'static>;

/// The failures of one group run: leaves and nested groups, in spawn order.
///
/// Returned by [`Group::join`](crate::Group::join) and
/// [`Group::scope`](crate::Group::scope) when at least one child (or the scope
/// body) failed or panicked. Cancellations the group injected itself never
/// appear here. Filter it by type with [`split`](Self::split) or the
/// [`catch`](Self::catch) chain, the counterparts of `except*`.
///
/// `Display` renders the whole tree, one line per node, with each leaf's
/// `source()` chain:
///
/// ```text
/// group "aggregate" failed with 2 errors:
///   [1] billing: std::io::error::Error: billing pool exhausted
///   [3] fraud: panicked: fraud model returned NaN score
/// ```
///
/// `Debug` renders the same tree. Walking, rendering, splitting and
/// dropping a tree take no recursion, so a tree of any depth is safe on a
/// small stack.
pub struct ErrorGroup {
    id: u64,
    name: Arc<str>,
    failures: Vec<Failure>,
}

/// One entry of an [`ErrorGroup`]: which child failed, and how.
#[derive(Debug)]
pub struct Failure {
    id: u64,
    child: Arc<str>,
    index: Option<usize>,
    kind: FailureKind,
}

/// Hands out the ids of groups and failures: unique in the process, never 0.
fn next_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// How a child failed: a leaf (an error or a panic) or a nested group.
#[derive(Debug)]
#[non_exhaustive]
pub enum FailureKind {
    /// The child returned `Err(error)`.
    Error {
        /// `std::any::type_name` of the child's error type, captured at spawn.
        /// Recorded as `error.type`.
        type_name: &'static str,
        /// The child's own error value; downcast it to the concrete type.
        error: BoxError,
    },
    /// The child panicked.
    Panic {
        /// The panic payload as text (`&str` and `String` payloads; a
        /// placeholder for any other type).
        message: String,
    },
    /// The child ran a group of its own, which failed.
    Group(ErrorGroup),
}

impl ErrorGroup {
    /// Builds a group from its failures. Returns `None` for an empty list: a
    /// group always holds at least one failure.
    pub fn new(name: impl Into<Arc<str>>, failures: Vec<Failure>) -> Option<Self> {
        (!failures.is_empty()).then(|| Self {
            id: next_id(),
            name: name.into(),
            failures,
        })
    }

    /// A group of one failure.
    pub(crate) fn single(name: Arc<str>, failure: Failure) -> Self {
        Self {
            id: next_id(),
            name,
            failures: vec![failure],
        }
    }

    /// An id unique to this group value in the process (never 0), stable as
    /// the group moves. [`split`](Self::split) and the `catch` chain build new
    /// groups, with new ids, around the same leaves.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The name of the group that raised this.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn shared_name(&self) -> &Arc<str> {
        &self.name
    }

    /// The direct failures of this group, in spawn order.
    pub fn failures(&self) -> &[Failure] {
        &self.failures
    }

    /// Takes the direct failures out of the group.
    pub fn into_failures(mut self) -> Vec<Failure> {
        std::mem::take(&mut self.failures)
    }

    pub(crate) fn failures_mut(&mut self) -> &mut Vec<Failure> {
        &mut self.failures
    }

    /// The number of direct failures (a nested group counts as one).
    pub fn len(&self) -> usize {
        self.failures.len()
    }

    /// Always `false`: a group holds at least one failure. Present for API
    /// symmetry with [`len`](Self::len).
    pub fn is_empty(&self) -> bool {
        self.failures.is_empty()
    }

    /// Every leaf of the tree, depth first, each with its path.
    pub fn leaves(&self) -> Vec<Leaf<'_>> {
        let mut out = Vec::new();
        self.walk(|path, group, failure| {
            out.push(Leaf {
                path: path.to_vec(),
                group,
                failure,
            });
        });
        out
    }

    /// Visits each leaf depth first, with its path and the group holding
    /// it, without recursion.
    fn walk<'a>(&'a self, mut leaf: impl FnMut(&[usize], &'a ErrorGroup, &'a Failure)) {
        let mut path = Vec::new();
        // The groups being walked, each with where it stands.
        let mut stack: Vec<(&ErrorGroup, usize)> = vec![(self, 0)];
        while let Some((group, next)) = stack.last_mut() {
            let (group, i) = (*group, *next);
            let Some(failure) = group.failures.get(i) else {
                stack.pop();
                path.pop();
                continue;
            };
            *next += 1;
            path.push(i);
            match &failure.kind {
                FailureKind::Group(inner) => stack.push((inner, 0)),
                _ => {
                    leaf(&path, group, failure);
                    path.pop();
                }
            }
        }
    }

    /// Every leaf error of concrete type `E`, anywhere in the tree.
    pub fn errors<E: Error + Send + Sync + 'static>(&self) -> impl Iterator<Item = &E> + '_ {
        self.leaves()
            .into_iter()
            .filter_map(|leaf| leaf.failure.downcast_ref::<E>())
    }
}

/// What holds a nested group in its parent, taken apart by
/// [`Failure::into_nested`]: the failure's id, child and index.
pub(crate) struct Node {
    id: u64,
    child: Arc<str>,
    index: Option<usize>,
}

impl Node {
    /// Holds `group` again, as the same failure (same id).
    pub(crate) fn hold(self, group: ErrorGroup) -> Failure {
        Failure::from_parts_with_id(self.id, self.child, self.index, FailureKind::Group(group))
    }

    /// Holds a part of the group it held, as a new failure of the same child.
    pub(crate) fn part(&self, group: ErrorGroup) -> Failure {
        Failure::group(self.child.clone(), self.index, group)
    }
}

/// A leaf of an [`ErrorGroup`] tree, as yielded by [`ErrorGroup::leaves`].
#[derive(Debug, Clone)]
pub struct Leaf<'a> {
    /// Positions from the root: `[0, 2, 1]` is the second failure of the group
    /// nested third in the group nested first.
    pub path: Vec<usize>,
    /// The group that holds this leaf directly.
    pub group: &'a ErrorGroup,
    /// The leaf itself (never of kind [`FailureKind::Group`]).
    pub failure: &'a Failure,
}

impl Leaf<'_> {
    /// The path written with dots, e.g. `0.2.1`.
    pub fn path_string(&self) -> String {
        let mut s = String::new();
        for (i, p) in self.path.iter().enumerate() {
            if i > 0 {
                s.push('.');
            }
            let _ = write!(s, "{p}");
        }
        s
    }

    /// How deep the leaf sits: 1 for a direct failure of the root group.
    pub fn depth(&self) -> usize {
        self.path.len()
    }
}

impl Failure {
    /// A leaf for a child that returned `Err(error)`: any error a child may
    /// fail with (see [`IntoFailure`](crate::IntoFailure)), boxed once.
    pub fn error<E: crate::IntoFailure<K>, K>(
        child: impl Into<Arc<str>>,
        index: Option<usize>,
        error: E,
    ) -> Self {
        let (error, type_name) = error.into_failure();
        Self::from_boxed(child.into(), index, type_name, error)
    }

    /// A leaf for a child that panicked with `message`.
    pub fn panic(
        child: impl Into<Arc<str>>,
        index: Option<usize>,
        message: impl Into<String>,
    ) -> Self {
        Self::from_parts(
            child.into(),
            index,
            FailureKind::Panic {
                message: message.into(),
            },
        )
    }

    /// A node for a child whose own group failed.
    pub fn group(child: impl Into<Arc<str>>, index: Option<usize>, group: ErrorGroup) -> Self {
        Self::from_parts(child.into(), index, FailureKind::Group(group))
    }

    /// Wraps a boxed child error. An [`ErrorGroup`] becomes a nested node so
    /// that nesting survives type erasure.
    pub(crate) fn from_boxed(
        child: Arc<str>,
        index: Option<usize>,
        type_name: &'static str,
        error: BoxError,
    ) -> Self {
        let kind = match error.downcast::<ErrorGroup>() {
            Ok(group) => FailureKind::Group(*group),
            Err(error) => FailureKind::Error { type_name, error },
        };
        Self::from_parts(child, index, kind)
    }

    fn from_parts(child: Arc<str>, index: Option<usize>, kind: FailureKind) -> Self {
        Self::from_parts_with_id(next_id(), child, index, kind)
    }

    fn from_parts_with_id(
        id: u64,
        child: Arc<str>,
        index: Option<usize>,
        kind: FailureKind,
    ) -> Self {
        Self {
            id,
            child,
            index,
            kind,
        }
    }

    /// An id unique to this failure in the process (never 0), kept when
    /// [`split`](ErrorGroup::split) or the `catch` chain moves it into another
    /// group: a log layer uses it to report each leaf once however many trees
    /// carry it.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The name the child was spawned with (`(body)` for a scope body).
    pub fn child_name(&self) -> &str {
        &self.child
    }

    /// The child's spawn index in its group; `None` for a scope body.
    pub fn child_index(&self) -> Option<usize> {
        self.index
    }

    /// How the child failed.
    pub fn kind(&self) -> &FailureKind {
        &self.kind
    }

    /// Takes the kind out, e.g. to own the error value.
    pub fn into_kind(self) -> FailureKind {
        self.kind
    }

    /// A nested group's node taken apart: where it stands, and the group.
    pub(crate) fn into_nested(self) -> Result<(Node, ErrorGroup), Self> {
        match self.kind {
            FailureKind::Group(group) => {
                let node = Node {
                    id: self.id,
                    child: self.child,
                    index: self.index,
                };
                Ok((node, group))
            }
            kind => Err(Self { kind, ..self }),
        }
    }

    /// The nested group, if this failure is one.
    pub fn nested(&self) -> Option<&ErrorGroup> {
        match &self.kind {
            FailureKind::Group(group) => Some(group),
            _ => None,
        }
    }

    /// Whether this is a leaf (an error or a panic) rather than a nested group.
    pub fn is_leaf(&self) -> bool {
        !matches!(self.kind, FailureKind::Group(_))
    }

    /// Whether the child panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self.kind, FailureKind::Panic { .. })
    }

    /// The low-cardinality type of the failure, recorded as `error.type`: the
    /// error's type name, [`PANIC_ERROR_TYPE`] for a panic, and
    /// [`GROUP_ERROR_TYPE`] for a nested group.
    pub fn error_type(&self) -> &'static str {
        match &self.kind {
            FailureKind::Error { type_name, .. } => type_name,
            FailureKind::Panic { .. } => PANIC_ERROR_TYPE,
            FailureKind::Group(_) => GROUP_ERROR_TYPE,
        }
    }

    /// The leaf's error value, if it is an error leaf.
    pub fn error_value(&self) -> Option<&(dyn Error + Send + Sync + 'static)> {
        match &self.kind {
            FailureKind::Error { error, .. } => Some(error.as_ref()),
            _ => None,
        }
    }

    /// The failure as a `dyn Error`: the error value of an error leaf, or the
    /// nested [`ErrorGroup`]; `None` for a panic.
    pub fn as_error(&self) -> Option<&(dyn Error + 'static)> {
        match &self.kind {
            FailureKind::Error { error, .. } => Some(error.as_ref()),
            FailureKind::Group(group) => Some(group),
            FailureKind::Panic { .. } => None,
        }
    }

    /// The leaf's error as its concrete type `E`, if it is one. An
    /// `anyhow::Error` or `eyre::Report` leaf is one if the report's own
    /// `downcast_ref` says so: through the context added to it.
    pub fn downcast_ref<E: Error + Send + Sync + 'static>(&self) -> Option<&E> {
        crate::into_failure::downcast_ref::<E>(self.error_value()?)
    }

    /// The message a log line would carry: the error's `Display`, or the panic
    /// message. For a nested group, its one-line summary.
    pub fn message(&self) -> String {
        match &self.kind {
            FailureKind::Error { error, .. } => shown(error.as_ref()),
            FailureKind::Panic { message } => message.clone(),
            FailureKind::Group(group) => summary(group),
        }
    }
}

/// An error's `Display`, or [`DISPLAY_PANICKED`](crate::telemetry::DISPLAY_PANICKED): a panic in a user's
/// `Display` must not unwind out of cohort, nor lose the failure it
/// describes.
pub(crate) fn shown(error: &(dyn Error + 'static)) -> String {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| error.to_string()))
        .unwrap_or_else(|_| DISPLAY_PANICKED.to_owned())
}

fn summary(group: &ErrorGroup) -> String {
    let n = group.failures.len();
    format!(
        "group {:?} failed with {n} error{}",
        &*group.name,
        if n == 1 { "" } else { "s" }
    )
}

impl fmt::Display for ErrorGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", summary(self))?;
        let mut result = Ok(());
        // One line per failure, nested groups indented under their node.
        let mut stack: Vec<(&ErrorGroup, usize)> = vec![(self, 0)];
        while let Some((group, next)) = stack.last_mut() {
            let Some(failure) = group.failures.get(*next) else {
                stack.pop();
                continue;
            };
            *next += 1;
            let pad = "  ".repeat(stack.len());
            result = result.and_then(|()| render_line(failure, &pad, f));
            if let FailureKind::Group(inner) = &failure.kind {
                stack.push((inner, 0));
            }
        }
        result
    }
}

/// One failure's line, with an error leaf's `source()` chain under it.
fn render_line(failure: &Failure, pad: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    write!(f, "\n{pad}")?;
    if let Some(i) = failure.index {
        write!(f, "[{i}] ")?;
    }
    write!(f, "{}: ", failure.child)?;
    match &failure.kind {
        FailureKind::Error { type_name, error } => {
            write!(f, "{type_name}: {}", shown(error.as_ref()))?;
            let mut source = error.source();
            while let Some(cause) = source {
                write!(f, "\n{pad}    caused by: {}", shown(cause))?;
                source = cause.source();
            }
            Ok(())
        }
        FailureKind::Panic { message } => write!(f, "panicked: {message}"),
        FailureKind::Group(inner) => write!(f, "{}:", summary(inner)),
    }
}

/// The rendered tree, as `Display` writes it: what `unwrap` shows.
impl fmt::Debug for ErrorGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ErrorGroup(id {}) {self}", self.id)
    }
}

/// Dropped without recursion: nested groups are emptied into one list.
impl Drop for ErrorGroup {
    fn drop(&mut self) {
        let mut failures = std::mem::take(&mut self.failures);
        while let Some(failure) = failures.pop() {
            if let FailureKind::Group(mut inner) = failure.kind {
                failures.append(&mut inner.failures);
            }
        }
    }
}

/// The tree is rendered whole by `Display`, so `source()` is `None`: pointing
/// at one leaf would hide the others from generic error reporters.
impl Error for ErrorGroup {}
