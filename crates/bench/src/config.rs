//! What to measure: [`Workload`] and [`BenchConfig`].

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use haul_core::Capabilities;
use serde::{Deserialize, Serialize};

use crate::{BenchError, Result};

const MIB: u64 = 1 << 20;

/// The requests a run sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Workload {
    /// One PUT per object, each to a new key.
    Put,
    /// GETs of a pool of objects written (unmeasured) before the run.
    Get,
    /// 50% GET and 20% HEAD of the pool, 30% PUT of new keys.
    Mixed,
    /// Multipart uploads: create, `part_size` parts in parallel, complete.
    Multipart,
    /// Server-side copies of pool objects to new keys.
    Copy,
}

impl Workload {
    /// Every workload.
    pub const ALL: [Self; 5] = [
        Self::Put,
        Self::Get,
        Self::Mixed,
        Self::Multipart,
        Self::Copy,
    ];

    /// The lowercase name (`put`, `get`, ...).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Put => "put",
            Self::Get => "get",
            Self::Mixed => "mixed",
            Self::Multipart => "multipart",
            Self::Copy => "copy",
        }
    }

    /// Whether the run reads or copies objects written before it.
    #[must_use]
    pub fn needs_pool(self) -> bool {
        matches!(self, Self::Get | Self::Mixed | Self::Copy)
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Workload {
    type Err = BenchError;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|w| w.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                BenchError::Config(format!(
                    "unknown workload {s:?} (put, get, mixed, multipart, copy)"
                ))
            })
    }
}

/// What to measure, and for how long.
///
/// A run stops starting operations after `objects` operations or once
/// `duration` has passed, whichever comes first (at least one must be set);
/// operations in flight then finish and count. An operation is one object
/// written, read or copied (for `mixed`, one request).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BenchConfig {
    /// The requests to send.
    pub workload: Workload,
    /// Size of every object written, read or copied. Default 1 MiB.
    pub object_size_bytes: u64,
    /// Operations per run; for `get`, `mixed` and `copy` also the number of
    /// objects written before the run to read from (at most 1 GiB of them;
    /// reads cycle through the pool). Default: unset.
    pub objects: Option<u64>,
    /// Longest a run starts new operations for. Default 10 s.
    #[serde(with = "opt_secs")]
    pub duration: Option<Duration>,
    /// Requests in flight at once (the largest, with `sweep`). Default 16.
    pub concurrency: usize,
    /// Run at concurrency 1, 2, 4, … up to `concurrency` (which is always
    /// run last), one run each.
    pub sweep: bool,
    /// Part size of the `multipart` workload. Default 8 MiB.
    pub part_size: u64,
    /// Keys go under `<key_prefix>/haul-bench-<time>-<random>/` (the `/`
    /// only when the prefix lacks one); the run deletes everything it wrote
    /// there at the end. Default empty.
    pub key_prefix: String,
    /// Seeds the object contents and the mixed workload's choices.
    pub seed: u64,
    /// Retries of a request that failed with a retryable error, with
    /// jittered exponential backoff (every retry is counted). Default 3.
    pub max_retries: u32,
}

impl Default for BenchConfig {
    fn default() -> Self {
        Self {
            workload: Workload::Put,
            object_size_bytes: MIB,
            objects: None,
            duration: Some(Duration::from_secs(10)),
            concurrency: 16,
            sweep: false,
            part_size: 8 * MIB,
            key_prefix: String::new(),
            seed: 1,
            max_retries: 3,
        }
    }
}

/// Largest pool of objects written before a read or copy run.
pub(crate) const POOL_BYTES: u64 = 1 << 30;

impl BenchConfig {
    /// The concurrencies to run: `[concurrency]`, or with `sweep` the powers
    /// of two below it and then it.
    #[must_use]
    pub fn concurrencies(&self) -> Vec<usize> {
        let top = self.concurrency.max(1);
        if !self.sweep {
            return vec![top];
        }
        let mut v: Vec<usize> = std::iter::successors(Some(1usize), |c| c.checked_mul(2))
            .take_while(|&c| c < top)
            .collect();
        v.push(top);
        v
    }

    /// How many objects are written before a `get`, `mixed` or `copy` run:
    /// `objects`, else twice the concurrency (at least 16), capped so the
    /// pool holds at most 1 GiB; 0 for the other workloads.
    #[must_use]
    pub fn pool_objects(&self) -> u64 {
        if !self.workload.needs_pool() {
            return 0;
        }
        let want = self
            .objects
            .unwrap_or_else(|| (2 * self.concurrency as u64).max(16));
        let cap = (POOL_BYTES / self.object_size_bytes.max(1)).max(1);
        want.min(cap).max(1)
    }

    /// Parts per multipart object.
    pub(crate) fn parts_per_object(&self) -> u64 {
        self.object_size_bytes
            .div_ceil(self.part_size.max(1))
            .max(1)
    }

