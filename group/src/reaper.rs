//! [`Reaper`]: frees the tasks of children nobody holds a handle to (those
//! of a [`Completions`](crate::Completions), and a stream's) on the thread
//! that spawns them, rather than on the worker each child ended on.
//!
//! A task is allocated by the thread that spawns it. Freed by the worker it
//! ended on, as a task is once its `JoinHandle` has been dropped, its memory
//! crosses threads: glibc's `free` keeps it in the worker's cache or, that
//! full, takes the spawning thread's arena lock against that thread's own
//! allocations, and either way it is not in the spawner's cache for its next
//! task. A `JoinSet` frees each task where it is read. So on a runtime of
//! many threads this keeps each task's handle until the task has finished,
//! then drops it as its owner spawns (or reads the children's results). On
//! a runtime of one thread nothing crosses, and a handle kept would only
//! keep a finished task's memory: each is dropped at once.

use tokio::runtime::RuntimeFlavor;
use tokio::task::JoinHandle;

/// Handles looked at for each one kept: more than one, so that a sweep
/// passes over every handle before as many more are kept, and those kept
/// stay within about twice the tasks still running.
const LOOKS_A_KEEP: usize = 2;

/// The handles of the tasks not known to have finished, swept in turn; the
/// tasks' output is `O`, dropped unread.
pub(crate) struct Reaper<O = ()> {
    /// Whether the runtime has more than one thread: known at the first
    /// handle.
    many_threads: Option<bool>,
    tasks: Vec<JoinHandle<O>>,
    /// The next handle to look at.
    next: usize,
}

impl<O> Default for Reaper<O> {
    fn default() -> Self {
        Self {
            many_threads: None,
            tasks: Vec::new(),
            next: 0,
        }
    }
}

impl<O> Reaper<O> {
    /// Keeps `task`'s handle, on a runtime of many threads (`flavor` asked
    /// once), or drops it.
    #[inline]
    pub(crate) fn keep(
        &mut self,
        task: JoinHandle<O>,
        flavor: impl FnOnce() -> Option<RuntimeFlavor>,
    ) {
        let many_threads = *self.many_threads.get_or_insert_with(|| {
            flavor().is_some_and(|flavor| flavor != RuntimeFlavor::CurrentThread)
        });
        if many_threads {
            self.reap(LOOKS_A_KEEP);
            self.tasks.push(task);
        }
    }

    /// Looks at `looks` handles, going on from the last one looked at,
    /// and drops those whose tasks have finished.
    ///
    /// A sweep rather than a queue, so that a child that runs for ever holds
    /// back no others; a finished task's handle is replaced by the last one,
    /// looked at next.
    #[inline]
    pub(crate) fn reap(&mut self, looks: usize) {
        for _ in 0..looks {
            match self.tasks.get(self.next) {
                None if self.next == 0 => return self.start_over(),
                None => self.start_over(),
                Some(task) if task.is_finished() => drop(self.tasks.swap_remove(self.next)),
                Some(_) => self.next += 1,
            }
        }
    }

    /// Starts the next sweep at the first handle, the list's room cut back
    /// if a burst of children left it mostly empty.
    #[cold]
    fn start_over(&mut self) {
        self.next = 0;
        let kept = self.tasks.len();
        if self.tasks.capacity() > 4 * kept + 64 {
            self.tasks.shrink_to(2 * kept);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_finished_tasks_and_gives_back_the_room_they_took() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        let mut reaper = Reaper::default();
        let (stop, stays) = tokio::sync::oneshot::channel::<()>();
        let flavor = || Some(RuntimeFlavor::MultiThread);
        reaper.keep(runtime.spawn(async { drop(stays.await) }), flavor);
        // A burst: two hundred tasks (few, for Miri), none of which ends
        // before the last is kept.
        let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
        let mut finished = Vec::new();
        for _ in 0..200 {
            let gate = gate.clone();
            let task = runtime.spawn(async move { drop(gate.acquire().await) });
            finished.push(task.abort_handle());
            reaper.keep(task, flavor);
        }
        assert_eq!(reaper.tasks.len(), 201);
        gate.close();
        while !finished.iter().all(tokio::task::AbortHandle::is_finished) {
            std::thread::yield_now();
        }
        reaper.reap(600);
        assert_eq!(reaper.tasks.len(), 1, "the task still running stays");
        assert!(reaper.tasks.capacity() < 64, "{}", reaper.tasks.capacity());
        drop(stop);
        runtime.block_on(async {
            while !reaper.tasks[0].is_finished() {
                tokio::task::yield_now().await;
            }
        });
        reaper.reap(2);
        assert!(reaper.tasks.is_empty());
    }

    #[test]
    fn keeps_nothing_on_a_runtime_of_one_thread() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let mut reaper = Reaper::default();
        reaper.keep(runtime.spawn(async {}), || {
            Some(RuntimeFlavor::CurrentThread)
        });
        reaper.keep(runtime.spawn(async {}), || unreachable!("asked once"));
        assert!(reaper.tasks.is_empty());
    }
}
