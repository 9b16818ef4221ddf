use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::JournalError;

/// Each entry migrates from version `index` to `index + 1`.
const MIGRATIONS: &[&str] = &[
    r"
CREATE TABLE jobs (
    id         INTEGER PRIMARY KEY,
    spec       TEXT    NOT NULL,
    state      TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE TABLE files (
    id          INTEGER PRIMARY KEY,
    job         INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    src         TEXT    NOT NULL,
    dst         TEXT    NOT NULL,
    size        INTEGER NOT NULL,
    mtime_ns    INTEGER,
    src_version TEXT,
    action      TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    upload_id   TEXT,
    part_size   INTEGER,
    checksum    TEXT,
    error       TEXT
);
CREATE INDEX files_job_state ON files(job, state, id);
CREATE TABLE parts (
    file   INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
    number INTEGER NOT NULL,
    offset INTEGER NOT NULL,
    len    INTEGER NOT NULL,
    etag   TEXT    NOT NULL,
    crc32c TEXT,
    md5    TEXT,
    PRIMARY KEY (file, number)
) WITHOUT ROWID;
",
    r"
ALTER TABLE parts ADD COLUMN native TEXT;
",
    r"
ALTER TABLE files ADD COLUMN location TEXT;
",
    // Leases (owner, expiry in ms on the database's clock, fencing epoch)
    // and the workers that hold them: used by the PostgreSQL journal that
    // many workers share, kept here so both journals have one schema.
    r"
ALTER TABLE files ADD COLUMN owner TEXT;
ALTER TABLE files ADD COLUMN lease_until INTEGER;
ALTER TABLE files ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;
CREATE TABLE workers (
    id         TEXT    NOT NULL,
    job        INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    started_at INTEGER NOT NULL,
    seen_at    INTEGER NOT NULL,
    PRIMARY KEY (id, job)
);
",
    // The content checksums haul last computed or verified of an object
    // (a local file or a store's object), valid while its size and ETag
    // (for a local file: size, mtime and inode) are unchanged: the cache
    // `sync --checksum` and `check` consult before reading anything.
    r"
CREATE TABLE sums (
    store   TEXT    NOT NULL,
    key     TEXT    NOT NULL,
    kind    TEXT    NOT NULL,
    size    INTEGER NOT NULL,
    etag    TEXT    NOT NULL,
    value   TEXT    NOT NULL,
    seen_at INTEGER NOT NULL,
    PRIMARY KEY (store, key, kind)
) WITHOUT ROWID;
",
    // The audit facts of a file, written when it ends (`haul jobs report`).
    r"
ALTER TABLE files ADD COLUMN method TEXT;
ALTER TABLE files ADD COLUMN verified TEXT;
ALTER TABLE files ADD COLUMN retries INTEGER NOT NULL DEFAULT 0;
ALTER TABLE files ADD COLUMN retry_causes TEXT;
ALTER TABLE files ADD COLUMN resent_bytes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE files ADD COLUMN resumed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE files ADD COLUMN resumed_bytes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE files ADD COLUMN started_ms INTEGER;
ALTER TABLE files ADD COLUMN ended_ms INTEGER;
",
    // Listing tasks: a part of a job's source listing (a prefix, optionally
    // a key range) that a worker leases like a file and lists into the
    // job's files, journaling its cursor (the last key planned, relative to
    // the job's source prefix) with each batch so another worker continues
    // a dead one's task after it. Its keys are those after `start_after`
    // and up to `end_at` included, '' when unbounded; a `delimiter` lists one level (its objects planned,
    // its common prefixes added as tasks of their own).
    r"
CREATE TABLE listings (
    id          INTEGER PRIMARY KEY,
    job         INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    prefix      TEXT    NOT NULL,
    start_after TEXT    NOT NULL DEFAULT '',
    end_at  TEXT    NOT NULL DEFAULT '',
    delimiter   TEXT    NOT NULL DEFAULT '',
    dst_prefix  TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    owner       TEXT,
    lease_until INTEGER,
    epoch       INTEGER NOT NULL DEFAULT 0,
    cursor      TEXT,
    files       INTEGER NOT NULL DEFAULT 0,
    error       TEXT
);
CREATE UNIQUE INDEX listings_range ON listings(job, prefix, start_after, end_at);
CREATE INDEX listings_job_state ON listings(job, state, id);
",
];

/// The schema version this build writes.
pub(crate) const VERSION: i64 = MIGRATIONS.len() as i64;

fn pragmas(conn: &Connection, ephemeral: bool) -> rusqlite::Result<()> {
    conn.busy_timeout(Duration::from_secs(30))?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(
        None,
        "synchronous",
        if ephemeral { "OFF" } else { "NORMAL" },
    )?;
    Ok(())
}

/// Opens the writer connection: WAL mode, then migrations.
pub(crate) fn open_and_migrate(path: &Path, ephemeral: bool) -> Result<Connection, JournalError> {
    let err = |e| JournalError::sql(path, e);
    let mut conn = Connection::open(path).map_err(err)?;
    pragmas(&conn, ephemeral).map_err(err)?;
    // The first real read: a file that is not SQLite fails here.
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(err)?;
    tracing::debug!(journal = %path.display(), mode, "journal opened");
    let found: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(err)?;
    if found > VERSION {
        return Err(JournalError::TooNew {
            path: path.to_path_buf(),
            found,
            known: VERSION,
        });
    }
    if found < VERSION {
        let tx = conn.transaction().map_err(err)?;
        for sql in &MIGRATIONS[found as usize..] {
            tx.execute_batch(sql).map_err(err)?;
        }
        tx.pragma_update(None, "user_version", VERSION)
            .map_err(err)?;
        tx.commit().map_err(err)?;
    }
    // A journal whose tables were damaged or replaced is caught here, not mid-job.
    conn.query_row("SELECT count(*) FROM jobs", [], |r| r.get::<_, i64>(0))
        .map_err(|e| JournalError::Corrupt {
            path: path.to_path_buf(),
            cause: e.to_string(),
        })?;
    Ok(conn)
}

/// Opens a reader connection on an already migrated journal.
pub(crate) fn open_reader(path: &Path) -> Result<Connection, JournalError> {
    let err = |e| JournalError::sql(path, e);
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(err)?;
    conn.busy_timeout(Duration::from_secs(30)).map_err(err)?;
    Ok(conn)
}
