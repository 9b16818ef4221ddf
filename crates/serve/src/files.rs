//! The on-disk layout s3s-fs 0.14 uses, and the file work the shim does
//! itself: hashing, atomic writes, part files, upload records.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use haul_core::{Checksum, ChecksumKind, MultiHasher};
use std::fmt::Write as _;

use s3s::S3Request;
use s3s::dto::{ETag, ETagCondition};
use s3s::{S3Error, S3Result, s3_error};

use super::confine;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Longest file name the file system takes.
const NAME_MAX: usize = 255;

/// Maps an I/O error to `InternalError`.
pub(super) fn io_err(e: std::io::Error) -> S3Error {
    s3_error!(e, InternalError)
}

/// Paths under the server's root, in s3s-fs's layout.
#[derive(Debug)]
pub(super) struct Layout {
    pub(super) root: PathBuf,
    tmp: AtomicU64,
    /// Held while an ETag is computed, so parallel ranged reads of a new
    /// file hash it once.
    hashing: tokio::sync::Mutex<()>,
}

/// The side-file entry recording which size, modification time and ETag
/// the shim computed (`SIZE:MTIME:ETAG`).
const STAMP: &str = "haul_etag_of";

impl Layout {
    pub(super) fn new(root: PathBuf) -> Self {
        Self {
            root,
            tmp: AtomicU64::new(0),
            hashing: tokio::sync::Mutex::new(()),
        }
    }

    /// Whether s3s-fs's side files for this key (named after the base64 of
    /// bucket and key) would overflow a file name: it cannot store such
    /// keys itself, so the shim does.
    pub(super) fn is_long(bucket: &str, key: &str) -> bool {
        let b64 = |n: usize| n.div_ceil(3) * 4;
        // ".bucket-" + B + ".object-" + K + ".upload-" + uuid + ".metadata.json"
        8 + b64(bucket.len()) + 8 + b64(key.len()) + 8 + 36 + 14 > NAME_MAX
    }

    /// The directory of bucket `name`, refusing names that would leave
    /// the root and a bucket that is a symbolic link out of it.
    pub(super) fn bucket_dir(&self, name: &str) -> S3Result<PathBuf> {
        confine::resolve(&self.root, name, "")
    }

    /// The object file, through the one checked resolver (see
    /// `confine`): refuses keys and links that would leave the bucket.
    pub(super) fn object(&self, bucket: &str, key: &str) -> S3Result<PathBuf> {
        confine::resolve(&self.root, bucket, key)
    }

    /// s3s-fs's side file of an object's attributes (ETag, checksums).
    pub(super) fn info(&self, bucket: &str, key: &str) -> PathBuf {
        self.side(bucket, key, "internal.json")
    }

    /// s3s-fs's side file of an object's (or, with `upload`, an
    /// upload's) metadata: Content-Type, user metadata and the like.
    pub(super) fn meta(&self, bucket: &str, key: &str, upload: Option<&str>) -> PathBuf {
        let tail = upload.map_or_else(
            || "metadata.json".to_owned(),
            |u| format!("upload-{u}.metadata.json"),
        );
        self.side(bucket, key, &tail)
    }

    /// The shim's side file of the part sizes of an object completed from
    /// parts (`GetObjectAttributes`).
    pub(super) fn parts_of(&self, bucket: &str, key: &str) -> PathBuf {
        self.side(bucket, key, "haul-parts.json")
    }

    fn side(&self, bucket: &str, key: &str, tail: &str) -> PathBuf {
        use base64::Engine as _;
        let enc = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        self.root.join(format!(
            ".bucket-{}.object-{}.{tail}",
            enc(bucket),
            enc(key)
        ))
    }

    /// Removes an object's side files once the object is gone (s3s-fs
    /// leaves them, and a later object at the key inherited them).
    pub(super) async fn forget_object(&self, bucket: &str, key: &str) {
        if Self::is_long(bucket, key) || key.ends_with('/') {
            return;
        }
        if let Ok(path) = self.object(bucket, key)
            && tokio::fs::symlink_metadata(&path).await.is_ok()
        {
            return; // still there (a refused delete)
        }
        let _ = tokio::fs::remove_file(self.meta(bucket, key, None)).await;
        let _ = tokio::fs::remove_file(self.info(bucket, key)).await;
        let _ = tokio::fs::remove_file(self.parts_of(bucket, key)).await;
    }

