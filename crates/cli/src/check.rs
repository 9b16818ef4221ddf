//! `haul check SRC DST`: compares two trees without copying anything.
//!
//! Both listings are walked together in key order. A key on one side only
//! is missing on the other; a key on both is compared by size, then by a
//! checksum both sides report of the same kind (S3's CRC32C or an ETag
//! that is an MD5, COS's CRC64, Kodo's qetag) in their listings, else in
//! answer to a HEAD, computed from a local file when the other side
//! reports one; with `--download` by reading both
//! sides and hashing them. When the stores report nothing comparable, the
//! checksums the journal recorded of the very same versions (when haul
//! last copied, verified or read them) are used, and the verdict says so
//! (`recorded:crc32c`); what check reads is recorded in turn. When nothing
//! comparable exists the key is reported and counted as compared by size
//! only: never silently.

use std::sync::Arc;

use futures::stream::{self, BoxStream, StreamExt as _};
use haul_core::{
    Checksum, ChecksumKind, ListEntry, ListOptions, ObjectMeta, ObjectStore, ObjectStoreExt as _,
};
use haul_journal::{Journal, ObjectSums};
use serde_json::json;

use crate::args::{CheckArgs, Global, Knobs};
use crate::error::CliError;
use crate::location::Location;
use crate::settings::ConfigFile;
use crate::sides::{Side, source};

/// A content digest one side reports or haul computes: a checksum of a
/// kind haul computes (CRC32C, CRC64, MD5, Kodo's qetag, ...).
type Digest = Checksum;

fn same_kind(a: &Digest, b: &Digest) -> bool {
    a.kind() == b.kind()
}

/// What an ETag of one side means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Etag {
    /// Nothing haul can compute.
    Opaque,
    /// The MD5 of the content when it is 32 hex digits (single puts).
    Md5,
}

/// One side of the comparison.
struct Tree {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    /// A local directory: any digest can be computed by reading the file.
    local: bool,
    etag: Etag,
    /// HEAD requests sent (what a listing could not settle costs).
    heads: std::sync::atomic::AtomicU64,
    /// The store's name, which records of its objects are kept under.
    name: String,
    /// The checksum cache, when the journal could be opened.
    journal: Option<Arc<Journal>>,
}

impl Tree {
    fn open(
        loc: &Location,
        config: &ConfigFile,
        what: &str,
        journal: Option<Arc<Journal>>,
    ) -> Result<Self, CliError> {
        let (Side { store, prefix, .. }, single) = source(loc, true, true, config)?;
        if single {
            return Err(CliError::usage(format!(
                "check compares two directories or prefixes; the {what} is one file"
            )));
        }
        // Kodo reports its qetag as a checksum of its own.
        let etag = if matches!(loc, Location::Bucket { .. }) && store.capabilities().etag_is_md5 {
            Etag::Md5
        } else {
            Etag::Opaque
        };
        Ok(Self {
            prefix,
            local: matches!(loc, Location::Local(_)),
            etag,
            heads: std::sync::atomic::AtomicU64::new(0),
            name: store.to_string(),
            store,
            journal,
        })
    }

    /// The checksums the journal recorded of this version of `m`.
    fn recorded(&self, m: &ObjectMeta) -> Vec<Digest> {
        let (Some(j), Some(etag)) = (&self.journal, &m.etag) else {
            return Vec::new();
        };
        j.sums_of(&self.name, m.key.as_str(), m.size, etag)
            .unwrap_or_default()
            .into_iter()
            .collect()
    }

    /// Records `sums` as the content of the version `m` describes.
    fn record(&self, m: &ObjectMeta, sums: Vec<Checksum>) {
        let (Some(j), Some(etag)) = (&self.journal, &m.etag) else {
            return;
        };
        j.record_sums(ObjectSums {
            store: self.name.clone(),
            key: m.key.as_str().to_owned(),
            size: m.size,
            etag: etag.clone(),
            sums,
        });
    }

