//! haul-engine moves objects from one [`ObjectStore`](haul_core::ObjectStore)
//! to another, in parallel, part by part, and resumes after a crash from the
//! [`haul_journal`] checkpoint journal.
//!
//! Everything is a copy between two stores (the local disk is a store):
//!
//! 1. **Plan**: the source listing streams into the journal (merged with the
//!    destination listing when comparing), so ten million keys cost disk,
//!    not memory.
//! 2. **Split**: one put up to `slice_size`; above it, multipart with
//!    `part_size = max(chunk_size, ceil(size / max_parts))` clamped to the
//!    destination's limits, journaled so a resume makes the same plan.
//!    Within one store, server-side `copy` or `upload_part_copy`.
//! 3. **Schedule**: files, parts per file and bytes in flight are bounded; a
//!    part takes its permits before it reads a byte.
//! 4. **Transfer**: each byte is read once and hashed in the same pass
//!    (CRC32C always, MD5 when wanted).
//! 5. **Retry**: requests retry retryable errors with jittered exponential
//!    backoff, honouring Retry-After; parts retry up to `chunk_retry_times`.
//! 6. **Verify**: the sizes and every checksum both ends report are compared
//!    with what was computed; a mismatch redoes the file once, then fails it.
//! 7. **Resume**: the source is re-checked, the store's `list_parts` is the
//!    truth, and only missing parts are sent.
//!
//! The engine never names a provider: it asks [`haul_core::Capabilities`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use haul_engine::{Endpoint, Engine, JobRequest, TransferConfig};
//! # let (src, dst): (Arc<dyn haul_core::ObjectStore>, Arc<dyn haul_core::ObjectStore>) = todo!();
//! let journal = Arc::new(haul_journal::Journal::open_ephemeral()?);
//! let engine = Engine::new(journal, TransferConfig::default());
//! let handle = engine
//!     .start(JobRequest::copy(Endpoint::new(src, "", "a"), Endpoint::new(dst, "", "b")))
//!     .await?;
//! let summary = handle.join().await?;
//! assert!(summary.is_success());
//! # Ok(()) }
//! ```

mod attrs;
mod config;
mod event;
mod job;
mod limit;
mod plan;
mod retry;
pub mod stream;
mod transfer;
mod verify;

pub use attrs::{AttrOverrides, put_options};
pub use config::{CompareMode, OnError, TransferConfig};
pub use event::{Event, Snapshot, Summary};
pub use haul_journal::JobId;
pub use job::{Canceller, Endpoint, Engine, JobHandle, JobRequest, JobSpec, Operation};

/// Why a job could not start or run (per-file failures are in the [`Summary`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The settings cannot work.
    #[error("invalid settings: {0}")]
    Config(String),
    /// A bad include/exclude pattern.
    #[error("bad pattern {pattern:?}: {cause}")]
    Pattern {
        /// The pattern.
        pattern: String,
        /// Why.
        cause: String,
    },
    /// The journal failed.
    #[error(transparent)]
    Journal(haul_journal::JournalError),
    /// Listing or reading the source (or destination) failed while planning.
    #[error("{0}")]
    Plan(#[source] haul_core::Error),
    /// The job would delete more than allowed.
    #[error(
        "refusing to delete {would} objects (more than --max-delete {max}); nothing was deleted"
    )]
    TooManyDeletes {
        /// How many deletions the plan holds (at least).
        would: u64,
        /// The limit.
        max: u64,
    },
    /// A move whose source and destination are one object or tree: the
    /// delete after the copy would remove the only copy.
    #[error("{location}{prefix}: source and destination are the same; a move would delete it")]
    SameSourceAndDestination {
        /// The endpoint's location.
        location: String,
        /// The key or prefix.
        prefix: String,
    },
    /// The job's spec in the journal cannot be read.
    #[error("job {job}: unreadable spec in the journal: {cause}")]
    BadSpec {
        /// The job.
        job: JobId,
        /// Why.
        cause: String,
    },
    /// The job died while planning; its plan is incomplete.
    #[error("job {0} was interrupted while planning; start it again (haul jobs forget {0})")]
    PlanIncomplete(JobId),
    /// The job streamed standard input or output: its bytes cannot be read again.
    #[error(
        "job {0} streamed standard input or output and cannot be resumed; `haul cleanup` aborts its upload"
    )]
    NotResumable(JobId),
    /// A task panicked or was cancelled by the runtime.
    #[error("internal task failure: {0}")]
    Task(String),
}
