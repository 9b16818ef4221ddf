//! Reads on the PostgreSQL journal: the same questions as the SQLite
//! reader's, in PostgreSQL's words, on the readers' connection.

use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::Pg;
use crate::query::AUDIT_COLS;
use crate::{
    AuditRow, FileAction, FileAudit, FileId, FileRow, FileState, JobId, JobRow, JobState,
    JournalError, PartRow,
};

const JOB_COLS: &str = "j.id, j.spec, j.state, j.created_at, j.updated_at,
    (SELECT count(*) FROM files f WHERE f.job = j.id),
    (SELECT count(*) FROM files f WHERE f.job = j.id AND f.state = 'done'),
    (SELECT count(*) FROM files f WHERE f.job = j.id AND f.state = 'skipped'),
    (SELECT count(*) FROM files f WHERE f.job = j.id AND f.state IN ('failed', 'refused')),
    (SELECT coalesce(sum(size), 0)::bigint FROM files f WHERE f.job = j.id AND f.action = 'copy')";

/// The columns a [`FileRow`] is read from, in order.
pub(crate) const FILE_COLS: &str = "id, job, src, dst, size, mtime_ns, src_version, action, state, upload_id, part_size, checksum, error, location";

type Param = Box<dyn ToSql + Send + Sync>;

impl Pg {
    fn bad(&self, what: &str) -> JournalError {
        JournalError::Corrupt {
            path: self.shown().to_path_buf(),
            cause: format!("unknown value {what:?}"),
        }
    }

    fn get<'a, T: tokio_postgres::types::FromSql<'a>>(
        &self,
        r: &'a Row,
        i: usize,
    ) -> Result<T, JournalError> {
        r.try_get(i).map_err(|e| super::sql(self.shown(), &e))
    }

    /// Runs one query with owned parameters on the readers' connection.
    pub(crate) fn query(&self, sql: String, params: Vec<Param>) -> Result<Vec<Row>, JournalError> {
        self.block(move |c| {
            Box::pin(async move {
                let refs: Vec<&(dyn ToSql + Sync)> = params
                    .iter()
                    .map(|p| p.as_ref() as &(dyn ToSql + Sync))
                    .collect();
                c.query(&sql, &refs).await
            })
        })
    }

    fn job_row(&self, r: &Row) -> Result<JobRow, JournalError> {
        let state: String = self.get(r, 2)?;
        let n = |i| self.get::<i64>(r, i).map(|v| v as u64);
        Ok(JobRow {
            id: JobId(self.get(r, 0)?),
            spec: self.get(r, 1)?,
            state: JobState::parse(&state).ok_or_else(|| self.bad(&state))?,
            created_at: self.get(r, 3)?,
            updated_at: self.get(r, 4)?,
            files_total: n(5)?,
            files_done: n(6)?,
            files_skipped: n(7)?,
            files_failed: n(8)?,
            bytes_total: n(9)?,
        })
    }

    pub(crate) fn file_row(&self, r: &Row) -> Result<FileRow, JournalError> {
        let action: String = self.get(r, 7)?;
        let state: String = self.get(r, 8)?;
        Ok(FileRow {
            id: FileId(self.get(r, 0)?),
            job: JobId(self.get(r, 1)?),
            src: self.get(r, 2)?,
            dst: self.get(r, 3)?,
            size: self.get::<i64>(r, 4)? as u64,
            mtime_ns: self.get(r, 5)?,
            src_version: self.get(r, 6)?,
            action: FileAction::parse(&action).ok_or_else(|| self.bad(&action))?,
            state: FileState::parse(&state).ok_or_else(|| self.bad(&state))?,
            upload_id: self.get(r, 9)?,
            part_size: self.get::<Option<i64>>(r, 10)?.map(|v| v as u64),
            checksum: self.get(r, 11)?,
            error: self.get(r, 12)?,
            location: self.get(r, 13)?,
        })
    }

    pub(crate) fn audit(&self, job: JobId) -> Result<Vec<AuditRow>, JournalError> {
        self.query(
            format!("SELECT {FILE_COLS}, {AUDIT_COLS} FROM files WHERE job = $1 ORDER BY id"),
            vec![Box::new(job.0)],
        )?
        .iter()
        .map(|r| {
            let n = |i| self.get::<i64>(r, i).map(|v| v.max(0) as u64);
            Ok(AuditRow {
                file: self.file_row(r)?,
                audit: FileAudit {
                    method: self.get(r, 14)?,
                    verified: self.get(r, 15)?,
                    retries: n(16)?,
                    retry_causes: self.get(r, 17)?,
                    resent_bytes: n(18)?,
                    resumed: self.get::<i64>(r, 19)? != 0,
                    resumed_bytes: n(20)?,
                    started_ms: self.get(r, 21)?,
                    ended_ms: self.get(r, 22)?,
                },
            })
        })
        .collect()
    }