    /// The digests this side reports for `m` without reading it.
    fn reported(&self, m: &ObjectMeta) -> Vec<Digest> {
        let mut out: Vec<Digest> = m.checksums.clone();
        if let (Etag::Md5, Some(e)) = (self.etag, &m.etag)
            && e.len() == 32
            && let Ok(c) = Checksum::from_hex(ChecksumKind::Md5, e)
            && !out.iter().any(|d| d.kind() == ChecksumKind::Md5)
        {
            out.push(c);
        }
        out
    }

    /// Object entries under the prefix, keyed relative to it, in key order;
    /// entries that cannot be objects come as `Err((name, reason))`.
    fn entries(&self) -> BoxStream<'static, Result<Entry, CliError>> {
        let prefix = self.prefix.clone();
        self.store
            .list(&self.prefix, ListOptions::default())
            .filter_map(move |e| {
                let rel = |name: &str| name.strip_prefix(&prefix).unwrap_or(name).to_owned();
                let out = match e {
                    Ok(ListEntry::Object(m)) => {
                        Some(Ok(Entry::Object(rel(m.key.as_str()), Box::new(m))))
                    }
                    Ok(ListEntry::Unusable(u)) => Some(Ok(Entry::Unusable(rel(&u.name), u.reason))),
                    Ok(ListEntry::Prefix(_)) => None,
                    Err(e) => Some(Err(CliError::failed(format!("listing failed: {e}")))),
                };
                std::future::ready(out)
            })
            .boxed()
    }

    /// What this side reports of `m` with a HEAD (a store, not a local
    /// directory, whose listing gave no more than `listed`).
    async fn head(&self, m: &ObjectMeta, listed: &[Digest]) -> haul_core::Result<Vec<Digest>> {
        if self.local {
            return Ok(listed.to_vec());
        }
        self.heads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(self.reported(&self.store.head(&m.key).await?))
    }

    /// Reads `m` once and computes `want`'s kind of digest.
    async fn compute(&self, m: &ObjectMeta, want: &Digest) -> haul_core::Result<(Digest, u64)> {
        let got = self.store.hash_object(&m.key, &[want.kind()]).await?;
        let sum =
            got.sums.into_iter().next().ok_or_else(|| {
                haul_core::Error::transient(m.key.as_str(), "no checksum computed")
            })?;
        if got.read == got.meta.size {
            self.record(&got.meta, vec![sum.clone()]);
        }
        Ok((sum, got.read))
    }
}

enum Entry {
    Object(String, Box<ObjectMeta>),
    Unusable(String, String),
}

impl Entry {
    fn rel(&self) -> &str {
        match self {
            Self::Object(r, _) | Self::Unusable(r, _) => r,
        }
    }
}

/// What the walk pairs up.
enum Pair {
    Both(String, Box<ObjectMeta>, Box<ObjectMeta>),
    SrcOnly(String),
    DstOnly(String),
    Unusable(String, String),
}

/// The verdict on one key.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    Identical(String),
    SizeOnly,
    Differ(String),
    MissingOnDst,
    MissingOnSrc,
    Skipped(String),
    Error(String),
}

impl Verdict {
    fn name(&self) -> &'static str {
        match self {
            Self::Identical(_) => "identical",
            Self::SizeOnly => "size_only",
            Self::Differ(_) => "differ",
            Self::MissingOnDst => "missing_on_dst",
            Self::MissingOnSrc => "missing_on_src",
            Self::Skipped(_) => "skipped",
            Self::Error(_) => "error",
        }
    }
}

/// Counts by verdict, and the bytes read to compute digests.
#[derive(Debug, Default)]
struct Tally {
    identical: u64,
    size_only: u64,
    differ: u64,
    missing_on_dst: u64,
    missing_on_src: u64,
    skipped: u64,
    errors: u64,
    bytes_read: u64,
    heads: u64,
}

impl Tally {
    fn add(&mut self, v: &Verdict, read: u64) {
        self.bytes_read += read;
        let n = match v {
            Verdict::Identical(_) => &mut self.identical,
            Verdict::SizeOnly => &mut self.size_only,
            Verdict::Differ(_) => &mut self.differ,
            Verdict::MissingOnDst => &mut self.missing_on_dst,
            Verdict::MissingOnSrc => &mut self.missing_on_src,
            Verdict::Skipped(_) => &mut self.skipped,
            Verdict::Error(_) => &mut self.errors,
        };
        *n += 1;
    }

