//! The live group tree: the groups open right now, nested as they run, each
//! with its running children. "Where is my fan-out stuck?" in one read:
//! serializable to JSON for tools, rendered as text for people.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde::Serialize;
use tokio::time::Instant;

use crate::live::LiveGroup;

/// A snapshot of every open group, from
/// [`CohortHandle::tree`](crate::CohortHandle::tree). Groups nest under the
/// child (or the scope body) that runs them; the top level holds the rest.
///
/// `Display` renders it as text:
///
/// ```text
/// aggregate (fail_fast, limit 4) cancelling: collateral, 0.500s ago · open 2.000s · timeout 3.000s, 1.000s left · 1 failure · 12 queued
/// ├── [0] fetch-eu: running 2.000s
/// └── [2] inventory: cancelling 1.900s, UNRESPONSIVE
///     └── inventory (collect_all) running · open 1.900s
///         └── [0] shard-1: cancelling 1.900s
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct GroupTree {
    /// The outermost open groups, oldest first.
    pub groups: Vec<GroupNode>,
}

/// An open group.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GroupNode {
    /// `group.name`.
    pub name: String,
    /// `group.mode`: the policy.
    pub mode: String,
    /// The concurrency limit, if any.
    pub limit: Option<u64>,
    /// `running`, or `cancelling` once cancellation was requested.
    pub state: RunState,
    /// Time since the group was built, in seconds.
    pub elapsed_s: f64,
    /// The group's timeout, in seconds, if it has a deadline.
    pub timeout_s: Option<f64>,
    /// Seconds until the deadline; negative once it passed.
    pub deadline_in_s: Option<f64>,
    /// Why it is cancelling: the `reason` of its cancel request.
    pub cancel_reason: Option<String>,
    /// Seconds since the cancel request.
    pub cancelling_for_s: Option<f64>,
    /// Children (and the scope body) that failed so far.
    pub failures: u64,
    /// Children waiting for a slot under the limit. They have no span until
    /// they start, so they are counted here, not listed.
    pub queued: u64,
    /// Tasks spawned inside the group but not by it, still alive: leaks if
    /// they outlive it.
    pub stray_tasks: u64,
    /// The children running now, by spawn index.
    pub children: Vec<ChildNode>,
    /// Groups the scope body is running.
    pub body_groups: Vec<GroupNode>,
}

/// A running child.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChildNode {
    /// `child.index`.
    pub index: u64,
    /// `child.name`.
    pub name: String,
    /// `running`, or `cancelling` once its group is cancelling.
    pub state: RunState,
    /// Seconds since the child started.
    pub elapsed_s: f64,
    /// Reported by `cohort.child.unresponsive`: still running well after its
    /// cancellation.
    pub unresponsive: bool,
    /// Groups this child is running.
    pub groups: Vec<GroupNode>,
}

/// What a group or child is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Running normally.
    Running,
    /// Cancellation was requested; not finished yet.
    Cancelling,
}

impl RunState {
    fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Cancelling => "cancelling",
        }
    }
}

