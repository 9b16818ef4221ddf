//! haul-journal is the checkpoint journal that lets a transfer resume part by
//! part after a crash.
//!
//! It keeps jobs, their files and the parts each file has finished in one
//! SQLite database in WAL mode. Writes go through one writer thread fed by a
//! channel: many events share one transaction, so recording 10,000 parts costs
//! a few commits, not 10,000. Durability barriers ([`Journal::flush`] and the
//! calls documented as barriers) return only once everything sent before them
//! is committed, which is how the engine keeps the four ordering rules:
//!
//! 1. the upload id is committed before the first part is sent
//!    ([`Journal::start_upload`] is a barrier);
//! 2. a part is recorded only after the store acknowledged it
//!    ([`Journal::part_done`] is called after the ack);
//! 3. complete is called only after every part is durable (the engine calls
//!    [`Journal::flush`] first);
//! 4. a downloaded file is renamed only after it is fsynced and verified (the
//!    destination store does that before the engine marks the file done).
//!
//! A file's audit facts ([`FileAudit`]: how it was carried, what was
//! compared, its retries, start and end) are queued with the state that
//! ends it ([`Journal::set_file_audit`]) and read back by
//! [`Journal::audit`] for `haul jobs report`; they are never a barrier and
//! no rule waits on them.
//!
//! Readers use their own connection and run beside the writer. Two processes
//! cannot run the same job: [`Journal::lock_job`] takes an advisory lock that
//! the kernel releases when the holder dies, even by SIGKILL.
//!
//! A journal can also live in PostgreSQL ([`Journal::open`] with a
//! `postgres://` URL): the same tables, commands and barriers, shared by
//! many workers that lease files from it ([`Journal::next_files`]), with
//! writes about a file fenced by its lease (see [`JournalError::LeaseLost`]).
//! The engine does not know which one it has.
//!
//! Commits use `synchronous = NORMAL`: a process crash loses nothing that was
//! committed; a power loss may roll back the last commits, never corrupt the
//! database. A lost part record only means that part is sent again.
//!
//! ```no_run
//! # async fn demo() -> Result<(), haul_journal::JournalError> {
//! use haul_journal::{Journal, NewFile};
//! let journal = Journal::open(Journal::default_path()?)?;
//! let job = journal.create_job("{\"op\":\"copy\"}").await?;
//! let _lock = journal.lock_job(job)?;
//! journal.add_files(job, vec![NewFile::copy("a.txt", "a.txt", 3)]);
//! journal.flush().await?;
//! # Ok(()) }
//! ```

mod error;
mod listing;
mod lock;
mod pg;
mod query;
mod records;
mod schema;
mod sums;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

pub use error::JournalError;
pub use lock::JobLock;
pub use records::{
    AuditRow, FileAction, FileAudit, FileId, FileRow, FileState, JobId, JobRow, JobState, LeaseRow,
    ListingId, ListingRow, ListingState, ListingTask, NewFile, NewListing, PartRow, WorkerRow,
};
pub use sums::ObjectSums;
use writer::Cmd;

pub use pg::redact as redact_url;

/// The journal: a handle to the writer plus a reader connection.
///
/// Cloning is not offered; share it behind an `Arc`. Dropping the last
/// handle stops the writer after it commits what it was sent.
#[derive(Debug)]
pub struct Journal {
    // Dropped first: the writer sees its channel close and commits the rest.
    tx: mpsc::UnboundedSender<Cmd>,
    backend: Backend,
}

/// Where the journal keeps its rows.
#[derive(Debug)]
enum Backend {
    /// One SQLite file, one process at a time per job.
    Sqlite(Sqlite),
    /// A PostgreSQL database shared by workers.
    Postgres(pg::Pg),
}

#[derive(Debug)]
struct Sqlite {
    path: PathBuf,
    reader: Mutex<Connection>,
    _ephemeral: Option<EphemeralDir>,
}

#[derive(Debug)]
struct EphemeralDir(PathBuf);

