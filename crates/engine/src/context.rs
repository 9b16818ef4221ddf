//! What every task of a job shares: the job's two endpoints, its request
//! and journaled spec, the counters and limits ([`Shared`]). A leaf: it
//! imports no module that does the work.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Instant, UNIX_EPOCH};

use haul_core::{ObjectMeta, ObjectStore};
use haul_journal::{JobId, Journal};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};

use crate::attrs::AttrOverrides;
use crate::config::{CompareMode, TransferConfig};
use crate::event::{Counters, Event, Snapshot, Summary};
use crate::limit::ByteBudget;

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// Copy every source object to the destination.
    Copy,
    /// Copy what differs; optionally delete what the source lacks.
    Sync,
    /// Copy, verify, then delete the source.
    Move,
    /// Delete every object under the source (the destination is ignored).
    Delete,
}

/// One side of a job: a store, a key prefix in it, and how to name it.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The store.
    pub store: Arc<dyn ObjectStore>,
    /// The key prefix (a whole key for single-object jobs); `""` for all.
    pub prefix: String,
    /// How the caller names this endpoint (a URL or path), journaled so
    /// `resume` can open the same store again. Never holds a secret.
    pub location: String,
    /// Whether `store` is already inside its layers (retry, throttle):
    /// the engine puts a store that is not in the layers its settings give
    /// ([`TransferConfig::layers`]) when a job starts.
    pub layered: bool,
}

impl Endpoint {
    /// An endpoint over `store` at `prefix`, named `location`.
    pub fn new(
        store: Arc<dyn ObjectStore>,
        prefix: impl Into<String>,
        location: impl Into<String>,
    ) -> Self {
        Self {
            store,
            prefix: prefix.into(),
            location: location.into(),
            layered: false,
        }
    }

    /// An endpoint over a `store` its caller already put in its layers
    /// ([`haul_layers::Layers::wrap`]), used as is.
    pub fn layered(
        store: Arc<dyn ObjectStore>,
        prefix: impl Into<String>,
        location: impl Into<String>,
    ) -> Self {
        Self {
            layered: true,
            ..Self::new(store, prefix, location)
        }
    }
}

/// The two sides of a job with their stores in `layers` where they were
/// not: one store serving both sides is wrapped once, so that it still
/// serves both (server-side copies).
pub(crate) fn with_layers(
    layers: &haul_layers::Layers,
    src: Endpoint,
    dst: Endpoint,
) -> (Endpoint, Endpoint) {
    let same = std::ptr::addr_eq(Arc::as_ptr(&src.store), Arc::as_ptr(&dst.store));
    let wrap = |e: Endpoint| {
        if e.layered {
            e
        } else {
            Endpoint {
                store: layers.wrap(e.store),
                layered: true,
                ..e
            }
        }
    };
    let src = wrap(src);
    let dst = if same {
        Endpoint {
            store: Arc::clone(&src.store),
            layered: true,
            ..dst
        }
    } else {
        wrap(dst)
    };
    (src, dst)
}

/// A job to start.
#[derive(Debug, Clone)]
#[allow(clippy::struct_excessive_bools)] // independent switches of one job
pub struct JobRequest {
    /// What to do.
    pub op: Operation,
    /// Where the objects come from (for `Delete`: what to delete).
    pub src: Endpoint,
    /// Where they go (for `Delete`: pass the source again).
    pub dst: Endpoint,
    /// The source prefix is one object's key and the destination prefix is
    /// the destination key.
    pub single: bool,
    /// How to decide that a destination object is up to date.
    pub compare: CompareMode,
    /// With `Sync`: delete destination objects the source lacks.
    pub delete_extraneous: bool,
    /// Refuse the job when it would delete more than this many objects.
    pub max_delete: Option<u64>,
    /// Only source keys (relative to the prefix) matching one of these globs.
    pub include: Vec<String>,
    /// Never source keys matching one of these globs.
    pub exclude: Vec<String>,
    /// Plan and report, transfer nothing.
    pub dry_run: bool,
    /// Attributes set on every uploaded object.
    pub attrs: AttrOverrides,
    /// The settings the caller opened its stores with (storage class,
    /// encryption, region, ...), journaled with the job so a resume opens
    /// them alike. The engine keeps them and does not read them; never a
    /// secret.
    pub store_options: BTreeMap<String, String>,
    /// Plan only the source keys of this shard (see [`crate::Shard`]).
    pub shard: Option<crate::Shard>,
    /// Plan the job and stop: workers on a shared journal run it.
    pub plan_only: bool,
}

