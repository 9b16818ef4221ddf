//! Per-file transfers: route choice (server-side copy, single put, multipart
//! stream or part copy), the multipart driver with its permits, retries and
//! journal records, and batched deletes.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use haul_core::{
    Checksum, ChecksumKind, CopyOptions, Error, GetOptions, Key, ObjectMeta, PayloadStream,
    PutOptions, PutOutcome, UploadId,
};
use haul_journal::{FileRow, FileState, JournalError};

use crate::audit::Tally;
use crate::context::{Operation, Shared};
use crate::event::Event;
use crate::verify::{Expected, Verified, verify};

use crate::failure::{Done, Failure, decimal, fail, fail_file, record_failure};
use crate::multipart::multipart;
use crate::parts::{counted, open_to_send, read, whole_kinds, with_part_retries};

/// Why a file did not finish.
use crate::context::mtime_ns;

/// Transfers one planned file and records the outcome. Never panics on a
/// store's or user's input; every failure becomes the file's error line.
pub(crate) async fn run_file(shared: &Arc<Shared>, row: FileRow) {
    // An earlier run started it: its upload (or part size) is journaled.
    let resumed = row.upload_id.is_some() || row.state == FileState::Active;
    let tally = Tally::start(shared, resumed);
    crate::audit::scope(Arc::clone(&tally), carry(shared, row, &tally)).await;
}

/// Carries one file, its retries heard by `tally`, and records how it ended.
async fn carry(shared: &Arc<Shared>, mut row: FileRow, tally: &Tally) {
    shared.emit(Event::FileStarted {
        src: row.src.clone(),
        dst: row.dst.clone(),
        size: row.size,
    });
    let mut result = copy_file(shared, &mut row).await;
    // Doing a file again on a store whose puts are not idempotent could store it twice.
    let idempotent = shared.dst.store.capabilities().idempotent_put;
    if idempotent
        && result.as_ref().err().is_some_and(Failure::redo)
        && !shared.cancelled()
        // A file whose lease another worker took is that worker's to redo.
        && shared.journal.flush_file(row.id).await.is_ok()
    {
        if let Err(Failure::Store(e)) = &result {
            tracing::warn!(error = %e, "redoing the whole file once");
            shared.emit(Event::Retry {
                dst: row.dst.clone(),
                error: e.to_string(),
            });
        }
        forget_upload(shared, &mut row).await;
        result = copy_file(shared, &mut row).await;
    }
    if let (Ok(done), Operation::Move) = (&result, shared.op) {
        // The source goes only when what arrived was compared by content.
        if !done.verified.by_content() && !shared.config.allow_size_only {
            result = Err(Failure::Store(Error::Precondition {
                key: row.src.clone(),
                source: format!(
                    "{} was verified by size only, so the source is kept; \
                     --verify read-back compares content (--allow-size-only deletes anyway)",
                    row.dst
                )
                .into(),
            }));
        } else if let Err(e) = delete_source(shared, &row).await {
            result = Err(e);
        }
    }
    match &result {
        Ok(done) => shared.journal.set_file_audit(
            row.id,
            tally.finish(Some(done.method), Some(&done.verified.by)),
        ),
        Err(Failure::Cancelled | Failure::Journal(JournalError::LeaseLost(_))) => {}
        Err(_) => shared
            .journal
            .set_file_audit(row.id, tally.finish(None, None)),
    }
    match result {
        Ok(done) => {
            let counter = if done.verified.by_content() {
                &shared.counters.verified_by_content
            } else {
                &shared.counters.verified_by_size
            };
            counter.fetch_add(1, Ordering::Relaxed);
            let checksum = done.verified.checksum.map(String::from);
            if let Some(loc) = &done.location {
                shared.journal.set_location(row.id, loc.clone());
            }
            shared
                .journal
                .set_file_state(row.id, FileState::Done, checksum.clone(), None);
            shared.counters.files_done.fetch_add(1, Ordering::Relaxed);
            shared.emit(Event::FileDone {
                src: row.src,
                dst: row.dst,
                size: row.size,
                method: done.method,
                checksum,
                verified: Some(done.verified.by),
                location: done.location,
            });
        }
        Err(Failure::Cancelled) => {}
        Err(Failure::Store(e)) if e.is_outcome_unknown() => {
            let line = format!(
                "{e}; it was sent and may have arrived: not sent again (haul resume {} --resend-unknown sends it)",
                shared.job
            );
            shared
                .journal
                .set_file_state(row.id, FileState::Unknown, None, Some(line.clone()));
            record_failure(shared, &row, line);
        }
        Err(e) => fail_file(shared, &row, e),
    }
}

