//! Leases: claiming files with `FOR UPDATE SKIP LOCKED`, waiting while
//! other workers hold what is left, keeping this worker's leases alive, and
//! what `haul jobs show` reports about workers and leases.

use std::sync::Arc;
use std::time::Duration;

use tokio_postgres::Client;

use super::query::FILE_COLS;
use super::schema::NOW_MS;
use super::tasks::{self, register};
use super::{Held, Leases, Pg};
use crate::{FileId, FileRow, JobId, JournalError, LeaseRow, WorkerRow};

/// Most files one claim takes: enough to keep a worker busy between
/// claims, few enough that eight workers share a small job.
fn claim_batch() -> i64 {
    std::env::var("HAUL_CLAIM_BATCH")
        .ok()
        .and_then(|v| v.trim().parse::<i64>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(32)
}

/// What is left of a job that this worker cannot claim now.
struct Left {
    /// The job is still being planned: more files may come.
    planning: bool,
    /// Unfinished files this worker is not working on.
    held_elsewhere: i64,
    /// Milliseconds until the first of those leases expires.
    next_expiry_ms: Option<i64>,
}

async fn claim(
    client: &Client,
    leases: &Leases,
    job: JobId,
    after: FileId,
    limit: i64,
    include_failed: bool,
) -> Result<Vec<tokio_postgres::Row>, tokio_postgres::Error> {
    // Failed files are retried once per run (above the caller's cursor);
    // a file this worker is working on is never claimed again by itself
    // (one whose lease it let lapse, with no task on it, may be).
    let sql = format!(
        "UPDATE files f SET owner = $2, lease_until = {NOW_MS} + $3, epoch = f.epoch + 1
         WHERE f.id IN (
           SELECT id FROM files
           WHERE job = $1
             AND (state IN ('pending', 'active') OR ($5 AND state = 'failed' AND id > $6))
             AND (lease_until IS NULL OR lease_until < {NOW_MS})
             AND NOT (id = ANY($7))
           ORDER BY id LIMIT $4
           FOR UPDATE SKIP LOCKED)
         RETURNING {FILE_COLS}, epoch"
    );
    client
        .query(
            &sql,
            &[
                &job.0,
                &leases.owner,
                &leases.lease_ms(),
                &limit,
                &include_failed,
                &after.0,
                &leases.held_ids(),
            ],
        )
        .await
}

async fn left(client: &Client, leases: &Leases, job: JobId) -> Result<Left, tokio_postgres::Error> {
    let row = client
        .query_one(
            &format!(
                "SELECT (SELECT state FROM jobs WHERE id = $1) = 'planning'
                          OR EXISTS (SELECT 1 FROM listings WHERE job = $1 AND state = 'pending'),
                        count(*),
                        min(lease_until) - {NOW_MS}
                 FROM files
                 WHERE job = $1 AND state IN ('pending', 'active')
                   AND NOT (id = ANY($2))"
            ),
            &[&job.0, &leases.held_ids()],
        )
        .await?;
    Ok(Left {
        planning: row.try_get::<_, Option<bool>>(0)?.unwrap_or(false),
        held_elsewhere: row.try_get(1)?,
        next_expiry_ms: row.try_get(2)?,
    })
}

/// Renews this worker's leases and heartbeat a few times per lease, until
/// the journal's runtime stops.
pub(crate) async fn keep_leases(client: Arc<Client>, leases: Arc<Leases>) {
    loop {
        // Read each time: the lease may be set after the journal opened.
        let period = Duration::from_millis((leases.lease_ms() / 3).max(30) as u64);
        tokio::time::sleep(period).await;
        tasks::renew(&client, &leases).await;
        let holding = leases.held.lock().is_ok_and(|h| !h.is_empty());
        let jobs: Vec<i64> = leases.jobs.lock().map(|j| j.clone()).unwrap_or_default();
        if holding {
            let held = super::live(&leases.held, |f| f.0);
            let (ids, epochs): (Vec<i64>, Vec<i64>) = held.iter().copied().unzip();
            let renewed = client
                .query(
                    &format!(
                        "UPDATE files SET lease_until = {NOW_MS} + $2
                         WHERE id IN (
                           SELECT f.id FROM files f
                           JOIN unnest($3::bigint[], $4::bigint[]) AS h(id, epoch)
                             ON f.id = h.id AND f.epoch = h.epoch
                           WHERE f.owner = $1 AND f.state IN ('pending', 'active')
                           FOR NO KEY UPDATE SKIP LOCKED)
                         RETURNING id"
                    ),
                    &[&leases.owner, &leases.lease_ms(), &ids, &epochs],
                )
                .await;
            match renewed {
                Ok(rows) => {
                    let kept: std::collections::HashSet<i64> =
                        rows.iter().filter_map(|r| r.try_get(0).ok()).collect();
                    for (id, _) in held {
                        if !kept.contains(&id) {
                            // Taken over (or finished by a write still
                            // queued): send nothing more for it.
                            mark_if_taken(&client, &leases, FileId(id)).await;
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "renewing leases failed"),
            }
        }
        if !jobs.is_empty() {
            let _ = client
                .execute(
                    &format!(
                        "UPDATE workers SET seen_at = {NOW_MS} WHERE id = $1 AND job = ANY($2)"
                    ),
                    &[&leases.owner, &jobs],
                )
                .await;
        }
    }
}

/// Marks `file` lost when another worker holds it now (not when this
/// worker's own write finished it and the renewal merely raced that write).
async fn mark_if_taken(client: &Client, leases: &Leases, file: FileId) {
    let Some(epoch) = leases.epoch(file) else {
        return;
    };
    let row = client
        .query_opt(
            "SELECT 1 FROM files WHERE id = $1 AND (owner IS DISTINCT FROM $2 OR epoch <> $3)",
            &[&file.0, &leases.owner, &epoch],
        )
        .await;
    if let Ok(Some(_)) = row
        && leases.mark_lost(file)
    {
        tracing::warn!(file = file.0, "lease lost to another worker");
    }
}

impl Pg {
    /// [`crate::Journal::check_lease`].
    pub(crate) async fn check_lease(&self, file: FileId) -> Result<(), JournalError> {
        let Some(epoch) = self.leases.epoch(file) else {
            return Ok(());
        };
        if self.leases.lost(file) {
            return Err(JournalError::LeaseLost(file));
        }
        let client = Arc::clone(&self.reader);
        let owner = self.leases.owner.clone();
        let lease_ms = self.leases.lease_ms();
        let shown = self.shown().to_path_buf();
        let held = self
            .run(async move {
                // Still ours (even if a renewal was missed and nobody took
                // it): extend the lease; taken over: refused.
                client
                    .query_opt(
                        &format!(
                            "UPDATE files SET lease_until = {NOW_MS} + $4
                             WHERE id = $1 AND owner = $2 AND epoch = $3 RETURNING 1"
                        ),
                        &[&file.0, &owner, &epoch, &lease_ms],
                    )
                    .await
                    .map_err(|e| super::sql(&shown, &e))
            })
            .await?;
        if held.is_none() {
            if self.leases.mark_lost(file) {
                tracing::warn!(file = file.0, "lease lost to another worker");
            }
            return Err(JournalError::LeaseLost(file));
        }
        Ok(())
    }

    /// Claims up to `limit` files of `job`; with none to claim, waits while
    /// other workers hold unfinished files (their leases may expire) or
    /// the job is still being planned; empty means nothing is left.
    pub(crate) async fn next_files(
        &self,
        job: JobId,
        after: FileId,
        limit: usize,
        include_failed: bool,
    ) -> Result<Vec<FileRow>, JournalError> {
        let client = Arc::clone(&self.reader);
        let leases = Arc::clone(&self.leases);
        let shown = self.shown().to_path_buf();
        let limit = (limit as i64).clamp(1, claim_batch());
        let rows = self
            .run(async move {
                let err = |e: tokio_postgres::Error| super::sql(&shown, &e);
                register(&client, &leases, job).await.map_err(err)?;
                loop {
                    let rows = claim(&client, &leases, job, after, limit, include_failed)
                        .await
                        .map_err(err)?;
                    if !rows.is_empty() {
                        return Ok(rows);
                    }
                    let left = left(&client, &leases, job).await.map_err(err)?;
                    if left.held_elsewhere == 0 && !left.planning {
                        return Ok(rows);
                    }
                    // Another worker holds what is left: look again when
                    // the first lease would expire, or sooner.
                    let cap = (leases.lease_ms() / 4).clamp(20, 1000);
                    let wait = left.next_expiry_ms.unwrap_or(cap).clamp(20, cap);
                    tokio::time::sleep(Duration::from_millis(wait as u64 + 5)).await;
                }
            })
            .await?;
        let mut files = Vec::with_capacity(rows.len());
        let mut held = Vec::with_capacity(rows.len());
        for r in &rows {
            let f = self.file_row(r)?;
            let epoch: i64 = r
                .try_get(FILE_COLS.split(',').count())
                .map_err(|e| super::sql(self.shown(), &e))?;
            held.push((f.id, epoch));
            files.push(f);
        }
        if let Ok(mut h) = self.leases.held.lock() {
            for (id, epoch) in held {
                h.insert(id, Held { epoch, lost: false });
            }
        }
        files.sort_by_key(|f| f.id);
        Ok(files)
    }

    pub(crate) fn workers(&self, job: JobId) -> Result<Vec<WorkerRow>, JournalError> {
        let rows = self.query(
            format!(
                "SELECT w.id, w.started_at, w.seen_at,
                   (SELECT count(*) FROM files f WHERE f.job = w.job AND f.owner = w.id
                      AND f.state = 'done'),
                   (SELECT coalesce(sum(size), 0)::bigint FROM files f WHERE f.job = w.job
                      AND f.owner = w.id AND f.state = 'done'),
                   (SELECT count(*) FROM files f WHERE f.job = w.job AND f.owner = w.id
                      AND f.state IN ('pending', 'active') AND f.lease_until > {NOW_MS})
                 FROM workers w WHERE w.job = $1 ORDER BY w.started_at, w.id"
            ),
            vec![Box::new(job.0)],
        )?;
        let err = |e: tokio_postgres::Error| super::sql(self.shown(), &e);
        rows.iter()
            .map(|r| {
                Ok(WorkerRow {
                    id: r.try_get(0).map_err(err)?,
                    started_ms: r.try_get(1).map_err(err)?,
                    seen_ms: r.try_get(2).map_err(err)?,
                    files_done: r.try_get::<_, i64>(3).map_err(err)? as u64,
                    bytes_done: r.try_get::<_, i64>(4).map_err(err)? as u64,
                    holding: r.try_get::<_, i64>(5).map_err(err)? as u64,
                })
            })
            .collect()
    }

    pub(crate) fn leases(&self, job: JobId) -> Result<Vec<LeaseRow>, JournalError> {
        let rows = self.query(
            format!(
                "SELECT id, dst, owner, epoch, lease_until - {NOW_MS} FROM files
                 WHERE job = $1 AND state IN ('pending', 'active') AND lease_until IS NOT NULL
                 ORDER BY id"
            ),
            vec![Box::new(job.0)],
        )?;
        let err = |e: tokio_postgres::Error| super::sql(self.shown(), &e);
        rows.iter()
            .map(|r| {
                Ok(LeaseRow {
                    file: FileId(r.try_get(0).map_err(err)?),
                    dst: r.try_get(1).map_err(err)?,
                    owner: r
                        .try_get::<_, Option<String>>(2)
                        .map_err(err)?
                        .unwrap_or_default(),
                    epoch: r.try_get(3).map_err(err)?,
                    expires_in_ms: r.try_get(4).map_err(err)?,
                })
            })
            .collect()
    }
}