    /// Checks the settings against what the store can do; one line says why not.
    pub fn validate(&self, caps: &Capabilities) -> Result<()> {
        let bad = |m: String| Err(BenchError::Config(m));
        if self.concurrency == 0 {
            return bad("concurrency must be at least 1".into());
        }
        if self.objects.is_none() && self.duration.is_none() {
            return bad("set an object count or a duration".into());
        }
        if self.objects == Some(0) || self.duration == Some(Duration::ZERO) {
            return bad("the object count and the duration must be positive".into());
        }
        let size = self.object_size_bytes;
        match self.workload {
            Workload::Multipart => {
                if !caps.multipart {
                    return bad("the store has no multipart uploads".into());
                }
                if size == 0 || self.part_size == 0 {
                    return bad("multipart needs a positive object and part size".into());
                }
                if self.parts_per_object() > 1 && self.part_size < caps.min_part_size_bytes {
                    return bad(format!(
                        "part size {} is below the store's minimum of {} bytes",
                        self.part_size, caps.min_part_size_bytes
                    ));
                }
                if self.part_size.min(size) > caps.max_part_size_bytes {
                    return bad(format!(
                        "part size {} is above the store's maximum of {} bytes",
                        self.part_size, caps.max_part_size_bytes
                    ));
                }
                if self.parts_per_object() > u64::from(caps.max_parts) {
                    return bad(format!(
                        "{size} bytes in parts of {} is more than the store's {} parts",
                        self.part_size, caps.max_parts
                    ));
                }
            }
            _ if size > caps.max_single_put_bytes => {
                return bad(format!(
                    "objects of {size} bytes exceed the store's single-put limit of {} bytes \
                     (use the multipart workload)",
                    caps.max_single_put_bytes
                ));
            }
            Workload::Copy if !caps.server_side_copy => {
                return bad("the store has no server-side copy".into());
            }
            Workload::Copy if size > caps.max_copy_bytes => {
                return bad(format!(
                    "objects of {size} bytes exceed the store's copy limit of {} bytes",
                    caps.max_copy_bytes
                ));
            }
            _ => {}
        }
        Ok(())
    }
}

mod opt_secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    #[allow(clippy::ref_option)] // serde's `with` signature
    pub(super) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<f64>::deserialize(d)?
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweep_doubles_up_to_the_concurrency() {
        let mut c = BenchConfig {
            concurrency: 12,
            sweep: true,
            ..BenchConfig::default()
        };
        assert_eq!(c.concurrencies(), vec![1, 2, 4, 8, 12]);
        c.concurrency = 16;
        assert_eq!(c.concurrencies(), vec![1, 2, 4, 8, 16]);
        c.concurrency = 1;
        assert_eq!(c.concurrencies(), vec![1]);
        c.sweep = false;
        c.concurrency = 7;
        assert_eq!(c.concurrencies(), vec![7]);
    }

    #[test]
    fn pool_is_capped_at_a_gibibyte() {
        let c = BenchConfig {
            workload: Workload::Get,
            object_size_bytes: 256 * MIB,
            objects: Some(100),
            ..BenchConfig::default()
        };
        assert_eq!(c.pool_objects(), 4);
        let c = BenchConfig {
            workload: Workload::Get,
            ..BenchConfig::default()
        };
        assert_eq!(c.pool_objects(), 32);
        assert_eq!(BenchConfig::default().pool_objects(), 0);
    }

    #[test]
    fn validation_names_the_problem() {
        let caps = Capabilities {
            multipart: true,
            min_part_size_bytes: 5 * MIB,
            max_single_put_bytes: 16 * MIB,
            ..Capabilities::default()
        };
        let ok = BenchConfig::default();
        ok.validate(&caps).unwrap();
        let e = BenchConfig {
            objects: None,
            duration: None,
            ..ok.clone()
        }
        .validate(&caps)
        .unwrap_err();
        assert!(e.to_string().contains("object count or a duration"), "{e}");
        let e = BenchConfig {
            workload: Workload::Multipart,
            object_size_bytes: 64 * MIB,
            part_size: MIB,
            ..ok.clone()
        }
        .validate(&caps)
        .unwrap_err();
        assert!(e.to_string().contains("below the store's minimum"), "{e}");
        let e = BenchConfig {
            object_size_bytes: 32 * MIB,
            ..ok.clone()
        }
        .validate(&caps)
        .unwrap_err();
        assert!(e.to_string().contains("single-put limit"), "{e}");
        assert_eq!("MIXED".parse::<Workload>().unwrap(), Workload::Mixed);
        assert!("scan".parse::<Workload>().is_err());
    }

    #[test]
    fn config_round_trips_through_json() {
        let c = BenchConfig {
            workload: Workload::Copy,
            duration: Some(Duration::from_millis(1500)),
            ..BenchConfig::default()
        };
        let j = serde_json::to_string(&c).unwrap();
        assert!(j.contains("\"duration\":1.5"), "{j}");
        assert_eq!(serde_json::from_str::<BenchConfig>(&j).unwrap(), c);
    }
}
