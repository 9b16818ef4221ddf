//! [`EngineError`]: why a job could not start or run.

use haul_journal::{JobId, JournalError};

/// Why a job could not start or run (per-file failures are in the
/// [`Summary`](crate::Summary)).
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

impl From<JournalError> for EngineError {
    fn from(e: JournalError) -> Self {
        Self::Journal(e)
    }
}
