//! Placed parts: the staging form of uploads created with a part size hint.
//!
//! The upload's bytes live in one file, `data`, where part `n` is written
//! once, in place, at byte `(n - 1) * hint` — the offset it has in the
//! object. What a part holds (size, CRC-32C, maybe MD5) is its record
//! `NNNNN.rec`, 36 bytes encoded as in [`part`]. Completing
//! truncates `data` to the object's size and renames it into place, so the
//! bytes are written once and never copied.
//!
//! # Crash safety
//!
//! A record exists only for bytes that are durable: a part's bytes are
//! written, `data` is synced (`fdatasync`), and only then is the record
//! written (temp file, fsync, rename, directory fsync). A crash mid-part
//! leaves bytes in `data` and no record, which `list_parts` does not report
//! and the next upload of the part overwrites. A part sent again first
//! loses its record (durably) and only then has its bytes overwritten, so
//! no record ever describes bytes that are being replaced.
//!
//! # Locks
//!
//! `flock`s keep writers apart, across processes too. Writing part `n`
//! holds `NNNNN.lock` exclusively, so two uploads of one part never mix
//! their bytes, and `data` shared; completing and aborting hold `data`
//! exclusively, so they wait for parts in flight, and a part that was
//! waiting finds the upload gone (`upload.json` removed) rather than
//! writing into an object already in place.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use haul_core::{Error, Key, PartNumber, Result};

use super::RECORD;
use super::part::{self, PartInfo, Sums};
use crate::path::{Root, io_err};
use crate::read::read_full_at;
use crate::temp::{TempFile, sync_dir};
use crate::write::{PARENT_RETRIES, temp_for};

/// The file that holds an upload's bytes, each part at its offset.
pub(crate) const DATA: &str = "data";

/// The record file name of part `n`.
pub(crate) fn record_name(n: PartNumber) -> String {
    format!("{:05}.rec", n.get())
}

/// The part number a file name stands for, if it is a record's name.
pub(crate) fn parse_record_name(name: &str) -> Option<PartNumber> {
    part::parse_numbered(name, ".rec")
}

fn lock_name(n: PartNumber) -> String {
    format!("{:05}.lock", n.get())
}

/// Reads the record at `path`.
pub(crate) fn read_record(path: &Path, number: PartNumber) -> io::Result<PartInfo> {
    let bytes = fs::read(path)?;
    PartInfo::decode(&bytes, number).ok_or_else(|| part::corrupt(path, "not a part record"))
}

/// Where part `n` of `size` bytes starts, or why it cannot be placed.
pub(crate) fn offset_of(n: PartNumber, size: u64, hint: u64) -> std::result::Result<u64, String> {
    if size > hint {
        return Err(format!(
            "part {n} is {size} bytes, larger than the part size of {hint} bytes this \
             upload was created with (part_size_hint)"
        ));
    }
    u64::from(n.get() - 1)
        .checked_mul(hint)
        .filter(|at| {
            at.checked_add(size)
                .is_some_and(|end| i64::try_from(end).is_ok())
        })
        .ok_or_else(|| format!("part {n} of {hint}-byte parts ends past the largest file offset"))
}

/// Opens `data` in `dir` for writing.
fn open_data(dir: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(dir.join(DATA))
}

/// Creates the empty `data` file of a new upload in `dir`.
pub(crate) fn create_data(dir: &Path) -> io::Result<()> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(dir.join(DATA))?
        .sync_all()
}

/// Fails with `NotFound` once the upload has ended (completed or aborted).
fn still_open(dir: &Path) -> io::Result<()> {
    fs::metadata(dir.join(RECORD)).map(drop)
}

