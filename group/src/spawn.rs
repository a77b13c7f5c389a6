//! Handing a child's task to the runtime.

use std::future::Future;

use tokio::runtime::Handle;
use tokio::task::JoinHandle;

/// Spawns a child's task; under `tokio_unstable`, named `group/child` so
/// tokio-console shows which group a task belongs to, and marked as a child
/// for a layer (see [`spawning_child`](crate::telemetry::spawning_child)).
/// `#[track_caller]`, as are the spawn methods above it, so that tokio
/// records the user's spawn site as the task's location.
#[inline(always)]
#[track_caller]
pub(crate) fn spawn_on<F>(
    runtime: &Handle,
    group: &str,
    child: &str,
    task: F,
) -> std::io::Result<JoinHandle<F::Output>>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    #[cfg(tokio_unstable)]
    {
        let name = format!("{group}/{child}");
        // A guard rather than a closure, which would end `#[track_caller]`.
        let _spawning = crate::telemetry::SpawningChild::start();
        tokio::task::Builder::new()
            .name(&name)
            .spawn_on(task, runtime)
    }
    #[cfg(not(tokio_unstable))]
    {
        let _ = (group, child);
        Ok(runtime.spawn(task))
    }
}
