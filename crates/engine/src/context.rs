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
use crate::event::{Counters, Event, Summary};
use crate::limit::{ByteBudget, TokenBucket};

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
        }
    }
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
    pub(crate) counters: Counters,
    pub(crate) budget: ByteBudget,
    pub(crate) bw: Option<TokenBucket>,
    pub(crate) tps: Option<TokenBucket>,
    pub(crate) events: Option<mpsc::UnboundedSender<Event>>,
    pub(crate) cancel: watch::Receiver<bool>,
    pub(crate) started: Instant,
    pub(crate) failures: std::sync::Mutex<Vec<(String, String)>>,
}

impl Shared {
    pub(crate) fn emit(&self, event: Event) {
        if let Some(tx) = &self.events {
            let _ = tx.send(event);
        }
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

    /// Whether source and destination are the same store object, so
    /// server-side copies apply.
    pub(crate) fn same_store(&self) -> bool {
        std::ptr::addr_eq(Arc::as_ptr(&self.src.store), Arc::as_ptr(&self.dst.store))
    }
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
        counts: shared.counters.snapshot(shared.started.elapsed()),
        cancelled: shared.cancelled(),
        failures,
        integrity_failures: shared.counters.integrity_failures.load(Ordering::Relaxed),
        verified_by_content: shared.counters.verified_by_content.load(Ordering::Relaxed),
        verified_by_size: shared.counters.verified_by_size.load(Ordering::Relaxed),
        retries_by_cause: shared.counters.retries_by_cause(),
        skipped_by_reason,
    }
}