/// Writes part `n` of the upload staged in `dir` at `offset`: `fill` writes
/// the bytes at the position of the file it is given and returns their sums.
/// Returns the part as recorded. `NotFound` means the upload has ended.
pub(crate) fn write_part(
    dir: &Path,
    n: PartNumber,
    offset: u64,
    fill: impl FnOnce(&mut File) -> io::Result<Sums>,
) -> io::Result<PartInfo> {
    // Lock order: the part, then `data`; complete and abort take only `data`.
    let part_lock = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(dir.join(lock_name(n)))?;
    part_lock.lock()?;
    let mut data = open_data(dir)?;
    data.lock_shared()?;
    still_open(dir)?;

    let record = dir.join(record_name(n));
    match fs::remove_file(&record) {
        // The old record must be gone for good before its bytes change.
        Ok(()) => sync_dir(dir)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    data.seek(SeekFrom::Start(offset))?;
    let sums = fill(&mut data)?;
    // The record may only name durable bytes.
    data.sync_data()?;
    let info = PartInfo::new(n, &sums);
    let mut tmp = TempFile::create_in(dir)?;
    io::Write::write_all(&mut tmp.file, &info.encode())?;
    tmp.commit(&record)?;
    Ok(info)
}

/// Every recorded part in `dir`, in no particular order.
pub(crate) fn records(dir: &Path) -> io::Result<Vec<PartInfo>> {
    let mut parts = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let Some(n) = entry.file_name().to_str().and_then(parse_record_name) else {
            continue;
        };
        match read_record(&entry.path(), n) {
            Ok(info) => parts.push(info),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {} // replaced meanwhile
            Err(e) => return Err(e),
        }
    }
    Ok(parts)
}

/// An upload's `data`, locked against part writers until dropped.
#[derive(Debug)]
pub(crate) struct Locked {
    file: File,
}

impl Locked {
    /// Waits for the parts in flight and locks `data` in `dir`; `NotFound`
    /// when the upload has ended meanwhile.
    pub(crate) fn lock(dir: &Path) -> io::Result<Self> {
        let file = open_data(dir)?;
        file.lock()?;
        still_open(dir)?;
        Ok(Self { file })
    }

    /// The file.
    pub(crate) fn file(&self) -> &File {
        &self.file
    }

