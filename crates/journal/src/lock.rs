use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::{JobId, JournalError};

/// Proof that this process runs a job. The lock is advisory (`flock`), held
/// for as long as the value lives, and released by the kernel when the
/// process dies in any way.
#[derive(Debug)]
pub struct JobLock {
    _file: Option<File>,
    path: PathBuf,
}

impl JobLock {
    pub(crate) fn acquire(journal: &Path, job: JobId) -> Result<Self, JournalError> {
        let dir = journal.with_extension("locks");
        std::fs::create_dir_all(&dir).map_err(|e| JournalError::io(&dir, e))?;
        let path = dir.join(format!("job-{job}.lock"));
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| JournalError::io(&path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                let pid = pid.trim();
                return Err(JournalError::JobRunning {
                    job,
                    pid: if pid.is_empty() {
                        "unknown".into()
                    } else {
                        pid.into()
                    },
                });
            }
            Err(TryLockError::Error(e)) => return Err(JournalError::io(&path, e)),
        }
        let io = |e| JournalError::io(&path, e);
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        write!(file, "{}", std::process::id()).map_err(io)?;
        file.flush().map_err(io)?;
        Ok(Self {
            _file: Some(file),
            path,
        })
    }

    /// The lock of a job on a shared journal: holds nothing (workers
    /// share the job; each file is held by its lease).
    pub(crate) fn shared() -> Self {
        Self {
            _file: None,
            path: PathBuf::new(),
        }
    }

    /// The lock file (empty for a job on a shared journal).
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }
}
