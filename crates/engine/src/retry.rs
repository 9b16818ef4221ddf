//! Request-level retries: jittered exponential backoff for retryable errors,
//! honouring a store's Retry-After.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use haul_core::{Error, Result};

use crate::job::Shared;

/// The longest single backoff.
const MAX_DELAY: Duration = Duration::from_secs(15);

/// Runs `op` (one store request), retrying retryable failures. Every request,
/// first try or retry, passes the request-rate limit.
pub(crate) async fn request<T, F, Fut>(shared: &Shared, mut op: F) -> Result<T>
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
    (|| {
        let fut = op();
        async move {
            crate::limit::take(shared.tps.as_ref(), 1).await;
            fut.await
        }
    })
    .retry(backoff)
    .when(Error::is_retryable)
    .adjust(|e: &Error, d| d.map(|d| e.retry_after().unwrap_or(d)))
    .notify(|e: &Error, d: Duration| {
        shared.counters.retries.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(error = %e, delay_ms = d.as_millis() as u64, "retrying request");
    })
    .await
}