    /// Truncates `data` to `size` bytes, sets its modification time to
    /// `mtime` and makes it the object `key`: fsync, rename over the
    /// target, directory fsync. Then the upload ends.
    ///
    /// When `data` is longer than `size`, the records of parts numbered above
    /// `last` go first: their bytes are cut off, and a record must never
    /// outlive its bytes, even if the rename then fails.
    pub(crate) fn finish(
        self,
        root: &Root,
        key: &Key,
        dir: &Path,
        last: PartNumber,
        size: u64,
        mtime: SystemTime,
    ) -> Result<fs::Metadata> {
        let k = key.as_str();
        let file = &self.file;
        let len = file.metadata().map_err(|e| io_err(k, e))?.len();
        if len > size {
            let mut dropped = false;
            for info in records(dir).map_err(|e| io_err(k, e))? {
                if info.number > last {
                    match fs::remove_file(dir.join(record_name(info.number))) {
                        Ok(()) => dropped = true,
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                        Err(e) => return Err(io_err(k, e)),
                    }
                }
            }
            if dropped {
                sync_dir(dir).map_err(|e| io_err(k, e))?;
            }
        }
        file.set_len(size).map_err(|e| io_err(k, e))?;
        // The object was written now (or when its source was, as recorded),
        // whenever its parts arrived.
        file.set_modified(mtime).map_err(|e| io_err(k, e))?;
        file.sync_all().map_err(|e| io_err(k, e))?;
        haul_core::crash_point("local-synced");
        let meta = file.metadata().map_err(|e| io_err(k, e))?;
        let target_dir = self.rename_into_place(root, key, dir, size, mtime)?;
        sync_dir(&target_dir).map_err(|e| io_err(k, e))?;
        haul_core::crash_point("local-renamed");
        // Removing the record ends the upload; the rest is best-effort cleanup.
        match fs::remove_file(dir.join(RECORD)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(k, e)),
        }
        drop(self);
        super::remove_staging(root, dir);
        Ok(meta)
    }

    /// Renames `data` over the object's path, creating its parents; when the
    /// object's directory is on another file system, copies `size` bytes to
    /// a temp file there and renames that. Returns the object's directory.
    fn rename_into_place(
        &self,
        root: &Root,
        key: &Key,
        dir: &Path,
        size: u64,
        mtime: SystemTime,
    ) -> Result<PathBuf> {
        let k = key.as_str();
        let from = dir.join(DATA);
        let mut attempt = 0;
        loop {
            let (target, target_dir) = match root.prepare_parent(key) {
                Ok(found) => found,
                // A concurrent delete may prune a directory we just created.
                Err(Error::NotFound { .. }) if attempt < PARENT_RETRIES => {
                    attempt += 1;
                    continue;
                }
                Err(e) => return Err(e),
            };
            match fs::rename(&from, &target) {
                Ok(()) => return Ok(target_dir),
                Err(e) if e.kind() == io::ErrorKind::NotFound && attempt < PARENT_RETRIES => {
                    attempt += 1;
                }
                Err(e) if e.kind() == io::ErrorKind::CrossesDevices => {
                    return self.copy_into_place(root, key, size, mtime);
                }
                Err(e) => return Err(io_err(k, e)),
            }
        }
    }

    /// The cross-device fallback: `data` copied (`copy_file_range`) to a
    /// temp file beside the target, which is committed as every write is.
    fn copy_into_place(
        &self,
        root: &Root,
        key: &Key,
        size: u64,
        mtime: SystemTime,
    ) -> Result<PathBuf> {
        let k = key.as_str();
        let (mut tmp, target) = temp_for(root, key)?;
        let mut from = &self.file;
        from.seek(SeekFrom::Start(0)).map_err(|e| io_err(k, e))?;
        let copied =
            io::copy(&mut io::Read::take(from, size), &mut tmp.file).map_err(|e| io_err(k, e))?;
        if copied != size {
            return Err(io_err(
                k,
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("upload data shrank while being copied: {copied} of {size} bytes"),
                ),
            ));
        }
        tmp.file.set_modified(mtime).map_err(|e| io_err(k, e))?;
        tmp.commit(&target).map_err(|e| io_err(k, e))?;
        Ok(target.parent().map(Path::to_owned).unwrap_or_default())
    }
}

/// Reads `len` bytes of `file` from offset 0 in chunks, feeding `f`.
pub(crate) fn read_through(file: &File, len: u64, mut f: impl FnMut(&[u8])) -> io::Result<()> {
    let mut pos = 0;
    while pos < len {
        let want = (len - pos).min(crate::read::CHUNK as u64) as usize;
        let chunk = read_full_at(file, pos, want)?;
        if chunk.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("upload data ended at byte {pos} of {len}"),
            ));
        }
        f(&chunk);
        pos += chunk.len() as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::multipart::part::INFO_LEN;

    fn n(i: u32) -> PartNumber {
        PartNumber::new(i).unwrap()
    }

    #[test]
    fn record_names_round_trip() {
        assert_eq!(record_name(n(12)), "00012.rec");
        assert_eq!(parse_record_name("00012.rec"), Some(n(12)));
        assert_eq!(parse_record_name("00012.lock"), None);
        assert_eq!(parse_record_name(DATA), None);
        assert_eq!(lock_name(n(3)), "00003.lock");
    }

    #[test]
    fn offsets_follow_the_hint_and_refuse_what_does_not_fit() {
        assert_eq!(offset_of(n(1), 10, 10), Ok(0));
        assert_eq!(offset_of(n(3), 4, 10), Ok(20));
        assert_eq!(offset_of(n(3), 0, 10), Ok(20));
        assert!(offset_of(n(2), 11, 10).unwrap_err().contains("larger"));
        assert!(offset_of(n(10_000), 1, u64::MAX / 2).is_err());
    }

    #[test]
    fn a_record_shorter_than_its_encoding_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(record_name(n(1)));
        fs::write(&path, [0u8; INFO_LEN as usize - 1]).unwrap();
        assert_eq!(
            read_record(&path, n(1)).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
    }
}