impl JobRequest {
    /// A plain copy from `src` to `dst` of everything under the prefixes.
    #[must_use]
    pub fn copy(src: Endpoint, dst: Endpoint) -> Self {
        Self {
            op: Operation::Copy,
            src,
            dst,
            single: false,
            compare: CompareMode::Always,
            delete_extraneous: false,
            max_delete: None,
            include: Vec::new(),
            exclude: Vec::new(),
            dry_run: false,
            attrs: AttrOverrides::default(),
            store_options: BTreeMap::new(),
            shard: None,
            plan_only: false,
        }
    }
}

/// What the journal keeps of a job so another process can resume it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSpec {
    /// What the job does.
    pub op: Operation,
    /// The source's location text.
    pub src: String,
    /// The source prefix.
    pub src_prefix: String,
    /// The destination's location text.
    pub dst: String,
    /// The destination prefix.
    pub dst_prefix: String,
    /// Single-object job.
    pub single: bool,
    /// The settings the job runs with (resume keeps them).
    pub config: TransferConfig,
    /// Attributes set on every uploaded object.
    #[serde(default)]
    pub attrs: AttrOverrides,
    /// The settings the caller opened its stores with
    /// ([`JobRequest::store_options`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub store_options: BTreeMap<String, String>,
    /// Set when the job's listing is split into listing tasks (a shared
    /// journal): what every worker that lists a part of it plans by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listing: Option<ListingSpec>,
}

/// How each part of a job's listing is planned, journaled with a job
/// whose listing workers share (see [`JobSpec::listing`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListingSpec {
    /// How a destination object is judged up to date.
    pub compare: CompareMode,
    /// Delete destination objects the source lacks.
    pub delete_extraneous: bool,
    /// Only source keys (relative to the prefix) matching one of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
    /// Never source keys matching one of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    /// Only the keys of this shard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<crate::Shard>,
}

/// State every task of a job shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) job: JobId,
    pub(crate) journal: Arc<Journal>,
    pub(crate) config: TransferConfig,
    pub(crate) src: Endpoint,
    pub(crate) dst: Endpoint,
    pub(crate) op: Operation,
    pub(crate) attrs: AttrOverrides,
    /// How the job's listing tasks are planned, when it has them.
    pub(crate) listing: Option<ListingSpec>,
    pub(crate) counters: Counters,
    pub(crate) budget: ByteBudget,
    /// The policy of the retries the engine owns (the `retry` module).
    pub(crate) retry: haul_layers::RetryPolicy,
    /// The job-wide data request slots, when the concurrency is tuned.
    pub(crate) slots: Option<crate::limit::Slots>,
    pub(crate) events: Option<mpsc::UnboundedSender<Event>>,
    pub(crate) cancel: watch::Receiver<bool>,
    pub(crate) started: Instant,
    pub(crate) failures: std::sync::Mutex<Vec<(String, String)>>,
    /// The source's metadata of a single object, as this process's
    /// planner just read it: the transfer takes it instead of asking again
    /// (one round trip less before the first byte).
    pub(crate) planned: std::sync::Mutex<Option<ObjectMeta>>,
}

impl Shared {
    pub(crate) fn emit(&self, event: Event) {
        if let Some(tx) = &self.events {
            let _ = tx.send(event);
        }
    }