async fn delete_source(shared: &Shared, row: &FileRow) -> Result<(), Failure> {
    let k = Key::new(row.src.as_str())?;
    shared.src.store.delete(&k).await?;
    Ok(())
}

/// Drops a file's multipart upload (best effort) and its journaled parts.
async fn forget_upload(shared: &Shared, row: &mut FileRow) {
    if let (Some(id), Ok(k)) = (row.upload_id.take(), Key::new(row.dst.as_str())) {
        let _ = shared.dst.store.abort_multipart(&k, &UploadId(id)).await;
    }
    row.part_size = None;
    shared
        .journal
        .reset_file(row.id, row.size, row.mtime_ns, row.src_version.clone());
}

async fn copy_file(shared: &Arc<Shared>, row: &mut FileRow) -> Result<Done, Failure> {
    if shared.cancelled() {
        return Err(Failure::Cancelled);
    }
    let (src, dst) = (&shared.src.store, &shared.dst.store);
    let sk = Key::new(row.src.as_str())?;
    let dk = Key::new(row.dst.as_str())?;
    let meta = match shared.take_planned(&sk) {
        Some(meta) => meta,
        None if reads_first(shared, row) => match put_read_first(shared, row, &sk, &dk).await? {
            First::Sent(done) => return Ok(done),
            First::Changed(meta) => meta,
        },
        None => src.head(&sk).await?,
    };
    if changed(row, &meta) {
        tracing::info!(key = %sk, "source changed since it was planned: starting the file over");
        row.size = meta.size;
        row.mtime_ns = mtime_ns(&meta);
        row.src_version.clone_from(&meta.etag);
        forget_upload(shared, row).await;
    }
    let size = meta.size;
    let cap = dst.capabilities();
    let cfg = &shared.config;
    let same = shared.same_store();
    // A started multipart upload is continued whatever this run's knobs say.
    let started = row.upload_id.is_some();
    if !started
        && same
        && cap.server_side_copy
        && size <= cfg.copy_slice_size.min(cap.max_copy_bytes)
    {
        let opts = CopyOptions {
            if_match: meta.etag.clone(),
        };
        let slot = crate::tune::take(shared).await;
        let outcome = dst.copy(&sk, &dk, opts).await?;
        drop(slot);
        shared
            .counters
            .bytes_transferred
            .fetch_add(size, Ordering::Relaxed);
        shared
            .counters
            .bytes_copied
            .fetch_add(size, Ordering::Relaxed);
        let expected = Expected {
            checksums: meta.checksums.clone(),
            etag: None,
            size,
        };
        let verified = verify(shared, &dk, &meta, &expected, &outcome).await?;
        return Ok(Done {
            method: "copy",
            verified,
            location: outcome.location,
        });
    }
    if same && cap.part_copy && cap.multipart && size > 0 {
        return multipart(shared, row, &meta, &sk, &dk, true).await;
    }
    // A single put larger than a part is streamed from its source where
    // the store can take it so; where it cannot, it goes in parts, so no
    // request holds more than a part of the memory budget.
    let whole = size <= cfg.chunk_size || cap.streamed_puts || !cap.multipart;
    if !started && (size <= cfg.slice_size || !cap.multipart) && whole {
        if size > cap.max_single_put_bytes {
            return Err(Error::invalid(
                dk.as_str(),
                // Refused before a byte is read or sent.
                format!(
                    "{} exceeds {dst}'s {} upload limit",
                    decimal(size),
                    decimal(cap.max_single_put_bytes)
                ),
            )
            .into());
        }
        return single_put(shared, &meta, &dk).await;
    }
    multipart(shared, row, &meta, &sk, &dk, false).await
}