    fn differs(&self) -> bool {
        self.differ + self.missing_on_dst + self.missing_on_src + self.errors > 0
    }
}

/// Walks two sorted listings together.
struct Walk {
    src: BoxStream<'static, Result<Entry, CliError>>,
    dst: BoxStream<'static, Result<Entry, CliError>>,
    a: Option<Entry>,
    b: Option<Entry>,
    started: bool,
}

impl Walk {
    async fn next_dst(&mut self) -> Result<Option<Entry>, CliError> {
        // What the destination cannot offer is neither compared nor missing.
        while let Some(e) = self.dst.next().await.transpose()? {
            if matches!(e, Entry::Object(..)) {
                return Ok(Some(e));
            }
        }
        Ok(None)
    }

    async fn pair(&mut self) -> Result<Option<Pair>, CliError> {
        if !self.started {
            self.started = true;
            self.a = self.src.next().await.transpose()?;
            self.b = self.next_dst().await?;
        }
        let order = match (&self.a, &self.b) {
            (None, None) => return Ok(None),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some(a), Some(b)) => a.rel().cmp(b.rel()),
        };
        let pair = match order {
            std::cmp::Ordering::Less => {
                let a = self.a.take();
                self.a = self.src.next().await.transpose()?;
                match a {
                    Some(Entry::Unusable(rel, why)) => Pair::Unusable(rel, why),
                    Some(Entry::Object(rel, _)) => Pair::SrcOnly(rel),
                    None => return Ok(None),
                }
            }
            std::cmp::Ordering::Greater => {
                let b = self.b.take();
                self.b = self.next_dst().await?;
                match b {
                    Some(e) => Pair::DstOnly(e.rel().to_owned()),
                    None => return Ok(None),
                }
            }
            std::cmp::Ordering::Equal => {
                let (a, b) = (self.a.take(), self.b.take());
                self.a = self.src.next().await.transpose()?;
                self.b = self.next_dst().await?;
                match (a, b) {
                    (Some(Entry::Object(rel, a)), Some(Entry::Object(_, b))) => {
                        Pair::Both(rel, a, b)
                    }
                    (Some(Entry::Unusable(rel, why)), _) => Pair::Unusable(rel, why),
                    _ => return Ok(None),
                }
            }
        };
        Ok(Some(pair))
    }
}

/// The first digest of `a` whose kind `b` has too, with that one.
fn common<'d>(a: &'d [Digest], b: &'d [Digest]) -> Option<(&'d Digest, &'d Digest)> {
    a.iter()
        .find_map(|x| b.iter().find(|y| same_kind(x, y)).map(|y| (x, y)))
}

/// Adds the digests of `more` whose kind `to` lacks.
fn add_new_kinds(to: &mut Vec<Digest>, more: Vec<Digest>) {
    for d in more {
        if !to.iter().any(|r| same_kind(r, &d)) {
            to.push(d);
        }
    }
}

