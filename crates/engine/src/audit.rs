//! One file's own account of its run, for the journal's audit facts (`haul
//! jobs report`): the retries heard while it was carried, by cause and with
//! the bytes they sent again, what an earlier run had already done of it,
//! and when it started and ended.
//!
//! A file's task runs inside [`scope`]: its [`Tally`] is the retry observer
//! there, and passes every report on to the job's, so the job's totals stay
//! whole. The part tasks a file spawns enter the same observer
//! ([`inherited`]).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use haul_core::observe::{self, Observer};
use haul_journal::FileAudit;

use crate::context::Shared;
use crate::event::cause_of;
use crate::verify::SIZE_ONLY;

/// Milliseconds since the epoch, as the journal keeps times.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// What one file's run has heard and found so far.
pub(crate) struct Tally {
    job: Arc<Shared>,
    started_ms: i64,
    retries: AtomicU64,
    resent_bytes: AtomicU64,
    causes: Mutex<BTreeMap<&'static str, u64>>,
    resumed: AtomicBool,
    resumed_bytes: AtomicU64,
}

impl Tally {
    /// A tally for a file starting now; `resumed` when an earlier run had
    /// already started it.
    pub(crate) fn start(job: &Arc<Shared>, resumed: bool) -> Arc<Self> {
        Arc::new(Self {
            job: Arc::clone(job),
            started_ms: now_ms(),
            retries: AtomicU64::new(0),
            resent_bytes: AtomicU64::new(0),
            causes: Mutex::new(BTreeMap::new()),
            resumed: AtomicBool::new(resumed),
            resumed_bytes: AtomicU64::new(0),
        })
    }

    fn count(&self, cause: &'static str, n: u64, bytes: u64) {
        self.retries.fetch_add(n, Ordering::Relaxed);
        self.resent_bytes.fetch_add(bytes, Ordering::Relaxed);
        if let Ok(mut c) = self.causes.lock() {
            *c.entry(cause).or_default() += n;
        }
    }

    /// The audit facts of the file ending now, carried by `method` and
    /// verified by comparing `verified` (both unknown for a failure).
    pub(crate) fn finish(&self, method: Option<&str>, verified: Option<&str>) -> FileAudit {
        let retry_causes = self.causes.lock().ok().and_then(|c| {
            (!c.is_empty()).then(|| {
                c.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            })
        });
        FileAudit {
            method: method.map(str::to_owned),
            verified: verified.map(|v| {
                if v == SIZE_ONLY {
                    "size only".to_owned()
                } else {
                    v.to_owned()
                }
            }),
            retries: self.retries.load(Ordering::Relaxed),
            retry_causes,
            resent_bytes: self.resent_bytes.load(Ordering::Relaxed),
            resumed: self.resumed.load(Ordering::Relaxed),
            resumed_bytes: self.resumed_bytes.load(Ordering::Relaxed),
            started_ms: Some(self.started_ms),
            ended_ms: Some(now_ms()),
        }
    }
}

impl Observer for Tally {
    fn retried(&self, error: &haul_core::Error, bytes: u64) {
        self.job.retried(error, bytes);
        self.count(cause_of(error), 1, bytes);
    }

    fn resent(&self, n: u64, bytes: u64) {
        self.job.resent(n, bytes);
        if n > 0 {
            self.count("connection", n, n * bytes);
        }
    }
}

tokio::task_local! {
    static TALLY: Arc<Tally>;
}

/// Runs a file's `fut` with `tally` hearing its retries (and passing them
/// on to the job) and its resume findings.
pub(crate) async fn scope<F: Future>(tally: Arc<Tally>, fut: F) -> F::Output {
    let observer = Arc::clone(&tally) as Arc<dyn Observer>;
    TALLY.scope(tally, observe::scope(observer, fut)).await
}

/// `fut` reporting its retries where the task spawning it does: the file's
/// tally inside a file's task, else the job's observer.
pub(crate) fn inherited<F: Future>(
    shared: &Arc<Shared>,
    fut: F,
) -> impl Future<Output = F::Output> + use<F> {
    let observer = observe::current().unwrap_or_else(|| Arc::clone(shared) as Arc<dyn Observer>);
    observe::scope(observer, fut)
}

/// Notes that an earlier run had sent `bytes` of the file, kept now.
pub(crate) fn resumed(bytes: u64) {
    let _ = TALLY.try_with(|t| {
        t.resumed.store(true, Ordering::Relaxed);
        t.resumed_bytes.fetch_add(bytes, Ordering::Relaxed);
    });
}

/// Notes `bytes` of the file that must be sent again though the store
/// had them (parts acknowledged after the journal's last word on them).
pub(crate) fn resent(bytes: u64) {
    if bytes > 0 {
        let _ = TALLY.try_with(|t| {
            t.resent_bytes.fetch_add(bytes, Ordering::Relaxed);
        });
    }
}

/// The audit facts of a destination object deleted now, in a batch that
/// started at `started_ms`.
pub(crate) fn deleted(started_ms: i64) -> FileAudit {
    FileAudit {
        method: Some("delete".to_owned()),
        started_ms: Some(started_ms),
        ended_ms: Some(now_ms()),
        ..FileAudit::default()
    }
}
