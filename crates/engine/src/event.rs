//! What a job tells its observers: typed events, progress snapshots and the
//! end-of-job summary.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;

/// One thing that happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The plan is complete.
    Planned {
        /// Files planned (including skipped ones).
        files: u64,
        /// Bytes to transfer.
        bytes: u64,
    },
    /// A file started transferring.
    FileStarted {
        /// Source key.
        src: String,
        /// Destination key.
        dst: String,
        /// Size in bytes.
        size: u64,
    },
    /// A file finished and was verified.
    FileDone {
        /// Source key.
        src: String,
        /// Destination key.
        dst: String,
        /// Size in bytes.
        size: u64,
        /// How it got there: `put`, `multipart`, `copy`, `part-copy`, `delete`.
        method: &'static str,
        /// The verified checksum, `kind:hex`.
        checksum: Option<String>,
        /// What was compared with what arrived: checksum kinds (`crc32c`,
        /// `crc64xz+md5`), `etag-md5`, `read-back:crc32c`, or `size` when
        /// only sizes were; absent for deletes.
        #[serde(skip_serializing_if = "Option::is_none")]
        verified: Option<String>,
        /// Where the store put the object, when it chose (a URL, a uuid).
        #[serde(skip_serializing_if = "Option::is_none")]
        location: Option<String>,
    },
    /// A file failed.
    FileFailed {
        /// Source key.
        src: String,
        /// Destination key.
        dst: String,
        /// One line naming the object and the cause.
        error: String,
    },
    /// A file needed nothing, or was left out for a reason.
    FileSkipped {
        /// Source key (an escaped name for entries that cannot be keys).
        src: String,
        /// Destination key.
        dst: String,
        /// Why it was left out; `None` when it is already up to date.
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// A part finished.
    PartDone {
        /// Destination key.
        dst: String,
        /// Part number.
        number: u32,
        /// Bytes in the part.
        len: u64,
    },
    /// A request or part is being retried.
    Retry {
        /// Destination key.
        dst: String,
        /// Why.
        error: String,
    },
    /// With `dry_run`: what the job would do.
    DryRun {
        /// `copy` or `delete`.
        action: &'static str,
        /// Source key.
        src: String,
        /// Destination key.
        dst: String,
        /// Size in bytes.
        size: u64,
    },
    /// Periodic progress.
    Progress(Snapshot),
    /// The tuned concurrency moved (`Concurrency::Auto`).
    Concurrency {
        /// Data requests in flight from now on.
        limit: u64,
        /// `climbing` (the last step raised throughput), `holding` (it did
        /// not: back to the best level), `probing` (trying a step up after
        /// holding) or `throttled` (the store answered SlowDown).
        reason: &'static str,
        /// Throughput over the last interval, in MB/s (10^6 bytes).
        #[serde(skip_serializing_if = "Option::is_none")]
        mb_per_sec: Option<f64>,
    },
}

/// Counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Snapshot {
    /// Files planned.
    pub files_total: u64,
    /// Files done.
    pub files_done: u64,
    /// Files skipped.
    pub files_skipped: u64,
    /// Files failed.
    pub files_failed: u64,
    /// Bytes to move.
    pub bytes_total: u64,
    /// Bytes moved (acknowledged by the destination), including re-sends.
    pub bytes_transferred: u64,
    /// Bytes sent again: parts and objects retried in this run, and on a
    /// resume the parts the store held that the journal had not recorded.
    pub bytes_resent: u64,
    /// Bytes found already done at the destination on resume.
    pub bytes_resumed: u64,
    /// Retries (requests and parts).
    pub retries: u64,
    /// Seconds since the job (or its resume) started.
    pub elapsed_s: f64,
    /// Data requests in flight the tuned concurrency allows now
    /// (`Concurrency::Auto`); 0 (and left out of JSON) when fixed.
    #[serde(skip_serializing_if = "is_zero")]
    pub concurrency: u64,
    /// Whether the source is still being listed: the totals are then what
    /// was listed so far, not the job's.
    #[serde(skip)]
    pub listing: bool,
    /// Retries by cause so far (they add up to `retries`).
    #[serde(skip)]
    pub retry_causes: RetryCauses,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde passes a reference
fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Retries by cause at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RetryCauses {
    /// Transient failures (a 5xx, a reset connection, ...).
    pub transient: u64,
    /// Timeouts.
    pub timeout: u64,
    /// Rate limits (503 SlowDown, 429).
    pub rate_limited: u64,
    /// Checksum mismatches.
    pub integrity: u64,
    /// Requests the transport sent again on a fresh connection.
    pub connection: u64,
}

/// The cause a retry after `e` is counted under (a name of
/// [`RetryCauses::named`]; `connection` is the transport's own resends).
pub(crate) fn cause_of(e: &haul_core::Error) -> &'static str {
    match e {
        haul_core::Error::Timeout { .. } => "timeout",
        haul_core::Error::RateLimited { .. } => "rate-limited",
        haul_core::Error::Integrity { .. } => "integrity",
        _ => "transient",
    }
}

impl RetryCauses {
    /// Each cause's name (as in [`Summary::retries_by_cause`]) and count.
    #[must_use]
    pub fn named(&self) -> [(&'static str, u64); 5] {
        [
            ("transient", self.transient),
            ("timeout", self.timeout),
            ("rate-limited", self.rate_limited),
            ("integrity", self.integrity),
            ("connection", self.connection),
        ]
    }
}

/// The end-of-job report.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    /// The job's id in the journal.
    pub job_id: i64,
    /// The counters at the end.
    #[serde(flatten)]
    pub counts: Snapshot,
    /// Whether the job was cancelled before the end.
    pub cancelled: bool,
    /// Failed files: destination key and error line.
    pub failures: Vec<(String, String)>,
    /// Files that failed verification: what arrived is not what left.
    pub integrity_failures: u64,
    /// Files done whose content was compared with what arrived (this run).
    pub verified_by_content: u64,
    /// Files done of which only the size could be compared (this run).
    pub verified_by_size: u64,
    /// Retries (this run) by cause: `transient`, `timeout`,
    /// `rate-limited`, `integrity`; they add up to `retries`.
    pub retries_by_cause: Vec<(String, u64)>,
    /// Skipped files by reason (`"up to date"`, `"a fifo, not a regular
    /// file"`, …), most common first; they add up to `files_skipped`.
    pub skipped_by_reason: Vec<(String, u64)>,
    /// How `--checksum` compared the files both sides had (this run).
    pub compared: Compared,
}

/// How `--checksum` settled the files present on both sides: never by
/// size alone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Compared {
    /// Files settled by checksums both stores reported (listing or HEAD).
    pub reported: u64,
    /// Files settled with a checksum the journal recorded of that very
    /// version (size and ETag; for a local file size, mtime and inode),
    /// computed when haul last read or verified it: nothing was read.
    pub recorded: u64,
    /// Files for which one side (or both) had to be read and hashed.
    pub read: u64,
    /// Bytes read and hashed to compare.
    pub bytes_read: u64,
}

impl Compared {
    /// Files compared in all.
    #[must_use]
    pub fn files(&self) -> u64 {
        self.reported + self.recorded + self.read
    }
}

impl Summary {
    /// Whether every file was done or skipped and nothing was cancelled.
    #[must_use]
    pub fn is_success(&self) -> bool {
        !self.cancelled && self.counts.files_failed == 0
    }

    /// Whether some failure was an integrity (verification) failure.
    #[must_use]
    pub fn has_integrity_failure(&self) -> bool {
        self.integrity_failures > 0
    }
}

