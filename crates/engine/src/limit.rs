//! Shared limits: the byte budget for buffers in flight and token buckets
//! for bandwidth and request rate.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// What a body written as it is read ([`Capabilities::streamed_parts`],
/// [`Capabilities::streamed_puts`]) holds of the byte budget: its chunks in
/// flight, not its size.
///
/// [`Capabilities::streamed_parts`]: haul_core::Capabilities::streamed_parts
/// [`Capabilities::streamed_puts`]: haul_core::Capabilities::streamed_puts
pub(crate) const STREAMED_BUDGET: u64 = 2 << 20;

/// Permits are counted in KiB so a 5 GiB part fits a `u32` acquire.
const UNIT: u64 = 1024;

/// A budget of bytes in flight. A part takes its share before it reads a byte
/// and gives it back when its buffer is dropped.
#[derive(Debug, Clone)]
pub(crate) struct ByteBudget {
    sem: Arc<Semaphore>,
    total_units: u32,
}

/// Bytes held from a [`ByteBudget`], returned on drop.
#[derive(Debug)]
pub(crate) struct BudgetPermit {
    _permit: OwnedSemaphorePermit,
}

impl ByteBudget {
    pub(crate) fn new(bytes: u64) -> Self {
        let units = bytes.div_ceil(UNIT).clamp(1, u64::from(u32::MAX)) as u32;
        Self {
            sem: Arc::new(Semaphore::new(units as usize)),
            total_units: units,
        }
    }

    /// Waits until `bytes` fit in the budget. A request larger than the
    /// whole budget waits for all of it (so it runs alone) instead of
    /// deadlocking.
    pub(crate) async fn acquire(&self, bytes: u64) -> BudgetPermit {
        let units = (bytes.div_ceil(UNIT).max(1).min(u64::from(self.total_units))) as u32;
        let permit = Arc::clone(&self.sem)
            .acquire_many_owned(units)
            .await
            .expect("the budget semaphore is never closed");
        BudgetPermit { _permit: permit }
    }
}

/// A token bucket shared by every task of a job. Takers go into debt and
/// sleep it off, so one large take waits in proportion to its size.
#[derive(Debug)]
pub(crate) struct TokenBucket {
    rate_per_sec: f64,
    state: tokio::sync::Mutex<(f64, Instant)>,
}

impl TokenBucket {
    /// `None` when `rate_per_sec` is 0 (unlimited).
    pub(crate) fn new(rate_per_sec: u64) -> Option<Self> {
        (rate_per_sec > 0).then(|| Self {
            rate_per_sec: rate_per_sec as f64,
            state: tokio::sync::Mutex::new((rate_per_sec as f64, Instant::now())),
        })
    }

    pub(crate) async fn take(&self, n: u64) {
        let wait = {
            let mut st = self.state.lock().await;
            let now = Instant::now();
            let refill = now.duration_since(st.1).as_secs_f64() * self.rate_per_sec;
            // At most one second of burst.
            st.0 = (st.0 + refill).min(self.rate_per_sec) - n as f64;
            st.1 = now;
            if st.0 < 0.0 {
                Duration::from_secs_f64(-st.0 / self.rate_per_sec)
            } else {
                Duration::ZERO
            }
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

/// Optional bucket helper.
pub(crate) async fn take(bucket: Option<&TokenBucket>, n: u64) {
    if let Some(b) = bucket {
        b.take(n).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn budget_blocks_until_released() {
        let b = ByteBudget::new(10 * UNIT);
        let p1 = b.acquire(6 * UNIT).await;
        let b2 = b.clone();
        let waiter = tokio::spawn(async move { b2.acquire(6 * UNIT).await });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(p1);
        waiter.await.unwrap();
        // Larger than the whole budget: clamps instead of deadlocking.
        let _big = b.acquire(100 * UNIT).await;
    }

    #[tokio::test(start_paused = true)]
    async fn bucket_paces_takers() {
        let bucket = TokenBucket::new(100).unwrap();
        let start = tokio::time::Instant::now();
        bucket.take(100).await; // the initial burst
        bucket.take(50).await; // half a second of debt
        assert!(start.elapsed() >= Duration::from_millis(490));
        assert!(TokenBucket::new(0).is_none());
    }
}
