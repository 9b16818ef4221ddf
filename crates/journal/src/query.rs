//! Read-only queries on the reader connection.

use rusqlite::{OptionalExtension, Row, params};

use crate::{
    AuditRow, FileAction, FileAudit, FileId, FileRow, FileState, JobId, JobRow, JobState, Journal,
    JournalError, PartRow,
};

const JOB_COLS: &str = "j.id, j.spec, j.state, j.created_at, j.updated_at,
    (SELECT count(*) FROM files f WHERE f.job = j.id),
    (SELECT count(*) FROM files f WHERE f.job = j.id AND f.state = 'done'),
    (SELECT count(*) FROM files f WHERE f.job = j.id AND f.state = 'skipped'),
    (SELECT count(*) FROM files f WHERE f.job = j.id AND f.state IN ('failed', 'refused')),
    (SELECT coalesce(sum(size), 0) FROM files f WHERE f.job = j.id AND f.action = 'copy')";

const FILE_COLS: &str = "id, job, src, dst, size, mtime_ns, src_version, action, state, upload_id, part_size, checksum, error, location";

/// The audit columns, read after [`FILE_COLS`] (from column 14).
pub(crate) const AUDIT_COLS: &str = "method, verified, retries, retry_causes, resent_bytes, resumed, resumed_bytes, started_ms, ended_ms";

fn bad(col: usize, what: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        col,
        rusqlite::types::Type::Text,
        format!("unknown value {what:?}").into(),
    )
}

fn job_row(r: &Row<'_>) -> rusqlite::Result<JobRow> {
    let state: String = r.get(2)?;
    Ok(JobRow {
        id: JobId(r.get(0)?),
        spec: r.get(1)?,
        state: JobState::parse(&state).ok_or_else(|| bad(2, &state))?,
        created_at: r.get(3)?,
        updated_at: r.get(4)?,
        files_total: r.get::<_, i64>(5)? as u64,
        files_done: r.get::<_, i64>(6)? as u64,
        files_skipped: r.get::<_, i64>(7)? as u64,
        files_failed: r.get::<_, i64>(8)? as u64,
        bytes_total: r.get::<_, i64>(9)? as u64,
    })
}

fn file_row(r: &Row<'_>) -> rusqlite::Result<FileRow> {
    let action: String = r.get(7)?;
    let state: String = r.get(8)?;
    Ok(FileRow {
        id: FileId(r.get(0)?),
        job: JobId(r.get(1)?),
        src: r.get(2)?,
        dst: r.get(3)?,
        size: r.get::<_, i64>(4)? as u64,
        mtime_ns: r.get(5)?,
        src_version: r.get(6)?,
        action: FileAction::parse(&action).ok_or_else(|| bad(7, &action))?,
        state: FileState::parse(&state).ok_or_else(|| bad(8, &state))?,
        upload_id: r.get(9)?,
        part_size: r.get::<_, Option<i64>>(10)?.map(|v| v as u64),
        checksum: r.get(11)?,
        error: r.get(12)?,
        location: r.get(13)?,
    })
}

fn audit_row(r: &Row<'_>) -> rusqlite::Result<AuditRow> {
    let n = |i| r.get::<_, i64>(i).map(|v| v.max(0) as u64);
    Ok(AuditRow {
        file: file_row(r)?,
        audit: FileAudit {
            method: r.get(14)?,
            verified: r.get(15)?,
            retries: n(16)?,
            retry_causes: r.get(17)?,
            resent_bytes: n(18)?,
            resumed: r.get::<_, i64>(19)? != 0,
            resumed_bytes: n(20)?,
            started_ms: r.get(21)?,
            ended_ms: r.get(22)?,
        },
    })
}

impl Journal {
    /// Every file of a job with its audit facts, in plan order: what
    /// `haul jobs report` shows.
    pub fn audit(&self, job: JobId) -> Result<Vec<AuditRow>, JournalError> {
        if let Some(p) = self.pg() {
            return p.audit(job);
        }
        self.read(|c| {
            c.prepare(&format!(
                "SELECT {FILE_COLS}, {AUDIT_COLS} FROM files WHERE job = ?1 ORDER BY id"
            ))?
            .query_map([job.0], audit_row)?
            .collect()
        })
    }

    /// Every job, newest first.
    pub fn list_jobs(&self) -> Result<Vec<JobRow>, JournalError> {
        if let Some(p) = self.pg() {
            return p.list_jobs();
        }
        self.read(|c| {
            c.prepare(&format!("SELECT {JOB_COLS} FROM jobs j ORDER BY j.id DESC"))?
                .query_map([], job_row)?
                .collect()
        })
    }

    /// One job.
    pub fn job(&self, job: JobId) -> Result<JobRow, JournalError> {
        if let Some(p) = self.pg() {
            return p.job(job);
        }
        self.read(|c| {
            c.query_row(
                &format!("SELECT {JOB_COLS} FROM jobs j WHERE j.id = ?1"),
                [job.0],
                job_row,
            )
            .optional()
        })?
        .ok_or(JournalError::NoSuchJob(job))
    }

