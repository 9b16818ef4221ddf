//! Streams: an upload from a reader of unknown length (`haul cp - DST`) and
//! a download to a writer in order (`haul cp SRC -`, `haul cat`).
//!
//! An upload stream buffers parts inside the memory budget; its part size
//! grows as the stream grows — `chunk_size` for parts 1–1000, doubling every
//! 1000 parts after that (clamped to the store's limits) — so 10,000 parts
//! reach `chunk_size × 1000 × 1023` bytes (about 16 TiB with the default
//! 16 MiB), beyond S3's 5 TiB object limit. A stream that ends within
//! `slice_size` bytes becomes one put. A stream job cannot be resumed (the
//! bytes are gone); the journal records it with source `-`, so `resume`
//! refuses it and `haul cleanup` aborts its abandoned upload.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use haul_core::checksum::ChecksumKind;
use haul_core::{
    ByteRange, Capabilities, Error, Key, MultiHasher, ObjectMeta, PartNumber, Payload, PutOptions,
};
use haul_journal::{FileRow, FileState, JobState};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::context::Shared;
use crate::error::EngineError;
use crate::event::{Event, Summary};
use crate::failure::Failure;
use crate::multipart::{absorb, complete, finish_part};
use crate::parts::{check_part, kinds, read, with_part_retries};
use crate::verify::{Expected, Verified, combine_parts, verify};

/// The source name the journal records for standard input.
pub const STDIN: &str = "-";

/// Part size of the `n`-th part (1-based) of a stream: `base` for parts
/// 1–1000, doubling every 1000 parts, within the store's limits.
#[must_use]
pub fn stream_part_size(n: u32, base: u64, cap: &Capabilities) -> u64 {
    let tier = (n.saturating_sub(1) / 1000).min(20);
    base.saturating_mul(1 << tier).clamp(
        cap.min_part_size_bytes.max(1),
        cap.max_part_size_bytes.max(1),
    )
}

/// Reads up to `want` bytes into `buf` (fewer only at the end of the stream).
async fn fill<R: AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut BytesMut,
    want: usize,
) -> std::io::Result<()> {
    while buf.len() < want {
        buf.reserve((want - buf.len()).min(1 << 20));
        if r.read_buf(buf).await? == 0 {
            break;
        }
    }
    Ok(())
}

fn io_err(key: &str, e: std::io::Error) -> Failure {
    Failure::Store(Error::Io {
        key: key.to_owned(),
        source: e,
    })
}

pub(crate) async fn finish(
    shared: &Arc<Shared>,
    row: &FileRow,
    result: Result<(u64, Verified), Failure>,
    tally: &crate::audit::Tally,
) -> Result<Summary, EngineError> {
    let journal = &shared.journal;
    let c = &shared.counters;
    let audit = match &result {
        Ok((_, verified)) => tally.finish(Some("stream"), Some(&verified.by)),
        Err(_) => tally.finish(None, None),
    };
    journal.set_file_audit(row.id, audit);
    match result {
        Ok((size, verified)) => {
            c.bytes_total.store(size, Ordering::Relaxed);
            c.files_done.store(1, Ordering::Relaxed);
            let counter = if verified.by_content() {
                &c.verified_by_content
            } else {
                &c.verified_by_size
            };
            counter.fetch_add(1, Ordering::Relaxed);
            let checksum = verified.checksum.map(|c| c.to_string());
            journal.set_file_state(row.id, FileState::Done, checksum.clone(), None);
            journal.set_job_state(shared.job, JobState::Done);
            shared.emit(Event::FileDone {
                src: row.src.clone(),
                dst: row.dst.clone(),
                size,
                method: "stream",
                checksum,
                verified: Some(verified.by),
                location: None,
            });
        }
        Err(f) => {
            crate::failure::fail_file(shared, row, f);
            journal.set_job_state(shared.job, JobState::Failed);
        }
    }
    journal.flush().await?;
    Ok(crate::context::summary_of(shared))
}

