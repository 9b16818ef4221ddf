//! How a file ends when it does not arrive: the [`Failure`] that stops it,
//! what a finished one reports ([`Done`]), and recording a failure in the
//! journal, the counters and the events.

use std::sync::atomic::Ordering;

use haul_core::Error;
use haul_journal::{FileRow, FileState, JournalError};

use crate::context::Shared;
use crate::event::Event;
use crate::verify::Verified;

#[derive(Debug)]
pub(crate) enum Failure {
    Store(Error),
    Journal(JournalError),
    Cancelled,
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Self::Store(e)
    }
}

impl From<JournalError> for Failure {
    fn from(e: JournalError) -> Self {
        Self::Journal(e)
    }
}

impl Failure {
    /// Failures after which the whole file is worth doing again, once.
    pub(crate) fn redo(&self) -> bool {
        matches!(
            self,
            Self::Store(
                Error::Integrity { .. } | Error::Precondition { .. } | Error::NoSuchUpload { .. }
            )
        )
    }
}

/// How a file got to its destination.
pub(crate) struct Done {
    pub(crate) method: &'static str,
    /// What was compared, and the file's checksum.
    pub(crate) verified: Verified,
    /// Where the store put the object, when it chose.
    pub(crate) location: Option<String>,
}

/// Records a file's failure: its one-line error, and whether it was a
/// verification failure (what makes the exit code 3).
pub(crate) fn fail_file(shared: &Shared, row: &FileRow, f: Failure) {
    if let Failure::Journal(JournalError::LeaseLost(_)) = &f {
        // Another worker holds the file now and finishes it: not a failure
        // of the job, and this worker's word on it would be refused anyway.
        tracing::warn!(file = %row.dst, "lease lost to another worker; leaving the file to it");
        shared.emit(Event::Retry {
            dst: row.dst.clone(),
            error: "lease lost to another worker; left to it".into(),
        });
        return;
    }
    if matches!(f, Failure::Store(Error::Integrity { .. })) {
        shared
            .counters
            .integrity_failures
            .fetch_add(1, Ordering::Relaxed);
    }
    let line = match f {
        Failure::Store(e) => e.to_string(),
        Failure::Journal(e) => format!("{}: {e}", row.dst),
        Failure::Cancelled => format!("{}: cancelled", row.dst),
    };
    fail(shared, row, line);
}

/// Records a file as failed with its one-line error.
pub(crate) fn fail(shared: &Shared, row: &FileRow, line: String) {
    shared
        .journal
        .set_file_state(row.id, FileState::Failed, None, Some(line.clone()));
    record_failure(shared, row, line);
}

/// Counts a file that did not arrive and tells the observers.
pub(crate) fn record_failure(shared: &Shared, row: &FileRow, line: String) {
    count_failure(shared, &row.src, &row.dst, line);
}

/// Counts a failure of `src` → `dst` and tells the observers.
pub(crate) fn count_failure(shared: &Shared, src: &str, dst: &str, line: String) {
    shared.counters.files_failed.fetch_add(1, Ordering::Relaxed);
    if let Ok(mut f) = shared.failures.lock() {
        f.push((dst.to_owned(), line.clone()));
    }
    shared.emit(Event::FileFailed {
        src: src.to_owned(),
        dst: dst.to_owned(),
        error: line,
    });
}

/// Sizes as people read upload limits: `20.0 MB` (10^6 bytes).
pub(crate) fn decimal(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1000.0 && i + 1 < UNITS.len() {
        v /= 1000.0;
        i += 1;
    }
    if i == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}