/// Whether the source is no longer what was planned of it: another size,
/// or another `ETag` where both have one; otherwise another modification
/// time, to the second where either is whole seconds. An S3 listing gives
/// milliseconds where its HEAD and GET give seconds: compared exactly,
/// every object was taken for changed (logged so, its journal row written
/// again) and, read first, every small one was read twice.
fn changed(row: &FileRow, meta: &ObjectMeta) -> bool {
    const SECOND: i64 = 1_000_000_000;
    if meta.size != row.size {
        return true;
    }
    match (&row.src_version, &meta.etag) {
        (Some(planned), Some(now)) => return planned != now,
        (Some(_), None) => return true,
        (None, _) => {}
    }
    match (row.mtime_ns, mtime_ns(meta)) {
        (Some(a), Some(b)) if a % SECOND == 0 || b % SECOND == 0 => {
            a.div_euclid(SECOND) != b.div_euclid(SECOND)
        }
        (Some(a), b) => Some(a) != b,
        (None, _) => false,
    }
}

/// Whether `row` is a small file bound for one put from a source whose
/// whole `get` reports what `head` would
/// ([`Capabilities::whole_get_meta`]): it is read without a `head` first.
///
/// [`Capabilities::whole_get_meta`]: haul_core::Capabilities::whole_get_meta
fn reads_first(shared: &Shared, row: &FileRow) -> bool {
    let cfg = &shared.config;
    let most = cfg
        .chunk_size
        .min(cfg.slice_size)
        .min(shared.dst.store.capabilities().max_single_put_bytes);
    row.upload_id.is_none()
        && !shared.same_store()
        && shared.src.store.capabilities().whole_get_meta
        && row.size <= most
}

/// What reading a small file first came to.
enum First {
    /// It was sent and verified.
    Sent(Done),
    /// It is no longer what was planned: its metadata, for the route a
    /// changed file takes.
    Changed(ObjectMeta),
}

/// Reads a small file and sends it in one put, its metadata the read's:
/// one request to the source (or one trip to a blocking thread) where a
/// `head` and a `get` took two. Its slot and memory are taken before the
/// read, for its planned size.
async fn put_read_first(
    shared: &Shared,
    row: &FileRow,
    sk: &Key,
    dk: &Key,
) -> Result<First, Failure> {
    let _slot = crate::tune::take(shared).await;
    let _permit = shared.budget.acquire(row.size).await;
    let got = shared.src.store.get(sk, GetOptions::default()).await?;
    if changed(row, &got.meta) {
        return Ok(First::Changed(got.meta));
    }
    let meta = got.meta;
    let kinds = whole_kinds(shared, &meta, shared.dst.store.capabilities());
    let body = counted(shared, &meta, meta.size, &kinds, got.body);
    let done = send_whole(shared, &meta, dk, &kinds, Some(body)).await?;
    Ok(First::Sent(done))
}

async fn single_put(shared: &Shared, meta: &ObjectMeta, dk: &Key) -> Result<Done, Failure> {
    let dst = &shared.dst.store;
    if meta.size > shared.config.chunk_size && dst.capabilities().streamed_puts {
        return streamed_put(shared, meta, dk).await;
    }
    let kinds = whole_kinds(shared, meta, dst.capabilities());
    let _slot = crate::tune::take(shared).await;
    let _permit = shared.budget.acquire(meta.size).await;
    send_whole(shared, meta, dk, &kinds, None).await
}

/// Sends the whole object in one put, gathered and hashed with `kinds`,
/// retrying as a part would; the first attempt sends `first` when the
/// source was already opened, later ones read it again.
async fn send_whole(
    shared: &Shared,
    meta: &ObjectMeta,
    dk: &Key,
    kinds: &[ChecksumKind],
    mut first: Option<PayloadStream>,
) -> Result<Done, Failure> {
    let size = meta.size;
    let dst = &shared.dst.store;
    let resend = dst.capabilities().idempotent_put;
    let patience = Arc::new(crate::retry::Patience::default());
    let sent = with_part_retries(shared, dk.as_str(), size, resend, &patience, || {
        let opened = first.take();
        async move {
            let (payload, sums) = match opened {
                Some(body) => {
                    let payload = body.collect().await?;
                    let sums = payload.checksums().to_vec();
                    (payload, sums)
                }
                None => read(shared, meta, None, size, kinds).await?,
            };
            let opts = PutOptions {
                checksums: sums.clone(),
                ..crate::attrs::put_options(meta, dk.as_str(), &shared.attrs)
            };
            let outcome = dst.put(dk, payload, opts).await?;
            checked(shared, dk, meta, sums, outcome).await
        }
    });
    let (outcome, verified) = sent.await?;
    Ok(put_done(shared, size, verified, outcome))
}