pub(crate) async fn upload<R: AsyncRead + Unpin + Send>(
    shared: &Arc<Shared>,
    row: &FileRow,
    reader: &mut R,
    opts: PutOptions,
) -> Result<(u64, Verified), Failure> {
    let cfg = &shared.config;
    let dst = &shared.dst.store;
    let cap = dst.capabilities();
    let dk = Key::new(row.dst.as_str())?;
    let kinds = Arc::new(kinds(shared, cap));
    // Held whole before it is sent, never more than the memory budget: a
    // longer stream goes in parts, or, to a store that takes only single
    // uploads (whose length must be known before the first byte), is
    // refused before a byte is sent.
    let small = if cap.multipart {
        cfg.slice_size
    } else {
        cap.max_single_put_bytes
    }
    .min(cap.max_single_put_bytes)
    .min(cfg.max_inflight_bytes.saturating_sub(1));
    let first_budget = shared.budget.acquire(small + 1).await;
    let mut pending = BytesMut::new();
    fill(reader, &mut pending, small as usize + 1)
        .await
        .map_err(|e| io_err(STDIN, e))?;
    if pending.len() as u64 > small && !cap.multipart {
        let why = if small < cap.max_single_put_bytes {
            format!(
                "standard input is longer than the {} memory budget, and {dst} takes only single uploads, whose length must be known first; raise --max-inflight-bytes or upload a file",
                crate::failure::decimal(cfg.max_inflight_bytes)
            )
        } else {
            format!(
                "standard input is longer than the {} {dst} takes in one upload",
                crate::failure::decimal(cap.max_single_put_bytes)
            )
        };
        return Err(Error::invalid(dk.as_str(), why).into());
    }
    if pending.len() as u64 <= small {
        let body = pending.freeze();
        let mut h = MultiHasher::new(&kinds);
        h.update(&body);
        let sums = h.finish();
        let size = body.len() as u64;
        let payload = Payload::from(body).with_checksums(sums.clone());
        let put_opts = PutOptions {
            checksums: sums.clone(),
            ..opts
        };
        let outcome = dst.put(&dk, payload, put_opts).await?;
        shared
            .counters
            .bytes_transferred
            .fetch_add(size, Ordering::Relaxed);
        let meta = ObjectMeta::new(dk.clone(), size);
        let expected = Expected {
            checksums: sums,
            etag: None,
            size,
        };
        let verified = verify(shared, &dk, &meta, &expected, &outcome).await?;
        return Ok((size, verified));
    }
    drop(first_budget);
    let id = dst.create_multipart(&dk, opts.clone()).await?;
    shared
        .journal
        .start_upload(row.id, &id.0, cfg.chunk_size)
        .await?;
    let parts = Arc::new(Semaphore::new(cfg.chunk_parallel_limit));
    let mut tasks = JoinSet::new();
    let mut done = BTreeMap::new();
    let mut first_err = None;
    let mut offset = 0u64;
    let mut eof = false;
    for n in 1..=cap.max_parts {
        if shared.cancelled() {
            first_err = Some(Failure::Cancelled);
            break;
        }
        let len = stream_part_size(n, cfg.chunk_size, cap);
        let permit = Arc::clone(&parts)
            .acquire_owned()
            .await
            .map_err(|e| Error::transient(dk.as_str(), e.to_string()))?;
        // The part's memory is reserved before its bytes are read.
        let budget = shared.budget.acquire(len).await;
        if !eof {
            // Standard input may stay silent: meanwhile finished parts are
            // recorded, and a cancel does not wait for it. `fill` keeps what
            // it read when another branch wins, so it simply starts again.
            loop {
                tokio::select! {
                    r = fill(reader, &mut pending, len as usize) => {
                        r.map_err(|e| io_err(STDIN, e))?;
                        break;
                    }
                    () = shared.until_cancelled() => {
                        first_err = Some(Failure::Cancelled);
                        break;
                    }
                    Some(r) = tasks.join_next(), if !tasks.is_empty() => {
                        absorb(row, &mut done, &mut first_err, r);
                    }
                }
            }
            if first_err.is_some() {
                break;
            }
            eof = pending.len() < len as usize;
        }
        if pending.is_empty() {
            break;
        }
        let body: Bytes = pending.split_to(pending.len().min(len as usize)).freeze();
        if !eof && n == cap.max_parts {
            first_err = Some(Failure::Store(Error::invalid(
                dk.as_str(),
                "the stream is longer than 10,000 parts can hold; raise --chunk-size",
            )));
            break;
        }
        let part_len = body.len() as u64;
        let mut h = MultiHasher::new(&kinds);
        h.update(&body);
        let sums = h.finish();
        let payload = Payload::from(body).with_checksums(sums.clone());
        let (s, id, dk2, file) = (Arc::clone(shared), id.clone(), dk.clone(), row.id);
        let part_offset = offset;
        offset += part_len;
        tasks.spawn(crate::audit::inherited(shared, async move {
            let _held = (permit, budget);
            let pn = PartNumber::new(n)?;
            let store = &s.dst.store;
            // One count of timeouts for the part and its requests.
            let patience = Arc::new(crate::retry::Patience::default());
            let part = with_part_retries(&s, dk2.as_str(), part_len, true, &patience, || async {
                let part = store.upload_part(&dk2, &id, pn, payload.clone()).await?;
                check_part(&dk2, &part, &sums)?;
                Ok(part)
            })
            .await?;
            Ok(finish_part(
                &s,
                (file, &dk2),
                n,
                part_offset,
                part_len,
                &part,
                &sums,
            ))
        }));
        while let Some(r) = tasks.try_join_next() {
            absorb(row, &mut done, &mut first_err, r);
        }
        if first_err.is_some() || eof && pending.is_empty() {
            break;
        }
    }
    while let Some(r) = tasks.join_next().await {
        absorb(row, &mut done, &mut first_err, r);
    }
    if let Some(e) = first_err {
        // A stream cannot be read again, so its upload can never be
        // continued: abort it now rather than leave it for `haul cleanup`.
        if let Err(abort) = dst.abort_multipart(&dk, &id).await {
            tracing::warn!(error = %abort, "could not abort the stream's upload; `haul cleanup` will");
        }
        return Err(e);
    }
    let meta = ObjectMeta::new(dk.clone(), offset);
    let result = complete(shared, &dk, &id, &meta, &done, false).await?;
    Ok((offset, result.verified))
}

