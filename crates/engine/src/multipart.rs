//! The multipart driver: reconcile a journaled upload with the store, send
//! the missing parts under their permits, record each acknowledged part,
//! complete and verify.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use haul_core::{
    ByteRange, Checksum, ChecksumKind, CompletedPart, Error, Key, ObjectMeta, PartNumber,
    PutOptions, PutOutcome, UploadId,
};
use haul_journal::{FileId, FileRow, PartRow};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::context::Shared;
use crate::event::Event;
use crate::failure::{Done, Failure};
use crate::parts::{
    check_part, kinds, native_kind, open_to_send, parse_sum, part_size_for, read, with_part_retries,
};
use crate::verify::{Expected, combine_parts, multipart_etag, verify};

use crate::limit::STREAMED_BUDGET as STREAMED_PART_BUDGET;

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
    let stored = match dst.list_parts(dk, id).await {
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
    // Parts the store holds that the journal did not record (acknowledged
    // after the last journal write, or recorded differently) go again.
    let again: u64 = stored
        .values()
        .filter(|p| !done.contains_key(&p.number.get()))
        .map(|p| p.size)
        .sum();
    shared
        .counters
        .bytes_resent
        .fetch_add(again, Ordering::Relaxed);
    crate::audit::resent(again);
    Ok(Some(done))
}

pub(super) async fn multipart(
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
    if let Some(id) = row.upload_id.clone().map(UploadId) {
        match reconcile(shared, row, dk, &id).await? {
            Some(d) => {
                done = d;
                upload = Some(id);
            }
            // The upload is gone: completed in the commit window (complete
            // reached the store, the journal never heard), or aborted.
            None => {
                if let Some(finished) = already_complete(shared, row, meta, dk, count, copy).await?
                {
                    return Ok(finished);
                }
            }
        }
    }
    let limit = cfg.parts_per_file(copy);
    let streamed = !copy && cap.streamed_parts;
    let kinds = Arc::new(kinds(shared, cap));
    let meta = Arc::new(meta.clone());
    let mut early = crate::early::Early::default();
    let id = if let Some(id) = upload {
        let resumed: u64 = done.values().map(|p| p.len).sum();
        shared
            .counters
            .bytes_resumed
            .fetch_add(resumed, Ordering::Relaxed);
        crate::audit::resumed(resumed);
        id
    } else {
        // The object's attributes travel in the create call (also for part
        // copies, whose parts carry none); parts follow one uniform size.
        let opts = PutOptions {
            part_size_hint: Some(part_size),
            ..crate::attrs::put_options(&meta, dk.as_str(), &shared.attrs)
        };
        // The first wave's sums are read while the store creates the upload.
        if streamed && crate::parts::sums_ahead(shared) {
            let wave = shared
                .slots
                .as_ref()
                .map_or(limit, crate::limit::Slots::limit);
            let first = u32::try_from(count.min(wave as u64)).unwrap_or(u32::MAX);
            early = crate::early::Early::start(shared, &meta, &kinds, part_size, first);
        }
        let id = dst.create_multipart(dk, opts.clone()).await?;
        haul_core::crash_point("multipart-created");
        // Rule 1: the upload id is durable before the first part is sent.
        shared
            .journal
            .start_upload(row.id, &id.0, part_size)
            .await?;
        haul_core::crash_point("multipart-started");
        row.upload_id = Some(id.0.clone());
        row.part_size = Some(part_size);
        id
    };
    let parts = Arc::new(Semaphore::new(limit));
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
            absorb(row, &mut done, &mut first_err, r);
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
        // On a shared journal, send a part only while this worker holds
        // the file; once another took it over, the rest is left to it.
        if let Err(e) = shared.journal.check_lease(row.id).await {
            first_err.get_or_insert(e.into());
            break;
        }
        // A first pass run during the create is awaited before the part
        // takes a slot (the pass holds one while it reads); one that
        // failed leaves the part to hash its range itself, and to report.
        let known = match early.take(n) {
            Some(pass) => pass.sums().await,
            None => None,
        };
        // A slot of the job's tuned concurrency first, then the part's share
        // of the byte budget, both before reading a byte.
        let slot = crate::tune::take(shared).await;
        let budget = if copy {
            None
        } else if streamed {
            Some(shared.budget.acquire(len.min(STREAMED_PART_BUDGET)).await)
        } else {
            Some(shared.budget.acquire(len).await)
        };
        let file = row.id;
        let known = std::sync::Mutex::new(known);
        let (s, m, k, id, sk, dk) = (
            Arc::clone(shared),
            Arc::clone(&meta),
            Arc::clone(&kinds),
            id.clone(),
            sk.clone(),
            dk.clone(),
        );
        // The part reports its retries to the file's tally (and so the job's).
        tasks.spawn(crate::audit::inherited(shared, async move {
            let _held = (permit, slot, budget);
            let pn = PartNumber::new(n)?;
            let range = ByteRange::at(offset, len);
            // One count of timeouts for the part and its requests.
            let patience = Arc::new(crate::retry::Patience::default());
            let sent = with_part_retries(&s, dk.as_str(), len, true, &patience, || async {
                let store = &s.dst.store;
                let (part, sums) = if copy {
                    let part = store.upload_part_copy(&sk, range, &dk, &id, pn).await?;
                    (part, Vec::new())
                } else if streamed {
                    crate::retry::rereading(&s, &patience, len, || async {
                        // The first attempt's first pass may have run already.
                        let known = known.lock().ok().and_then(|mut k| k.take());
                        let body = open_to_send(&s, &m, Some(range), len, &k, known).await?;
                        let sums = body.sums();
                        let part = store.upload_part_stream(&dk, &id, pn, body).await?;
                        let sums = sums.get().map(<[Checksum]>::to_vec).ok_or_else(|| {
                            Error::transient(dk.as_str(), "the store took part of the body")
                        })?;
                        Ok((part, sums))
                    })
                    .await?
                } else {
                    let (payload, sums) = read(&s, &m, Some(range), len, &k).await?;
                    let part = store.upload_part(&dk, &id, pn, payload).await?;
                    (part, sums)
                };
                check_part(&dk, &part, &sums)?;
                if copy {
                    s.counters.bytes_copied.fetch_add(len, Ordering::Relaxed);
                }
                Ok((part, sums))
            });
            let (part, sums) = sent.await?;
            Ok(finish_part(&s, (file, &dk), n, offset, len, &part, &sums))
        }));
    }
    while let Some(r) = tasks.join_next().await {
        absorb(row, &mut done, &mut first_err, r);
    }
    if let Some(e) = first_err {
        return Err(e);
    }
    if shared.cancelled() && done.len() as u64 != count {
        return Err(Failure::Cancelled);
    }
    // On a shared journal, complete only while this worker holds the file
    // (a worker back from a pause finds its lease taken and stops here).
    shared.journal.flush_file(row.id).await?;
    complete(shared, dk, &id, &meta, &done, copy).await
}

