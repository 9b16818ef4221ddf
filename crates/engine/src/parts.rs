//! What every part and single put does, whatever sends it: the checksum
//! kinds to compute, part sizes, reading a source range hashed on the way,
//! and retrying a part (reading again) with its re-sent bytes counted.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use futures::stream::BoxStream;

use haul_core::{
    ByteRange, Capabilities, Checksum, ChecksumKind, CompletedPart, Error, GetOptions, Key,
    ObjectMeta, Payload, PayloadStream,
};

use crate::context::Shared;
use crate::event::Event;
use crate::retry::Patience;

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

/// Checksum kinds to compute over a whole object sent in one request: those
/// of [`kinds`], the destination's own kinds that only a whole object has
/// (Kodo's qetag), and every kind the source reported of it, so the bytes
/// read are proved against the source and the record of the copy holds a
/// kind each side has.
pub(crate) fn whole_kinds(
    shared: &Shared,
    meta: &ObjectMeta,
    cap: &Capabilities,
) -> Vec<ChecksumKind> {
    let mut k = kinds(shared, cap);
    k.extend(cap.native_checksums.iter().copied().filter(|c| !c.is_crc()));
    k.extend(meta.checksums.iter().map(Checksum::kind));
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

/// Reads `range` of the source once, hashing as the bytes arrive.
pub(crate) async fn read(
    shared: &Shared,
    meta: &ObjectMeta,
    range: Option<ByteRange>,
    len: u64,
    kinds: &[ChecksumKind],
) -> Result<(Payload, Vec<Checksum>), Error> {
    // The read is the request: a body cut short is read again whole.
    shared
        .retry
        .run(0, || async {
            let payload = open(shared, meta, range, len, kinds)
                .await?
                .collect()
                .await?;
            let sums = payload.checksums().to_vec();
            Ok((payload, sums))
        })
        .await
}

/// The checksums of `range` of the source, its bytes read and dropped:
/// the first pass of a body sent with its sums ahead.
pub(crate) async fn hash_range(
    shared: &Shared,
    meta: &ObjectMeta,
    range: Option<ByteRange>,
    len: u64,
    kinds: &[ChecksumKind],
) -> Result<Vec<Checksum>, Error> {
    shared
        .retry
        .run(0, || async {
            let source = source(shared, meta, range).await?;
            let mut body = PayloadStream::new(meta.key.as_str(), len, kinds, source);
            while let Some(chunk) = futures::StreamExt::next(&mut body).await {
                chunk?;
            }
            body.checksums()
                .map(<[Checksum]>::to_vec)
                .ok_or_else(|| Error::transient(meta.key.as_str(), "the hashing pass ended early"))
        })
        .await
}

/// Whether bodies are hashed in a first pass and sent with their sums
/// ahead: the source reads a range twice cheaply
/// ([`Capabilities::rereadable`]), the destination takes sums ahead of a
/// body ([`Capabilities::sums_ahead`]) and the settings allow it.
pub(crate) fn sums_ahead(shared: &Shared) -> bool {
    shared.config.sums_ahead
        && shared.src.store.capabilities().rereadable
        && shared.dst.store.capabilities().sums_ahead
}

/// Opens `range` of the source to be sent as it is read. When the source
/// reads a range twice cheaply ([`Capabilities::rereadable`]) and the
/// destination sends sums ahead of a body ([`Capabilities::sums_ahead`]),
/// the range is hashed in a first pass and the body carries its sums from
/// the start (no framing for the server to decode, nothing held in
/// memory); otherwise it is hashed as it goes. `known` are the range's
/// sums when its first pass already ran ([`crate::early`]).
pub(crate) async fn open_to_send(
    shared: &Shared,
    meta: &ObjectMeta,
    range: Option<ByteRange>,
    len: u64,
    kinds: &[ChecksumKind],
    known: Option<Vec<Checksum>>,
) -> Result<PayloadStream, Error> {
    if !sums_ahead(shared) {
        return open(shared, meta, range, len, kinds).await;
    }
    let sums = match known {
        Some(sums) => sums,
        None => hash_range(shared, meta, range, len, kinds).await?,
    };
    Ok(open(shared, meta, range, len, kinds)
        .await?
        .with_known_sums(sums))
}

/// The bytes of `range` of the source object, as the store sends them; a
/// changed source fails the read (`If-Match`).
async fn source(
    shared: &Shared,
    meta: &ObjectMeta,
    range: Option<ByteRange>,
) -> Result<BoxStream<'static, Result<Bytes, Error>>, Error> {
    let opts = GetOptions {
        range,
        if_match: meta.etag.clone(),
    };
    Ok(shared.src.store.get(&meta.key, opts).await?.body)
}

/// Opens `range` (`len` bytes) of the source object as a body hashed with
/// `kinds` while it is read, its bytes counted as they flow.
pub(crate) async fn open(
    shared: &Shared,
    meta: &ObjectMeta,
    range: Option<ByteRange>,
    len: u64,
    kinds: &[ChecksumKind],
) -> Result<PayloadStream, Error> {
    let source = source(shared, meta, range).await?;
    Ok(counted(shared, meta, len, kinds, source))
}

/// `source` (`len` bytes of `meta`'s object) as a body hashed with `kinds`
/// while it is read, its bytes counted as they flow: the tuned
/// concurrency's measure.
pub(crate) fn counted(
    shared: &Shared,
    meta: &ObjectMeta,
    len: u64,
    kinds: &[ChecksumKind],
    source: BoxStream<'static, Result<Bytes, Error>>,
) -> PayloadStream {
    let counted = Arc::clone(&shared.counters.bytes_moved);
    let moved = futures::StreamExt::inspect(source, move |chunk| {
        if let Ok(c) = chunk {
            counted.fetch_add(c.len() as u64, Ordering::Relaxed);
        }
    });
    PayloadStream::new(
        meta.key.as_str(),
        len,
        kinds,
        futures::StreamExt::boxed(moved),
    )
}

/// Runs `attempt` up to `1 + chunk_retry_times` times while its error is
/// retryable or (with `resend_on_mismatch`) an integrity mismatch, counting
/// re-sent bytes.
///
/// Timeouts are counted in `patience`, which the attempt's own requests
/// share (the store's retry layer through [`haul_layers::sharing`], the
/// engine's through [`crate::retry::rereading`]).
pub(crate) async fn with_part_retries<T, F, Fut>(
    shared: &Shared,
    dst: &str,
    len: u64,
    resend_on_mismatch: bool,
    patience: &Arc<Patience>,
    mut attempt: F,
) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>>,
{
    let mut tries = 0;
    loop {
        match haul_layers::sharing(Arc::clone(patience), attempt()).await {
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

pub(crate) fn parse_sum(s: Option<&String>) -> Option<Checksum> {
    s.and_then(|s| Checksum::try_from(s.clone()).ok())
}
