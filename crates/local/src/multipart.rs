//! Multipart uploads, staged on disk so any process can carry them on.
//!
//! (Over 600 lines on purpose: the staging record, both layouts' create,
//! part, list, complete and abort, and the cleanup of ended uploads share
//! one set of invariants about what is on disk when; the layouts' own code
//! is in `part` and `placed`.)
//!
//! `<root>/.haul-uploads/<id>/` holds `upload.json` (the key, when the
//! upload began, and the part size hint if `create_multipart` was given
//! one) and the parts, in one of two layouts:
//!
//! - **Placed** (with a hint, see [`placed`]): one file `data` in which
//!   part `n` is written once at its offset in the object, `(n - 1) * hint`,
//!   and one small record `NNNNN.rec` per part with its size and checksums.
//!   Completing truncates `data` to the object's size and renames it into
//!   place: the bytes are written once. The hint is a promise (parts
//!   numbered from 1 without gaps, every part but the last exactly the
//!   hint): a part larger than the hint, or a completion that breaks the
//!   promise, is `InvalidInput`.
//! - **Part files** (without a hint, see [`part`]): one file per part,
//!   `NNNNN.part`, the part's bytes and a trailer with its size and
//!   checksums. Completing concatenates the parts with `io::copy` —
//!   `copy_file_range` on Linux, so the bytes never pass through user space
//!   and file systems with shared extents (XFS, Btrfs) may clone instead of
//!   copy — into a temp file beside the target, fsyncs it and renames it
//!   into place.
//!
//! Either way a part's checksums come from its payload when it carries a
//! CRC-32C, and from one pass over its bytes otherwise
//! ([`part::payload_sums`]). A streamed part (`upload_part_stream`) is
//! written chunk by chunk as its body arrives, on one blocking thread fed
//! by a short queue ([`part::write_feed`]), so a part in flight holds a
//! few chunks of memory, not its size.

mod part;
mod placed;

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use haul_core::checksum::combine_all;
use haul_core::{
    ByteRange, Checksum, ChecksumKind, CompletedPart, Error, Key, MultiHasher, PartNumber, Payload,
    PutOptions, PutOutcome, Result, UploadId,
};
use serde::{Deserialize, Serialize};

use crate::path::{Root, io_err};
use crate::read::{CHUNK, etag_of, read_full_at};
use crate::temp::{TempFile, sync_dir};
use crate::write::Feed;
use crate::write::{recorded_mtime, temp_for, verify};
use part::{Hasher, PartFile, PartInfo, Sums};

/// The file in a staging directory that makes the upload exist.
const RECORD: &str = "upload.json";

/// What `upload.json` records.
#[derive(Debug, Serialize, Deserialize)]
struct UploadRecord {
    key: String,
    created_unix_ms: u64,
    #[serde(default)]
    content_type: Option<String>,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
    /// Checksums of the whole object to verify on completion.
    #[serde(default)]
    checksums: Vec<Checksum>,
    /// The part size hint: every part but the last is this size, and the
    /// parts are placed in one `data` file. Absent: one file per part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    part_size: Option<u64>,
}

fn no_such(key: &Key, id: &UploadId) -> Error {
    Error::NoSuchUpload {
        key: key.to_string(),
        upload_id: id.0.clone(),
    }
}

