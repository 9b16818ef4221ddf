//! Per-file transfers: route choice (server-side copy, single put, multipart
//! stream or part copy), the multipart driver with its permits, retries and
//! journal records, and batched deletes.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use haul_core::{
    ByteRange, Capabilities, Checksum, ChecksumKind, CompletedPart, CopyOptions, Error, GetOptions,
    Key, ObjectMeta, Payload, PayloadStream, PutOptions, PutOutcome, UploadId,
};
use haul_journal::{FileRow, FileState, JournalError};

use crate::event::Event;
use crate::job::{Operation, Shared};
use crate::retry::request;
use crate::verify::{Expected, Verified, verify};

mod multipart;

use multipart::multipart;
pub(crate) use multipart::{absorb, complete, finish_part};

/// Why a file did not finish.
#[derive(Debug)]
pub(crate) enum Failure {
    Store(Error),
    Journal(JournalError),
    Cancelled,
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Self::Store(e)
    }
}

impl From<JournalError> for Failure {
    fn from(e: JournalError) -> Self {
        Self::Journal(e)
    }
}

impl Failure {
    /// Failures after which the whole file is worth doing again, once.
    fn redo(&self) -> bool {
        matches!(
            self,
            Self::Store(
                Error::Integrity { .. } | Error::Precondition { .. } | Error::NoSuchUpload { .. }
            )
        )
    }
}

/// How a file got to its destination.
pub(crate) struct Done {
    pub(crate) method: &'static str,
    /// What was compared, and the file's checksum.
    pub(crate) verified: Verified,
    /// Where the store put the object, when it chose.
    pub(crate) location: Option<String>,
}

use crate::plan::mtime_ns;

