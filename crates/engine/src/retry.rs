//! Request-level retries: jittered exponential backoff for retryable errors,
//! honouring a store's Retry-After.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use haul_core::{Error, Result};

use crate::context::Shared;

/// The longest single backoff.
const MAX_DELAY: Duration = Duration::from_secs(15);

/// How many times a request that timed out is sent again: each try costs a
/// whole timeout, so a silent endpoint fails a request after two timeouts
/// rather than after `request_retry_times` of them.
pub(crate) const TIMEOUT_RETRIES: usize = 1;

/// Counts the timeouts of one request (or part), deciding whether another
/// try is worth it: timeouts at most [`TIMEOUT_RETRIES`] times, anything
/// else when it is retryable.
#[derive(Debug, Default)]
pub(crate) struct Patience {
    timeouts: std::sync::atomic::AtomicUsize,
}

impl Patience {
    /// Whether `e` should be tried again.
    pub(crate) fn retry(&self, e: &Error) -> bool {
        if e.is_timeout() {
            self.timeouts.fetch_add(1, Ordering::Relaxed) < TIMEOUT_RETRIES
        } else {
            e.is_retryable()
        }
    }
}

/// Runs `op` (one store request), retrying retryable failures. Every request,
/// first try or retry, passes the request-rate limit.
pub(crate) async fn request<T, F, Fut>(shared: &Shared, op: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    request_with(shared, &Patience::default(), op).await
}

/// [`request`] counting timeouts in `patience`, shared with an enclosing
/// retry loop (a part's), so that the two together send a request that
/// timed out only [`TIMEOUT_RETRIES`] more times.
pub(crate) async fn request_with<T, F, Fut>(
    shared: &Shared,
    patience: &Patience,
    op: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    request_resending(shared, patience, 0, op).await
}

/// [`request_with`] for a request that carries `len` bytes of payload:
/// each retry counts them as re-sent.
pub(crate) async fn request_resending<T, F, Fut>(
    shared: &Shared,
    patience: &Patience,
    len: u64,
    mut op: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let cfg = &shared.config;
    let backoff = ExponentialBuilder::default()
        .with_min_delay(cfg.retry_base_delay)
        .with_max_delay(MAX_DELAY)
        .with_factor(2.0)
        .with_jitter()
        .with_max_times(cfg.request_retry_times);
    // Requests the transport sends again on its own (a pooled connection
    // found closed) are retries too.
    let tally = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let tries = (|| {
        let fut = op();
        async move {
            crate::limit::take(shared.tps.as_ref(), 1).await;
            fut.await
        }
    })
    .retry(backoff)
    .when(|e| patience.retry(e))
    .adjust(|e: &Error, d| d.map(|d| e.retry_after().unwrap_or(d)))
    .notify(|e: &Error, d: Duration| {
        shared.counters.count_retry(e);
        shared
            .counters
            .bytes_resent
            .fetch_add(len, Ordering::Relaxed);
        tracing::debug!(error = %e, delay_ms = d.as_millis() as u64, "retrying request");
    });
    let out = haul_core::resend::counting(std::sync::Arc::clone(&tally), tries).await;
    shared
        .counters
        .count_resends(tally.load(Ordering::Relaxed), len);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patience_gives_a_timeout_one_more_try_and_retryable_errors_theirs() {
        let p = Patience::default();
        let timeout = Error::timeout("k", "no answer in 1s");
        assert!(p.retry(&timeout), "first timeout: try again");
        assert!(!p.retry(&timeout), "second timeout: give up");
        let transient = Error::transient("k", "reset");
        assert!(
            p.retry(&transient) && p.retry(&transient),
            "transient: always"
        );
        assert!(!p.retry(&Error::invalid("k", "bad")), "invalid: never");
    }
}