/// Verifies what a single put stored against the `sums` of what was sent.
/// A mismatch is an integrity error, which the put's retries send again
/// like a corrupted part.
async fn checked(
    shared: &Shared,
    dk: &Key,
    meta: &ObjectMeta,
    sums: Vec<Checksum>,
    outcome: PutOutcome,
) -> Result<(PutOutcome, Verified), Error> {
    let expected = Expected {
        checksums: sums,
        etag: None,
        size: meta.size,
    };
    let verified = verify(shared, dk, meta, &expected, &outcome).await?;
    Ok((outcome, verified))
}

/// Counts a verified single put and says how it went.
fn put_done(shared: &Shared, size: u64, verified: Verified, outcome: PutOutcome) -> Done {
    shared
        .counters
        .bytes_transferred
        .fetch_add(size, Ordering::Relaxed);
    Done {
        method: "put",
        verified,
        location: outcome.location,
    }
}

/// A single put sent as its source is read ([`ObjectStore::put_stream`]):
/// it holds a few chunks of the memory budget, not its size, and a retry
/// reads the source again.
///
/// [`ObjectStore::put_stream`]: haul_core::ObjectStore::put_stream
async fn streamed_put(shared: &Shared, meta: &ObjectMeta, dk: &Key) -> Result<Done, Failure> {
    let size = meta.size;
    let dst = &shared.dst.store;
    let kinds = whole_kinds(shared, meta, dst.capabilities());
    let _slot = crate::tune::take(shared).await;
    let _permit = shared
        .budget
        .acquire(size.min(crate::limit::STREAMED_BUDGET))
        .await;
    let resend = dst.capabilities().idempotent_put;
    let patience = Arc::new(crate::retry::Patience::default());
    let sent = with_part_retries(shared, dk.as_str(), size, resend, &patience, || async {
        let (outcome, sums) = crate::retry::rereading(shared, &patience, size, || async {
            let body = open_to_send(shared, meta, None, size, &kinds, None).await?;
            let sums = body.sums();
            let opts = crate::attrs::put_options(meta, dk.as_str(), &shared.attrs);
            let outcome = dst.put_stream(dk, body, opts).await?;
            let sums = sums
                .get()
                .map(<[Checksum]>::to_vec)
                .ok_or_else(|| Error::transient(dk.as_str(), "the store took part of the body"))?;
            Ok((outcome, sums))
        })
        .await?;
        checked(shared, dk, meta, sums, outcome).await
    });
    let (outcome, verified) = sent.await?;
    Ok(put_done(shared, size, verified, outcome))
}

/// Deletes a batch of planned deletions from the destination.
pub(crate) async fn delete_batch(shared: &Arc<Shared>, rows: Vec<FileRow>) {
    let mut keys = Vec::with_capacity(rows.len());
    let mut valid = Vec::with_capacity(rows.len());
    for row in rows {
        match Key::new(row.dst.as_str()) {
            Ok(k) => {
                keys.push(k);
                valid.push(row);
            }
            Err(e) => fail(shared, &row, e.to_string()),
        }
    }
    if keys.is_empty() || shared.cancelled() {
        return;
    }
    let store = &shared.dst.store;
    let started = crate::audit::now_ms();
    match store.delete_many(&keys).await {
        Ok(results) => {
            // A store that answers for fewer keys than it was given leaves
            // the rest unanswered: they fail, never stay pending silently.
            let mut results = results.into_iter();
            for row in valid {
                let r = results.next().unwrap_or_else(|| {
                    Err(Error::transient(
                        row.dst.as_str(),
                        "the store's batch delete did not answer for this key",
                    ))
                });
                match r {
                    Ok(()) => {
                        let audit = crate::audit::deleted(started);
                        shared.journal.set_file_audit(row.id, audit);
                        shared
                            .journal
                            .set_file_state(row.id, FileState::Done, None, None);
                        shared.counters.files_done.fetch_add(1, Ordering::Relaxed);
                        shared.emit(Event::FileDone {
                            src: row.src,
                            dst: row.dst,
                            size: 0,
                            method: "delete",
                            checksum: None,
                            verified: None,
                            location: None,
                        });
                    }
                    Err(e) => fail(shared, &row, e.to_string()),
                }
            }
        }
        Err(e) => {
            for row in &valid {
                fail(shared, row, format!("{}: {e}", row.dst));
            }
        }
    }
}
