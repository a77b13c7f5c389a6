//! The synchronisation primitives of the concurrency core, from `std` and
//! `futures-util`, or from loom when the crate is built for its models
//! (`RUSTFLAGS="--cfg cohort_loom"`; see `group/src/loom_models.rs`). A
//! crate-specific cfg rather than loom's usual `loom`, which would also
//! rebuild tokio against loom.

#[cfg(not(cohort_loom))]
pub(crate) use std::sync::Mutex;
#[cfg(not(cohort_loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

#[cfg(cohort_loom)]
pub(crate) use loom::sync::Mutex;
#[cfg(cohort_loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Locks `mutex`, whether or not a holder panicked: every update made under
/// the core's locks leaves the data consistent at each step.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> impl std::ops::DerefMut<Target = T> + '_ {
    #[cfg(not(cohort_loom))]
    return mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    #[cfg(cohort_loom)]
    return mutex.lock().unwrap();
}

/// A waker slot one side registers in and the other wakes: futures-util's,
/// or loom's, behind one interface.
#[derive(Debug)]
pub(crate) struct AtomicWaker {
    #[cfg(not(cohort_loom))]
    inner: futures_util::task::AtomicWaker,
    #[cfg(cohort_loom)]
    inner: loom::future::AtomicWaker,
}

impl AtomicWaker {
    pub fn new() -> Self {
        Self {
            #[cfg(not(cohort_loom))]
            inner: futures_util::task::AtomicWaker::new(),
            #[cfg(cohort_loom)]
            inner: loom::future::AtomicWaker::new(),
        }
    }

    pub fn register(&self, waker: &std::task::Waker) {
        #[cfg(not(cohort_loom))]
        self.inner.register(waker);
        #[cfg(cohort_loom)]
        self.inner.register_by_ref(waker);
    }

    pub fn wake(&self) {
        self.inner.wake();
    }

    /// Takes the registered waker out, unwoken.
    pub fn take(&self) -> Option<std::task::Waker> {
        #[cfg(not(cohort_loom))]
        return self.inner.take();
        #[cfg(cohort_loom)]
        return self.inner.take_waker();
    }
}

/// A waker that counts how often it was woken, for the unit tests of the
/// primitives that keep wakers.
#[cfg(test)]
pub(crate) mod counting_waker {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Wake, Waker};

    /// The count of a waker from [`new`].
    pub(crate) struct Count(AtomicUsize);

    impl Count {
        pub(crate) fn get(&self) -> usize {
            self.0.load(Ordering::SeqCst)
        }
    }

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A waker and its count of wake-ups.
    pub(crate) fn new() -> (Arc<Count>, Waker) {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        (count.clone(), Waker::from(count))
    }
}