/// Compares one key present on both sides; returns the verdict and the
/// bytes read.
async fn compare(
    src: &Tree,
    dst: &Tree,
    sm: &ObjectMeta,
    dm: &ObjectMeta,
    download: bool,
) -> (Verdict, u64) {
    if sm.size != dm.size {
        return (
            Verdict::Differ(format!("size {} vs {}", sm.size, dm.size)),
            0,
        );
    }
    let crc32c = Checksum::from_crc(ChecksumKind::Crc32c, 0);
    let verdict = |got: &Digest, want: &Digest, by: String| {
        if got == want {
            Verdict::Identical(by)
        } else {
            Verdict::Differ(by)
        }
    };
    if download {
        let by = format!("download:{}", crc32c.kind().name());
        return match tokio::try_join!(src.compute(sm, &crc32c), dst.compute(dm, &crc32c)) {
            Ok(((ds, read_s), (dd, read_d))) => (verdict(&ds, &dd, by), read_s + read_d),
            Err(e) => (Verdict::Error(e.to_string()), 0),
        };
    }
    let (mut ra, mut rb) = (src.reported(sm), dst.reported(dm));
    if common(&ra, &rb).is_none() {
        // What the journal recorded of these very versions: against what
        // the other side's store reports first, then record to record.
        let (mut xa, mut xb) = (ra.clone(), rb.clone());
        add_new_kinds(&mut xa, src.recorded(sm));
        add_new_kinds(&mut xb, dst.recorded(dm));
        let found = common(&ra, &xb)
            .or_else(|| common(&xa, &rb))
            .or_else(|| common(&xa, &xb));
        if let Some((ds, dd)) = found {
            return (verdict(ds, dd, format!("recorded:{}", ds.kind().name())), 0);
        }
        (ra, rb) = (xa, xb);
    }
    let computable = (src.local && !rb.is_empty()) || (dst.local && !ra.is_empty());
    if common(&ra, &rb).is_none() && !computable {
        // Listings seldom carry checksums; a HEAD often does (S3's
        // whole-object CRC32C, COS's CRC64): ask the stores, not the disk.
        match (src.head(sm, &ra).await, dst.head(dm, &rb).await) {
            (Ok(a), Ok(b)) => {
                add_new_kinds(&mut ra, a);
                add_new_kinds(&mut rb, b);
            }
            (Err(e), _) | (_, Err(e)) => return (Verdict::Error(e.to_string()), 0),
        }
    }
    if let Some((ds, dd)) = common(&ra, &rb) {
        return (verdict(ds, dd, ds.kind().name().to_owned()), 0);
    }
    // A local file can be hashed as the other side's kind.
    let computed = if src.local && !dst.local {
        rb.first().map(|want| (src.compute(sm, want), want))
    } else if dst.local && !src.local {
        ra.first().map(|want| (dst.compute(dm, want), want))
    } else {
        None
    };
    match computed {
        Some((fut, want)) => match fut.await {
            Ok((got, n)) => (verdict(&got, want, want.kind().name().to_owned()), n),
            Err(e) => (Verdict::Error(e.to_string()), 0),
        },
        None => (Verdict::SizeOnly, 0),
    }
}

/// One key's line: text for people, JSON with `--json`; identical keys
/// only with `-v`.
fn report(g: &Global, key: &str, v: &Verdict) {
    if matches!(v, Verdict::Identical(_)) && g.verbose == 0 {
        return;
    }
    if g.json {
        let mut line = json!({"type": "check", "key": key, "result": v.name()});
        match v {
            Verdict::Identical(by) | Verdict::Differ(by) => line["by"] = json!(by),
            Verdict::SizeOnly => line["by"] = json!("size"),
            Verdict::Skipped(why) | Verdict::Error(why) => line["reason"] = json!(why),
            Verdict::MissingOnDst | Verdict::MissingOnSrc => {}
        }
        outln!("{line}");
        return;
    }
    let key = haul_core::escape_text(key);
    match v {
        Verdict::Identical(by) => outln!("identical ({by}): {key}"),
        _ if g.quiet => {}
        Verdict::SizeOnly => outln!(
            "size only (no checksum of one kind on both sides; --download reads both): {key}"
        ),
        Verdict::Differ(by) => outln!("differ ({by}): {key}"),
        Verdict::MissingOnDst => outln!("missing on destination: {key}"),
        Verdict::MissingOnSrc => outln!("missing on source: {key}"),
        Verdict::Skipped(why) => outln!("skipped ({why}): {key}"),
        Verdict::Error(why) => outln!("error ({}): {key}", haul_core::escape_text(why)),
    }
}

