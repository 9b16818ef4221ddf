//! The one writer: a thread that drains the channel and commits each batch in
//! one transaction, then answers the barriers that were in it.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use tokio::sync::{mpsc, oneshot};

use crate::{
    FileAudit, FileId, FileState, JobId, JobState, JournalError, ListingId, ListingTask, NewFile,
    NewListing, PartRow,
};

type Reply<T> = oneshot::Sender<Result<T, JournalError>>;

/// Most commands folded into one transaction.
const MAX_BATCH: usize = 8192;

/// How long the writer waits, after a record of a file's end, for more to
/// commit with it. A commit is a few writes and two locks of the file, and
/// each file that ends sends two or three records; anything arriving
/// meanwhile waits at most this long.
const GATHER: std::time::Duration = std::time::Duration::from_millis(2);

pub(crate) enum Cmd {
    CreateJob {
        spec: String,
        reply: Reply<JobId>,
    },
    JobState {
        job: JobId,
        state: JobState,
    },
    AddFiles {
        job: JobId,
        files: Vec<NewFile>,
    },
    FileState {
        file: FileId,
        state: FileState,
        checksum: Option<String>,
        error: Option<String>,
    },
    FileAudit {
        file: FileId,
        audit: FileAudit,
    },
    StartUpload {
        file: FileId,
        upload_id: String,
        part_size: u64,
        reply: Reply<()>,
    },
    PartSize {
        file: FileId,
        part_size: u64,
    },
    ResetFile {
        file: FileId,
        size: u64,
        mtime_ns: Option<i64>,
        version: Option<String>,
    },
    PartDone {
        file: FileId,
        part: PartRow,
    },
    ForgetParts {
        file: FileId,
        numbers: Vec<u32>,
    },
    ForgetJob {
        job: JobId,
        reply: Reply<()>,
    },
    Location {
        file: FileId,
        location: String,
    },
    RequeueUnknown {
        job: JobId,
        reply: Reply<()>,
    },
    Barrier {
        reply: Reply<()>,
    },
    /// Checksums of an object, for the checksum cache.
    Sums(crate::ObjectSums),
    /// A barrier for one file's records; on a shared journal it also
    /// answers whether this worker still holds the file's lease.
    FlushFile {
        file: FileId,
        reply: Reply<()>,
    },
    /// Listing tasks to add (a task already there is left as it is).
    AddListings {
        job: JobId,
        listings: Vec<NewListing>,
    },
    /// The next pending listing task of a job (SQLite: one process, no
    /// lease; the shared journal claims on its readers' connection).
    ClaimListing {
        job: JobId,
        reply: Reply<Option<ListingTask>>,
    },
    /// A batch of a listing task's files with the cursor after them, in
    /// one transaction, refused whole unless the task is still held at
    /// `epoch`.
    Listed {
        job: JobId,
        task: ListingId,
        epoch: i64,
        files: Vec<NewFile>,
        cursor: String,
        reply: Reply<()>,
    },
    /// A listing task's end (`error`: it failed), fenced like `Listed`.
    FinishListing {
        task: ListingId,
        epoch: i64,
        error: Option<String>,
        reply: Reply<()>,
    },
}

impl Cmd {
    /// Whether the writer waits for more before committing this command:
    /// the records a file leaves when it ends, which files finishing
    /// together then commit in one transaction. A part, an upload, a plan
    /// and anything a caller waits on commit at once: a part is durable
    /// as soon as it is journaled, so a crash loses as little as it did.
    fn gathers(&self) -> bool {
        matches!(
            self,
            Cmd::FileState { .. } | Cmd::FileAudit { .. } | Cmd::Location { .. } | Cmd::Sums(_)
        )
    }
}

pub(crate) fn unique_suffix() -> u64 {
    static N: AtomicU64 = AtomicU64::new(0);
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    t ^ N.fetch_add(1, Ordering::Relaxed)
}

pub(crate) fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

pub(crate) fn spawn(conn: Connection, path: PathBuf) -> mpsc::UnboundedSender<Cmd> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::Builder::new()
        .name("haul-journal".into())
        .spawn(move || run(conn, &path, rx))
        .expect("spawning the journal writer thread");
    tx
}

/// Answers to send once the batch's fate is known.
enum Pending {
    Unit(Reply<()>),
    Job(Reply<JobId>, JobId),
    Listing(Reply<Option<ListingTask>>, Option<ListingTask>),
    /// A listing task's write refused: its claim is no longer current.
    Lost(Reply<()>, ListingId),
}