    /// The newest job that is not done (failed jobs count: resuming retries
    /// their failed files), if any.
    pub fn latest_unfinished_job(&self) -> Result<Option<JobId>, JournalError> {
        if let Some(p) = self.pg() {
            return p.latest_unfinished_job();
        }
        self.read(|c| {
            c.query_row(
                "SELECT id FROM jobs WHERE state IN ('planning', 'running', 'interrupted', 'failed')
                 ORDER BY id DESC LIMIT 1",
                [],
                |r| r.get(0).map(JobId),
            )
            .optional()
        })
    }

    /// Every file of a job, in plan order.
    pub fn files(&self, job: JobId) -> Result<Vec<FileRow>, JournalError> {
        if let Some(p) = self.pg() {
            return p.files(job);
        }
        self.read(|c| {
            c.prepare(&format!(
                "SELECT {FILE_COLS} FROM files WHERE job = ?1 ORDER BY id"
            ))?
            .query_map([job.0], file_row)?
            .collect()
        })
    }

    /// One file.
    pub fn file(&self, file: FileId) -> Result<Option<FileRow>, JournalError> {
        if let Some(p) = self.pg() {
            return p.file(file);
        }
        self.read(|c| {
            c.query_row(
                &format!("SELECT {FILE_COLS} FROM files WHERE id = ?1"),
                [file.0],
                file_row,
            )
            .optional()
        })
    }

    /// Files of a job in `state`, in plan order.
    pub fn files_in_state(
        &self,
        job: JobId,
        state: FileState,
    ) -> Result<Vec<FileRow>, JournalError> {
        if let Some(p) = self.pg() {
            return p.files_in_state(job, state);
        }
        self.read(|c| {
            c.prepare(&format!(
                "SELECT {FILE_COLS} FROM files WHERE job = ?1 AND state = ?2 ORDER BY id"
            ))?
            .query_map(params![job.0, state.as_str()], file_row)?
            .collect()
        })
    }

    /// How many files of a job were skipped, by reason (`None`: up to date),
    /// most common first.
    pub fn skip_reasons(&self, job: JobId) -> Result<Vec<(Option<String>, u64)>, JournalError> {
        if let Some(p) = self.pg() {
            return p.skip_reasons(job);
        }
        self.read(|c| {
            c.prepare_cached(
                "SELECT error, count(*) FROM files WHERE job = ?1 AND state = 'skipped'
                 GROUP BY error ORDER BY count(*) DESC, error",
            )?
            .query_map([job.0], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?
            .collect()
        })
    }

    /// Failed and refused files of a job with their last error.
    pub fn failed_files(&self, job: JobId) -> Result<Vec<FileRow>, JournalError> {
        if let Some(p) = self.pg() {
            return p.failed_files(job);
        }
        self.read(|c| {
            c.prepare(&format!(
                "SELECT {FILE_COLS} FROM files WHERE job = ?1 AND state IN ('failed', 'refused') ORDER BY id"
            ))?
            .query_map([job.0], file_row)?
            .collect()
        })
    }

    /// Up to `limit` files of a job still to do (pending, active, or failed
    /// when `include_failed`), with ids above `after`, in id order. The
    /// scheduler pages through a job with this, so a plan of millions of files
    /// never sits in memory.
    pub fn files_to_do(
        &self,
        job: JobId,
        after: FileId,
        limit: usize,
        include_failed: bool,
    ) -> Result<Vec<FileRow>, JournalError> {
        if let Some(p) = self.pg() {
            return p.files_to_do(job, after, limit, include_failed);
        }
        let states = if include_failed {
            "('pending', 'active', 'failed')"
        } else {
            "('pending', 'active')"
        };
        self.read(|c| {
            c.prepare_cached(&format!(
                "SELECT {FILE_COLS} FROM files
                 WHERE job = ?1 AND state IN {states} AND id > ?2 ORDER BY id LIMIT ?3"
            ))?
            .query_map(params![job.0, after.0, limit as i64], file_row)?
            .collect()
        })
    }

    /// Parts recorded done for a file, in part order.
    pub fn parts(&self, file: FileId) -> Result<Vec<PartRow>, JournalError> {
        if let Some(p) = self.pg() {
            return p.parts(file);
        }
        self.read(|c| {
            c.prepare_cached(
                "SELECT number, offset, len, etag, crc32c, md5, native FROM parts
                 WHERE file = ?1 ORDER BY number",
            )?
            .query_map([file.0], |r| {
                Ok(PartRow {
                    number: r.get(0)?,
                    offset: r.get::<_, i64>(1)? as u64,
                    len: r.get::<_, i64>(2)? as u64,
                    etag: r.get(3)?,
                    crc32c: r.get(4)?,
                    md5: r.get(5)?,
                    native: r.get(6)?,
                })
            })?
            .collect()
        })
    }

    /// Files of any job with an upload id that are not done: uploads that
    /// `haul cleanup` may abort. Returns (job, file) pairs.
    pub fn open_uploads(&self) -> Result<Vec<(JobRow, FileRow)>, JournalError> {
        if let Some(p) = self.pg() {
            return p.open_uploads();
        }
        let files: Vec<FileRow> = self.read(|c| {
            c.prepare(&format!(
                "SELECT {FILE_COLS} FROM files
                 WHERE upload_id IS NOT NULL AND state NOT IN ('done', 'skipped') ORDER BY id"
            ))?
            .query_map([], file_row)?
            .collect()
        })?;
        files
            .into_iter()
            .map(|f| Ok((self.job(f.job)?, f)))
            .collect()
    }
}