impl GroupTree {
    /// The tree as JSON.
    pub fn to_json(&self) -> String {
        // Plain data (strings, numbers, lists): serializing cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Every open group, depth first, with nested ones.
    pub fn iter(&self) -> impl Iterator<Item = &GroupNode> {
        let mut stack: Vec<&GroupNode> = self.groups.iter().rev().collect();
        std::iter::from_fn(move || {
            let node = stack.pop()?;
            for child in node.children.iter().rev() {
                stack.extend(child.groups.iter().rev());
            }
            stack.extend(node.body_groups.iter().rev());
            Some(node)
        })
    }

    /// The first open group of this name, depth first.
    pub fn find(&self, name: &str) -> Option<&GroupNode> {
        self.iter().find(|group| group.name == name)
    }
}

/// Builds the tree from the layer's open groups.
pub(crate) fn build(open: &[Arc<LiveGroup>]) -> GroupTree {
    let now = Instant::now();
    let mut nodes: HashMap<u64, GroupNode> = open
        .iter()
        .map(|group| (group.key, node(group, now)))
        .collect();
    // Attach the youngest first, so that a node is complete (its own nested
    // groups attached) before it moves into its parent.
    let mut order: Vec<&Arc<LiveGroup>> = open.iter().collect();
    order.sort_by_key(|group| (group.created, group.key));
    let mut roots = Vec::new();
    for group in order.iter().rev() {
        let Some(node) = nodes.remove(&group.key) else {
            continue;
        };
        let parent = group
            .parent
            .and_then(|p| nodes.get_mut(&p.group).map(|n| (n, p.child)));
        match parent {
            Some((parent, Some(index))) => {
                match parent.children.iter_mut().find(|c| c.index == index) {
                    Some(child) => child.groups.insert(0, node),
                    // The child already ended; the group still runs.
                    None => parent.body_groups.insert(0, node),
                }
            }
            Some((parent, None)) => parent.body_groups.insert(0, node),
            None => roots.push(node),
        }
    }
    roots.reverse();
    GroupTree { groups: roots }
}

fn node(group: &LiveGroup, now: Instant) -> GroupNode {
    let state = group.state();
    let cancelling = state.cancel.is_some();
    let run_state = if cancelling {
        RunState::Cancelling
    } else {
        RunState::Running
    };
    let elapsed = now.saturating_duration_since(group.created);
    let mut children: Vec<ChildNode> = state
        .children
        .values()
        .map(|child| ChildNode {
            index: child.index,
            name: child.name.to_string(),
            state: run_state,
            elapsed_s: now.saturating_duration_since(child.started).as_secs_f64(),
            unresponsive: child.unresponsive,
            groups: Vec::new(),
        })
        .collect();
    children.sort_by_key(|child| child.index);
    GroupNode {
        name: group.name.clone(),
        mode: group.mode.clone(),
        limit: state.limit,
        state: run_state,
        elapsed_s: elapsed.as_secs_f64(),
        timeout_s: state.timeout.map(|t| t.as_secs_f64()),
        deadline_in_s: state
            .timeout
            .map(|t| t.as_secs_f64() - elapsed.as_secs_f64()),
        cancel_reason: state.cancel.as_ref().map(|(reason, _)| reason.clone()),
        cancelling_for_s: state
            .cancel
            .as_ref()
            .map(|(_, at)| now.saturating_duration_since(*at).as_secs_f64()),
        failures: state.failures,
        queued: group.queued.load(Ordering::Relaxed),
        stray_tasks: state.strays.len() as u64,
        children,
        body_groups: Vec::new(),
    }
}

impl fmt::Display for GroupTree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.groups.is_empty() {
            return writeln!(f, "no open groups");
        }
        for group in &self.groups {
            render_group(f, group, "", "")?;
        }
        Ok(())
    }
}

/// Writes a group's line after `lead`, then its children, each line of them
/// starting with `indent`.
fn render_group(
    f: &mut fmt::Formatter<'_>,
    g: &GroupNode,
    lead: &str,
    indent: &str,
) -> fmt::Result {
    write!(f, "{lead}{} ({}", g.name, g.mode)?;
    if let Some(limit) = g.limit {
        write!(f, ", limit {limit}")?;
    }
    write!(f, ") {}", g.state.as_str())?;
    if let (Some(reason), Some(since)) = (&g.cancel_reason, g.cancelling_for_s) {
        write!(f, ": {reason}, {since:.3}s ago")?;
    }
    write!(f, " · open {:.3}s", g.elapsed_s)?;
    if let (Some(timeout), Some(left)) = (g.timeout_s, g.deadline_in_s) {
        if left >= 0.0 {
            write!(f, " · timeout {timeout:.3}s, {left:.3}s left")?;
        } else {
            write!(f, " · timeout {timeout:.3}s, passed {:.3}s ago", -left)?;
        }
    }
    if g.failures > 0 {
        let s = if g.failures == 1 { "" } else { "s" };
        write!(f, " · {} failure{s}", g.failures)?;
    }
    if g.queued > 0 {
        write!(f, " · {} queued", g.queued)?;
    }
    if g.stray_tasks > 0 {
        write!(f, " · {} stray tasks", g.stray_tasks)?;
    }
    writeln!(f)?;

    let total = g.children.len() + g.body_groups.len();
    let mut n = 0;
    for child in &g.children {
        n += 1;
        let (branch, next) = branches(n == total);
        write!(
            f,
            "{indent}{branch}[{}] {}: {} {:.3}s",
            child.index,
            child.name,
            child.state.as_str(),
            child.elapsed_s
        )?;
        if child.unresponsive {
            write!(f, ", UNRESPONSIVE")?;
        }
        writeln!(f)?;
        let inner = format!("{indent}{next}");
        for (i, group) in child.groups.iter().enumerate() {
            let (branch, next) = branches(i + 1 == child.groups.len());
            render_group(
                f,
                group,
                &format!("{inner}{branch}"),
                &format!("{inner}{next}"),
            )?;
        }
    }
    for group in &g.body_groups {
        n += 1;
        let (branch, next) = branches(n == total);
        render_group(
            f,
            group,
            &format!("{indent}{branch}(body) "),
            &format!("{indent}{next}"),
        )?;
    }
    Ok(())
}

fn branches(last: bool) -> (&'static str, &'static str) {
    if last {
        ("└── ", "    ")
    } else {
        ("├── ", "│   ")
    }
}
