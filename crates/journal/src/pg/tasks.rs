//! Listing tasks on the shared journal: claimed with `FOR UPDATE SKIP
//! LOCKED` like files, with an owner, a lease on the database's clock and
//! an epoch bumped by every claim; renewed by the lease keeper; reported
//! by `haul jobs show`.

use std::sync::Arc;
use std::time::Duration;

use tokio_postgres::{Client, Row};

use super::schema::NOW_MS;
use super::{Held, Leases, Pg};
use crate::{JobId, JournalError, ListingId, ListingRow, ListingState, ListingTask, NewListing};

/// Registers this worker in a job (once per job): `haul jobs show` lists it.
pub(crate) async fn register(
    client: &Client,
    leases: &Leases,
    job: JobId,
) -> Result<(), tokio_postgres::Error> {
    let known = leases.jobs.lock().is_ok_and(|j| j.contains(&job.0));
    if known {
        return Ok(());
    }
    client
        .execute(
            &format!(
                "INSERT INTO workers(id, job, started_at, seen_at) VALUES ($1, $2, {NOW_MS}, {NOW_MS})
                 ON CONFLICT (id, job) DO UPDATE SET seen_at = excluded.seen_at"
            ),
            &[&leases.owner, &job.0],
        )
        .await?;
    if let Ok(mut j) = leases.jobs.lock() {
        j.push(job.0);
    }
    Ok(())
}

/// Claims the first pending task of `job` that nobody holds a live lease on.
async fn claim(
    client: &Client,
    leases: &Leases,
    job: JobId,
) -> Result<Option<Row>, tokio_postgres::Error> {
    client
        .query_opt(
            &format!(
                "UPDATE listings l SET owner = $2, lease_until = {NOW_MS} + $3, epoch = l.epoch + 1
                 WHERE l.id = (
                   SELECT id FROM listings
                   WHERE job = $1 AND state = 'pending'
                     AND (lease_until IS NULL OR lease_until < {NOW_MS})
                   ORDER BY id LIMIT 1
                   FOR UPDATE SKIP LOCKED)
                 RETURNING id, prefix, start_after, end_at, dst_prefix, cursor, epoch,
                   delimiter"
            ),
            &[&job.0, &leases.owner, &leases.lease_ms()],
        )
        .await
}

/// Pending tasks of `job` that this worker does not hold a live lease on
/// (its own are being listed), and the milliseconds until the first of
/// their leases expires.
async fn pending(
    client: &Client,
    leases: &Leases,
    job: JobId,
) -> Result<(i64, Option<i64>), tokio_postgres::Error> {
    let row = client
        .query_one(
            &format!(
                "SELECT count(*), min(lease_until) - {NOW_MS} FROM listings
                 WHERE job = $1 AND state = 'pending'
                   AND NOT (owner IS NOT DISTINCT FROM $2 AND lease_until >= {NOW_MS})"
            ),
            &[&job.0, &leases.owner],
        )
        .await?;
    Ok((row.try_get(0)?, row.try_get(1)?))
}

fn task(job: JobId, r: &Row) -> Result<ListingTask, tokio_postgres::Error> {
    Ok(ListingTask {
        id: ListingId(r.try_get(0)?),
        job,
        range: NewListing {
            prefix: r.try_get(1)?,
            start_after: r.try_get(2)?,
            end_at: r.try_get(3)?,
            dst_prefix: r.try_get(4)?,
            delimiter: r.try_get(7)?,
        },
        cursor: r.try_get(5)?,
        epoch: r.try_get(6)?,
    })
}