    /// The source metadata the planner read of `key` in this process, once.
    pub(crate) fn take_planned(&self, key: &haul_core::Key) -> Option<ObjectMeta> {
        let mut planned = self.planned.lock().ok()?;
        planned.take_if(|m| m.key == *key)
    }

    pub(crate) fn cancelled(&self) -> bool {
        *self.cancel.borrow()
    }

    /// Resolves when the job is cancelled (never, if it cannot be).
    pub(crate) async fn until_cancelled(&self) {
        let mut rx = self.cancel.clone();
        if rx.wait_for(|c| *c).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// The counters at this moment, with the tuned concurrency.
    pub(crate) fn snapshot(&self) -> Snapshot {
        Snapshot {
            concurrency: self.slots.as_ref().map_or(0, |s| s.limit() as u64),
            ..self.counters.snapshot(self.started.elapsed())
        }
    }

    /// Whether source and destination are the same store object, so
    /// server-side copies apply.
    pub(crate) fn same_store(&self) -> bool {
        std::ptr::addr_eq(Arc::as_ptr(&self.src.store), Arc::as_ptr(&self.dst.store))
    }
}

/// A job hears of its retries (the stores' retry layers', its own) and
/// counts them by cause, with the bytes they carried again.
impl haul_core::observe::Observer for Shared {
    fn retried(&self, error: &haul_core::Error, bytes: u64) {
        self.counters.count_retry(error);
        if matches!(error, haul_core::Error::RateLimited { .. }) {
            // Cut at once, not at the tuner's next interval.
            if let Some(n) = self.slots.as_ref().and_then(crate::limit::Slots::throttled) {
                self.emit(Event::Concurrency {
                    limit: n as u64,
                    reason: "throttled",
                    mb_per_sec: None,
                });
            }
        }
        self.counters
            .bytes_resent
            .fetch_add(bytes, Ordering::Relaxed);
    }

    fn resent(&self, n: u64, bytes: u64) {
        self.counters.count_resends(n, bytes);
    }
}

/// `fut` with the job's retries reported to it: every task a job spawns
/// runs inside this.
pub(crate) fn observed<F: std::future::Future>(
    shared: &Arc<Shared>,
    fut: F,
) -> impl std::future::Future<Output = F::Output> + use<F> {
    haul_core::observe::scope(
        Arc::clone(shared) as Arc<dyn haul_core::observe::Observer>,
        fut,
    )
}

/// The source's modification time in nanoseconds, as the journal keeps it.
pub(crate) fn mtime_ns(meta: &ObjectMeta) -> Option<i64> {
    meta.last_modified
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_nanos() as i64)
}

/// The summary of a job as its counters stand.
pub(crate) fn summary_of(shared: &Shared) -> Summary {
    let failures = shared
        .failures
        .lock()
        .map(|f| f.clone())
        .unwrap_or_default();
    let skipped_by_reason = shared
        .journal
        .skip_reasons(shared.job)
        .unwrap_or_default()
        .into_iter()
        .map(|(why, n)| (why.unwrap_or_else(|| "up to date".to_owned()), n))
        .collect();
    Summary {
        job_id: shared.job.0,
        counts: shared.snapshot(),
        cancelled: shared.cancelled(),
        failures,
        integrity_failures: shared.counters.integrity_failures.load(Ordering::Relaxed),
        verified_by_content: shared.counters.verified_by_content.load(Ordering::Relaxed),
        verified_by_size: shared.counters.verified_by_size.load(Ordering::Relaxed),
        retries_by_cause: shared.counters.retries_by_cause(),
        skipped_by_reason,
        compared: {
            let c = &shared.counters;
            crate::event::Compared {
                reported: c.compared_reported.load(Ordering::Relaxed),
                recorded: c.compared_recorded.load(Ordering::Relaxed),
                read: c.compared_read.load(Ordering::Relaxed),
                bytes_read: c.compared_bytes_read.load(Ordering::Relaxed),
            }
        },
    }
}