/// Upload ids are 32 lowercase hex digits; anything else cannot name a
/// staging directory (and so can never reach outside the upload area).
fn valid_id(id: &UploadId) -> bool {
    id.0.len() == 32 && id.0.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn is_missing(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

/// The staging directory of a live upload for `key`.
#[derive(Debug)]
struct Staging {
    dir: PathBuf,
    record: UploadRecord,
}

impl Staging {
    /// Finds the upload, failing with `NoSuchUpload` when the id is unknown,
    /// finished, or belongs to another key.
    fn open(root: &Root, key: &Key, id: &UploadId) -> Result<Self> {
        root.object_path(key)?;
        if !valid_id(id) {
            return Err(no_such(key, id));
        }
        let dir = root.uploads_dir().join(&id.0);
        let Some(record) = read_record(&dir, key)? else {
            return Err(no_such(key, id));
        };
        if record.key != key.as_str() {
            return Err(no_such(key, id));
        }
        let staging = Self { dir, record };
        if staging.hint().is_some() {
            // `data` leaves only by the rename that completes the upload: a
            // crash before `upload.json` went too leaves this state, which
            // is the completed upload's leftovers, removed now.
            match fs::symlink_metadata(staging.dir.join(placed::DATA)) {
                Ok(_) => {}
                Err(e) if is_missing(&e) => {
                    remove_staging(root, &staging.dir);
                    return Err(no_such(key, id));
                }
                Err(e) => return Err(io_err(key.as_str(), e)),
            }
        }
        Ok(staging)
    }

    /// The part size hint, when the parts are placed in `data`.
    fn hint(&self) -> Option<u64> {
        self.record.part_size.filter(|&h| h > 0)
    }

    fn part_path(&self, n: PartNumber) -> PathBuf {
        self.dir.join(part::file_name(n))
    }

    /// What is stored as part `n`; `NotFound` when nothing is.
    fn info(&self, n: PartNumber) -> io::Result<PartInfo> {
        if self.hint().is_some() {
            placed::read_record(&self.dir.join(placed::record_name(n)), n)
        } else {
            part::read_info(&self.part_path(n), n)
        }
    }

    /// Maps an error writing into the staging area: a vanished directory
    /// means the upload was aborted or completed meanwhile.
    fn write_err(key: &Key, id: &UploadId, e: io::Error) -> Error {
        if is_missing(&e) {
            no_such(key, id)
        } else {
            io_err(key.as_str(), e)
        }
    }

    /// Every part, ascending.
    fn parts(&self, key: &Key, id: &UploadId) -> Result<Vec<PartInfo>> {
        if self.hint().is_some() {
            let mut parts = placed::records(&self.dir).map_err(|e| Self::write_err(key, id, e))?;
            parts.sort_by_key(|p| p.number);
            return Ok(parts);
        }
        let mut parts = Vec::new();
        let entries = fs::read_dir(&self.dir).map_err(|e| Self::write_err(key, id, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| io_err(key.as_str(), e))?;
            let Some(n) = entry.file_name().to_str().and_then(part::parse_file_name) else {
                continue;
            };
            match part::read_info(&entry.path(), n) {
                Ok(info) => parts.push(info),
                Err(e) if is_missing(&e) => {} // replaced or removed meanwhile
                Err(e) => return Err(io_err(key.as_str(), e)),
            }
        }
        parts.sort_by_key(|p| p.number);
        Ok(parts)
    }
}

/// Reads `upload.json` in `dir`; `None` when the upload does not exist.
fn read_record(dir: &std::path::Path, key: &Key) -> Result<Option<UploadRecord>> {
    let path = dir.join(RECORD);
    let text = match fs::read(&path) {
        Ok(t) => t,
        Err(e) if is_missing(&e) => return Ok(None),
        Err(e) => return Err(io_err(key.as_str(), e)),
    };
    serde_json::from_slice(&text)
        .map(Some)
        .map_err(|e| Error::Io {
            key: key.to_string(),
            source: io::Error::new(
                io::ErrorKind::InvalidData,
                format!("upload record {} is corrupt: {e}", path.display()),
            ),
        })
}

/// Removes an ended upload's staging directory, and the uploads directory
/// when that leaves it empty (a finished download leaves nothing behind).
/// Best effort: what cannot be removed now is removed by `haul cleanup`.
pub(crate) fn remove_staging(root: &Root, dir: &std::path::Path) {
    let _ = fs::remove_dir_all(dir);
    // Fails, as it should, while another upload is staged.
    let _ = fs::remove_dir(root.uploads_dir());
}

/// Whether `e` says the disk (or the user's quota) is full.
fn is_disk_full(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    )
}

/// `create_multipart`, on a blocking thread.
pub(crate) fn create(root: &Root, key: &Key, opts: &PutOptions) -> Result<UploadId> {
    let k = key.as_str();
    root.object_path(key)?;
    let uploads = root.uploads_dir();
    let id = UploadId(format!("{:032x}", rand::random::<u128>()));
    let dir = uploads.join(&id.0);
    // The uploads directory goes when its last upload ends: make it again
    // if another upload's end removed it between the two steps.
    let mut attempts = 0;
    loop {
        fs::create_dir_all(&uploads).map_err(|e| io_err(k, e))?;
        match fs::create_dir(&dir) {
            Ok(()) => break,
            Err(e) if e.kind() == io::ErrorKind::NotFound && attempts < 3 => attempts += 1,
            Err(e) => return Err(io_err(k, e)),
        }
    }
    let record = UploadRecord {
        key: k.to_owned(),
        created_unix_ms: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
        content_type: opts.content_type.clone(),
        metadata: opts.metadata.clone(),
        checksums: opts.checksums.clone(),
        part_size: opts.part_size_hint.filter(|&h| h > 0),
    };
    let text = serde_json::to_vec_pretty(&record).map_err(|e| Error::Io {
        key: k.to_owned(),
        source: io::Error::other(e),
    })?;
    let write = || -> io::Result<()> {
        if record.part_size.is_some() {
            placed::create_data(&dir)?;
        }
        let mut tmp = TempFile::create_in(&dir)?;
        io::Write::write_all(&mut tmp.file, &text)?;
        tmp.commit(&dir.join(RECORD))?;
        sync_dir(&uploads)
    };
    if let Err(e) = write() {
        remove_staging(root, &dir);
        return Err(io_err(k, e));
    }
    Ok(id)
}

/// `upload_part`, on a blocking thread. The checksums are settled before
/// a byte is written, so a payload whose checksum is wrong changes nothing.
pub(crate) fn upload_part(
    root: &Root,
    key: &Key,
    id: &UploadId,
    n: PartNumber,
    body: &Payload,
) -> Result<CompletedPart> {
    let staging = Staging::open(root, key, id)?;
    let sums = part::payload_sums(body).map_err(|m| m.into_error(key.as_str()))?;
    store_part(root, &staging, key, id, n, sums.size, |file| {
        part::write_pieces(file, body.pieces())?;
        Ok(sums)
    })
}

/// `upload_part_stream`, on a blocking thread: the chunks are written as
/// they arrive from `rx` (see [`part::write_feed`]).
pub(crate) fn upload_part_fed(
    root: &Root,
    key: &Key,
    id: &UploadId,
    n: PartNumber,
    len: u64,
    trust_carried: bool,
    mut rx: tokio::sync::mpsc::Receiver<Feed>,
) -> Result<CompletedPart> {
    let staging = Staging::open(root, key, id)?;
    store_part(root, &staging, key, id, n, len, |file| {
        part::write_feed(file, len, trust_carried, &mut rx)
    })
}

/// Stores part `n` of `size` bytes in its staging form: `fill` writes the
/// bytes at the position of the file it is given and returns their sums.
///
/// A full disk ends the upload: its staging area is removed at once, so a
/// failed download does not keep the disk full (a resume starts it again).
fn store_part(
    root: &Root,
    staging: &Staging,
    key: &Key,
    id: &UploadId,
    n: PartNumber,
    size: u64,
    fill: impl FnOnce(&mut File) -> io::Result<Sums>,
) -> Result<CompletedPart> {
    let err = |e: io::Error| {
        if is_disk_full(&e) {
            remove_staging(root, &staging.dir);
            return Error::io(
                key.as_str(),
                io::Error::new(
                    e.kind(),
                    format!(
                        "{e} writing part {n}; the partial file (upload {}) was removed to free the space",
                        id.0
                    ),
                ),
            );
        }
        Staging::write_err(key, id, e)
    };
    let info = if let Some(hint) = staging.hint() {
        let offset =
            placed::offset_of(n, size, hint).map_err(|m| Error::invalid(key.as_str(), m))?;
        placed::write_part(&staging.dir, n, offset, fill).map_err(err)?
    } else {
        let mut w = PartFile::new(&staging.dir).map_err(err)?;
        let sums = fill(w.file()).map_err(err)?;
        let info = PartInfo::new(n, &sums);
        w.finish(&staging.dir, &info).map_err(err)?;
        info
    };
    Ok(info.completed())
}

/// `upload_part_copy`, on a blocking thread: the range is read from `src`
/// in chunks, hashed and written as the part.
pub(crate) fn upload_part_copy(
    root: &Root,
    src: &Key,
    range: ByteRange,
    dst: &Key,
    id: &UploadId,
    n: PartNumber,
) -> Result<CompletedPart> {
    let staging = Staging::open(root, dst, id)?;
    let (file, meta) = root.open_object(src)?;
    let size = meta.len();
    // Unlike `get`, a copy range is not clamped: an end past the source is
    // refused, as S3 refuses it.
    let past_end = matches!(range, ByteRange::Bounded { end, .. } if end > size);
    let Some(range) = range.resolve(size).filter(|_| !past_end) else {
        return Err(Error::invalid(
            src.as_str(),
            format!("range {range:?} is not satisfiable for a {size}-byte source"),
        ));
    };
    // A failure on the source's side, told apart from one writing the part.
    let mut source_err = None;
    let mut copy = |out: &mut File| copy_range(&file, range.clone(), out, src, &mut source_err);
    let err = |e| Staging::write_err(dst, id, e);
    let done = if let Some(hint) = staging.hint() {
        let offset = placed::offset_of(n, range.end - range.start, hint)
            .map_err(|m| Error::invalid(dst.as_str(), m))?;
        placed::write_part(&staging.dir, n, offset, copy)
    } else {
        PartFile::new(&staging.dir).and_then(|mut w| {
            let info = PartInfo::new(n, &copy(w.file())?);
            w.finish(&staging.dir, &info).map(|()| info)
        })
    };
    match (done, source_err) {
        (Ok(info), _) => Ok(info.completed()),
        (Err(_), Some(e)) => Err(e),
        (Err(e), None) => Err(err(e)),
    }
}

/// Copies `range` of `from` to `out` at its position, hashing it. A source
/// that fails or shrinks leaves its error in `source_err`.
fn copy_range(
    from: &File,
    range: std::ops::Range<u64>,
    out: &mut File,
    src: &Key,
    source_err: &mut Option<Error>,
) -> io::Result<Sums> {
    let mut hasher = Hasher::new();
    let mut pos = range.start;
    while pos < range.end {
        let want = (range.end - pos).min(CHUNK as u64) as usize;
        let chunk = match read_full_at(from, pos, want) {
            Ok(c) if c.is_empty() => {
                *source_err = Some(Error::transient(
                    src.as_str(),
                    format!("source shrank while being copied: ended at byte {pos}"),
                ));
                return Err(io::Error::other("source shrank"));
            }
            Ok(c) => c,
            Err(e) => {
                let msg = e.to_string();
                *source_err = Some(io_err(src.as_str(), e));
                return Err(io::Error::other(msg));
            }
        };
        hasher.update(&chunk);
        out.write_all(&chunk)?;
        pos += chunk.len() as u64;
    }
    Ok(hasher.finish())
}

/// `list_parts`, on a blocking thread.
pub(crate) fn list_parts(root: &Root, key: &Key, id: &UploadId) -> Result<Vec<CompletedPart>> {
    let staging = Staging::open(root, key, id)?;
    Ok(staging
        .parts(key, id)?
        .iter()
        .map(PartInfo::completed)
        .collect())
}

/// Checks the caller's part list against the parts on disk.
fn check_parts(
    staging: &Staging,
    key: &Key,
    parts: &[CompletedPart],
    min_part: u64,
) -> Result<Vec<PartInfo>> {
    let k = key.as_str();
    if parts.is_empty() {
        return Err(Error::invalid(
            k,
            "completing a multipart upload needs at least one part",
        ));
    }
    if let Some(w) = parts.windows(2).find(|w| w[0].number >= w[1].number) {
        return Err(Error::invalid(
            k,
            format!(
                "parts must be strictly ascending, but part {} follows part {}",
                w[1].number, w[0].number
            ),
        ));
    }
    let mut infos = Vec::with_capacity(parts.len());
    for (i, p) in parts.iter().enumerate() {
        let info = match staging.info(p.number) {
            Ok(info) => info,
            Err(e) if is_missing(&e) => {
                return Err(Error::invalid(
                    k,
                    format!("part {} was never uploaded", p.number),
                ));
            }
            Err(e) => return Err(io_err(k, e)),
        };
        let want = p.etag.trim_matches('"');
        if info.etag() != want {
            return Err(Error::invalid(
                k,
                format!(
                    "part {} has ETag {}, not {want:?} (it was re-uploaded or never acknowledged)",
                    p.number,
                    info.etag()
                ),
            ));
        }
        if let Some(c) = p
            .checksum
            .as_ref()
            .filter(|c| c.kind() == ChecksumKind::Crc32c)
            && *c != info.checksum()
        {
            return Err(Error::invalid(
                k,
                format!("part {} has {}, not {c}", p.number, info.checksum()),
            ));
        }
        if i + 1 < parts.len() && info.size < min_part {
            return Err(Error::invalid(
                k,
                format!(
                    "part {} is {} bytes, below the minimum part size of {min_part} bytes",
                    p.number, info.size
                ),
            ));
        }
        infos.push(info);
    }
    Ok(infos)
}

/// `complete_multipart`, on a blocking thread.
pub(crate) fn complete(
    root: &Root,
    key: &Key,
    id: &UploadId,
    parts: &[CompletedPart],
    min_part: u64,
) -> Result<PutOutcome> {
    let staging = Staging::open(root, key, id)?;
    let created = staging.record.created_unix_ms;
    let out = match staging.hint() {
        Some(hint) => complete_placed(root, key, id, &staging, parts, min_part, hint),
        None => complete_files(root, key, id, &staging, parts, min_part),
    }?;
    remove_superseded(root, key, created);
    Ok(out)
}

/// Removes the staging of the uploads of `key` begun before (or with) the
/// one that just completed: the object replaced whatever they were making,
/// and one whose id no journal ever heard (a crash between creating an
/// upload and recording it) would otherwise stay on the disk. Best effort.
fn remove_superseded(root: &Root, key: &Key, created: u64) {
    let Ok(entries) = fs::read_dir(root.uploads_dir()) else {
        return;
    };
    for dir in entries.flatten().map(|e| e.path()) {
        if let Ok(Some(r)) = read_record(&dir, key)
            && r.key == key.as_str()
            && r.created_unix_ms <= created
        {
            remove_staging(root, &dir);
        }
    }
}

/// Checksums to verify on completion other than CRC-32C (which comes free
/// from the parts); these need a pass over the bytes.
fn hashed_kinds(staging: &Staging) -> Vec<ChecksumKind> {
    staging
        .record
        .checksums
        .iter()
        .map(Checksum::kind)
        .filter(|k| *k != ChecksumKind::Crc32c)
        .collect()
}

/// The CRC-32C of the object made of `infos`.
fn combined_crc(infos: &[PartInfo]) -> Option<Checksum> {
    let sums: Vec<_> = infos.iter().map(|i| (i.checksum(), i.size)).collect();
    combine_all(ChecksumKind::Crc32c, sums.iter().map(|(c, n)| (c, *n)))
}

/// Completes a placed upload: once the parts in flight are done, checks the
/// part list and the layout, then truncates `data` and renames it into place.
fn complete_placed(
    root: &Root,
    key: &Key,
    id: &UploadId,
    staging: &Staging,
    parts: &[CompletedPart],
    min_part: u64,
    hint: u64,
) -> Result<PutOutcome> {
    let k = key.as_str();
    let locked = placed::Locked::lock(&staging.dir).map_err(|e| Staging::write_err(key, id, e))?;
    let infos = check_parts(staging, key, parts, min_part)?;
    for (i, info) in infos.iter().enumerate() {
        if u64::from(info.number.get()) != i as u64 + 1 {
            return Err(Error::invalid(
                k,
                format!(
                    "part {} cannot be part {} of the object: an upload created with a part \
                     size hint completes with parts 1, 2, 3, … and no gaps",
                    info.number,
                    i + 1
                ),
            ));
        }
        if i + 1 < infos.len() && info.size != hint {
            return Err(Error::invalid(
                k,
                format!(
                    "part {} is {} bytes, but every part but the last must be the {hint} bytes \
                     this upload was created with (part_size_hint)",
                    info.number, info.size
                ),
            ));
        }
    }
    let last = infos.last().expect("check_parts refuses an empty list");
    let size = u64::from(last.number.get() - 1) * hint + last.size;
    let crc = combined_crc(&infos);
    let kinds = hashed_kinds(staging);
    let mut got: Vec<Checksum> = Vec::new();
    if !kinds.is_empty() {
        let mut hasher = MultiHasher::new(&kinds);
        placed::read_through(locked.file(), size, |c| hasher.update(c))
            .map_err(|e| io_err(k, e))?;
        got = hasher.finish();
    }
    got.extend(crc.clone());
    verify(key, &staging.record.checksums, &got)?;
    let mtime = recorded_mtime(&staging.record.metadata).unwrap_or_else(SystemTime::now);
    let meta = locked.finish(root, key, &staging.dir, last.number, size, mtime)?;
    Ok(PutOutcome {
        etag: Some(etag_of(&meta)),
        checksums: crc.into_iter().collect(),
        version: None,
        ..PutOutcome::default()
    })
}

/// Completes an upload of part files by concatenating them.
fn complete_files(
    root: &Root,
    key: &Key,
    id: &UploadId,
    staging: &Staging,
    parts: &[CompletedPart],
    min_part: u64,
) -> Result<PutOutcome> {
    let k = key.as_str();
    let infos = check_parts(staging, key, parts, min_part)?;
    // CRC-32C comes free from the parts; any other checksum to verify needs
    // the bytes, so then they pass through user space on the way.
    let crc = combined_crc(&infos);
    let kinds = hashed_kinds(staging);
    let mut hasher = (!kinds.is_empty()).then(|| MultiHasher::new(&kinds));
    let (mut tmp, target) = temp_for(root, key)?;
    for info in &infos {
        let path = staging.part_path(info.number);
        let file = File::open(&path).map_err(|e| Staging::write_err(key, id, e))?;
        let copied = match hasher.as_mut() {
            None => io::copy(&mut (&file).take(info.size), &mut tmp.file),
            Some(h) => copy_hashing(&file, info.size, &mut tmp.file, h),
        }
        .map_err(|e| io_err(k, e))?;
        if copied != info.size {
            return Err(io_err(
                k,
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("part file {} shrank while being assembled", path.display()),
                ),
            ));
        }
    }
    let mut got: Vec<Checksum> = hasher.map(MultiHasher::finish).unwrap_or_default();
    got.extend(crc.clone());
    verify(key, &staging.record.checksums, &got)?;
    if let Some(t) = recorded_mtime(&staging.record.metadata) {
        tmp.file.set_modified(t).map_err(|e| io_err(k, e))?;
    }
    let meta = tmp.commit(&target).map_err(|e| io_err(k, e))?;
    // Removing the record ends the upload; the rest is best-effort cleanup.
    match fs::remove_file(staging.dir.join(RECORD)) {
        Ok(()) => {}
        Err(e) if is_missing(&e) => {}
        Err(e) => return Err(io_err(k, e)),
    }
    remove_staging(root, &staging.dir);
    Ok(PutOutcome {
        etag: Some(etag_of(&meta)),
        checksums: crc.into_iter().collect(),
        version: None,
        ..PutOutcome::default()
    })
}

