//! The one retry policy: which failures are tried again, how long to wait
//! (jittered exponential backoff, a store's Retry-After first), how many
//! times, and how a retry is reported.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder, Retryable};
use haul_core::{Error, Result};

/// The longest single backoff.
pub const MAX_DELAY: Duration = Duration::from_secs(15);

/// How many times a request that timed out is sent again: each try costs a
/// whole timeout, so a silent endpoint fails a request after two timeouts
/// rather than after `times` of them.
pub const TIMEOUT_RETRIES: usize = 1;

/// Counts the timeouts of one request (or part), deciding whether another
/// try is worth it: timeouts at most [`TIMEOUT_RETRIES`] times, anything
/// else when it is retryable ([`Error::is_retryable`]).
#[derive(Debug, Default)]
pub struct Patience {
    timeouts: AtomicUsize,
}

impl Patience {
    /// Whether `e` should be tried again.
    pub fn retry(&self, e: &Error) -> bool {
        if e.is_timeout() {
            self.timeouts.fetch_add(1, Ordering::Relaxed) < TIMEOUT_RETRIES
        } else {
            e.is_retryable()
        }
    }
}

tokio::task_local! {
    static PATIENCE: Arc<Patience>;
}

/// Runs `fut` with its requests counting their timeouts in `patience`:
/// an enclosing loop (a part's, which sends a request again after the
/// retry layer gave up) and the layer below it then allow a timed-out
/// request [`TIMEOUT_RETRIES`] more tries in all, not each.
pub fn sharing<F: Future>(
    patience: Arc<Patience>,
    fut: F,
) -> tokio::task::futures::TaskLocalFuture<Arc<Patience>, F> {
    PATIENCE.scope(patience, fut)
}

/// How requests are retried: up to `times` more tries of a retryable
/// failure, waiting `base_delay · 2ⁿ` with full jitter (at most
/// [`MAX_DELAY`]), or what the store's Retry-After asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first try. 0 turns retrying off.
    pub times: usize,
    /// The first backoff; each later one doubles.
    pub base_delay: Duration,
}

impl Default for RetryPolicy {
    /// Five retries from 100 ms: a 503 burst of a few seconds is ridden
    /// through; a dead endpoint fails within about 10 s.
    fn default() -> Self {
        Self {
            times: 5,
            base_delay: Duration::from_millis(100),
        }
    }
}

impl RetryPolicy {
    /// A policy of `times` retries from `base_delay`.
    #[must_use]
    pub fn new(times: usize, base_delay: Duration) -> Self {
        Self { times, base_delay }
    }

    /// Runs `op` (one request carrying `bytes` of payload), retrying what
    /// the policy retries. Each retry, and each request the transport sent
    /// again on its own, is reported to the [`haul_core::observe`] observer
    /// in scope with `bytes` re-sent.
    ///
    /// # Errors
    /// The last failure, when it is not retryable or the retries ran out.
    /// Timeouts are counted in the [`Patience`] in scope ([`sharing`]), if
    /// any, else afresh for this request.
    pub async fn run<T, F, Fut>(&self, bytes: u64, op: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let patience = PATIENCE.try_with(Arc::clone).unwrap_or_default();
        self.run_with(&patience, bytes, op).await
    }

    /// [`run`](Self::run) counting timeouts in `patience`, shared with an
    /// enclosing retry loop (a part's), so that the two together send a
    /// request that timed out only [`TIMEOUT_RETRIES`] more times.
    ///
    /// # Errors
    /// As [`run`](Self::run).
    pub async fn run_with<T, F, Fut>(&self, patience: &Patience, bytes: u64, op: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let backoff = self.backoff();
        let tally = Arc::new(AtomicU64::new(0));
        let tries = op
            .retry(backoff)
            .when(|e| patience.retry(e))
            .adjust(|e: &Error, d| d.map(|d| e.retry_after().unwrap_or(d)))
            .notify(|e: &Error, d: Duration| {
                haul_core::observe::retried(e, bytes);
                tracing::debug!(error = %e, delay_ms = d.as_millis(), "retrying request");
            });
        let out = haul_core::resend::counting(Arc::clone(&tally), tries).await;
        haul_core::observe::resent(tally.load(Ordering::Relaxed), bytes);
        out
    }

    /// The delays of this policy's retries, in order (jittered; `times` of
    /// them): for loops that cannot be a closure (a listing resumed after
    /// the last key it gave).
    pub fn delays(&self) -> impl Iterator<Item = Duration> + Send + use<> {
        self.backoff().build()
    }

    fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.base_delay)
            .with_max_delay(MAX_DELAY)
            .with_factor(2.0)
            .with_jitter()
            .with_max_times(self.times)
    }
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

    #[tokio::test(start_paused = true)]
    async fn retries_retryable_errors_up_to_times_and_stops_at_others() {
        let policy = RetryPolicy::new(3, Duration::from_millis(10));
        let tries = AtomicUsize::new(0);
        let out: Result<()> = policy
            .run(0, || async {
                tries.fetch_add(1, Ordering::Relaxed);
                Err(Error::transient("k", "503"))
            })
            .await;
        assert!(out.is_err());
        assert_eq!(
            tries.load(Ordering::Relaxed),
            4,
            "one try and three retries"
        );

        tries.store(0, Ordering::Relaxed);
        let out: Result<()> = policy
            .run(0, || async {
                tries.fetch_add(1, Ordering::Relaxed);
                Err(Error::invalid("k", "bad"))
            })
            .await;
        assert!(out.is_err());
        assert_eq!(tries.load(Ordering::Relaxed), 1, "not retryable: one try");

        tries.store(0, Ordering::Relaxed);
        let out = policy
            .run(0, || async {
                if tries.fetch_add(1, Ordering::Relaxed) < 2 {
                    Err(Error::transient("k", "reset"))
                } else {
                    Ok(7)
                }
            })
            .await;
        assert_eq!(out.ok(), Some(7));
    }

    #[tokio::test(start_paused = true)]
    async fn a_shared_patience_spans_nested_loops() {
        let policy = RetryPolicy::new(8, Duration::from_millis(10));
        let patience = Arc::new(Patience::default());
        let tries = AtomicUsize::new(0);
        let attempt = || {
            sharing(
                Arc::clone(&patience),
                policy.run(0, || async {
                    tries.fetch_add(1, Ordering::Relaxed);
                    Err::<(), _>(Error::timeout("k", "silent"))
                }),
            )
        };
        assert!(attempt().await.is_err());
        assert!(attempt().await.is_err());
        assert_eq!(tries.load(Ordering::Relaxed), 1 + 1 + TIMEOUT_RETRIES);
    }

    #[tokio::test(start_paused = true)]
    async fn timeouts_get_one_retry_whatever_the_policy() {
        let policy = RetryPolicy::new(8, Duration::from_millis(10));
        let tries = AtomicUsize::new(0);
        let out: Result<()> = policy
            .run(0, || async {
                tries.fetch_add(1, Ordering::Relaxed);
                Err(Error::timeout("k", "silent"))
            })
            .await;
        assert!(out.is_err());
        assert_eq!(tries.load(Ordering::Relaxed), 1 + TIMEOUT_RETRIES);
    }
}
