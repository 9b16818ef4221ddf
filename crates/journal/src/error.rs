use std::path::{Path, PathBuf};

use crate::JobId;

/// What can go wrong with the journal.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// Neither `HAUL_JOURNAL`, `XDG_DATA_HOME` nor `HOME` is set.
    #[error("cannot place the journal: set HAUL_JOURNAL, XDG_DATA_HOME or HOME")]
    NoLocation,
    /// The file exists but is not a readable haul journal.
    #[error("journal {}: unreadable or corrupt ({cause}); move it aside to start afresh", path.display())]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        cause: String,
    },
    /// The journal was written by a newer haul.
    #[error("journal {}: schema version {found} is newer than this haul understands ({known})", path.display())]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// The version found.
        found: i64,
        /// The newest version this build knows.
        known: i64,
    },
    /// Another live process runs the job.
    #[error("job {job} is running (pid {pid})")]
    JobRunning {
        /// The job.
        job: JobId,
        /// The process holding it, as it recorded itself.
        pid: String,
    },
    /// No such job.
    #[error("no job {0} in the journal")]
    NoSuchJob(JobId),
    /// A file-system error around the journal.
    #[error("journal {}: {source}", path.display())]
    Io {
        /// The path concerned.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A database error.
    #[error("journal {}: {cause}", path.display())]
    Sql {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        cause: String,
    },
    /// Another worker took over this file's lease (this one paused or was
    /// cut off past its lease): its writes about the file are refused.
    #[error("file {0}: lease lost to another worker; its writes were refused")]
    LeaseLost(crate::FileId),
    /// Another worker took over this listing task's lease: the batch and
    /// the cursor this one sent were refused.
    #[error("listing task {0}: lease lost to another worker; its writes were refused")]
    ListingLost(crate::ListingId),
    /// The writer thread stopped (after an earlier error, reported then).
    #[error("journal writer stopped")]
    WriterGone,
}

impl JournalError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    #[allow(clippy::needless_pass_by_value)] // called as map_err(|e| sql(path, e))
    pub(crate) fn sql(path: &Path, e: rusqlite::Error) -> Self {
        let corrupt = matches!(
            e.sqlite_error_code(),
            Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt)
        );
        if corrupt {
            Self::Corrupt {
                path: path.to_path_buf(),
                cause: e.to_string(),
            }
        } else {
            Self::Sql {
                path: path.to_path_buf(),
                cause: e.to_string(),
            }
        }
    }
}
