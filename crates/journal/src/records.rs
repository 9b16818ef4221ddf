use std::fmt;

/// A job's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(pub i64);

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for JobId {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(Self)
    }
}

/// A file's id (unique across jobs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(pub i64);

impl fmt::Display for FileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

macro_rules! text_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $s:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vm])* $v),* }
        impl $name {
            /// The name stored in the journal.
            #[must_use]
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$v => $s),* }
            }
            /// Parses a stored name; unknown names are `None`.
            #[must_use]
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($s => Some(Self::$v),)* _ => None }
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum!(
    /// Where a job stands.
    JobState {
        /// Listing the source and writing the plan.
        Planning = "planning",
        /// Transferring.
        Running = "running",
        /// Stopped before the end (cancelled or crashed); resumable.
        Interrupted = "interrupted",
        /// Finished with every file done or skipped.
        Done = "done",
        /// Finished with some files failed.
        Failed = "failed",
    }
);

text_enum!(
    /// Where a file stands.
    FileState {
        /// Planned, not started.
        Pending = "pending",
        /// Started; parts may be done.
        Active = "active",
        /// Transferred and verified.
        Done = "done",
        /// Failed; see its error.
        Failed = "failed",
        /// Nothing to do: already identical at the destination, or left out
        /// for the reason in its error (a link not followed, a fifo).
        Skipped = "skipped",
        /// Cannot be carried at all (a name that cannot be a key): counted
        /// as failed with the reason in its error, never retried.
        Refused = "refused",
        /// Sent to a store whose uploads are not idempotent, and the answer
        /// was lost: it may or may not have arrived. Not re-sent unless asked.
        Unknown = "unknown",
    }
);

text_enum!(
    /// What the job does with a file.
    FileAction {
        /// Copy source to destination.
        Copy = "copy",
        /// Delete the destination (sync --delete, rm).
        Delete = "delete",
    }
);

/// A file to add to a job's plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFile {
    /// Source key or path (relative to the job's source root).
    pub src: String,
    /// Destination key or path.
    pub dst: String,
    /// Source size in bytes.
    pub size: u64,
    /// Source modification time, nanoseconds since the epoch.
    pub mtime_ns: Option<i64>,
    /// Source ETag or version, for stores.
    pub src_version: Option<String>,
    /// What to do.
    pub action: FileAction,
    /// Initial state (`Pending`, `Skipped` for files already in place or
    /// left out, `Refused` for entries that cannot be carried).
    pub state: FileState,
    /// Why a `Skipped` or `Refused` entry is so (`None` for up to date).
    pub error: Option<String>,
}

impl NewFile {
    /// A pending copy with only a size.
    pub fn copy(src: impl Into<String>, dst: impl Into<String>, size: u64) -> Self {
        Self {
            src: src.into(),
            dst: dst.into(),
            size,
            mtime_ns: None,
            src_version: None,
            action: FileAction::Copy,
            state: FileState::Pending,
            error: None,
        }
    }
}

/// A job as the journal holds it, with counts of its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRow {
    /// Its id.
    pub id: JobId,
    /// The engine's opaque spec.
    pub spec: String,
    /// Its state.
    pub state: JobState,
    /// Creation time, seconds since the epoch.
    pub created_at: i64,
    /// Last state change, seconds since the epoch.
    pub updated_at: i64,
    /// Files planned.
    pub files_total: u64,
    /// Files done.
    pub files_done: u64,
    /// Files skipped.
    pub files_skipped: u64,
    /// Files failed or refused.
    pub files_failed: u64,
    /// Bytes planned (copies only).
    pub bytes_total: u64,
}

/// A file as the journal holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRow {
    /// Its id.
    pub id: FileId,
    /// Its job.
    pub job: JobId,
    /// Source key or path.
    pub src: String,
    /// Destination key or path.
    pub dst: String,
    /// Source size when planned (or reset).
    pub size: u64,
    /// Source mtime when planned, ns.
    pub mtime_ns: Option<i64>,
    /// Source ETag/version when planned.
    pub src_version: Option<String>,
    /// What to do.
    pub action: FileAction,
    /// Where it stands.
    pub state: FileState,
    /// The multipart upload in progress, if any.
    pub upload_id: Option<String>,
    /// The part size chosen when the transfer started.
    pub part_size: Option<u64>,
    /// The verified checksum once done.
    pub checksum: Option<String>,
    /// The last error, if it failed.
    pub error: Option<String>,
    /// Where the store put the object, when it chose (a URL, a uuid).
    pub location: Option<String>,
}

