//! Closed-loop concurrency (`Concurrency::Auto`): how many data requests
//! (parts, single puts, copies) a job keeps in flight, tuned while it runs.
//!
//! Every data request takes a slot ([`Slots`]). A tuner ([`tune`]) measures
//! the bytes that moved in each interval and climbs: while a step up
//! (×1.5) raised throughput by more than a tenth, it steps up again; when a
//! step up did not pay, it returns to the best level seen and holds,
//! probing again every [`PROBE_EVERY`] intervals. A request the store
//! throttled (503 SlowDown, `RateLimited`) cuts the slots by a third at
//! once and caps them there for the rest of the job: the store said how
//! much it takes. The memory budget still bounds what is read, and a fixed
//! setting turns all of this off.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::context::Shared;
use crate::event::Event;

/// Intervals a held level stays before the tuner probes a step up again.
pub(crate) const PROBE_EVERY: u32 = 8;

/// A throughput gain that counts as one (a tenth).
const GAIN: f64 = 1.10;

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

/// Waits for a slot of the job's slots, when it tunes its concurrency:
/// taken by every data request before it holds any memory.
pub(crate) async fn take(shared: &Shared) -> Option<Slot> {
    match &shared.slots {
        Some(slots) => Some(slots.acquire().await),
        None => None,
    }
}

/// The store throttled a request of the job (heard through its retry
/// observer): the slots are cut at once, not at the next interval.
pub(crate) fn throttled(shared: &Shared) {
    if let Some(n) = shared.slots.as_ref().and_then(Slots::throttled) {
        shared.emit(Event::Concurrency {
            limit: n as u64,
            reason: "throttled",
            mb_per_sec: None,
        });
    }
}

/// The tuner: every `interval`, judges the throughput of the last one and
/// moves the slots (see the module docs). Runs until the job ends.
pub(crate) async fn tune(shared: Arc<Shared>, interval: Duration) {
    let Some(slots) = shared.slots.as_ref() else {
        return;
    };
    let moved = || {
        let c = &shared.counters;
        c.bytes_moved.load(Ordering::Relaxed) + c.bytes_copied.load(Ordering::Relaxed)
    };
    let mut last = (Instant::now(), moved());
    let mut best = (0.0_f64, slots.limit());
    let mut probing = false;
    let mut held = 0;
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let now = (Instant::now(), moved());
        let secs = now.0.duration_since(last.0).as_secs_f64().max(1e-3);
        let rate = (now.1 - last.1) as f64 / secs;
        last = now;
        let cur = slots.limit();
        if rate == 0.0 {
            continue; // nothing moved: planning, or waiting on a slow first byte
        }
        let (next, reason) = if rate > best.0 * GAIN {
            // This level beats every level before it: step up from here.
            best = (rate, cur);
            probing = true;
            held = 0;
            (cur + cur.div_ceil(2), "climbing")
        } else if probing {
            // The step up did not pay: back to the best level, and hold.
            probing = false;
            held = 0;
            (best.1, "holding")
        } else {
            held += 1;
            if held >= PROBE_EVERY {
                // The link may have changed: judge the held level afresh and
                // try a step up.
                held = 0;
                best = (rate, cur);
                probing = true;
                (cur + cur.div_ceil(2), "probing")
            } else {
                (cur, "")
            }
        };
        if next != cur {
            let set = slots.set(next);
            if set != cur {
                shared.emit(Event::Concurrency {
                    limit: set as u64,
                    reason,
                    mb_per_sec: Some(rate / 1e6),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
