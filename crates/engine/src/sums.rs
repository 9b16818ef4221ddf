//! The checksum cache as the engine uses it. What a job computed of a
//! source while reading it, and what it verified of the copy it wrote, is
//! recorded in the journal per store, key, size and ETag
//! ([`haul_journal::ObjectSums`]); `--checksum` compares two objects by a
//! kind both have, looking in turn at what each store reports, what was
//! recorded of that very version, and what a HEAD answers, and reads an
//! object only when none of those has a kind in common with the other
//! side. What it read is recorded too, so it is read once.

use std::sync::atomic::Ordering;

use haul_core::{
    Checksum, ChecksumKind, HashedObject, ObjectMeta, ObjectStore, ObjectStoreExt as _, Result,
};
use haul_journal::ObjectSums;

use crate::context::{Endpoint, Shared};

/// Records `sums` as the content of `meta`'s version in `at`'s store.
pub(crate) fn record(shared: &Shared, at: &Endpoint, meta: &ObjectMeta, sums: &[Checksum]) {
    let Some(etag) = meta.etag.as_deref().filter(|e| !e.is_empty()) else {
        return;
    };
    record_version(shared, at, meta.key.as_str(), meta.size, etag, sums);
}

/// Records `sums` as the content of version `etag` (`size` bytes) of `key`.
pub(crate) fn record_version(
    shared: &Shared,
    at: &Endpoint,
    key: &str,
    size: u64,
    etag: &str,
    sums: &[Checksum],
) {
    if sums.is_empty() || etag.is_empty() || !shared.config.checksum_cache {
        return;
    }
    shared.journal.record_sums(ObjectSums {
        store: at.store.to_string(),
        key: key.to_owned(),
        size,
        etag: etag.to_owned(),
        sums: sums.to_vec(),
    });
}

/// What is known of one side's content without reading it.
struct Known {
    sums: Vec<Checksum>,
    /// Whether any of `sums` came from the journal's records.
    recorded: bool,
}

impl Known {
    fn of(shared: &Shared, at: &Endpoint, meta: &ObjectMeta) -> Self {
        let mut k = Self {
            sums: Vec::new(),
            recorded: false,
        };
        k.add(&meta.checksums, false);
        let etag = meta.etag.as_deref().filter(|e| !e.is_empty());
        if let Some(etag) = etag.filter(|_| shared.config.checksum_cache) {
            // An unreadable cache is no cache: the object is read instead.
            let recorded = shared
                .journal
                .sums_of(&at.store.to_string(), meta.key.as_str(), meta.size, etag)
                .unwrap_or_default();
            k.add(&recorded, true);
        }
        k
    }

    fn add(&mut self, sums: &[Checksum], recorded: bool) {
        for s in sums {
            if !self.sums.iter().any(|h| h.kind() == s.kind()) {
                self.sums.push(s.clone());
                self.recorded |= recorded;
            }
        }
    }

    fn kinds(&self) -> Vec<ChecksumKind> {
        self.sums.iter().map(Checksum::kind).collect()
    }
}

/// The verdict of the first kind both sides know, if any.
fn common(a: &Known, b: &Known) -> Option<bool> {
    a.sums
        .iter()
        .find_map(|x| b.sums.iter().find(|y| y.kind() == x.kind()).map(|y| x == y))
}

/// Whether `src` and `dst` hold the same bytes, by checksum (never by
/// size alone). Counts how it was settled in the job's counters.
pub(crate) async fn same_content(
    shared: &Shared,
    src: &ObjectMeta,
    dst: &ObjectMeta,
) -> Result<bool> {
    if src.size != dst.size {
        return Ok(false);
    }
    let c = &shared.counters;
    let (s_at, d_at) = (&shared.src, &shared.dst);
    let (mut s, mut d) = (Known::of(shared, s_at, src), Known::of(shared, d_at, dst));
    if let Some(same) = common(&s, &d) {
        settled(shared, &s, &d);
        return Ok(same);
    }
    // Listings seldom carry checksums; a HEAD often does.
    let (sh, dh) = tokio::try_join!(s_at.store.head(&src.key), d_at.store.head(&dst.key))?;
    s.add(&sh.checksums, false);
    d.add(&dh.checksums, false);
    if let Some(same) = common(&s, &d) {
        settled(shared, &s, &d);
        return Ok(same);
    }
    // Read what lacks a kind the other side has (a local file first), or
    // both as CRC32C when neither side knows anything.
    let s_local = s_at.store.capabilities().rereadable;
    let read_src = !d.sums.is_empty() && (s.sums.is_empty() || s_local);
    let mut read = 0;
    // What was read is recorded of the version read, with what else is
    // known of it when that is the version listed.
    let mut took = |k: &mut Known, at: &Endpoint, listed: &ObjectMeta, h: HashedObject| {
        read += h.read;
        if h.meta.etag == listed.etag && h.meta.size == listed.size {
            k.add(&h.sums, false);
            record(shared, at, &h.meta, &k.sums);
        } else {
            record(shared, at, &h.meta, &h.sums);
            *k = Known {
                sums: h.sums,
                recorded: false,
            };
        }
    };
    if d.sums.is_empty() && s.sums.is_empty() {
        let both = [ChecksumKind::Crc32c];
        let (hs, hd) = tokio::try_join!(
            hash(&*s_at.store, src, &both),
            hash(&*d_at.store, dst, &both)
        )?;
        took(&mut s, s_at, src, hs);
        took(&mut d, d_at, dst, hd);
    } else if read_src {
        let kinds = d.kinds();
        took(&mut s, s_at, src, hash(&*s_at.store, src, &kinds).await?);
    } else {
        let kinds = s.kinds();
        took(&mut d, d_at, dst, hash(&*d_at.store, dst, &kinds).await?);
    }
    c.compared_read.fetch_add(1, Ordering::Relaxed);
    c.compared_bytes_read.fetch_add(read, Ordering::Relaxed);
    common(&s, &d).ok_or_else(|| {
        haul_core::Error::transient(src.key.as_str(), "no checksum of one kind on both sides")
    })
}

fn settled(shared: &Shared, s: &Known, d: &Known) {
    let c = &shared.counters;
    if s.recorded || d.recorded {
        c.compared_recorded.fetch_add(1, Ordering::Relaxed);
    } else {
        c.compared_reported.fetch_add(1, Ordering::Relaxed);
    }
}

/// Reads `meta` once, hashing it as `kinds`; a body shorter than the
/// object it describes is an error.
async fn hash(
    store: &dyn ObjectStore,
    meta: &ObjectMeta,
    kinds: &[ChecksumKind],
) -> Result<HashedObject> {
    let got = store.hash_object(&meta.key, kinds).await?;
    if got.read != got.meta.size {
        return Err(haul_core::Error::transient(
            meta.key.as_str(),
            format!("read {} of {} bytes", got.read, got.meta.size),
        ));
    }
    Ok(got)
}
