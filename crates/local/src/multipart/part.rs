//! Part files: a part's bytes followed by a fixed 36-byte trailer.
//!
//! Trailer layout: the magic `HAULPRT1`, the part size (u64, big-endian),
//! the MD5 of the bytes (16 bytes) and their CRC-32C (u32, big-endian). The
//! bytes start at offset 0, so `copy_file_range` can clone them block-aligned
//! on file systems that share extents. A part file appears under its final
//! name only by rename after fsync, so a crash mid-part never leaves a
//! half-written part that [`read_info`] would report.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

use haul_core::{Checksum, ChecksumKind, CompletedPart, MultiHasher, PartNumber};

use crate::read::read_full_at;
use crate::temp::TempFile;

const MAGIC: &[u8; 8] = b"HAULPRT1";
/// Length of the trailer after a part's bytes.
pub(crate) const TRAILER_LEN: u64 = 36;

/// What a part file's trailer records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PartInfo {
    /// The part number (from the file name).
    pub(crate) number: PartNumber,
    /// Bytes of data.
    pub(crate) size: u64,
    /// MD5 of the data.
    pub(crate) md5: [u8; 16],
    /// CRC-32C of the data.
    pub(crate) crc32c: u32,
}

impl PartInfo {
    /// The part's `ETag`: hex MD5, as S3 reports single parts.
    pub(crate) fn etag(&self) -> String {
        hex::encode(self.md5)
    }

    /// The CRC-32C as a checksum.
    pub(crate) fn checksum(&self) -> Checksum {
        Checksum::from_crc(ChecksumKind::Crc32c, u64::from(self.crc32c))
    }

    /// The part as the trait reports it.
    pub(crate) fn completed(&self) -> CompletedPart {
        CompletedPart {
            number: self.number,
            etag: self.etag(),
            size: self.size,
            checksum: Some(self.checksum()),
        }
    }
}

/// The file name of part `n`: zero-padded so names sort as numbers.
pub(crate) fn file_name(n: PartNumber) -> String {
    format!("{:05}.part", n.get())
}

/// The part number a file name stands for, if it is a part file's name.
pub(crate) fn parse_file_name(name: &str) -> Option<PartNumber> {
    let n: u32 = name.strip_suffix(".part")?.parse().ok()?;
    let n = PartNumber::new(n).ok()?;
    (file_name(n) == name).then_some(n)
}

fn corrupt(path: &Path, what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("part file {} is corrupt: {what}", path.display()),
    )
}

/// Reads the trailer of the part file at `path`.
pub(crate) fn read_info(path: &Path, number: PartNumber) -> io::Result<PartInfo> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    if len < TRAILER_LEN {
        return Err(corrupt(path, "shorter than its trailer"));
    }
    let t = read_full_at(&file, len - TRAILER_LEN, TRAILER_LEN as usize)?;
    if t.len() as u64 != TRAILER_LEN || &t[..8] != MAGIC {
        return Err(corrupt(path, "no trailer"));
    }
    let mut size = [0u8; 8];
    size.copy_from_slice(&t[8..16]);
    let size = u64::from_be_bytes(size);
    if size != len - TRAILER_LEN {
        return Err(corrupt(path, "size in trailer does not match the file"));
    }
    let mut md5 = [0u8; 16];
    md5.copy_from_slice(&t[16..32]);
    let mut crc = [0u8; 4];
    crc.copy_from_slice(&t[32..36]);
    Ok(PartInfo {
        number,
        size,
        md5,
        crc32c: u32::from_be_bytes(crc),
    })
}

/// Writes one part to a temp file in the staging directory, hashing it.
#[derive(Debug)]
pub(crate) struct PartWriter {
    tmp: TempFile,
    hasher: MultiHasher,
    /// Checksums the bytes must have (sent along with the payload).
    wanted: Vec<Checksum>,
}