impl Drop for EphemeralDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A journal can hold what must stay private (a store's share URL with its
/// secret), so its file is the owner's alone: created `0600`, and tightened
/// to that when an older one was readable by others. SQLite gives its `-wal`
/// and `-shm` files the database file's mode.
fn private(path: &Path) -> Result<(), JournalError> {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let meta = std::fs::metadata(path).map_err(|e| JournalError::io(path, e))?;
            if meta.is_file() && meta.permissions().mode() & 0o077 != 0 {
                let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
            }
            Ok(())
        }
        Err(e) => Err(JournalError::io(path, e)),
    }
}

impl Journal {
    /// Where the journal lives unless told otherwise: `$HAUL_JOURNAL`, else
    /// `$XDG_DATA_HOME/haul/journal.db`, else `~/.local/share/haul/journal.db`.
    pub fn default_path() -> Result<PathBuf, JournalError> {
        if let Some(p) = std::env::var_os("HAUL_JOURNAL").filter(|p| !p.is_empty()) {
            return Ok(PathBuf::from(p));
        }
        if let Some(p) = std::env::var_os("XDG_DATA_HOME").filter(|p| !p.is_empty()) {
            return Ok(PathBuf::from(p).join("haul").join("journal.db"));
        }
        match std::env::var_os("HOME").filter(|p| !p.is_empty()) {
            Some(home) => Ok(PathBuf::from(home).join(".local/share/haul/journal.db")),
            None => Err(JournalError::NoLocation),
        }
    }