/// Live counters, shared by every task of a job.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) files_total: AtomicU64,
    pub(crate) files_done: AtomicU64,
    pub(crate) files_skipped: AtomicU64,
    pub(crate) files_failed: AtomicU64,
    pub(crate) bytes_total: AtomicU64,
    pub(crate) bytes_transferred: AtomicU64,
    /// Bytes read from the source as they flow (the tuner's measure);
    /// shared with the bodies that count them.
    pub(crate) bytes_moved: std::sync::Arc<AtomicU64>,
    /// Bytes copied inside the store (part copies and copies), counted as
    /// each request ends.
    pub(crate) bytes_copied: AtomicU64,
    pub(crate) bytes_resent: AtomicU64,
    pub(crate) bytes_resumed: AtomicU64,
    pub(crate) retries: AtomicU64,
    /// Files that failed verification (not in snapshots: the summary's).
    pub(crate) integrity_failures: AtomicU64,
    /// Files whose content was compared (the summary's).
    pub(crate) verified_by_content: AtomicU64,
    /// Files of which only the size could be compared (the summary's).
    pub(crate) verified_by_size: AtomicU64,
    /// Retries by cause: a timeout, a rate limit, a checksum mismatch,
    /// any other transient failure (the summary's).
    pub(crate) retries_timeout: AtomicU64,
    pub(crate) retries_rate_limited: AtomicU64,
    pub(crate) retries_integrity: AtomicU64,
    /// Requests the transport sent again on a fresh connection.
    pub(crate) retries_connection: AtomicU64,
    pub(crate) retries_transient: AtomicU64,
    /// Whether the source is being listed (planning).
    pub(crate) listing: AtomicBool,
    /// How `--checksum` settled the files it compared (the summary's).
    pub(crate) compared_reported: AtomicU64,
    pub(crate) compared_recorded: AtomicU64,
    pub(crate) compared_read: AtomicU64,
    pub(crate) compared_bytes_read: AtomicU64,
}

impl Counters {
    /// Counts one request or part sent again because of `e`.
    pub(crate) fn count_retry(&self, e: &haul_core::Error) {
        self.retries.fetch_add(1, Ordering::Relaxed);
        let cause = match cause_of(e) {
            "timeout" => &self.retries_timeout,
            "rate-limited" => &self.retries_rate_limited,
            "integrity" => &self.retries_integrity,
            _ => &self.retries_transient,
        };
        cause.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts `n` requests of `len` payload bytes each that the transport
    /// sent again on its own.
    pub(crate) fn count_resends(&self, n: u64, len: u64) {
        if n > 0 {
            self.retries.fetch_add(n, Ordering::Relaxed);
            self.retries_connection.fetch_add(n, Ordering::Relaxed);
            self.bytes_resent.fetch_add(n * len, Ordering::Relaxed);
        }
    }

    /// Retries by cause, those that happened.
    pub(crate) fn retries_by_cause(&self) -> Vec<(String, u64)> {
        self.retry_causes()
            .named()
            .into_iter()
            .map(|(name, n)| (name.to_owned(), n))
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    fn retry_causes(&self) -> RetryCauses {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        RetryCauses {
            transient: g(&self.retries_transient),
            timeout: g(&self.retries_timeout),
            rate_limited: g(&self.retries_rate_limited),
            integrity: g(&self.retries_integrity),
            connection: g(&self.retries_connection),
        }
    }

    pub(crate) fn snapshot(&self, elapsed: Duration) -> Snapshot {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Snapshot {
            files_total: g(&self.files_total),
            files_done: g(&self.files_done),
            files_skipped: g(&self.files_skipped),
            files_failed: g(&self.files_failed),
            bytes_total: g(&self.bytes_total),
            bytes_transferred: g(&self.bytes_transferred),
            bytes_resent: g(&self.bytes_resent),
            bytes_resumed: g(&self.bytes_resumed),
            retries: g(&self.retries),
            elapsed_s: elapsed.as_secs_f64(),
            concurrency: 0,
            listing: self.listing.load(Ordering::Relaxed),
            retry_causes: self.retry_causes(),
        }
    }
}
