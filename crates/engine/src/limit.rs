//! The byte budget for buffers in flight. Bandwidth and request-rate
//! limits are the stores' throttle layer ([`haul_layers::Throttle`]).

use std::sync::Arc;

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
}