pub(crate) async fn download<W: AsyncWrite + Unpin + Send>(
    shared: &Arc<Shared>,
    key: &str,
    writer: &mut W,
) -> Result<(u64, Verified), Failure> {
    let cfg = &shared.config;
    let src = &shared.src.store;
    let k = Key::new(key)?;
    let meta = Arc::new(src.head(&k).await?);
    let size = meta.size;
    let part = cfg.chunk_size.max(1);
    let kinds = [ChecksumKind::Crc32c];
    let ranges: Vec<(u64, u64)> = (0..size.div_ceil(part))
        .map(|i| (i * part, part.min(size - i * part)))
        .collect();
    let mut parts = futures::stream::iter(ranges)
        .map(|(offset, len)| {
            let (s, m) = (Arc::clone(shared), Arc::clone(&meta));
            async move {
                let budget = s.budget.acquire(len).await;
                let range = Some(ByteRange::at(offset, len));
                let (payload, sums) = with_part_retries(
                    &s,
                    key,
                    len,
                    true,
                    &Arc::new(crate::retry::Patience::default()),
                    || read(&s, &m, range, len, &kinds),
                )
                .await?;
                Ok::<_, Error>((payload, sums, len, budget))
            }
        })
        .buffered(cfg.chunk_parallel_limit.max(1));
    let mut crcs = Vec::new();
    while let Some(item) = parts.next().await {
        if shared.cancelled() {
            return Err(Failure::Cancelled);
        }
        let (payload, sums, len, _budget) = item?;
        for piece in payload.pieces() {
            writer
                .write_all(piece)
                .await
                .map_err(|e| io_err(STDIN, e))?;
        }
        shared
            .counters
            .bytes_transferred
            .fetch_add(len, Ordering::Relaxed);
        crcs.push((sums.into_iter().next(), len));
    }
    writer.flush().await.map_err(|e| io_err(STDIN, e))?;
    let whole = if size == 0 {
        Some(haul_core::checksum::compute(ChecksumKind::Crc32c, b""))
    } else {
        combine_parts(ChecksumKind::Crc32c, &crcs)
    };
    let theirs = meta.checksum(ChecksumKind::Crc32c);
    if let (Some(ours), Some(theirs)) = (&whole, theirs)
        && ours != theirs
    {
        return Err(Failure::Store(Error::Integrity {
            key: key.to_owned(),
            expected: theirs.to_string(),
            actual: ours.to_string(),
        }));
    }
    let by = if whole.is_some() && theirs.is_some() {
        "crc32c"
    } else {
        crate::verify::SIZE_ONLY
    };
    Ok((
        size,
        Verified {
            checksum: whole,
            by: by.to_owned(),
        },
    ))
}