    /// Keeps only the ETag in an object's attribute side file: s3s-fs
    /// completes a multipart upload over an object keeping the old
    /// object's checksums.
    pub(super) async fn keep_only_etag(&self, bucket: &str, key: &str) -> S3Result<()> {
        let path = self.info(bucket, key);
        let Ok(text) = tokio::fs::read(&path).await else {
            return Ok(());
        };
        let mut info: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&text).unwrap_or_default();
        info.retain(|k, _| k == "e_tag");
        let tmp = self.tmp();
        let doc = serde_json::to_vec(&info).map_err(|e| s3_error!(e, InternalError))?;
        tokio::fs::write(&tmp, doc).await.map_err(io_err)?;
        publish(&tmp, &path).await
    }

    /// Makes sure s3s-fs finds the ETag of a file that was put in the
    /// directory by hand: s3s-fs hashes the whole file on every `GET` and
    /// `HEAD` of such an object (each ranged part of a download re-reads
    /// all of it). The MD5 is computed once and kept in the side file with
    /// the file's size and modification time, and computed again when
    /// either changes; the ETag s3s-fs recorded for an upload is adopted
    /// the same way, so a later change by hand is noticed too.
    pub(super) async fn remember_etag(&self, bucket: &str, key: &str) -> S3Result<Option<String>> {
        self.remember_etag_upto(bucket, key, u64::MAX).await
    }

    /// [`Layout::remember_etag`], but `None` rather than hashing a file
    /// larger than `max_hash` bytes whose ETag is not known yet (a listing
    /// of a directory of large files put there by hand would otherwise
    /// read all of them).
    pub(super) async fn remember_etag_upto(
        &self,
        bucket: &str,
        key: &str,
        max_hash: u64,
    ) -> S3Result<Option<String>> {
        let (Ok(object), true) = (self.object(bucket, key), !Self::is_long(bucket, key)) else {
            return Ok(None);
        };
        let Ok(meta) = tokio::fs::metadata(&object).await else {
            return Ok(None); // s3s-fs answers for a missing object
        };
        if !meta.is_file() {
            return Ok(None);
        }
        let stamp = format!(
            "{}:{:?}",
            meta.len(),
            meta.modified()
                .ok()
                .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        );
        let info_path = self.info(bucket, key);
        let mut info: serde_json::Map<String, serde_json::Value> =
            match tokio::fs::read(&info_path).await {
                Ok(text) => serde_json::from_slice(&text).unwrap_or_default(),
                Err(_) => serde_json::Map::new(),
            };
        // The stamp vouches for the ETag it names. s3s-fs rewrites `e_tag`
        // (keeping other entries) when the object is uploaded: an ETag the
        // stamp does not name is s3s-fs's, for the file as it is now, and
        // is adopted without hashing; a stamped ETag whose file changed
        // since is computed again.
        let etag = info
            .get("e_tag")
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        let stamped = info.get(STAMP).and_then(|v| v.as_str()).map(str::to_owned);
        let etag = match etag {
            Some(e) if stamped.as_deref() == Some(&format!("{stamp}:{e}")) => return Ok(Some(e)),
            Some(e) if !stamped.is_some_and(|s| s.ends_with(&format!(":{e}"))) => e,
            _ if meta.len() > max_hash => return Ok(None),
            _ => {
                let _one_at_a_time = self.hashing.lock().await;
                md5_etag(&object).await?.0.value().to_owned()
            }
        };
        info.insert(STAMP.into(), format!("{stamp}:{etag}").into());
        info.insert("e_tag".into(), etag.clone().into());
        let tmp = self.tmp();
        let doc = serde_json::to_vec(&info).map_err(|e| s3_error!(e, InternalError))?;
        tokio::fs::write(&tmp, doc).await.map_err(io_err)?;
        publish(&tmp, &info_path).await?;
        Ok(Some(etag))
    }

    /// Whether `id` looks like the UUIDs s3s-fs hands out (so it is safe
    /// in a file name).
    fn valid_id(id: &str) -> bool {
        id.len() == 36 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
    }

    /// s3s-fs's record of a live upload.
    pub(super) fn upload_record(&self, id: &str) -> Option<PathBuf> {
        Self::valid_id(id).then(|| self.root.join(format!(".upload-{id}.json")))
    }

    /// Our own record of an upload's bucket and key.
    pub(super) fn upload_key_record(&self, id: &str) -> Option<PathBuf> {
        Self::valid_id(id).then(|| self.root.join(format!(".haul-upload-{id}.json")))
    }

    /// Fails with `NoSuchUpload` unless the upload is live.
    pub(super) fn check_upload(&self, id: &str) -> S3Result<()> {
        match self.upload_record(id) {
            Some(p) if p.is_file() => Ok(()),
            _ => Err(s3_error!(
                NoSuchUpload,
                "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."
            )),
        }
    }

    /// Fails with `AccessDenied` unless upload `id` was started with
    /// `access_key` (s3s-fs records the starter's key).
    pub(super) async fn check_owner(&self, id: &str, access_key: Option<&str>) -> S3Result<()> {
        let record = self
            .upload_record(id)
            .ok_or_else(|| s3_error!(NoSuchUpload))?;
        let text = tokio::fs::read(&record)
            .await
            .map_err(|_| s3_error!(NoSuchUpload))?;
        let owner: Option<String> = serde_json::from_slice(&text).unwrap_or_default();
        if owner.as_deref() == access_key {
            Ok(())
        } else {
            Err(s3_error!(AccessDenied))
        }
    }

    /// The file holding part `n` of upload `id`.
    pub(super) fn part(&self, id: &str, n: i32) -> PathBuf {
        self.root.join(format!(".upload_id-{id}.part-{n}"))
    }

    /// Part numbers on disk for upload `id`, ascending.
    pub(super) async fn part_numbers(&self, id: &str) -> S3Result<Vec<i32>> {
        let prefix = format!(".upload_id-{id}.part-");
        let mut out = Vec::new();
        let mut dir = tokio::fs::read_dir(&self.root).await.map_err(io_err)?;
        while let Some(e) = dir.next_entry().await.map_err(io_err)? {
            if let Some(n) = e
                .file_name()
                .to_str()
                .and_then(|n| n.strip_prefix(&prefix))
                .and_then(|n| n.parse().ok())
            {
                out.push(n);
            }
        }
        out.sort_unstable();
        Ok(out)
    }

    /// A fresh temporary file name (s3s-fs sweeps `.tmp.*.internal.part`).
    pub(super) fn tmp(&self) -> PathBuf {
        let n = self.tmp.fetch_add(1, Ordering::Relaxed);
        self.root.join(format!(
            ".tmp.haul-{}-{n}.internal.part",
            std::process::id()
        ))
    }

    /// The upload records of every live upload: (id, bucket, key).
    pub(super) async fn uploads(&self) -> S3Result<Vec<(String, String, String, PathBuf)>> {
        let mut out = Vec::new();
        let mut dir = tokio::fs::read_dir(&self.root).await.map_err(io_err)?;
        while let Some(e) = dir.next_entry().await.map_err(io_err)? {
            let name = e.file_name();
            let Some(id) = name
                .to_str()
                .and_then(|n| n.strip_prefix(".haul-upload-"))
                .and_then(|n| n.strip_suffix(".json"))
            else {
                continue;
            };
            if self.check_upload(id).is_err() {
                continue;
            }
            let Ok(text) = tokio::fs::read(e.path()).await else {
                continue;
            };
            let Ok(serde_json::Value::Object(m)) = serde_json::from_slice(&text) else {
                continue;
            };
            if let (Some(b), Some(k)) = (m.get("bucket"), m.get("key"))
                && let (Some(b), Some(k)) = (b.as_str(), k.as_str())
            {
                out.push((id.to_owned(), b.to_owned(), k.to_owned(), e.path()));
            }
        }
        Ok(out)
    }

    /// Writes our record of upload `id`.
    pub(super) async fn record_upload(&self, id: &str, bucket: &str, key: &str) -> S3Result<()> {
        let Some(path) = self.upload_key_record(id) else {
            return Err(s3_error!(InternalError, "bad upload id {id}"));
        };
        let doc = serde_json::json!({ "bucket": bucket, "key": key });
        tokio::fs::write(path, doc.to_string())
            .await
            .map_err(io_err)
    }

    /// Removes both records and every part of upload `id`.
    pub(super) async fn forget_upload(&self, id: &str) {
        for p in [self.upload_record(id), self.upload_key_record(id)]
            .into_iter()
            .flatten()
        {
            let _ = tokio::fs::remove_file(p).await;
        }
        if let Ok(ns) = self.part_numbers(id).await {
            for n in ns {
                let _ = tokio::fs::remove_file(self.part(id, n)).await;
            }
        }
    }
}