fn run(mut conn: Connection, path: &std::path::Path, mut rx: mpsc::UnboundedReceiver<Cmd>) {
    let mut batch = Vec::with_capacity(64);
    while let Some(first) = rx.blocking_recv() {
        if first.gathers() {
            // Let the records of the files finishing alongside it join
            // its transaction.
            std::thread::sleep(GATHER);
        }
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(cmd) => batch.push(cmd),
                Err(_) => break,
            }
        }
        let mut pending = Vec::new();
        let parts = batch
            .iter()
            .filter(|c| matches!(c, Cmd::PartDone { .. }))
            .count();
        let result = commit(&mut conn, batch.drain(..), &mut pending);
        if result.is_ok() {
            for _ in 0..parts {
                haul_core::crash_point("part-journaled");
            }
        }
        for p in pending {
            let err = || match &result {
                Ok(()) => None,
                Err(e) => Some(JournalError::sql(path, clone_err(e))),
            };
            match p {
                Pending::Unit(r) => {
                    let _ = r.send(err().map_or(Ok(()), Err));
                }
                Pending::Job(r, id) => {
                    let _ = r.send(err().map_or(Ok(id), Err));
                }
                Pending::Listing(r, task) => {
                    let _ = r.send(err().map_or(Ok(task), Err));
                }
                Pending::Lost(r, task) => {
                    let _ = r.send(Err(err().unwrap_or(JournalError::ListingLost(task))));
                }
            }
        }
        if let Err(e) = result {
            tracing::error!(journal = %path.display(), error = %e, "journal write failed");
        }
    }
}

fn clone_err(e: &rusqlite::Error) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(e.to_string().into())
}

fn commit(
    conn: &mut Connection,
    cmds: impl Iterator<Item = Cmd>,
    pending: &mut Vec<Pending>,
) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    for cmd in cmds {
        apply(&tx, cmd, pending)?;
    }
    tx.commit()
}

