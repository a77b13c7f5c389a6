//! Handing a child's task to the runtime.

use std::future::Future;

use tokio::runtime::Handle;
use tokio::task::JoinHandle;

/// This file, as tokio records it on a child task's `runtime.spawn` span: the
/// spawn calls below are its only tokio spawns, and they are not
/// `#[track_caller]`, so tokio's recorded location points here.
pub(crate) const SPAWN_FILE: &str = file!();

/// Spawns a child's task; under `tokio_unstable`, named `group/child` so
/// tokio-console shows which group a task belongs to.
#[inline(always)]
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
