//! Per-file transfers: route choice (server-side copy, single put, multipart
//! stream or part copy), the multipart driver with its permits, retries and
//! journal records, and batched deletes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::UNIX_EPOCH;

use futures::StreamExt;
use haul_core::{
    ByteRange, Capabilities, Checksum, ChecksumKind, CompletedPart, CopyOptions, Error, GetOptions,
    Key, MultiHasher, ObjectMeta, PartNumber, Payload, PutOptions, PutOutcome, UploadId,
};
use haul_journal::{FileRow, FileState, JournalError, PartRow};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::event::Event;
use crate::job::{Operation, Shared};
use crate::retry::request;
use crate::verify::{Expected, combine_parts, multipart_etag, verify};

/// Why a file did not finish.
#[derive(Debug)]
enum Failure {
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
struct Done {
    method: &'static str,
    checksum: Option<Checksum>,
}

fn mtime_ns(meta: &ObjectMeta) -> Option<i64> {
    meta.last_modified
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_nanos() as i64)
}

/// Transfers one planned file and records the outcome. Never panics on a
/// store's or user's input; every failure becomes the file's error line.
pub(crate) async fn run_file(shared: &Arc<Shared>, mut row: FileRow) {
    shared.emit(Event::FileStarted {
        src: row.src.clone(),
        dst: row.dst.clone(),
        size: row.size,
    });
    let mut result = copy_file(shared, &mut row).await;
    if result.as_ref().err().is_some_and(Failure::redo) && !shared.cancelled() {
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
    if let (Ok(_), Operation::Move) = (&result, shared.op)
        && let Err(e) = delete_source(shared, &row).await
    {
        result = Err(e);
    }
    match result {
        Ok(done) => {
            let checksum = done.checksum.map(String::from);
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
            });
        }
        Err(Failure::Cancelled) => {}
        Err(e) => {
            let line = match e {
                Failure::Store(e) => e.to_string(),
                Failure::Journal(e) => format!("{}: {e}", row.dst),
                Failure::Cancelled => unreachable!("handled above"),
            };
            fail(shared, &row, line);
        }
    }
}