/// Transfers one planned file and records the outcome. Never panics on a
/// store's or user's input; every failure becomes the file's error line.
pub(crate) async fn run_file(shared: &Arc<Shared>, mut row: FileRow) {
    shared.emit(Event::FileStarted {
        src: row.src.clone(),
        dst: row.dst.clone(),
        size: row.size,
    });
    let mut result = copy_file(shared, &mut row).await;
    // Doing a file again on a store whose puts are not idempotent could store it twice.
    let idempotent = shared.dst.store.capabilities().idempotent_put;
    if idempotent && result.as_ref().err().is_some_and(Failure::redo) && !shared.cancelled() {
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

/// Records a file's failure: its one-line error, and whether it was a
/// verification failure (what makes the exit code 3).
pub(crate) fn fail_file(shared: &Shared, row: &FileRow, f: Failure) {
    if matches!(f, Failure::Store(Error::Integrity { .. })) {
        shared
            .counters
            .integrity_failures
            .fetch_add(1, Ordering::Relaxed);
    }
    let line = match f {
        Failure::Store(e) => e.to_string(),
        Failure::Journal(e) => format!("{}: {e}", row.dst),
        Failure::Cancelled => format!("{}: cancelled", row.dst),
    };
    fail(shared, row, line);
}

/// Records a file as failed with its one-line error.
pub(crate) fn fail(shared: &Shared, row: &FileRow, line: String) {
    shared
        .journal
        .set_file_state(row.id, FileState::Failed, None, Some(line.clone()));
    record_failure(shared, row, line);
}

/// Counts a file that did not arrive and tells the observers.
pub(crate) fn record_failure(shared: &Shared, row: &FileRow, line: String) {
    count_failure(shared, &row.src, &row.dst, line);
}

/// Counts a failure of `src` → `dst` and tells the observers.
pub(crate) fn count_failure(shared: &Shared, src: &str, dst: &str, line: String) {
    shared.counters.files_failed.fetch_add(1, Ordering::Relaxed);
    if let Ok(mut f) = shared.failures.lock() {
        f.push((dst.to_owned(), line.clone()));
    }
    shared.emit(Event::FileFailed {
        src: src.to_owned(),
        dst: dst.to_owned(),
        error: line,
    });
}

async fn delete_source(shared: &Shared, row: &FileRow) -> Result<(), Failure> {
    let k = Key::new(row.src.as_str())?;
    request(shared, || shared.src.store.delete(&k)).await?;
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

/// Sizes as people read upload limits: `20.0 MB` (10^6 bytes).
pub(crate) fn decimal(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1000.0 && i + 1 < UNITS.len() {
        v /= 1000.0;
        i += 1;
    }
    if i == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

/// Checksum kinds to compute while reading for this destination.
pub(crate) fn kinds(shared: &Shared, cap: &Capabilities) -> Vec<ChecksumKind> {
    let mut k = vec![ChecksumKind::Crc32c];
    if shared.config.upload_check_content_md5 || cap.wants_content_md5 {
        k.push(ChecksumKind::Md5);
    }
    k.extend(cap.native_checksums.iter().copied().filter(|c| c.is_crc()));
    k.sort_unstable();
    k.dedup();
    k
}

/// The destination's first native CRC kind other than CRC32C, journaled per
/// part so the whole object's can be combined and compared.
pub(crate) fn native_kind(cap: &Capabilities) -> Option<ChecksumKind> {
    cap.native_checksums
        .iter()
        .copied()
        .find(|k| k.is_crc() && *k != ChecksumKind::Crc32c)
}

/// Part size for `size` bytes: `max(base, ceil(size / max_parts))` within the
/// destination's limits.
pub(crate) fn part_size_for(size: u64, base: u64, cap: &Capabilities) -> u64 {
    let max_parts = u64::from(cap.max_parts.max(1));
    base.max(size.div_ceil(max_parts)).clamp(
        cap.min_part_size_bytes.max(1),
        cap.max_part_size_bytes.max(1),
    )
}

async fn copy_file(shared: &Arc<Shared>, row: &mut FileRow) -> Result<Done, Failure> {
    if shared.cancelled() {
        return Err(Failure::Cancelled);
    }
    let (src, dst) = (&shared.src.store, &shared.dst.store);
    let sk = Key::new(row.src.as_str())?;
    let dk = Key::new(row.dst.as_str())?;
    let meta = request(shared, || src.head(&sk)).await?;
    let changed = meta.size != row.size
        || (row.mtime_ns.is_some() && mtime_ns(&meta) != row.mtime_ns)
        || (row.src_version.is_some() && meta.etag != row.src_version);
    if changed {
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
        let outcome = request(shared, || dst.copy(&sk, &dk, opts.clone())).await?;
        shared
            .counters
            .bytes_transferred
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
        return single_put(shared, &meta, &sk, &dk).await;
    }
    multipart(shared, row, &meta, &sk, &dk, false).await
}

/// Reads `range` of the source once, hashing as the bytes arrive.
pub(crate) async fn read(
    shared: &Shared,
    meta: &ObjectMeta,
    range: Option<ByteRange>,
    len: u64,
    kinds: &[ChecksumKind],
) -> Result<(Payload, Vec<Checksum>), Error> {
    request(shared, || async {
        let payload = open(shared, meta, range, len, kinds)
            .await?
            .collect()
            .await?;
        let sums = payload.checksums().to_vec();
        Ok((payload, sums))
    })
    .await
}

/// Opens `range` (`len` bytes) of the source object as a body hashed with
/// `kinds` while it is read; a changed source fails the read (`If-Match`).
pub(crate) async fn open(
    shared: &Shared,
    meta: &ObjectMeta,
    range: Option<ByteRange>,
    len: u64,
    kinds: &[ChecksumKind],
) -> Result<PayloadStream, Error> {
    let opts = GetOptions {
        range,
        if_match: meta.etag.clone(),
    };
    let resp = shared.src.store.get(&meta.key, opts).await?;
    Ok(PayloadStream::new(meta.key.as_str(), len, kinds, resp.body))
}

/// Runs `attempt` up to `1 + chunk_retry_times` times while its error is
/// retryable or (with `resend_on_mismatch`) an integrity mismatch, counting
/// re-sent bytes.
///
/// Timeouts are counted in `patience`, which the attempt's own requests may
/// share ([`crate::retry::request_with`]).
pub(crate) async fn with_part_retries<T, F, Fut>(
    shared: &Shared,
    dst: &str,
    len: u64,
    resend_on_mismatch: bool,
    patience: &crate::retry::Patience,
    mut attempt: F,
) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>>,
{
    let mut tries = 0;
    loop {
        match attempt().await {
            Ok(v) => return Ok(v),
            Err(e)
                if tries < shared.config.chunk_retry_times
                    && (patience.retry(&e)
                        || resend_on_mismatch && matches!(e, Error::Integrity { .. })) =>
            {
                tries += 1;
                shared.counters.count_retry(&e);
                shared
                    .counters
                    .bytes_resent
                    .fetch_add(len, Ordering::Relaxed);
                shared.emit(Event::Retry {
                    dst: dst.to_owned(),
                    error: e.to_string(),
                });
            }
            Err(e) => return Err(e),
        }
    }
}

pub(crate) fn check_part(key: &Key, part: &CompletedPart, sums: &[Checksum]) -> Result<(), Error> {
    if let Some(theirs) = &part.checksum
        && let Some(ours) = sums.iter().find(|c| c.kind() == theirs.kind())
        && ours != theirs
    {
        return Err(Error::Integrity {
            key: format!("{key} (part {})", part.number),
            expected: ours.to_string(),
            actual: theirs.to_string(),
        });
    }
    Ok(())
}

async fn single_put(
    shared: &Shared,
    meta: &ObjectMeta,
    _sk: &Key,
    dk: &Key,
) -> Result<Done, Failure> {
    let size = meta.size;
    let dst = &shared.dst.store;
    if size > shared.config.chunk_size && dst.capabilities().streamed_puts {
        return streamed_put(shared, meta, dk).await;
    }
    let kinds = kinds(shared, dst.capabilities());
    let _permit = shared.budget.acquire(size).await;
    let resend = dst.capabilities().idempotent_put;
    let patience = crate::retry::Patience::default();
    let (outcome, verified) =
        with_part_retries(shared, dk.as_str(), size, resend, &patience, || async {
            let (payload, sums) = read(shared, meta, None, size, &kinds).await?;
            crate::limit::take(shared.bw.as_ref(), size).await;
            let opts = PutOptions {
                checksums: sums.clone(),
                ..crate::attrs::put_options(meta, dk.as_str(), &shared.attrs)
            };
            let outcome = crate::retry::request_resending(shared, &patience, size, || {
                dst.put(dk, payload.clone(), opts.clone())
            })
            .await?;
            let expected = Expected {
                checksums: sums.clone(),
                etag: None,
                size,
            };
            // A mismatch here is retried like a corrupted part.
            let verified = verify(shared, dk, meta, &expected, &outcome).await?;
            Ok((outcome, verified))
        })
        .await?;
    Ok(put_done(shared, size, verified, outcome))
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
    let kinds = kinds(shared, dst.capabilities());
    let _permit = shared
        .budget
        .acquire(size.min(crate::limit::STREAMED_BUDGET))
        .await;
    let resend = dst.capabilities().idempotent_put;
    let patience = crate::retry::Patience::default();
    let (outcome, verified) =
        with_part_retries(shared, dk.as_str(), size, resend, &patience, || async {
            crate::limit::take(shared.bw.as_ref(), size).await;
            let (outcome, sums) =
                crate::retry::request_resending(shared, &patience, size, || async {
                    let body = open(shared, meta, None, size, &kinds).await?;
                    let sums = body.sums();
                    let opts = crate::attrs::put_options(meta, dk.as_str(), &shared.attrs);
                    let outcome = dst.put_stream(dk, body, opts).await?;
                    let sums = sums.get().map(<[Checksum]>::to_vec).ok_or_else(|| {
                        Error::transient(dk.as_str(), "the store took part of the body")
                    })?;
                    Ok((outcome, sums))
                })
                .await?;
            let expected = Expected {
                checksums: sums,
                etag: None,
                size,
            };
            // A mismatch here is retried like a corrupted part.
            let verified = verify(shared, dk, meta, &expected, &outcome).await?;
            Ok((outcome, verified))
        })
        .await?;
    Ok(put_done(shared, size, verified, outcome))
}

pub(crate) fn parse_sum(s: Option<&String>) -> Option<Checksum> {
    s.and_then(|s| Checksum::try_from(s.clone()).ok())
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
    match request(shared, || store.delete_many(&keys)).await {
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
