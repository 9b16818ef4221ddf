//! The PostgreSQL writer: one task that drains the command channel and
//! commits each batch in one transaction, like the SQLite writer thread.
//! Planned files go in with one multi-row insert per batch (`unnest` of
//! arrays); consecutive part records too. Writes about a claimed file are
//! fenced by owner and epoch (see the module above).
//!
//! Over 600 lines: one arm per journal command, each with its fence, kept
//! beside the batching they run in, as the SQLite writer keeps its own.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use tokio_postgres::{Client, Statement};

use super::Leases;
use super::rows;
use super::schema::NOW_MS;
use super::tx::Tx;
use crate::writer::{Cmd, now_secs};
use crate::{FileId, FileState, JobId, JobState, JournalError, ListingId, PartRow};

/// Most commands folded into one transaction.
const MAX_BATCH: usize = 8192;

/// What a committed batch tells its callers and the lease map.
#[derive(Default)]
struct Outcome {
    /// Jobs created, in the batch's order.
    jobs: Vec<JobId>,
    /// Files that reached an end (no lease to keep).
    finished: Vec<FileId>,
    /// Listing tasks whose writes were refused (taken over).
    lost_listings: Vec<ListingId>,
    /// Listing tasks that reached their end.
    finished_listings: Vec<ListingId>,
}

/// Whether a failed batch may simply be committed again: PostgreSQL
/// chose it as a deadlock victim or a serialization failure.
fn retryable(e: &tokio_postgres::Error) -> bool {
    use tokio_postgres::error::SqlState;
    e.code().is_some_and(|c| {
        *c == SqlState::T_R_DEADLOCK_DETECTED || *c == SqlState::T_R_SERIALIZATION_FAILURE
    })
}

pub(crate) async fn run(
    mut client: Client,
    mut rx: mpsc::UnboundedReceiver<Cmd>,
    leases: Arc<Leases>,
    shown: PathBuf,
    done: std::sync::mpsc::Sender<()>,
) {
    let mut batch = Vec::with_capacity(64);
    let prepared = Mutex::new(HashMap::new());
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(cmd) => batch.push(cmd),
                Err(_) => break,
            }
        }
        let mut result = commit(&mut client, &prepared, &leases, &batch).await;
        // A batch PostgreSQL rolled back to break a deadlock is whole and
        // still here: commit it again rather than lose it.
        let mut tries = 1;
        while tries < 10 && result.as_ref().err().is_some_and(retryable) {
            tracing::debug!(tries, "journal batch retried after a deadlock");
            result = commit(&mut client, &prepared, &leases, &batch).await;
            tries += 1;
        }
        match &result {
            Ok(out) => {
                for f in &out.finished {
                    leases.forget(*f);
                }
                for t in &out.finished_listings {
                    leases.forget_listing(*t);
                }
                let parts = batch
                    .iter()
                    .filter(|c| matches!(c, Cmd::PartDone { .. }))
                    .count();
                for _ in 0..parts {
                    haul_core::crash_point("part-journaled");
                }
            }
            Err(e) => {
                tracing::error!(journal = %shown.display(), error = %super::sql(&shown, e), "journal write failed");
            }
        }
        answer(&shown, &leases, batch.drain(..), &result);
    }
    let _ = done.send(());
}