    fn jobs_where(&self, cond: &str, params: Vec<Param>) -> Result<Vec<JobRow>, JournalError> {
        self.query(
            format!("SELECT {JOB_COLS} FROM jobs j {cond} ORDER BY j.id DESC"),
            params,
        )?
        .iter()
        .map(|r| self.job_row(r))
        .collect()
    }

    pub(crate) fn files_where(
        &self,
        cond: &str,
        params: Vec<Param>,
    ) -> Result<Vec<FileRow>, JournalError> {
        self.query(
            format!("SELECT {FILE_COLS} FROM files WHERE {cond}"),
            params,
        )?
        .iter()
        .map(|r| self.file_row(r))
        .collect()
    }

    pub(crate) fn list_jobs(&self) -> Result<Vec<JobRow>, JournalError> {
        self.jobs_where("", Vec::new())
    }

    pub(crate) fn job(&self, job: JobId) -> Result<JobRow, JournalError> {
        self.jobs_where("WHERE j.id = $1", vec![Box::new(job.0)])?
            .pop()
            .ok_or(JournalError::NoSuchJob(job))
    }

    pub(crate) fn latest_unfinished_job(&self) -> Result<Option<JobId>, JournalError> {
        let rows = self.query(
            "SELECT id FROM jobs WHERE state IN ('planning', 'running', 'interrupted', 'failed')
             ORDER BY id DESC LIMIT 1"
                .into(),
            Vec::new(),
        )?;
        rows.first().map(|r| self.get(r, 0).map(JobId)).transpose()
    }

    pub(crate) fn files(&self, job: JobId) -> Result<Vec<FileRow>, JournalError> {
        self.files_where("job = $1 ORDER BY id", vec![Box::new(job.0)])
    }

    pub(crate) fn file(&self, file: FileId) -> Result<Option<FileRow>, JournalError> {
        Ok(self.files_where("id = $1", vec![Box::new(file.0)])?.pop())
    }

    pub(crate) fn files_in_state(
        &self,
        job: JobId,
        state: FileState,
    ) -> Result<Vec<FileRow>, JournalError> {
        self.files_where(
            "job = $1 AND state = $2 ORDER BY id",
            vec![Box::new(job.0), Box::new(state.as_str())],
        )
    }

    pub(crate) fn skip_reasons(
        &self,
        job: JobId,
    ) -> Result<Vec<(Option<String>, u64)>, JournalError> {
        self.query(
            "SELECT error, count(*) FROM files WHERE job = $1 AND state = 'skipped'
             GROUP BY error ORDER BY count(*) DESC, error"
                .into(),
            vec![Box::new(job.0)],
        )?
        .iter()
        .map(|r| Ok((self.get(r, 0)?, self.get::<i64>(r, 1)? as u64)))
        .collect()
    }

    pub(crate) fn failed_files(&self, job: JobId) -> Result<Vec<FileRow>, JournalError> {
        self.files_where(
            "job = $1 AND state IN ('failed', 'refused') ORDER BY id",
            vec![Box::new(job.0)],
        )
    }

    pub(crate) fn files_to_do(
        &self,
        job: JobId,
        after: FileId,
        limit: usize,
        include_failed: bool,
    ) -> Result<Vec<FileRow>, JournalError> {
        let states = if include_failed {
            "('pending', 'active', 'failed')"
        } else {
            "('pending', 'active')"
        };
        self.files_where(
            &format!("job = $1 AND state IN {states} AND id > $2 ORDER BY id LIMIT $3"),
            vec![Box::new(job.0), Box::new(after.0), Box::new(limit as i64)],
        )
    }

    pub(crate) fn parts(&self, file: FileId) -> Result<Vec<PartRow>, JournalError> {
        self.query(
            r#"SELECT number, "offset", len, etag, crc32c, md5, native FROM parts
               WHERE file = $1 ORDER BY number"#
                .into(),
            vec![Box::new(file.0)],
        )?
        .iter()
        .map(|r| {
            Ok(PartRow {
                number: self.get::<i32>(r, 0)? as u32,
                offset: self.get::<i64>(r, 1)? as u64,
                len: self.get::<i64>(r, 2)? as u64,
                etag: self.get(r, 3)?,
                crc32c: self.get(r, 4)?,
                md5: self.get(r, 5)?,
                native: self.get(r, 6)?,
            })
        })
        .collect()
    }

    pub(crate) fn open_uploads(&self) -> Result<Vec<(JobRow, FileRow)>, JournalError> {
        let files = self.files_where(
            "upload_id IS NOT NULL AND state NOT IN ('done', 'skipped') ORDER BY id",
            Vec::new(),
        )?;
        files
            .into_iter()
            .map(|f| Ok((self.job(f.job)?, f)))
            .collect()
    }
}