/// Whether any file lies under `dir`, at any depth (an object of a bucket;
/// s3s-fs keeps its side files outside the bucket directories).
pub(super) async fn has_files(dir: &Path) -> S3Result<bool> {
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let mut entries = tokio::fs::read_dir(&d).await.map_err(io_err)?;
        while let Some(e) = entries.next_entry().await.map_err(io_err)? {
            if e.file_type().await.map_err(io_err)?.is_dir() {
                todo.push(e.path());
            } else {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// Hashes a file with `kinds`.
pub(super) async fn hash_file(
    path: &Path,
    kinds: &[ChecksumKind],
) -> S3Result<(Vec<Checksum>, u64)> {
    let mut f = tokio::fs::File::open(path).await.map_err(io_err)?;
    let mut h = MultiHasher::new(kinds);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).await.map_err(io_err)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    let len = h.len();
    Ok((h.finish(), len))
}

/// The hex MD5 of a file, as an ETag.
pub(super) async fn md5_etag(path: &Path) -> S3Result<(ETag, u64)> {
    let (sums, len) = hash_file(path, &[ChecksumKind::Md5]).await?;
    let hex = sums.first().map(Checksum::to_hex).unwrap_or_default();
    Ok((ETag::Strong(hex), len))
}

/// Streams `body` into a temporary file, hashing it with `kinds`.
pub(super) async fn write_stream<S, E>(
    layout: &Layout,
    mut body: S,
    kinds: &[ChecksumKind],
) -> S3Result<(PathBuf, Vec<Checksum>)>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let tmp = layout.tmp();
    let mut f = tokio::fs::File::create(&tmp).await.map_err(io_err)?;
    let mut h = MultiHasher::new(kinds);
    while let Some(chunk) = body.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(s3_error!(IncompleteBody, "body failed: {e}"));
            }
        };
        h.update(&chunk);
        f.write_all(&chunk).await.map_err(io_err)?;
    }
    f.flush().await.map_err(io_err)?;
    Ok((tmp, h.finish()))
}