/// Answers the barriers of a batch once its fate is known.
fn answer(
    shown: &std::path::Path,
    leases: &Leases,
    cmds: impl Iterator<Item = Cmd>,
    result: &Result<Outcome, tokio_postgres::Error>,
) {
    let err = || result.as_ref().err().map(|e| super::sql(shown, e));
    let mut jobs = result
        .as_ref()
        .map(|o| o.jobs.clone())
        .unwrap_or_default()
        .into_iter();
    let lost = |task: ListingId| {
        result
            .as_ref()
            .is_ok_and(|o| o.lost_listings.contains(&task))
    };
    for cmd in cmds {
        match cmd {
            Cmd::CreateJob { reply, .. } => {
                let _ = reply.send(match err() {
                    Some(e) => Err(e),
                    None => jobs.next().ok_or(JournalError::WriterGone),
                });
            }
            Cmd::StartUpload { reply, file, .. } | Cmd::FlushFile { reply, file } => {
                let _ = reply.send(match err() {
                    Some(e) => Err(e),
                    None if leases.lost(file) => Err(JournalError::LeaseLost(file)),
                    None => Ok(()),
                });
            }
            Cmd::Listed { reply, task, .. } | Cmd::FinishListing { reply, task, .. } => {
                let _ = reply.send(match err() {
                    Some(e) => Err(e),
                    None if lost(task) => Err(JournalError::ListingLost(task)),
                    None => Ok(()),
                });
            }
            Cmd::ClaimListing { reply, .. } => {
                // Claims run on the readers' connection, never here.
                let _ = reply.send(err().map_or(Ok(None), Err));
            }
            Cmd::ForgetJob { reply, .. }
            | Cmd::RequeueUnknown { reply, .. }
            | Cmd::Barrier { reply } => {
                let _ = reply.send(err().map_or(Ok(()), Err));
            }
            _ => {}
        }
    }
}

async fn commit(
    client: &mut Client,
    prepared: &Mutex<HashMap<String, Statement>>,
    leases: &Leases,
    batch: &[Cmd],
) -> Result<Outcome, tokio_postgres::Error> {
    let tx = Tx {
        tx: client.transaction().await?,
        prepared,
    };
    let mut out = Outcome::default();
    let mut parts: Vec<(FileId, &PartRow)> = Vec::new();
    for cmd in batch {
        if let Cmd::PartDone { file, part } = cmd {
            parts.push((*file, part));
            continue;
        }
        if !parts.is_empty() {
            insert_parts(&tx, leases, std::mem::take(&mut parts)).await?;
        }
        apply(&tx, leases, cmd, &mut out).await?;
    }
    if !parts.is_empty() {
        insert_parts(&tx, leases, parts).await?;
    }
    tx.tx.commit().await?;
    Ok(out)
}

/// The fencing condition on `files`: `$owner`/`$epoch` are bound by the
/// caller at positions `o` and `o + 1`; a NULL epoch (a file this worker
/// never claimed) passes.
fn fence(o: usize) -> String {
    format!(
        "(${e}::bigint IS NULL OR (owner = ${o} AND epoch = ${e}))",
        e = o + 1
    )
}

