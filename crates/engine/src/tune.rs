//! Closed-loop concurrency (`Concurrency::Auto`): how many data requests
//! (parts, single puts, copies) a job keeps in flight, tuned while it runs.
//!
//! Every data request takes a slot ([`Slots`](crate::limit::Slots)). A tuner ([`tune`]) measures
//! the bytes that moved in each interval and climbs: while a step up
//! (×1.5) raised throughput by more than a tenth, it steps up again; when a
//! step up did not pay, it returns to the best level seen and holds,
//! probing again every [`PROBE_EVERY`] intervals. A request the store
//! throttled (503 SlowDown, `RateLimited`) cuts the slots by a third at
//! once and caps them there for the rest of the job: the store said how
//! much it takes. The memory budget still bounds what is read, and a fixed
//! setting turns all of this off.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::context::Shared;
use crate::event::Event;
use crate::limit::Slot;

/// Intervals a held level stays before the tuner probes a step up again.
pub(crate) const PROBE_EVERY: u32 = 8;

/// A throughput gain that counts as one (a tenth).
const GAIN: f64 = 1.10;

/// Waits for a slot of the job's slots, when it tunes its concurrency:
/// taken by every data request before it holds any memory.
pub(crate) async fn take(shared: &Shared) -> Option<Slot> {
    match &shared.slots {
        Some(slots) => Some(slots.acquire().await),
        None => None,
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