fn apply(tx: &Transaction<'_>, cmd: Cmd, pending: &mut Vec<Pending>) -> rusqlite::Result<()> {
    match cmd {
        Cmd::CreateJob { spec, reply } => {
            let now = now_secs();
            tx.execute(
                "INSERT INTO jobs(spec, state, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)",
                params![spec, JobState::Planning.as_str(), now],
            )?;
            pending.push(Pending::Job(reply, JobId(tx.last_insert_rowid())));
        }
        Cmd::JobState { job, state } => {
            tx.execute(
                "UPDATE jobs SET state = ?2, updated_at = ?3 WHERE id = ?1",
                params![job.0, state.as_str(), now_secs()],
            )?;
        }
        Cmd::AddFiles { job, files } => insert_files(tx, job, files)?,
        Cmd::AddListings { job, listings } => {
            let mut stmt = tx.prepare_cached(
                "INSERT OR IGNORE INTO listings(job, prefix, start_after, end_at, dst_prefix,
                   delimiter, state)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending')",
            )?;
            for l in listings {
                stmt.execute(params![
                    job.0,
                    l.prefix,
                    l.start_after,
                    l.end_at,
                    l.dst_prefix,
                    l.delimiter
                ])?;
            }
        }
        Cmd::ClaimListing { job, reply } => {
            let task = tx
                .query_row(
                    "UPDATE listings SET epoch = epoch + 1 WHERE id = (
                       SELECT id FROM listings WHERE job = ?1 AND state = 'pending'
                       ORDER BY id LIMIT 1)
                     RETURNING id, prefix, start_after, end_at, dst_prefix, cursor, epoch,
                       delimiter",
                    [job.0],
                    |r| {
                        Ok(ListingTask {
                            id: ListingId(r.get(0)?),
                            job,
                            range: NewListing {
                                prefix: r.get(1)?,
                                start_after: r.get(2)?,
                                end_at: r.get(3)?,
                                dst_prefix: r.get(4)?,
                                delimiter: r.get(7)?,
                            },
                            cursor: r.get(5)?,
                            epoch: r.get(6)?,
                        })
                    },
                )
                .optional()?;
            pending.push(Pending::Listing(reply, task));
        }
        Cmd::Listed {
            job,
            task,
            epoch,
            files,
            cursor,
            reply,
        } => {
            let n = files.len() as i64;
            let held = tx
                .prepare_cached(
                    "UPDATE listings SET cursor = ?3, files = files + ?4
                     WHERE id = ?1 AND epoch = ?2 AND state = 'pending'",
                )?
                .execute(params![task.0, epoch, cursor, n])?;
            if held == 1 {
                insert_files(tx, job, files)?;
                pending.push(Pending::Unit(reply));
            } else {
                pending.push(Pending::Lost(reply, task));
            }
        }
        Cmd::FinishListing {
            task,
            epoch,
            error,
            reply,
        } => {
            let state = if error.is_some() { "failed" } else { "done" };
            let held = tx.execute(
                "UPDATE listings SET state = ?3, error = ?4, lease_until = NULL
                 WHERE id = ?1 AND epoch = ?2 AND state = 'pending'",
                params![task.0, epoch, state, error],
            )?;
            pending.push(if held == 1 {
                Pending::Unit(reply)
            } else {
                Pending::Lost(reply, task)
            });
        }
        Cmd::FileState {
            file,
            state,
            checksum,
            error,
        } => {
            tx.prepare_cached(
                "UPDATE files SET state = ?2, checksum = coalesce(?3, checksum), error = ?4
                 WHERE id = ?1",
            )?
            .execute(params![file.0, state.as_str(), checksum, error])?;
            if matches!(state, FileState::Done | FileState::Skipped) {
                // A finished file needs no part records: keep the journal small.
                tx.prepare_cached("DELETE FROM parts WHERE file = ?1")?
                    .execute([file.0])?;
            }
        }
        Cmd::FileAudit { file, audit } => {
            tx.prepare_cached(
                "UPDATE files SET method = ?2, verified = ?3, retries = ?4, retry_causes = ?5,
                 resent_bytes = ?6, resumed = ?7, resumed_bytes = ?8, started_ms = ?9,
                 ended_ms = ?10 WHERE id = ?1",
            )?
            .execute(params![
                file.0,
                audit.method,
                audit.verified,
                audit.retries as i64,
                audit.retry_causes,
                audit.resent_bytes as i64,
                i64::from(audit.resumed),
                audit.resumed_bytes as i64,
                audit.started_ms,
                audit.ended_ms
            ])?;
        }
        Cmd::StartUpload {
            file,
            upload_id,
            part_size,
            reply,
        } => {
            tx.execute(
                "UPDATE files SET upload_id = ?2, part_size = ?3, state = 'active' WHERE id = ?1",
                params![file.0, upload_id, part_size as i64],
            )?;
            pending.push(Pending::Unit(reply));
        }
        Cmd::PartSize { file, part_size } => {
            tx.execute(
                "UPDATE files SET part_size = ?2, state = 'active' WHERE id = ?1",
                params![file.0, part_size as i64],
            )?;
        }
        Cmd::ResetFile {
            file,
            size,
            mtime_ns,
            version,
        } => {
            tx.execute("DELETE FROM parts WHERE file = ?1", [file.0])?;
            tx.execute(
                "UPDATE files SET size = ?2, mtime_ns = ?3, src_version = ?4, upload_id = NULL,
                 part_size = NULL, checksum = NULL, error = NULL, state = 'pending' WHERE id = ?1",
                params![file.0, size as i64, mtime_ns, version],
            )?;
        }
        Cmd::PartDone { file, part } => {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO parts(file, number, offset, len, etag, crc32c, md5, native)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                file.0,
                part.number,
                part.offset as i64,
                part.len as i64,
                part.etag,
                part.crc32c,
                part.md5,
                part.native
            ])?;
        }
        Cmd::ForgetParts { file, numbers } => {
            let mut stmt =
                tx.prepare_cached("DELETE FROM parts WHERE file = ?1 AND number = ?2")?;
            for n in numbers {
                stmt.execute(params![file.0, n])?;
            }
        }
        Cmd::ForgetJob { job, reply } => {
            tx.execute(
                "DELETE FROM parts WHERE file IN (SELECT id FROM files WHERE job = ?1)",
                [job.0],
            )?;
            tx.execute("DELETE FROM files WHERE job = ?1", [job.0])?;
            tx.execute("DELETE FROM jobs WHERE id = ?1", [job.0])?;
            pending.push(Pending::Unit(reply));
        }
        Cmd::Location { file, location } => {
            tx.prepare_cached("UPDATE files SET location = ?2 WHERE id = ?1")?
                .execute(params![file.0, location])?;
        }
        Cmd::RequeueUnknown { job, reply } => {
            tx.execute(
                "UPDATE files SET state = 'pending', error = NULL WHERE job = ?1 AND state = 'unknown'",
                [job.0],
            )?;
            pending.push(Pending::Unit(reply));
        }
        Cmd::Barrier { reply } | Cmd::FlushFile { reply, .. } => {
            pending.push(Pending::Unit(reply));
        }
        Cmd::Sums(s) => crate::sums::apply_sqlite(tx, &s)?,
    }
    Ok(())
}

fn insert_files(tx: &Transaction<'_>, job: JobId, files: Vec<NewFile>) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO files(job, src, dst, size, mtime_ns, src_version, action, state, error)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    for f in files {
        stmt.execute(params![
            job.0,
            f.src,
            f.dst,
            f.size as i64,
            f.mtime_ns,
            f.src_version,
            f.action.as_str(),
            f.state.as_str(),
            f.error
        ])?;
    }
    Ok(())
}