/// Runs a fenced update; a refused one marks the lease lost.
async fn fenced(
    tx: &Tx<'_>,
    leases: &Leases,
    file: FileId,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<bool, tokio_postgres::Error> {
    let epoch = leases.epoch(file);
    let mut all: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params.to_vec();
    all.push(&leases.owner);
    all.push(&epoch);
    let n = tx.execute(sql, &all).await?;
    if n == 0 && epoch.is_some() {
        leases.mark_lost(file);
        tracing::warn!(file = file.0, "lease lost: write refused");
        return Ok(false);
    }
    Ok(true)
}

async fn insert_parts(
    tx: &Tx<'_>,
    leases: &Leases,
    parts: Vec<(FileId, &PartRow)>,
) -> Result<(), tokio_postgres::Error> {
    let mut file = Vec::with_capacity(parts.len());
    let mut epoch = Vec::with_capacity(parts.len());
    let mut number = Vec::with_capacity(parts.len());
    let mut offset = Vec::with_capacity(parts.len());
    let mut len = Vec::with_capacity(parts.len());
    let mut etag = Vec::with_capacity(parts.len());
    let mut crc = Vec::with_capacity(parts.len());
    let mut md5 = Vec::with_capacity(parts.len());
    let mut native = Vec::with_capacity(parts.len());
    // The last record of a part wins, as with INSERT OR REPLACE.
    let mut seen = std::collections::HashMap::new();
    for (f, p) in parts {
        seen.insert((f, p.number), (f, p));
    }
    for (f, p) in seen.into_values() {
        file.push(f.0);
        epoch.push(leases.epoch(f));
        number.push(p.number as i32);
        offset.push(p.offset as i64);
        len.push(p.len as i64);
        etag.push(p.etag.as_str());
        crc.push(p.crc32c.as_deref());
        md5.push(p.md5.as_deref());
        native.push(p.native.as_deref());
    }
    let rows = tx
        .query(
            r#"INSERT INTO parts(file, number, "offset", len, etag, crc32c, md5, native)
               SELECT u.file, u.number, u.off, u.len, u.etag, u.crc32c, u.md5, u.native
               FROM unnest($1::bigint[], $2::bigint[], $3::int[], $4::bigint[], $5::bigint[],
                           $6::text[], $7::text[], $8::text[], $9::text[])
                    AS u(file, epoch, number, off, len, etag, crc32c, md5, native)
               JOIN files f ON f.id = u.file
                 AND (u.epoch IS NULL OR (f.owner = $10 AND f.epoch = u.epoch))
               ON CONFLICT (file, number) DO UPDATE SET "offset" = excluded."offset",
                 len = excluded.len, etag = excluded.etag, crc32c = excluded.crc32c,
                 md5 = excluded.md5, native = excluded.native
               RETURNING file, number"#,
            &[
                &file,
                &epoch,
                &number,
                &offset,
                &len,
                &etag,
                &crc,
                &md5,
                &native,
                &leases.owner,
            ],
        )
        .await?;
    if rows.len() < file.len() {
        let kept: std::collections::HashSet<(i64, i32)> = rows
            .iter()
            .filter_map(|r| Some((r.try_get(0).ok()?, r.try_get(1).ok()?)))
            .collect();
        for (i, f) in file.iter().enumerate() {
            if !kept.contains(&(*f, number[i])) {
                leases.mark_lost(FileId(*f));
                tracing::warn!(
                    file = f,
                    part = number[i],
                    "lease lost: part record refused"
                );
            }
        }
    }
    Ok(())
}

#[allow(clippy::too_many_lines)] // one arm per command, as in the SQLite writer
async fn apply(
    tx: &Tx<'_>,
    leases: &Leases,
    cmd: &Cmd,
    out: &mut Outcome,
) -> Result<(), tokio_postgres::Error> {
    match cmd {
        Cmd::CreateJob { spec, .. } => {
            let now = now_secs();
            let row = tx
                .query_one(
                    "INSERT INTO jobs(spec, state, created_at, updated_at) VALUES ($1, $2, $3, $3)
                     RETURNING id",
                    &[spec, &JobState::Planning.as_str(), &now],
                )
                .await?;
            out.jobs.push(JobId(row.try_get(0)?));
        }
        Cmd::JobState { job, state } => job_state(tx, leases, *job, *state).await?,
        Cmd::AddFiles { job, files } => rows::insert_files(tx, *job, files).await?,
        Cmd::AddListings { job, listings } => rows::add_listings(tx, *job, listings).await?,
        Cmd::Listed {
            job,
            task,
            epoch,
            files,
            cursor,
            ..
        } => {
            if !rows::listed(tx, leases, (*job, *task, *epoch), files, cursor).await? {
                out.lost_listings.push(*task);
            }
        }
        Cmd::FinishListing {
            task, epoch, error, ..
        } => {
            if rows::finish(tx, leases, *task, *epoch, error.as_deref()).await? {
                out.finished_listings.push(*task);
            } else {
                out.lost_listings.push(*task);
            }
        }
        Cmd::FileState {
            file,
            state,
            checksum,
            error,
        } => {
            let terminal = !matches!(state, FileState::Pending | FileState::Active);
            // A finished file needs no part records: dropped in the same
            // statement (one round trip per file, the common case).
            let finished = matches!(state, FileState::Done | FileState::Skipped);
            let ok = fenced(
                tx,
                leases,
                *file,
                &format!(
                    "WITH u AS (
                       UPDATE files SET state = $2, checksum = coalesce($3, checksum), error = $4,
                         lease_until = CASE WHEN $5 THEN NULL ELSE lease_until END
                       WHERE id = $1 AND {} RETURNING id),
                     d AS (DELETE FROM parts WHERE $6 AND file IN (SELECT id FROM u))
                     SELECT id FROM u",
                    fence(7)
                ),
                &[
                    &file.0,
                    &state.as_str(),
                    &checksum,
                    &error,
                    &terminal,
                    &finished,
                ],
            )
            .await?;
            if ok && terminal {
                out.finished.push(*file);
            }
        }
        Cmd::FileAudit { file, audit } => {
            fenced(
                tx,
                leases,
                *file,
                &format!(
                    "UPDATE files SET method = $2, verified = $3, retries = $4, retry_causes = $5,
                     resent_bytes = $6, resumed = $7, resumed_bytes = $8, started_ms = $9,
                     ended_ms = $10 WHERE id = $1 AND {}",
                    fence(11)
                ),
                &[
                    &file.0,
                    &audit.method,
                    &audit.verified,
                    &(audit.retries as i64),
                    &audit.retry_causes,
                    &(audit.resent_bytes as i64),
                    &i64::from(audit.resumed),
                    &(audit.resumed_bytes as i64),
                    &audit.started_ms,
                    &audit.ended_ms,
                ],
            )
            .await?;
        }
        Cmd::StartUpload {
            file,
            upload_id,
            part_size,
            ..
        } => {
            fenced(
                tx,
                leases,
                *file,
                &format!(
                    "UPDATE files SET upload_id = $2, part_size = $3, state = 'active'
                     WHERE id = $1 AND {}",
                    fence(4)
                ),
                &[&file.0, upload_id, &(*part_size as i64)],
            )
            .await?;
        }
        Cmd::PartSize { file, part_size } => {
            fenced(
                tx,
                leases,
                *file,
                &format!(
                    "UPDATE files SET part_size = $2, state = 'active' WHERE id = $1 AND {}",
                    fence(3)
                ),
                &[&file.0, &(*part_size as i64)],
            )
            .await?;
        }
        Cmd::ResetFile {
            file,
            size,
            mtime_ns,
            version,
        } => {
            let ok = fenced(
                tx,
                leases,
                *file,
                &format!(
                    "UPDATE files SET size = $2, mtime_ns = $3, src_version = $4, upload_id = NULL,
                     part_size = NULL, checksum = NULL, error = NULL, state = 'pending'
                     WHERE id = $1 AND {}",
                    fence(5)
                ),
                &[&file.0, &(*size as i64), mtime_ns, version],
            )
            .await?;
            if ok {
                tx.execute("DELETE FROM parts WHERE file = $1", &[&file.0])
                    .await?;
            }
        }
        Cmd::PartDone { file, part } => insert_parts(tx, leases, vec![(*file, part)]).await?,
        Cmd::ForgetParts { file, numbers } => {
            let numbers: Vec<i32> = numbers.iter().map(|&n| n as i32).collect();
            fenced(
                tx,
                leases,
                *file,
                &format!(
                    "DELETE FROM parts WHERE file = $1 AND number = ANY($2)
                     AND EXISTS (SELECT 1 FROM files WHERE id = $1 AND {})",
                    fence(3)
                ),
                &[&file.0, &numbers],
            )
            .await?;
        }
        Cmd::ForgetJob { job, .. } => {
            tx.execute(
                "DELETE FROM parts WHERE file IN (SELECT id FROM files WHERE job = $1)",
                &[&job.0],
            )
            .await?;
            tx.execute("DELETE FROM workers WHERE job = $1", &[&job.0])
                .await?;
            tx.execute("DELETE FROM files WHERE job = $1", &[&job.0])
                .await?;
            tx.execute("DELETE FROM jobs WHERE id = $1", &[&job.0])
                .await?;
        }
        Cmd::Location { file, location } => {
            fenced(
                tx,
                leases,
                *file,
                &format!(
                    "UPDATE files SET location = $2 WHERE id = $1 AND {}",
                    fence(3)
                ),
                &[&file.0, &location],
            )
            .await?;
        }
        Cmd::RequeueUnknown { job, .. } => {
            tx.execute(
                "UPDATE files SET state = 'pending', error = NULL WHERE job = $1 AND state = 'unknown'",
                &[&job.0],
            )
            .await?;
        }
        Cmd::FlushFile { file, .. } => {
            if let Some(epoch) = leases.epoch(*file) {
                // Still ours: a whole lease ahead for what comes next
                // (completing the upload). Taken over: refused.
                let held = tx
                    .query_opt(
                        &format!(
                            "UPDATE files SET lease_until = {NOW_MS} + $4
                             WHERE id = $1 AND owner = $2 AND epoch = $3 RETURNING 1"
                        ),
                        &[&file.0, &leases.owner, &epoch, &leases.lease_ms()],
                    )
                    .await?;
                if held.is_none() {
                    leases.mark_lost(*file);
                }
            }
        }
        // Claims run on the readers' connection, never here.
        Cmd::Barrier { .. } | Cmd::ClaimListing { .. } => {}
        Cmd::Sums(s) => {
            let size = s.size as i64;
            tx.execute(crate::sums::PG_DELETE, &[&s.store, &s.key, &size, &s.etag])
                .await?;
            let now = now_secs();
            for (kind, value) in crate::sums::rows(s) {
                tx.execute(
                    crate::sums::PG_UPSERT,
                    &[&s.store, &s.key, &kind, &size, &s.etag, &value, &now],
                )
                .await?;
            }
        }
    }
    Ok(())
}