/// `haul check SRC DST`.
pub(crate) async fn check(g: &Global, args: CheckArgs) -> Result<u8, CliError> {
    let config = ConfigFile::load()?;
    // The stores open inside the layers the settings give (retries).
    let settings = config.transfer_config(&Knobs::default())?;
    // Without a journal there is no cache: everything is compared afresh.
    let journal = match crate::sides::open_journal(g) {
        Ok(j) => Some(j).filter(|_| settings.checksum_cache),
        Err(e) => {
            tracing::warn!(error = %e, "no checksum cache: the journal cannot be opened");
            None
        }
    };
    let src = Arc::new(Tree::open(
        &Location::parse(&args.src, &config)?,
        &config,
        "source",
        journal.clone(),
    )?);
    let dst = Arc::new(Tree::open(
        &Location::parse(&args.dst, &config)?,
        &config,
        "destination",
        journal.clone(),
    )?);
    let walk = Walk {
        src: src.entries(),
        dst: dst.entries(),
        a: None,
        b: None,
        started: false,
    };
    let pairs = stream::unfold(walk, |mut w| async move {
        match w.pair().await {
            Ok(Some(p)) => Some((Ok(p), w)),
            Ok(None) => None,
            Err(e) => Some((Err(e), w)),
        }
    });
    let download = args.download;
    let results = pairs
        .map(|p| {
            let (src, dst) = (Arc::clone(&src), Arc::clone(&dst));
            async move {
                Ok::<_, CliError>(match p? {
                    Pair::Both(rel, src_meta, dst_meta) => {
                        let (verdict, read) =
                            compare(&src, &dst, &src_meta, &dst_meta, download).await;
                        (rel, verdict, read)
                    }
                    Pair::SrcOnly(rel) => (rel, Verdict::MissingOnDst, 0),
                    Pair::DstOnly(rel) => (rel, Verdict::MissingOnSrc, 0),
                    Pair::Unusable(rel, why) => (rel, Verdict::Skipped(why), 0),
                })
            }
        })
        .buffered(args.checkers.max(1));
    let mut results = std::pin::pin!(results);
    let mut tally = Tally::default();
    while let Some(r) = results.next().await {
        let (rel, v, n) = r?;
        tally.add(&v, n);
        report(g, &rel, &v);
    }
    tally.heads = [&src, &dst]
        .iter()
        .map(|t| t.heads.load(std::sync::atomic::Ordering::Relaxed))
        .sum();
    if let Some(j) = &journal {
        // What was read is kept for the next check; losing it costs a read.
        if let Err(e) = j.flush().await {
            tracing::warn!(error = %e, "the checksums read were not recorded");
        }
    }
    summarize(g, &tally);
    Ok(u8::from(tally.differs()))
}

fn summarize(g: &Global, t: &Tally) {
    if g.json {
        outln!(
            "{}",
            json!({
                "type": "check_summary",
                "identical": t.identical,
                "size_only": t.size_only,
                "differ": t.differ,
                "missing_on_dst": t.missing_on_dst,
                "missing_on_src": t.missing_on_src,
                "skipped": t.skipped,
                "errors": t.errors,
                "bytes_read": t.bytes_read,
                "heads": t.heads,
            })
        );
        return;
    }
    if g.quiet {
        return;
    }
    eprintln!(
        "check: {} identical, {} by size only, {} differ, {} missing on destination, {} missing on source, {} skipped, {} errors; {} read, {} HEAD requests",
        t.identical,
        t.size_only,
        t.differ,
        t.missing_on_dst,
        t.missing_on_src,
        t.skipped,
        t.errors,
        crate::size::human(t.bytes_read),
        t.heads,
    );
    if t.size_only > 0 {
        eprintln!(
            "{} compared by size only: the two sides report no checksum of one kind (--download reads and hashes both)",
            t.size_only
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_of_different_kinds_are_never_compared() {
        let md5 = Checksum::from_hex(ChecksumKind::Md5, &"0".repeat(32)).unwrap();
        let crc = Checksum::from_crc(ChecksumKind::Crc32c, 0);
        assert!(!same_kind(&md5, &crc));
        assert!(common(&[md5], &[crc]).is_none());
    }

    #[test]
    fn a_tally_with_only_size_only_matches_does_not_differ() {
        let mut t = Tally::default();
        t.add(&Verdict::Identical("md5".into()), 10);
        t.add(&Verdict::SizeOnly, 0);
        assert!(!t.differs());
        assert_eq!(t.bytes_read, 10);
        t.add(&Verdict::MissingOnSrc, 0);
        assert!(t.differs());
    }
}