/// Copies the first `len` bytes of `from` into `to` through `hasher`.
fn copy_hashing(from: &File, len: u64, to: &mut File, hasher: &mut MultiHasher) -> io::Result<u64> {
    let mut pos = 0;
    while pos < len {
        let want = (len - pos).min(CHUNK as u64) as usize;
        let chunk = read_full_at(from, pos, want)?;
        if chunk.is_empty() {
            break;
        }
        hasher.update(&chunk);
        io::Write::write_all(to, &chunk)?;
        pos += chunk.len() as u64;
    }
    Ok(pos)
}

/// `abort_multipart`, on a blocking thread. An unknown (or already ended)
/// id succeeds; an id belonging to another key is `NoSuchUpload`.
pub(crate) fn abort(root: &Root, key: &Key, id: &UploadId) -> Result<()> {
    root.object_path(key)?;
    if !valid_id(id) {
        return Ok(());
    }
    let dir = root.uploads_dir().join(&id.0);
    // Held until the staging area is gone: parts in flight finish first,
    // and parts waiting to start find the upload ended.
    let mut _held = None;
    match read_record(&dir, key)? {
        Some(record) if record.key != key.as_str() => return Err(no_such(key, id)),
        Some(record) => {
            if record.part_size.is_some() {
                _held = placed::Locked::lock(&dir).ok();
            }
            match fs::remove_file(dir.join(RECORD)) {
                Ok(()) => {}
                Err(e) if is_missing(&e) => {}
                Err(e) => return Err(io_err(key.as_str(), e)),
            }
        }
        None => {}
    }
    let removed = match fs::remove_dir_all(&dir) {
        Ok(()) => Ok(()),
        Err(e) if is_missing(&e) => Ok(()),
        Err(e) => Err(io_err(key.as_str(), e)),
    };
    let _ = fs::remove_dir(root.uploads_dir());
    removed
}