/// A job's state on a shared journal. A worker's own end (done, failed)
/// ends the job only when no file is left to do; its interruption gives
/// its leases back at once and leaves the job running while another
/// worker still holds a live lease.
async fn job_state(
    tx: &Tx<'_>,
    leases: &Leases,
    job: JobId,
    state: JobState,
) -> Result<(), tokio_postgres::Error> {
    let now = now_secs();
    match state {
        JobState::Planning | JobState::Running => {
            tx.execute(
                "UPDATE jobs SET state = $2, updated_at = $3 WHERE id = $1",
                &[&job.0, &state.as_str(), &now],
            )
            .await?;
        }
        JobState::Done | JobState::Failed => {
            tx.execute(
                "UPDATE jobs SET updated_at = $2, state = CASE
                   WHEN EXISTS (SELECT 1 FROM files WHERE job = $1 AND state IN ('pending', 'active'))
                     THEN 'running'
                   WHEN EXISTS (SELECT 1 FROM listings WHERE job = $1 AND state = 'pending')
                     THEN 'running'
                   WHEN EXISTS (SELECT 1 FROM files WHERE job = $1
                                AND state IN ('failed', 'refused', 'unknown'))
                     THEN 'failed'
                   WHEN EXISTS (SELECT 1 FROM listings WHERE job = $1 AND state = 'failed')
                     THEN 'failed'
                   ELSE 'done' END
                 WHERE id = $1",
                &[&job.0, &now],
            )
            .await?;
        }
        JobState::Interrupted => {
            tx.execute(
                "UPDATE files SET lease_until = NULL
                 WHERE job = $1 AND owner = $2 AND state IN ('pending', 'active')",
                &[&job.0, &leases.owner],
            )
            .await?;
            tx.execute(
                "UPDATE listings SET lease_until = NULL
                 WHERE job = $1 AND owner = $2 AND state = 'pending'",
                &[&job.0, &leases.owner],
            )
            .await?;
            if let Ok(mut h) = leases.held.lock() {
                h.clear();
            }
            if let Ok(mut h) = leases.listings.lock() {
                h.clear();
            }
            tx.execute(
                &format!(
                    "UPDATE jobs SET updated_at = $2, state = CASE
                       WHEN EXISTS (SELECT 1 FROM files WHERE job = $1 AND owner <> $3
                                    AND lease_until > {NOW_MS}) THEN 'running'
                       WHEN EXISTS (SELECT 1 FROM listings WHERE job = $1 AND owner <> $3
                                    AND state = 'pending' AND lease_until > {NOW_MS})
                         THEN 'running'
                       ELSE 'interrupted' END
                     WHERE id = $1"
                ),
                &[&job.0, &now, &leases.owner],
            )
            .await?;
        }
    }
    Ok(())
}