fn fail(shared: &Shared, row: &FileRow, line: String) {
    shared
        .journal
        .set_file_state(row.id, FileState::Failed, None, Some(line.clone()));
    shared.counters.files_failed.fetch_add(1, Ordering::Relaxed);
    if let Ok(mut f) = shared.failures.lock() {
        f.push((row.dst.clone(), line.clone()));
    }
    shared.emit(Event::FileFailed {
        src: row.src.clone(),
        dst: row.dst.clone(),
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

/// Checksum kinds to compute while reading for this destination.
fn kinds(shared: &Shared, cap: &Capabilities) -> Vec<ChecksumKind> {
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
fn native_kind(cap: &Capabilities) -> Option<ChecksumKind> {
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
        let checksum = verify(&**dst, &dk, &meta, &expected, &outcome).await?;
        return Ok(Done {
            method: "copy",
            checksum,
        });
    }
    if same && cap.part_copy && cap.multipart && size > 0 {
        return multipart(shared, row, &meta, &sk, &dk, true).await;
    }
    if !started && (size <= cfg.slice_size || !cap.multipart) {
        if size > cap.max_single_put_bytes {
            return Err(Error::invalid(
                dk.as_str(),
                format!(
                    "{size} bytes exceeds {dst}'s single upload limit of {} bytes",
                    cap.max_single_put_bytes
                ),
            )
            .into());
        }
        return single_put(shared, &meta, &sk, &dk).await;
    }
    multipart(shared, row, &meta, &sk, &dk, false).await
}

/// Reads `range` of the source once, hashing as the bytes arrive.
async fn read(
    shared: &Shared,
    meta: &ObjectMeta,
    range: Option<ByteRange>,
    len: u64,
    kinds: &[ChecksumKind],
) -> Result<(Payload, Vec<Checksum>), Error> {
    let key = &meta.key;
    request(shared, || async {
        let opts = GetOptions {
            range,
            if_match: meta.etag.clone(),
        };
        let resp = shared.src.store.get(key, opts).await?;
        let mut body = resp.body;
        let mut hasher = MultiHasher::new(kinds);
        let mut payload = Payload::new();
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            hasher.update(&chunk);
            payload.push(chunk);
        }
        if payload.len() != len {
            return Err(Error::transient(
                key.as_str(),
                format!("read {} of {len} bytes", payload.len()),
            ));
        }
        let sums = hasher.finish();
        Ok((payload.with_checksums(sums.clone()), sums))
    })
    .await
}

/// Runs `attempt` up to `1 + chunk_retry_times` times while its error is
/// retryable or an integrity mismatch, counting re-sent bytes.
async fn with_part_retries<T, F, Fut>(
    shared: &Shared,
    dst: &str,
    len: u64,
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
                    && (e.is_retryable() || matches!(e, Error::Integrity { .. })) =>
            {
                tries += 1;
                shared.counters.retries.fetch_add(1, Ordering::Relaxed);
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

fn check_part(key: &Key, part: &CompletedPart, sums: &[Checksum]) -> Result<(), Error> {
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
    let kinds = kinds(shared, dst.capabilities());
    let _permit = shared.budget.acquire(size).await;
    let (outcome, sums) = with_part_retries(shared, dk.as_str(), size, || async {
        let (payload, sums) = read(shared, meta, None, size, &kinds).await?;
        crate::limit::take(shared.bw.as_ref(), size).await;
        let opts = PutOptions {
            checksums: sums.clone(),
            ..PutOptions::default()
        };
        let outcome = request(shared, || dst.put(dk, payload.clone(), opts.clone())).await?;
        let expected = Expected {
            checksums: sums.clone(),
            etag: None,
            size,
        };
        // A mismatch here is retried like a corrupted part.
        verify(&**dst, dk, meta, &expected, &outcome).await?;
        Ok((outcome, sums))
    })
    .await?;
    let _ = outcome;
    shared
        .counters
        .bytes_transferred
        .fetch_add(size, Ordering::Relaxed);
    Ok(Done {
        method: "put",
        checksum: sums
            .iter()
            .find(|c| c.kind() == ChecksumKind::Crc32c)
            .cloned(),
    })
}

fn parse_sum(s: Option<&String>) -> Option<Checksum> {
    s.and_then(|s| Checksum::try_from(s.clone()).ok())
}

/// Reconciles a journaled upload with the store: the parts both agree on are
/// done; everything else is sent (again).
async fn reconcile(
    shared: &Shared,
    row: &FileRow,
    dk: &Key,
    id: &UploadId,
) -> Result<Option<BTreeMap<u32, PartRow>>, Failure> {
    let journaled = shared.journal.parts(row.id)?;
    let dst = &shared.dst.store;
    if !dst.capabilities().list_parts {
        return Ok(Some(journaled.into_iter().map(|p| (p.number, p)).collect()));
    }
    let stored = match request(shared, || dst.list_parts(dk, id)).await {
        Ok(p) => p,
        Err(Error::NoSuchUpload { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let stored: BTreeMap<u32, CompletedPart> =
        stored.into_iter().map(|p| (p.number.get(), p)).collect();
    let mut done = BTreeMap::new();
    let mut stale = Vec::new();
    for p in journaled {
        match stored.get(&p.number) {
            Some(s) if s.etag == p.etag && s.size == p.len => {
                done.insert(p.number, p);
            }
            _ => stale.push(p.number),
        }
    }
    shared.journal.forget_parts(row.id, stale);
    Ok(Some(done))
}

async fn multipart(
    shared: &Arc<Shared>,
    row: &mut FileRow,
    meta: &ObjectMeta,
    sk: &Key,
    dk: &Key,
    copy: bool,
) -> Result<Done, Failure> {
    let dst = &shared.dst.store;
    let cap = dst.capabilities();
    let cfg = &shared.config;
    let size = meta.size;
    let base = if copy {
        cfg.copy_chunk_size
    } else {
        cfg.chunk_size
    };
    let part_size = row
        .part_size
        .filter(|_| row.upload_id.is_some())
        .unwrap_or_else(|| part_size_for(size, base, cap));
    let count = size.div_ceil(part_size);
    if count > u64::from(cap.max_parts) {
        return Err(Error::invalid(
            dk.as_str(),
            format!(
                "{size} bytes needs {count} parts of {part_size}; {dst} allows {}",
                cap.max_parts
            ),
        )
        .into());
    }
    let mut done = BTreeMap::new();
    let mut upload = None;
    if let Some(id) = row.upload_id.clone().map(UploadId)
        && let Some(d) = reconcile(shared, row, dk, &id).await?
    {
        done = d;
        upload = Some(id);
    }
    let id = if let Some(id) = upload {
        let resumed: u64 = done.values().map(|p| p.len).sum();
        shared
            .counters
            .bytes_resumed
            .fetch_add(resumed, Ordering::Relaxed);
        id
    } else {
        let id = request(shared, || dst.create_multipart(dk, PutOptions::default())).await?;
        // Rule 1: the upload id is durable before the first part is sent.
        shared
            .journal
            .start_upload(row.id, &id.0, part_size)
            .await?;
        row.upload_id = Some(id.0.clone());
        row.part_size = Some(part_size);
        id
    };
    let limit = if copy {
        cfg.copy_chunk_parallel_limit
    } else {
        cfg.chunk_parallel_limit
    };
    let parts = Arc::new(Semaphore::new(limit));
    let kinds = Arc::new(kinds(shared, cap));
    let meta = Arc::new(meta.clone());
    let mut tasks: JoinSet<Result<PartRow, Error>> = JoinSet::new();
    let mut first_err: Option<Failure> = None;
    for n in 1..=count as u32 {
        if done.contains_key(&n) {
            continue;
        }
        if shared.cancelled() {
            first_err.get_or_insert(Failure::Cancelled);
            break;
        }
        while let Some(r) = tasks.try_join_next() {
            absorb(shared, row, &mut done, &mut first_err, r);
        }
        if first_err.is_some() {
            break;
        }
        let offset = u64::from(n - 1) * part_size;
        let len = part_size.min(size - offset);
        let permit = Arc::clone(&parts)
            .acquire_owned()
            .await
            .map_err(|e| Error::transient(dk.as_str(), e.to_string()))?;
        // Stream parts hold their share of the byte budget before reading a byte.
        let budget = if copy {
            None
        } else {
            Some(shared.budget.acquire(len).await)
        };
        let (s, m, k, id, sk, dk) = (
            Arc::clone(shared),
            Arc::clone(&meta),
            Arc::clone(&kinds),
            id.clone(),
            sk.clone(),
            dk.clone(),
        );
        tasks.spawn(async move {
            let _held = (permit, budget);
            let pn = PartNumber::new(n)?;
            let range = ByteRange::at(offset, len);
            let (part, sums) = with_part_retries(&s, dk.as_str(), len, || async {
                if copy {
                    let store = &s.dst.store;
                    let part =
                        request(&s, || store.upload_part_copy(&sk, range, &dk, &id, pn)).await?;
                    Ok((part, Vec::new()))
                } else {
                    let (payload, sums) = read(&s, &m, Some(range), len, &k).await?;
                    crate::limit::take(s.bw.as_ref(), len).await;
                    let store = &s.dst.store;
                    let part =
                        request(&s, || store.upload_part(&dk, &id, pn, payload.clone())).await?;
                    check_part(&dk, &part, &sums)?;
                    Ok((part, sums))
                }
            })
            .await?;
            let find = |kind| {
                sums.iter()
                    .find(|c| c.kind() == kind)
                    .or(part.checksum.as_ref().filter(|c| c.kind() == kind))
                    .map(ToString::to_string)
            };
            s.counters
                .bytes_transferred
                .fetch_add(len, Ordering::Relaxed);
            s.emit(Event::PartDone {
                dst: dk.to_string(),
                number: n,
                len,
            });
            Ok(PartRow {
                number: n,
                offset,
                len,
                etag: part.etag.clone(),
                crc32c: find(ChecksumKind::Crc32c),
                md5: find(ChecksumKind::Md5),
                native: native_kind(s.dst.store.capabilities()).and_then(find),
            })
        });
    }
    while let Some(r) = tasks.join_next().await {
        absorb(shared, row, &mut done, &mut first_err, r);
    }
    if let Some(e) = first_err {
        return Err(e);
    }
    if shared.cancelled() && done.len() as u64 != count {
        return Err(Failure::Cancelled);
    }
    complete(shared, dk, &id, &meta, &done, copy).await
}

/// Takes a finished part task's result: records the part or the first error.
fn absorb(
    shared: &Shared,
    row: &FileRow,
    done: &mut BTreeMap<u32, PartRow>,
    first_err: &mut Option<Failure>,
    r: Result<Result<PartRow, Error>, tokio::task::JoinError>,
) {
    match r {
        Ok(Ok(part)) => {
            tracing::debug!(key = %row.dst, part = part.number, len = part.len, "part done");
            // Rule 2: recorded only after the store acknowledged it.
            shared.journal.part_done(row.id, part.clone());
            done.insert(part.number, part);
        }
        Ok(Err(e)) => {
            first_err.get_or_insert(Failure::Store(e));
        }
        Err(e) => {
            first_err.get_or_insert(Failure::Store(Error::transient(
                row.dst.as_str(),
                format!("part task failed: {e}"),
            )));
        }
    }
}

async fn complete(
    shared: &Shared,
    dk: &Key,
    id: &UploadId,
    meta: &ObjectMeta,
    done: &BTreeMap<u32, PartRow>,
    copy: bool,
) -> Result<Done, Failure> {
    // Rule 3: every part is durable in the journal before complete.
    shared.journal.flush().await?;
    let dst = &shared.dst.store;
    let native = native_kind(dst.capabilities());
    let mut completed = Vec::with_capacity(done.len());
    for p in done.values() {
        // The store checks the part checksum of its own kind where it has one.
        let own = native.and(parse_sum(p.native.as_ref()));
        completed.push(CompletedPart {
            number: PartNumber::new(p.number)?,
            etag: p.etag.clone(),
            size: p.len,
            checksum: own.or_else(|| parse_sum(p.crc32c.as_ref())),
        });
    }
    let combined = |pick: fn(&PartRow) -> Option<&String>, kind| {
        let parts: Vec<(Option<Checksum>, u64)> =
            done.values().map(|p| (parse_sum(pick(p)), p.len)).collect();
        combine_parts(kind, &parts)
    };
    let md5s: Vec<Option<Checksum>> = done.values().map(|p| parse_sum(p.md5.as_ref())).collect();
    let mut expected = Expected {
        checksums: combined(|p| p.crc32c.as_ref(), ChecksumKind::Crc32c)
            .into_iter()
            .chain(native.and_then(|k| combined(|p| p.native.as_ref(), k)))
            .collect(),
        etag: None,
        size: meta.size,
    };
    if copy {
        // A part copy inside one store: the source's own checksums are what
        // the destination must report.
        let extra: Vec<Checksum> = meta
            .checksums
            .iter()
            .filter(|c| !expected.checksums.iter().any(|e| e.kind() == c.kind()))
            .cloned()
            .collect();
        expected.checksums.extend(extra);
    }
    if dst.capabilities().etag_is_md5 {
        expected.etag = multipart_etag(&md5s);
    }
    let outcome = match request(shared, || dst.complete_multipart(dk, id, &completed)).await {
        Ok(o) => o,
        // Complete is not idempotent: a retry after a lost answer finds the
        // upload gone. The object is then judged by what `head` reports.
        Err(Error::NoSuchUpload { .. }) if shared.counters.retries.load(Ordering::Relaxed) > 0 => {
            let h = dst.head(dk).await?;
            PutOutcome {
                etag: h.etag,
                checksums: h.checksums,
                version: h.version,
            }
        }
        Err(e) => return Err(e.into()),
    };
    let checksum = verify(&**dst, dk, meta, &expected, &outcome).await?;
    Ok(Done {
        method: if copy { "part-copy" } else { "multipart" },
        checksum,
    })
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
            for (row, r) in valid.into_iter().zip(results) {
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
