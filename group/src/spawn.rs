//! Handing a child's task to the runtime.

use std::future::Future;

use tokio::runtime::Handle;

/// Spawns a child's task; under `tokio_unstable`, named `group/child` so
/// tokio-console shows which group a task belongs to.
pub(crate) fn spawn_on<F>(
    runtime: &Handle,
    group: &str,
    child: &str,
    task: F,
) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    #[cfg(tokio_unstable)]
    {
        let name = format!("{group}/{child}");
        tokio::task::Builder::new()
            .name(&name)
            .spawn_on(task, runtime)
            .map(drop)
    }
    #[cfg(not(tokio_unstable))]
    {
        let _ = (group, child);
        runtime.spawn(task);
        Ok(())
    }
}