/// Copies the `x-amz-copy-source-range` (`bytes=FIRST-LAST`, the whole
/// file without one) of `src` into the new file `dst` with large blocking
/// reads, returning the hex MD5 of what was copied. Runs on a blocking
/// thread.
pub(super) fn copy_range(src: &Path, range: Option<&str>, dst: &Path) -> S3Result<String> {
    use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
    let mut from = std::fs::File::open(src).map_err(|e| s3_error!(e, NoSuchKey))?;
    let len = from.metadata().map_err(io_err)?.len();
    let (first, count) = match range {
        None => (0, len),
        Some(r) => {
            let spec = r
                .strip_prefix("bytes=")
                .ok_or_else(|| s3_error!(InvalidArgument, "bad copy range {r}"))?;
            let (a, b) = spec
                .split_once('-')
                .ok_or_else(|| s3_error!(InvalidArgument, "bad copy range {r}"))?;
            let first: u64 = a.parse().map_err(|_| s3_error!(InvalidArgument))?;
            let last: u64 = if b.is_empty() {
                len.saturating_sub(1)
            } else {
                b.parse().map_err(|_| s3_error!(InvalidArgument))?
            };
            if first > last || last >= len {
                return Err(s3_error!(InvalidRange));
            }
            (first, last - first + 1)
        }
    };
    from.seek(SeekFrom::Start(first)).map_err(io_err)?;
    let mut to = std::fs::File::create(dst).map_err(io_err)?;
    let mut h = MultiHasher::new(&[ChecksumKind::Md5]);
    let mut buf = vec![0u8; 1 << 20];
    let mut left = count;
    while left > 0 {
        let want = usize::try_from(left.min(buf.len() as u64)).unwrap_or(buf.len());
        let n = from.read(&mut buf[..want]).map_err(io_err)?;
        if n == 0 {
            return Err(s3_error!(InternalError, "the source ended early"));
        }
        h.update(&buf[..n]);
        to.write_all(&buf[..n]).map_err(io_err)?;
        left -= n as u64;
    }
    Ok(h.finish().first().map(Checksum::to_hex).unwrap_or_default())
}

/// Moves a finished temporary file into place.
pub(super) async fn publish(tmp: &Path, dst: &Path) -> S3Result<()> {
    if let Some(dir) = dst.parent() {
        tokio::fs::create_dir_all(dir).await.map_err(io_err)?;
    }
    tokio::fs::rename(tmp, dst).await.map_err(io_err)
}

/// A request like `req` carrying `input` instead.
pub(super) fn sub<T, U>(req: &S3Request<T>, input: U) -> S3Request<U> {
    S3Request {
        input,
        method: req.method.clone(),
        uri: req.uri.clone(),
        headers: req.headers.clone(),
        extensions: http::Extensions::default(),
        credentials: req.credentials.clone(),
        region: req.region.clone(),
        service: req.service.clone(),
        trailing_headers: None,
    }
}

/// S3's `encoding-type=url`: percent-encoding (a space is `%20`), `/` kept.
pub(super) fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(b as char);
            }
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// A fresh upload id shaped like s3s-fs's (a v4 UUID).
pub(super) fn new_upload_id() -> String {
    let v: u128 = rand::random();
    let v = (v & !(0xF << 76) | (0x4 << 76)) & !(0x3 << 62) | (0x2 << 62);
    let h = format!("{v:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// Whether an If-Match condition holds for `current`.
pub(super) fn etag_matches(cond: &ETagCondition, current: &ETag) -> bool {
    match cond {
        ETagCondition::Any => true,
        ETagCondition::ETag(e) => e.value().trim_matches('"') == current.value(),
    }
}
