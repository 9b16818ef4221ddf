//! Requests a transport sends again on its own, below any retry loop (an
//! idempotent request re-sent on a fresh connection after its pooled one
//! turned out closed): counted for whoever runs the request, so that
//! "retries" counts every request sent again.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

tokio::task_local! {
    static TALLY: Arc<AtomicU64>;
}

/// Runs `fut`, adding to `tally` each request a transport sends again
/// while it runs (in this task).
pub fn counting<F: Future>(
    tally: Arc<AtomicU64>,
    fut: F,
) -> tokio::task::futures::TaskLocalFuture<Arc<AtomicU64>, F> {
    TALLY.scope(tally, fut)
}

/// Says that a request was just sent again by the transport; counted when
/// the caller runs inside [`counting`], ignored otherwise.
pub fn resent() {
    let _ = TALLY.try_with(|t| t.fetch_add(1, Ordering::Relaxed));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counts_inside_and_ignores_outside() {
        resent();
        let tally = Arc::new(AtomicU64::new(0));
        counting(Arc::clone(&tally), async {
            resent();
            resent();
        })
        .await;
        assert_eq!(tally.load(Ordering::Relaxed), 2);
    }
}