    /// Opens (creating if needed) the journal at `path` and migrates its schema.
    ///
    /// A `postgres://` (or `postgresql://`) URL opens the shared journal in
    /// that database instead; its password never appears in messages.
    /// A file that is not a journal, or one written by a newer haul, is a
    /// clear [`JournalError`], never a panic.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, JournalError> {
        let path = path.as_ref();
        if let Some(url) = path.to_str().filter(|p| pg::is_url(p)) {
            let (pg, tx) = pg::Pg::connect(url)?;
            return Ok(Self {
                tx,
                backend: Backend::Postgres(pg),
            });
        }
        Self::open_with(path, false, None)
    }

    /// A journal in a fresh temporary directory with `synchronous = OFF`,
    /// removed when dropped: for measuring the journal's cost and for
    /// transfers that need no resume.
    pub fn open_ephemeral() -> Result<Self, JournalError> {
        let dir = std::env::temp_dir().join(format!(
            "haul-journal-{}-{}",
            std::process::id(),
            writer::unique_suffix()
        ));
        std::fs::create_dir_all(&dir).map_err(|e| JournalError::io(&dir, e))?;
        let guard = EphemeralDir(dir.clone());
        Self::open_with(&dir.join("journal.db"), true, Some(guard))
    }

    fn open_with(
        path: &Path,
        ephemeral: bool,
        guard: Option<EphemeralDir>,
    ) -> Result<Self, JournalError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| JournalError::io(dir, e))?;
        }
        private(path)?;
        let writer_conn = schema::open_and_migrate(path, ephemeral)?;
        let reader = schema::open_reader(path)?;
        let tx = writer::spawn(writer_conn, path.to_path_buf());
        Ok(Self {
            tx,
            backend: Backend::Sqlite(Sqlite {
                path: path.to_path_buf(),
                reader: Mutex::new(reader),
                _ephemeral: guard,
            }),
        })
    }

    /// The database file, or the database's URL with its password redacted.
    #[must_use]
    pub fn path(&self) -> &Path {
        match &self.backend {
            Backend::Sqlite(s) => &s.path,
            Backend::Postgres(p) => p.shown(),
        }
    }

    /// Whether many workers share this journal (PostgreSQL): files are then
    /// leased by [`Journal::next_files`] and jobs are not locked to one process.
    #[must_use]
    pub fn is_shared(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }

    /// How long a claim (and each renewal, a third of it apart) holds a
    /// file on a shared journal: `$HAUL_LEASE_MS`, else 60 s. No effect on
    /// SQLite.
    pub fn set_lease(&self, lease: std::time::Duration) {
        if let Backend::Postgres(p) = &self.backend {
            p.leases.lease_ms.store(
                lease.as_millis().max(100) as i64,
                std::sync::atomic::Ordering::Relaxed,
            );
        }
    }

    /// This process's name as a worker on a shared journal.
    #[must_use]
    pub fn worker_name(&self) -> Option<&str> {
        match &self.backend {
            Backend::Sqlite(_) => None,
            Backend::Postgres(p) => Some(&p.leases.owner),
        }
    }

    fn send(&self, cmd: Cmd) {
        // The writer only stops when every sender is gone; a failed send means
        // it died, which the next barrier reports.
        let _ = self.tx.send(cmd);
    }

    async fn call<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, JournalError>>) -> Cmd,
    ) -> Result<T, JournalError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(make(tx))
            .map_err(|_| JournalError::WriterGone)?;
        rx.await.map_err(|_| JournalError::WriterGone)?
    }

    /// Creates a job with an opaque `spec` (the engine's JSON). Barrier.
    pub async fn create_job(&self, spec: &str) -> Result<JobId, JournalError> {
        let spec = spec.to_owned();
        self.call(|reply| Cmd::CreateJob { spec, reply }).await
    }

    /// Takes the job's run lock; fails with [`JournalError::JobRunning`]
    /// while another live process holds it. A shared journal's jobs are
    /// run by many workers at once, each file by one (its lease): the lock
    /// there is empty.
    pub fn lock_job(&self, job: JobId) -> Result<JobLock, JournalError> {
        match &self.backend {
            Backend::Sqlite(s) => JobLock::acquire(&s.path, job),
            Backend::Postgres(_) => Ok(JobLock::shared()),
        }
    }

    /// Records the job's state.
    pub fn set_job_state(&self, job: JobId, state: JobState) {
        self.send(Cmd::JobState { job, state });
    }

    /// Adds planned files to a job (in one transaction with whatever else is queued).
    pub fn add_files(&self, job: JobId, files: Vec<NewFile>) {
        if !files.is_empty() {
            self.send(Cmd::AddFiles { job, files });
        }
    }

    /// Records a file's new state, with its final checksum or last error.
    pub fn set_file_state(
        &self,
        file: FileId,
        state: FileState,
        checksum: Option<String>,
        error: Option<String>,
    ) {
        self.send(Cmd::FileState {
            file,
            state,
            checksum,
            error,
        });
    }

    /// Records how a file went (method, what was compared, retries, times)
    /// for the audit report. Sent just before the state that ends the file,
    /// in the same queue: not a barrier, and never delays a durability rule.
    pub fn set_file_audit(&self, file: FileId, audit: FileAudit) {
        self.send(Cmd::FileAudit { file, audit });
    }

    /// Records the multipart upload a file uses and its part size. Barrier:
    /// returns once durable, so parts are sent only for a recorded upload.
    pub async fn start_upload(
        &self,
        file: FileId,
        upload_id: &str,
        part_size: u64,
    ) -> Result<(), JournalError> {
        let upload_id = upload_id.to_owned();
        self.call(|reply| Cmd::StartUpload {
            file,
            upload_id,
            part_size,
            reply,
        })
        .await
    }

    /// Records the part size of a transfer that needs no upload id (downloads,
    /// stream copies into a local file). Not a barrier.
    pub fn set_part_size(&self, file: FileId, part_size: u64) {
        self.send(Cmd::PartSize { file, part_size });
    }

    /// Forgets a file's upload and parts and records its current source
    /// identity: the source changed, so the file starts over.
    pub fn reset_file(
        &self,
        file: FileId,
        size: u64,
        mtime_ns: Option<i64>,
        version: Option<String>,
    ) {
        self.send(Cmd::ResetFile {
            file,
            size,
            mtime_ns,
            version,
        });
    }

    /// Records a part the store acknowledged.
    pub fn part_done(&self, file: FileId, part: PartRow) {
        self.send(Cmd::PartDone { file, part });
    }

    /// Forgets recorded parts that the store no longer has.
    pub fn forget_parts(&self, file: FileId, numbers: Vec<u32>) {
        if !numbers.is_empty() {
            self.send(Cmd::ForgetParts { file, numbers });
        }
    }

    /// Records where the store put a file's object (a URL, a uuid).
    pub fn set_location(&self, file: FileId, location: String) {
        self.send(Cmd::Location { file, location });
    }

    /// Puts a job's `unknown` files (sent, answer lost) back to pending so
    /// a resume sends them again. Barrier.
    pub async fn requeue_unknown(&self, job: JobId) -> Result<(), JournalError> {
        self.call(|reply| Cmd::RequeueUnknown { job, reply }).await
    }

    /// Barrier: returns once everything sent before it is committed.
    pub async fn flush(&self) -> Result<(), JournalError> {
        self.call(|reply| Cmd::Barrier { reply }).await
    }

    /// Barrier for one file, before what must not happen without its
    /// lease (completing its upload): like [`Journal::flush`], and on a
    /// shared journal [`JournalError::LeaseLost`] when a write about the
    /// file was refused or the lease is gone or about to expire.
    pub async fn flush_file(&self, file: FileId) -> Result<(), JournalError> {
        self.call(|reply| Cmd::FlushFile { file, reply }).await
    }

    /// The next files of a job to work on: the next page above `after` on
    /// a SQLite journal; on a shared one, files claimed with a lease (the
    /// cursor only bounds which failed files are retried), waiting while
    /// other workers hold what is left. Empty when nothing is left.
    pub async fn next_files(
        &self,
        job: JobId,
        after: FileId,
        limit: usize,
        include_failed: bool,
    ) -> Result<Vec<FileRow>, JournalError> {
        match &self.backend {
            Backend::Sqlite(_) => self.files_to_do(job, after, limit, include_failed),
            Backend::Postgres(p) => p.next_files(job, after, limit, include_failed).await,
        }
    }

    /// Whether this worker is known to have lost `file`'s lease (a write
    /// about it was refused, or a renewal found it taken): nothing more
    /// should be sent for it. Always false on SQLite.
    #[must_use]
    pub fn lease_lost(&self, file: FileId) -> bool {
        self.pg().is_some_and(|p| p.leases.lost(file))
    }

    /// Whether this worker still holds `file`'s lease, asked of the
    /// database (one round trip; nothing on SQLite): before sending more
    /// of a file, so a worker back from a pause learns at once that the
    /// file was taken over. [`JournalError::LeaseLost`] when it was.
    pub async fn check_lease(&self, file: FileId) -> Result<(), JournalError> {
        match &self.backend {
            Backend::Sqlite(_) => Ok(()),
            Backend::Postgres(p) => p.check_lease(file).await,
        }
    }

    /// The workers that joined a job on a shared journal (none on SQLite).
    pub fn workers(&self, job: JobId) -> Result<Vec<WorkerRow>, JournalError> {
        match &self.backend {
            Backend::Sqlite(_) => Ok(Vec::new()),
            Backend::Postgres(p) => p.workers(job),
        }
    }

    /// The live and expired leases on a job's unfinished files (none on SQLite).
    pub fn leases(&self, job: JobId) -> Result<Vec<LeaseRow>, JournalError> {
        match &self.backend {
            Backend::Sqlite(_) => Ok(Vec::new()),
            Backend::Postgres(p) => p.leases(job),
        }
    }

    /// Deletes a job with its files and parts.
    pub async fn forget_job(&self, job: JobId) -> Result<(), JournalError> {
        self.call(|reply| Cmd::ForgetJob { job, reply }).await
    }

    fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, JournalError> {
        let Backend::Sqlite(s) = &self.backend else {
            return Err(JournalError::WriterGone);
        };
        let conn = s.reader.lock().map_err(|_| JournalError::WriterGone)?;
        f(&conn).map_err(|e| JournalError::sql(&s.path, e))
    }

    fn pg(&self) -> Option<&pg::Pg> {
        match &self.backend {
            Backend::Sqlite(_) => None,
            Backend::Postgres(p) => Some(p),
        }
    }
}