/// Renews the leases of the listing tasks this worker holds; those it
/// finds taken over are marked lost (their lister stops).
pub(crate) async fn renew(client: &Client, leases: &Leases) {
    let held = super::live(&leases.listings, |t| t.0);
    if held.is_empty() {
        return;
    }
    let (ids, epochs): (Vec<i64>, Vec<i64>) = held.iter().copied().unzip();
    let renewed = client
        .query(
            &format!(
                "UPDATE listings l SET lease_until = {NOW_MS} + $2
                 FROM unnest($3::bigint[], $4::bigint[]) AS h(id, epoch)
                 WHERE l.id = h.id AND l.epoch = h.epoch AND l.owner = $1
                   AND l.state = 'pending'
                 RETURNING l.id"
            ),
            &[&leases.owner, &leases.lease_ms(), &ids, &epochs],
        )
        .await;
    match renewed {
        Ok(rows) => {
            let kept: std::collections::HashSet<i64> =
                rows.iter().filter_map(|r| r.try_get(0).ok()).collect();
            for (id, epoch) in held {
                // Not renewed: taken over, or ended by this worker's own
                // write (which forgets it).
                if !kept.contains(&id) && taken(client, leases, id, epoch).await {
                    leases.mark_listing_lost(ListingId(id));
                    tracing::warn!(task = id, "listing lease lost to another worker");
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "renewing listing leases failed"),
    }
}

/// Whether another worker claimed the task since this one did.
async fn taken(client: &Client, leases: &Leases, id: i64, epoch: i64) -> bool {
    client
        .query_opt(
            "SELECT 1 FROM listings WHERE id = $1 AND (owner IS DISTINCT FROM $2 OR epoch <> $3)",
            &[&id, &leases.owner, &epoch],
        )
        .await
        .is_ok_and(|r| r.is_some())
}

impl Pg {
    /// [`crate::Journal::next_listing`] on the shared journal: `None` when
    /// every task is done or listed by this worker's other lanes.
    pub(crate) async fn next_listing(
        &self,
        job: JobId,
        wait: bool,
    ) -> Result<Option<ListingTask>, JournalError> {
        let client = Arc::clone(&self.reader);
        let leases = Arc::clone(&self.leases);
        let shown = self.shown().to_path_buf();
        let claimed = self
            .run(async move {
                let err = |e: tokio_postgres::Error| super::sql(&shown, &e);
                register(&client, &leases, job).await.map_err(err)?;
                loop {
                    if let Some(r) = claim(&client, &leases, job).await.map_err(err)? {
                        return task(job, &r).map(Some).map_err(err);
                    }
                    let (left, next_expiry) = pending(&client, &leases, job).await.map_err(err)?;
                    if left == 0 || !wait {
                        return Ok(None);
                    }
                    // Other workers list what is left: look again when the
                    // first lease would expire, or sooner (to end soon
                    // after the last task does).
                    let cap = (leases.lease_ms() / 4).clamp(20, 250);
                    let wait = next_expiry.unwrap_or(cap).clamp(20, cap);
                    tokio::time::sleep(Duration::from_millis(wait as u64 + 5)).await;
                }
            })
            .await?;
        if let Some(t) = &claimed
            && let Ok(mut h) = self.leases.listings.lock()
        {
            h.insert(
                t.id,
                Held {
                    epoch: t.epoch,
                    lost: false,
                },
            );
        }
        Ok(claimed)
    }

    /// [`crate::Journal::listings`] on the shared journal.
    pub(crate) fn listings(&self, job: JobId) -> Result<Vec<ListingRow>, JournalError> {
        let rows = self.query(
            format!(
                "SELECT id, prefix, state, owner, epoch, lease_until - {NOW_MS}, cursor, files, error
                 FROM listings WHERE job = $1 ORDER BY id"
            ),
            vec![Box::new(job.0)],
        )?;
        let err = |e: tokio_postgres::Error| super::sql(self.shown(), &e);
        rows.iter()
            .map(|r| {
                let state: String = r.try_get(2).map_err(err)?;
                Ok(ListingRow {
                    id: ListingId(r.try_get(0).map_err(err)?),
                    prefix: r.try_get(1).map_err(err)?,
                    state: ListingState::parse(&state).ok_or_else(|| JournalError::Corrupt {
                        path: self.shown().to_path_buf(),
                        cause: format!("unknown value {state:?}"),
                    })?,
                    owner: r.try_get(3).map_err(err)?,
                    epoch: r.try_get(4).map_err(err)?,
                    expires_in_ms: r.try_get(5).map_err(err)?,
                    cursor: r.try_get(6).map_err(err)?,
                    files: r.try_get::<_, i64>(7).map_err(err)? as u64,
                    error: r.try_get(8).map_err(err)?,
                })
            })
            .collect()
    }
}
