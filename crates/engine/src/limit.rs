//! The byte budget for buffers in flight, and the slots of data requests
//! a tuned job keeps in flight (resized by the `tune` module). Bandwidth and request-rate
//! limits are the stores' throttle layer ([`haul_layers::Throttle`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
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

/// The job-wide slots of data requests in flight, resizable while held.
#[derive(Debug)]
pub(crate) struct Slots {
    sem: Arc<Semaphore>,
    /// The level the slots are set to.
    limit: AtomicUsize,
    /// The most they may grow to: the throttled ceiling, or the maximum.
    ceiling: AtomicUsize,
    /// When the last cut for throttling came: one answer cuts, the
    /// burst it belongs to does not cut again within [`Slots::spacing`].
    last_cut: std::sync::Mutex<Option<Instant>>,
    spacing: Duration,
}

/// A slot held by one request; given back on drop.
#[derive(Debug)]
pub(crate) struct Slot {
    _permit: OwnedSemaphorePermit,
}

impl Slots {
    /// Slots starting at `start`, never above `max`; throttling answers
    /// within `spacing` of a cut belong to the burst that made it.
    pub(crate) fn new(start: usize, max: usize, spacing: Duration) -> Self {
        let start = start.clamp(1, max.max(1));
        Self {
            sem: Arc::new(Semaphore::new(start)),
            limit: AtomicUsize::new(start),
            ceiling: AtomicUsize::new(max.max(1)),
            last_cut: std::sync::Mutex::new(None),
            spacing,
        }
    }

    /// Waits for a slot.
    pub(crate) async fn acquire(&self) -> Slot {
        let permit = Arc::clone(&self.sem)
            .acquire_owned()
            .await
            .expect("the slots semaphore is never closed");
        Slot { _permit: permit }
    }

    /// The level the slots are set to.
    pub(crate) fn limit(&self) -> usize {
        self.limit.load(Ordering::Acquire)
    }

    /// Sets the level to `n` (within 1 and the ceiling); returns the level set.
    pub(crate) fn set(&self, n: usize) -> usize {
        let n = n.clamp(1, self.ceiling.load(Ordering::Acquire));
        let old = self.limit.swap(n, Ordering::AcqRel);
        if n > old {
            self.sem.add_permits(n - old);
        } else if n < old {
            // Take back the difference as slots come free: new requests wait
            // until those in flight are down to the new level.
            let sem = Arc::clone(&self.sem);
            let k = u32::try_from(old - n).unwrap_or(u32::MAX);
            tokio::spawn(async move {
                if let Ok(p) = sem.acquire_many_owned(k).await {
                    p.forget();
                }
            });
        }
        n
    }

    /// The store throttled a request: cuts the level by a third and caps
    /// it there for the rest of the job, unless a cut came within
    /// `spacing` (the same burst). Returns the new level when it cut.
    pub(crate) fn throttled(&self) -> Option<usize> {
        {
            let mut last = self
                .last_cut
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if last.is_some_and(|t| t.elapsed() < self.spacing) {
                return None;
            }
            *last = Some(Instant::now());
        }
        let cut = (self.limit() * 2 / 3).max(1);
        self.ceiling.fetch_min(cut, Ordering::AcqRel);
        Some(self.set(cut))
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

    #[tokio::test]
    async fn slots_grow_and_shrink_while_held() {
        let slots = Slots::new(2, 8, Duration::from_hours(1));
        let _a = slots.acquire().await;
        let _b = slots.acquire().await;
        assert_eq!(slots.sem.available_permits(), 0);
        assert_eq!(slots.set(4), 4);
        let _c = slots.acquire().await;
        let _d = slots.acquire().await;
        assert_eq!(slots.set(100), 8, "never above the maximum");
        assert_eq!(slots.sem.available_permits(), 4);
        assert_eq!(slots.throttled(), Some(5));
        assert_eq!(slots.throttled(), None, "the same burst cuts once");
        assert_eq!(slots.set(8), 5, "capped where the store throttled");
    }
}