/// Records an acknowledged part in the journal at once (rule 2: only
/// after the store acknowledged it, and as soon as it did, so a crash
/// loses at most the parts then in flight), counts and announces it, and
/// returns its row.
pub(crate) fn finish_part(
    s: &Shared,
    (file, dk): (FileId, &Key),
    n: u32,
    offset: u64,
    len: u64,
    part: &CompletedPart,
    sums: &[Checksum],
) -> PartRow {
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
    let row = PartRow {
        number: n,
        offset,
        len,
        etag: part.etag.clone(),
        crc32c: find(ChecksumKind::Crc32c),
        md5: find(ChecksumKind::Md5),
        native: native_kind(s.dst.store.capabilities()).and_then(find),
    };
    haul_core::crash_point("part-stored");
    s.journal.part_done(file, row.clone());
    row
}

/// Takes a finished part task's result: records the part or the first error.
pub(crate) fn absorb(
    row: &FileRow,
    done: &mut BTreeMap<u32, PartRow>,
    first_err: &mut Option<Failure>,
    r: Result<Result<PartRow, Error>, tokio::task::JoinError>,
) {
    match r {
        Ok(Ok(part)) => {
            tracing::debug!(key = %row.dst, part = part.number, len = part.len, "part done");
            // Journaled by the task that sent it ([`finish_part`]).
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

/// Whether the destination already holds the object a vanished upload was
/// making: every part journaled, the object there of the right size, and
/// its content equal to the combined part checksums — what the store
/// reports, else the object read back and hashed. Anything less (a part
/// missing from the journal, another object at the key, nothing to compare
/// with) is `None`, and the file starts again.
async fn already_complete(
    shared: &Shared,
    row: &FileRow,
    meta: &ObjectMeta,
    dk: &Key,
    count: u64,
    copy: bool,
) -> Result<Option<Done>, Failure> {
    let parts: BTreeMap<u32, PartRow> = shared
        .journal
        .parts(row.id)?
        .into_iter()
        .map(|p| (p.number, p))
        .collect();
    let whole = parts.len() as u64 == count
        && parts.keys().copied().eq(1..=count as u32)
        && parts.values().map(|p| p.len).sum::<u64>() == meta.size;
    if !whole {
        return Ok(None);
    }
    let dst = &shared.dst.store;
    let head = match dst.head(dk).await {
        Ok(h) => h,
        Err(Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    if head.size != meta.size {
        return Ok(None);
    }
    let expected = expected_of(shared, meta, &parts, copy);
    let reported = crate::verify::Reported {
        checksums: &head.checksums,
        etag: head.etag.as_deref(),
    };
    // A part copy's bytes never passed through here: the object is this
    // upload's when its ETag is the one made of the journaled parts'
    // ETags, and it is then verified as a finished copy would have been.
    let ours = copy && dst.capabilities().etag_is_md5 && {
        let etags: Vec<Option<Checksum>> = parts
            .values()
            .map(|p| Checksum::from_hex(ChecksumKind::Md5, p.etag.trim_matches('"')).ok())
            .collect();
        let made = multipart_etag(&etags);
        made.is_some() && head.etag.as_deref().map(|e| e.trim_matches('"')) == made.as_deref()
    };
    // Nothing comparable in the answer: the object is read back, cheaper
    // than sending it again, and only in this rare window.
    let verified = match crate::verify::compare_content(
        shared, dk, None, &expected, reported, !ours,
    )
    .await
    {
        Ok(v) if v.by_content() || ours => v,
        Ok(_) | Err(Error::Integrity { .. }) => {
            tracing::debug!(key = %dk, "the upload is gone and the object there is not provably ours: starting again");
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    tracing::debug!(key = %dk, "completed before the crash: nothing to send");
    shared
        .counters
        .bytes_resumed
        .fetch_add(meta.size, Ordering::Relaxed);
    crate::audit::resumed(meta.size);
    Ok(Some(Done {
        method: if copy { "part-copy" } else { "multipart" },
        verified,
        location: None,
    }))
}

/// What the finished object must show, from the journaled parts: their
/// combined CRC32C (and the store's own kind), the MD5-of-MD5s ETag where
/// the store's ETags are MD5s, and for a part copy the source's checksums.
fn expected_of(
    shared: &Shared,
    meta: &ObjectMeta,
    done: &BTreeMap<u32, PartRow>,
    copy: bool,
) -> Expected {
    let dst = &shared.dst.store;
    let native = native_kind(dst.capabilities());
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
    expected
}

pub(crate) async fn complete(
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
    let expected = expected_of(shared, meta, done, copy);
    let outcome = match dst.complete_multipart(dk, id, &completed).await {
        Ok(o) => {
            haul_core::crash_point("multipart-completed");
            o
        }
        // Complete is not idempotent: a retry after a lost answer finds the
        // upload gone. The object is then judged by what `head` reports; if
        // it is not there the upload really is gone (and the file is redone).
        Err(Error::NoSuchUpload { key, upload_id }) => match dst.head(dk).await {
            Ok(h) if h.size == meta.size => PutOutcome {
                etag: h.etag,
                checksums: h.checksums,
                version: h.version,
                ..PutOutcome::default()
            },
            Ok(_) | Err(Error::NotFound { .. }) => {
                return Err(Error::NoSuchUpload { key, upload_id }.into());
            }
            Err(e) => return Err(e.into()),
        },
        Err(e) => return Err(e.into()),
    };
    let verified = verify(shared, dk, meta, &expected, &outcome).await?;
    Ok(Done {
        method: if copy { "part-copy" } else { "multipart" },
        verified,
        location: outcome.location,
    })
}
