//! Planned rows on the shared journal: files (one multi-row insert per
//! batch, `unnest` of arrays) and listing tasks, whose batches of files go
//! in only while the task is still held at the epoch its worker claimed.

use super::Leases;
use super::tx::Tx;
use crate::{JobId, ListingId, NewFile, NewListing};

/// Inserts planned files in the plan's order.
pub(crate) async fn insert_files(
    tx: &Tx<'_>,
    job: JobId,
    files: &[NewFile],
) -> Result<(), tokio_postgres::Error> {
    let n = files.len();
    let mut src = Vec::with_capacity(n);
    let mut dst = Vec::with_capacity(n);
    let mut size = Vec::with_capacity(n);
    let mut mtime = Vec::with_capacity(n);
    let mut version = Vec::with_capacity(n);
    let mut action = Vec::with_capacity(n);
    let mut state = Vec::with_capacity(n);
    let mut error = Vec::with_capacity(n);
    for f in files {
        src.push(f.src.as_str());
        dst.push(f.dst.as_str());
        size.push(f.size as i64);
        mtime.push(f.mtime_ns);
        version.push(f.src_version.as_deref());
        action.push(f.action.as_str());
        state.push(f.state.as_str());
        error.push(f.error.as_deref());
    }
    // WITH ORDINALITY keeps the plan's order in the ids.
    tx.execute(
        "INSERT INTO files(job, src, dst, size, mtime_ns, src_version, action, state, error)
         SELECT $1, u.src, u.dst, u.size, u.mtime, u.version, u.action, u.state, u.error
         FROM unnest($2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::text[],
                     $7::text[], $8::text[], $9::text[])
              WITH ORDINALITY AS u(src, dst, size, mtime, version, action, state, error, n)
         ORDER BY u.n",
        &[
            &job.0, &src, &dst, &size, &mtime, &version, &action, &state, &error,
        ],
    )
    .await?;
    Ok(())
}

/// Inserts listing tasks; one whose range is already there stays.
pub(crate) async fn add_listings(
    tx: &Tx<'_>,
    job: JobId,
    listings: &[NewListing],
) -> Result<(), tokio_postgres::Error> {
    let prefix: Vec<&str> = listings.iter().map(|l| l.prefix.as_str()).collect();
    let after: Vec<&str> = listings.iter().map(|l| l.start_after.as_str()).collect();
    let before: Vec<&str> = listings.iter().map(|l| l.end_at.as_str()).collect();
    let dst: Vec<&str> = listings.iter().map(|l| l.dst_prefix.as_str()).collect();
    let delimiter: Vec<&str> = listings.iter().map(|l| l.delimiter.as_str()).collect();
    tx.execute(
        "INSERT INTO listings(job, prefix, start_after, end_at, dst_prefix, delimiter, state)
         SELECT $1, u.prefix, u.after, u.before, u.dst, u.delimiter, 'pending'
         FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
              WITH ORDINALITY AS u(prefix, after, before, dst, delimiter, n)
         ORDER BY u.n
         ON CONFLICT (job, prefix, start_after, end_at) DO NOTHING",
        &[&job.0, &prefix, &after, &before, &dst, &delimiter],
    )
    .await?;
    Ok(())
}

/// A batch of a task's files and its new cursor, fenced by owner and
/// epoch: the task's row is updated first (and stays locked to the end of
/// the transaction), and the files go in only when it was still this
/// worker's. False when refused.
pub(crate) async fn listed(
    tx: &Tx<'_>,
    leases: &Leases,
    (job, task, epoch): (JobId, ListingId, i64),
    files: &[NewFile],
    cursor: &str,
) -> Result<bool, tokio_postgres::Error> {
    let n = tx
        .execute(
            "UPDATE listings SET cursor = $4, files = files + $5
             WHERE id = $1 AND owner = $2 AND epoch = $3 AND state = 'pending'",
            &[
                &task.0,
                &leases.owner,
                &epoch,
                &cursor,
                &(files.len() as i64),
            ],
        )
        .await?;
    if n == 0 {
        leases.mark_listing_lost(task);
        tracing::warn!(task = task.0, "listing lease lost: batch refused");
        return Ok(false);
    }
    insert_files(tx, job, files).await?;
    Ok(true)
}

/// A task's end, fenced like [`listed`]. False when refused.
pub(crate) async fn finish(
    tx: &Tx<'_>,
    leases: &Leases,
    task: ListingId,
    epoch: i64,
    error: Option<&str>,
) -> Result<bool, tokio_postgres::Error> {
    let state = if error.is_some() { "failed" } else { "done" };
    let n = tx
        .execute(
            "UPDATE listings SET state = $4, error = $5, lease_until = NULL
             WHERE id = $1 AND owner = $2 AND epoch = $3 AND state = 'pending'",
            &[&task.0, &leases.owner, &epoch, &state, &error],
        )
        .await?;
    if n == 0 {
        leases.mark_listing_lost(task);
        tracing::warn!(task = task.0, "listing lease lost: end refused");
    }
    Ok(n == 1)
}