/// What the engine recorded of how a file went, when it ended: the audit
/// report's facts. A file that never ended has the default (nothing).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileAudit {
    /// How it was carried: `put`, `multipart`, `part-copy` or `copy`.
    pub method: Option<String>,
    /// What verification compared: checksum kinds joined by `+`
    /// (`crc32c`, `crc32c+md5`), `etag-md5`, `read-back:crc32c`, or `size`
    /// when only sizes could be compared.
    pub verified: Option<String>,
    /// Requests (or parts) sent again for this file in the run that ended it.
    pub retries: u64,
    /// Those retries by cause, `cause=n` joined by `,` (`transient=2,timeout=1`).
    pub retry_causes: Option<String>,
    /// Payload bytes sent again by those retries.
    pub resent_bytes: u64,
    /// Whether an earlier run had started the file (its upload or parts
    /// were found in the journal).
    pub resumed: bool,
    /// Bytes an earlier run had already sent and this one kept.
    pub resumed_bytes: u64,
    /// When the run that ended it started it, ms since the epoch.
    pub started_ms: Option<i64>,
    /// When it ended, ms since the epoch.
    pub ended_ms: Option<i64>,
}

/// A file with its audit facts, as the audit report reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    /// The file.
    pub file: FileRow,
    /// How it went.
    pub audit: FileAudit,
}

/// A part the store acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartRow {
    /// Part number, from 1.
    pub number: u32,
    /// Offset in the object.
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
    /// The ETag to complete with.
    pub etag: String,
    /// CRC32C of the part, as `crc32c:hex`.
    pub crc32c: Option<String>,
    /// MD5 of the part, hex.
    pub md5: Option<String>,
    /// The part's checksum of the destination's native CRC kind (e.g.
    /// `crc64xz:…` for COS), so the whole object's can be combined on resume.
    pub native: Option<String>,
}

/// A worker that joined a job on a shared journal, with what it finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerRow {
    /// Its name (`host-pid-nonce`).
    pub id: String,
    /// When it joined, ms since the epoch (the database's clock).
    pub started_ms: i64,
    /// Its last heartbeat, ms since the epoch.
    pub seen_ms: i64,
    /// Files it finished (done).
    pub files_done: u64,
    /// Bytes of the files it finished.
    pub bytes_done: u64,
    /// Files it holds a live lease on now.
    pub holding: u64,
}

/// A file a worker holds a lease on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRow {
    /// The file.
    pub file: FileId,
    /// Its destination key.
    pub dst: String,
    /// The worker holding it.
    pub owner: String,
    /// The fencing epoch of the claim.
    pub epoch: i64,
    /// Milliseconds until the lease expires (negative: expired).
    pub expires_in_ms: i64,
}

/// A listing task's id (unique across jobs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ListingId(pub i64);

impl fmt::Display for ListingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

text_enum!(
    /// Where a listing task stands.
    ListingState {
        /// Not listed to its end yet (leased or not).
        Pending = "pending",
        /// Listed: every file it holds is in the job.
        Done = "done",
        /// Its listing failed; see its error.
        Failed = "failed",
    }
);

/// A part of a job's source listing to plan as a task of its own: every
/// key under `prefix` strictly after `start_after` and up to `end_at`
/// included (`""`: unbounded), compared with the destination under
/// `dst_prefix`. Ranges `(a, b]` and `(b, c]` split a listing exactly, as
/// a store's `start-after` is exclusive: any key can be a boundary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewListing {
    /// The source prefix to list (a whole key prefix in the source store).
    pub prefix: String,
    /// List only keys after this one (`""`: from the start).
    pub start_after: String,
    /// List only keys up to this one, included (`""`: to the end).
    pub end_at: String,
    /// The destination prefix the same keys land under.
    pub dst_prefix: String,
    /// `""`: list every key of the range. Else list one level with this
    /// delimiter: plan its objects and add each common prefix as a task.
    pub delimiter: String,
}

impl NewListing {
    /// The whole of `prefix`, landing under `dst_prefix`.
    pub fn prefix(prefix: impl Into<String>, dst_prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
            start_after: String::new(),
            end_at: String::new(),
            dst_prefix: dst_prefix.into(),
            delimiter: String::new(),
        }
    }
}

/// A listing task a worker claimed: what to list, and where its last
/// owner got to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListingTask {
    /// Its id.
    pub id: ListingId,
    /// Its job.
    pub job: JobId,
    /// What to list.
    pub range: NewListing,
    /// The last key planned so far (relative to the job's source prefix),
    /// journaled with its batch: listing continues after it.
    pub cursor: Option<String>,
    /// The claim's fencing epoch (writes about the task carry it).
    pub epoch: i64,
}

/// A listing task as `haul jobs show` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListingRow {
    /// Its id.
    pub id: ListingId,
    /// The source prefix it lists.
    pub prefix: String,
    /// Where it stands.
    pub state: ListingState,
    /// The worker that last claimed it.
    pub owner: Option<String>,
    /// The fencing epoch of the last claim.
    pub epoch: i64,
    /// Milliseconds until its lease expires (negative: expired; `None`:
    /// not leased).
    pub expires_in_ms: Option<i64>,
    /// The last key planned (relative to the job's source prefix).
    pub cursor: Option<String>,
    /// Files it planned so far.
    pub files: u64,
    /// Why it failed.
    pub error: Option<String>,
}