/// What [`PartWriter::finish`] found.
#[derive(Debug)]
pub(crate) enum Finished {
    /// The part is in place.
    Stored(PartInfo),
    /// A checksum sent with the bytes did not match; nothing was stored.
    Mismatch {
        /// The checksum sent.
        expected: Checksum,
        /// The checksum of the bytes, if computed.
        actual: Option<Checksum>,
    },
}

impl PartWriter {
    /// Starts a part in `dir` whose bytes must match `wanted`.
    pub(crate) fn new(dir: &Path, wanted: &[Checksum]) -> io::Result<Self> {
        let mut kinds: Vec<ChecksumKind> = wanted.iter().map(Checksum::kind).collect();
        kinds.extend([ChecksumKind::Md5, ChecksumKind::Crc32c]);
        Ok(Self {
            tmp: TempFile::create_in(dir)?,
            hasher: MultiHasher::new(&kinds),
            wanted: wanted.to_vec(),
        })
    }

    /// Appends bytes.
    pub(crate) fn write(&mut self, data: &[u8]) -> io::Result<()> {
        self.hasher.update(data);
        self.tmp.file.write_all(data)
    }

    /// Checks the wanted checksums, writes the trailer and renames the part
    /// into place as part `n` of `dir`. On a mismatch the temp file is removed.
    pub(crate) fn finish(mut self, dir: &Path, number: PartNumber) -> io::Result<Finished> {
        let size = self.hasher.len();
        let mut info = PartInfo {
            number,
            size,
            md5: [0; 16],
            crc32c: 0,
        };
        let sums = self.hasher.finish();
        for want in &self.wanted {
            let actual = sums.iter().find(|c| c.kind() == want.kind());
            if actual != Some(want) {
                return Ok(Finished::Mismatch {
                    expected: want.clone(),
                    actual: actual.cloned(),
                });
            }
        }
        for sum in sums {
            match sum.kind() {
                ChecksumKind::Md5 => info.md5.copy_from_slice(sum.as_bytes()),
                ChecksumKind::Crc32c => info.crc32c = sum.crc_value().unwrap_or(0) as u32,
                _ => {}
            }
        }
        let mut trailer = Vec::with_capacity(TRAILER_LEN as usize);
        trailer.extend_from_slice(MAGIC);
        trailer.extend_from_slice(&size.to_be_bytes());
        trailer.extend_from_slice(&info.md5);
        trailer.extend_from_slice(&info.crc32c.to_be_bytes());
        self.tmp.file.write_all(&trailer)?;
        self.tmp.commit(&dir.join(file_name(number)))?;
        Ok(Finished::Stored(info))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let n = PartNumber::new(42).unwrap();
        assert_eq!(file_name(n), "00042.part");
        assert_eq!(parse_file_name("00042.part"), Some(n));
        assert_eq!(parse_file_name("42.part"), None);
        assert_eq!(parse_file_name("00000.part"), None);
        assert_eq!(parse_file_name("10001.part"), None);
        assert_eq!(parse_file_name(".haul-tmp-00042.part"), None);
        assert_eq!(parse_file_name("upload.json"), None);
    }

    #[test]
    fn trailer_round_trips_and_detects_damage() {
        let dir = tempfile::tempdir().unwrap();
        let n = PartNumber::new(3).unwrap();
        let mut w = PartWriter::new(dir.path(), &[]).unwrap();
        w.write(b"123").unwrap();
        w.write(b"456789").unwrap();
        let Finished::Stored(info) = w.finish(dir.path(), n).unwrap() else {
            panic!("no checksum was asked for");
        };
        assert_eq!(info.size, 9);
        assert_eq!(info.crc32c, 0xE306_9283);
        assert_eq!(info.etag(), "25f9e794323b453885f5181f1b624d0b");
        let path = dir.path().join("00003.part");
        assert_eq!(read_info(&path, n).unwrap(), info);
        std::fs::write(&path, b"short").unwrap();
        assert_eq!(
            read_info(&path, n).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
    }
}
