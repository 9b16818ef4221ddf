//! haul-layers wraps any [`ObjectStore`] in the concerns every command's
//! requests share, each a store around a store (as OpenDAL's layers are):
//!
//! * [`Retry`]: one [`RetryPolicy`] (jittered exponential backoff, a
//!   store's Retry-After, which errors are retryable, timeouts tried once
//!   more) for every request whose inputs can be sent again, and listings
//!   resumed after the last entry they gave;
//! * [`Throttle`]: bandwidth and request-rate [`Limits`] shared by every
//!   store of a job;
//! * [`Timing`]: each call timed into a [`Recorder`] and traced.
//!
//! [`Layers`] composes them once, where a store is opened: the retry layer
//! outermost, so that every try passes the throttle and is timed.
//! Retries are reported to the [`haul_core::observe`] observer in scope
//! (a job counts them by cause).
//!
//! ```
//! # use std::sync::Arc;
//! use haul_core::ObjectStore;
//! use haul_layers::{Layers, Limits, RetryPolicy};
//! let store: Arc<dyn ObjectStore> = Arc::new(haul_testkit::MemoryStore::new());
//! let layered = Layers::new(RetryPolicy::default())
//!     .limits(Limits::new(50 << 20, 0))
//!     .wrap(store);
//! assert_eq!(layered.capabilities().multipart, true);
//! ```

/// A layer is shown as the store it wraps (error messages and logs name
/// the store, not its layers).
macro_rules! named_as_inner {
    ($layer:ty) => {
        impl std::fmt::Display for $layer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Display::fmt(&self.inner, f)
            }
        }
    };
}
pub(crate) use named_as_inner;

mod policy;
mod retry;
mod throttle;
mod timing;

use std::sync::Arc;

use haul_core::ObjectStore;

pub use policy::{MAX_DELAY, Patience, RetryPolicy, TIMEOUT_RETRIES, sharing};
pub use retry::Retry;
pub use throttle::{Limits, Throttle, TokenBucket};
pub use timing::{Op, Recorder, Timed, Timing, TimingLog};

/// The layers put around every store a command opens.
#[derive(Clone, Default)]
pub struct Layers {
    retry: RetryPolicy,
    limits: Limits,
    recorder: Option<Arc<dyn Recorder>>,
}

impl std::fmt::Debug for Layers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Layers")
            .field("retry", &self.retry)
            .field("limits", &self.limits)
            .field("timed", &self.recorder.is_some())
            .finish()
    }
}

impl Layers {
    /// Retries by `retry`; no limits, no timing.
    #[must_use]
    pub fn new(retry: RetryPolicy) -> Self {
        Self {
            retry,
            ..Self::default()
        }
    }

    /// Holds every store wrapped from now on to `limits` (shared between
    /// them).
    #[must_use]
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Times every request (every try) into `recorder`.
    #[must_use]
    pub fn timed(mut self, recorder: Arc<dyn Recorder>) -> Self {
        self.recorder = Some(recorder);
        self
    }

    /// The retry policy.
    #[must_use]
    pub fn retry_policy(&self) -> RetryPolicy {
        self.retry
    }

    /// `store` inside the layers: retry, then throttle, then timing.
    #[must_use]
    pub fn wrap(&self, store: Arc<dyn ObjectStore>) -> Arc<dyn ObjectStore> {
        let mut s = store;
        if let Some(r) = &self.recorder {
            s = Arc::new(Timing::new(s, Arc::clone(r)));
        }
        if !self.limits.is_unlimited() {
            s = Arc::new(Throttle::new(s, self.limits.clone()));
        }
        if self.retry.times > 0 {
            s = Arc::new(Retry::new(s, self.retry));
        }
        s
    }
}

#[cfg(test)]
mod tests;
