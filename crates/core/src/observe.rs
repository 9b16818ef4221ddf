//! Who hears of the requests a store layer sends again: the retry layer
//! (and the engine's part retries) report each retry here, and whoever runs
//! the work (a job, counting retries by cause and bytes re-sent) listens by
//! running it inside [`scope`]. Outside a scope, reports go nowhere.
//!
//! A task-local rather than a handle in each store: one store serves many
//! jobs and commands, and a job's spawned tasks each enter its scope.

use std::future::Future;
use std::sync::Arc;

use crate::Error;

/// Listens to the retries of the work it is scoped to.
pub trait Observer: Send + Sync {
    /// A request failed with `error` and is sent again, carrying `bytes`
    /// of payload again (0 for a request without one).
    fn retried(&self, error: &Error, bytes: u64);

    /// The transport sent `n` requests again on its own (a pooled
    /// connection found closed), each carrying `bytes` of payload.
    fn resent(&self, n: u64, bytes: u64);
}

tokio::task_local! {
    static OBSERVER: Arc<dyn Observer>;
}

/// Runs `fut` with `observer` hearing of every retry reported in it (in
/// this task; a task it spawns must enter the scope itself).
pub fn scope<F: Future>(
    observer: Arc<dyn Observer>,
    fut: F,
) -> tokio::task::futures::TaskLocalFuture<Arc<dyn Observer>, F> {
    OBSERVER.scope(observer, fut)
}

/// The observer in scope, if any: for a task about to spawn another that
/// should report to the same one.
#[must_use]
pub fn current() -> Option<Arc<dyn Observer>> {
    OBSERVER.try_with(Arc::clone).ok()
}

/// Reports a retry of a request that failed with `error` and carries
/// `bytes` again.
pub fn retried(error: &Error, bytes: u64) {
    let _ = OBSERVER.try_with(|o| o.retried(error, bytes));
}

/// Reports `n` requests of `bytes` each that the transport sent again.
pub fn resent(n: u64, bytes: u64) {
    if n > 0 {
        let _ = OBSERVER.try_with(|o| o.resent(n, bytes));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    #[derive(Default)]
    struct Tally(AtomicU64, AtomicU64);

    impl Observer for Tally {
        fn retried(&self, _: &Error, bytes: u64) {
            self.0.fetch_add(1 + bytes, Ordering::Relaxed);
        }
        fn resent(&self, n: u64, bytes: u64) {
            self.1.fetch_add(n * bytes, Ordering::Relaxed);
        }
    }

    #[tokio::test]
    async fn reports_reach_the_observer_in_scope_only() {
        retried(&Error::transient("k", "x"), 5);
        let tally = Arc::new(Tally::default());
        scope(Arc::clone(&tally) as Arc<dyn Observer>, async {
            retried(&Error::transient("k", "x"), 5);
            resent(2, 3);
            resent(0, 100);
            assert!(current().is_some());
        })
        .await;
        assert!(current().is_none());
        assert_eq!(tally.0.load(Ordering::Relaxed), 6);
        assert_eq!(tally.1.load(Ordering::Relaxed), 6);
    }
}
