//! What a part is: its size, CRC-32C and maybe MD5 ([`PartInfo`]), where
//! those come from ([`payload_sums`], [`Hasher`]), how they are encoded in
//! 36 bytes, and part files, the staging form of uploads without a part
//! size hint: a part's bytes followed by that encoding as a trailer.
//!
//! Encoding: a magic (`HAULPRT1` when the MD5 field holds the bytes' MD5,
//! `HAULPRT2` when no MD5 was known and the field is zero), the part size
//! (u64, big-endian), the MD5 field (16 bytes) and the CRC-32C (u32,
//! big-endian). `HAULPRT1` is the only form older versions wrote, so their
//! staged parts still read back.
//!
//! A part file's bytes start at offset 0, so `copy_file_range` can clone
//! them block-aligned on file systems that share extents. A part file
//! appears under its final name only by rename after fsync, so a crash
//! mid-part never leaves a half-written part that [`read_info`] would report.

use std::fs::File;
use std::io::{self, IoSlice, Write};
use std::path::Path;

use bytes::Bytes;
use haul_core::{Checksum, ChecksumKind, CompletedPart, Error, MultiHasher, PartNumber, Payload};

use tokio::sync::mpsc::error::TryRecvError;

use crate::read::read_full_at;
use crate::temp::TempFile;
pub(crate) use crate::write::Feed;

/// The magic of an encoding whose MD5 field is the bytes' MD5.
const MAGIC_MD5: &[u8; 8] = b"HAULPRT1";
/// The magic of an encoding without an MD5 (the field is zero).
const MAGIC_CRC: &[u8; 8] = b"HAULPRT2";
/// Length of the encoding (a part file's trailer, a placed part's record).
pub(crate) const INFO_LEN: u64 = 36;

/// What is known of one stored part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PartInfo {
    /// The part number (from the file name).
    pub(crate) number: PartNumber,
    /// Bytes of data.
    pub(crate) size: u64,
    /// MD5 of the data, when it was sent along or computed.
    pub(crate) md5: Option<[u8; 16]>,
    /// CRC-32C of the data.
    pub(crate) crc32c: u32,
}

impl PartInfo {
    /// The part with these sums.
    pub(crate) fn new(number: PartNumber, sums: &Sums) -> Self {
        Self {
            number,
            size: sums.size,
            md5: sums.md5,
            crc32c: sums.crc32c,
        }
    }

    /// The part's `ETag`: the hex MD5, as S3 reports single parts, when the
    /// MD5 is known; otherwise `crc32c-<crc as 8 hex digits>-<size in hex>`.
    ///
    /// Either changes when a part is re-sent with other bytes, which is
    /// what `complete_multipart` checks it for. The CRC form misses a change
    /// only when the new bytes have the same size and the same CRC-32C:
    /// never for a change confined to 32 consecutive bits, otherwise with
    /// odds of about 2^-32.
    pub(crate) fn etag(&self) -> String {
        match &self.md5 {
            Some(md5) => hex::encode(md5),
            None => format!("crc32c-{:08x}-{:x}", self.crc32c, self.size),
        }
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

    /// The 36-byte encoding.
    pub(crate) fn encode(&self) -> [u8; INFO_LEN as usize] {
        let mut out = [0u8; INFO_LEN as usize];
        out[..8].copy_from_slice(if self.md5.is_some() {
            MAGIC_MD5
        } else {
            MAGIC_CRC
        });
        out[8..16].copy_from_slice(&self.size.to_be_bytes());
        out[16..32].copy_from_slice(&self.md5.unwrap_or_default());
        out[32..36].copy_from_slice(&self.crc32c.to_be_bytes());
        out
    }

    /// Reads an encoding back; `None` when `bytes` is not one.
    pub(crate) fn decode(bytes: &[u8], number: PartNumber) -> Option<Self> {
        if bytes.len() as u64 != INFO_LEN {
            return None;
        }
        let has_md5 = match &bytes[..8] {
            m if m == MAGIC_MD5 => true,
            m if m == MAGIC_CRC => false,
            _ => return None,
        };
        let size = u64::from_be_bytes(bytes[8..16].try_into().ok()?);
        let md5: [u8; 16] = bytes[16..32].try_into().ok()?;
        let crc32c = u32::from_be_bytes(bytes[32..36].try_into().ok()?);
        Some(Self {
            number,
            size,
            md5: has_md5.then_some(md5),
            crc32c,
        })
    }
}

/// Size and checksums of a part's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sums {
    /// Bytes.
    pub(crate) size: u64,
    /// MD5, when known.
    pub(crate) md5: Option<[u8; 16]>,
    /// CRC-32C.
    pub(crate) crc32c: u32,
}

/// A checksum a payload carried does not match its bytes.
#[derive(Debug)]
pub(crate) struct Mismatch {
    /// The checksum carried.
    expected: Checksum,
    /// The checksum of the bytes, if computed.
    actual: Option<Checksum>,
}

impl Mismatch {
    /// The mismatch as the error `upload_part` answers.
    pub(crate) fn into_error(self, key: &str) -> Error {
        Error::Integrity {
            key: key.to_owned(),
            expected: self.expected.to_string(),
            actual: self
                .actual
                .map_or_else(|| "nothing".to_owned(), |c| c.to_string()),
        }
    }
}

fn md5_of(sum: &Checksum) -> Option<[u8; 16]> {
    (sum.kind() == ChecksumKind::Md5)
        .then(|| sum.as_bytes().try_into().ok())
        .flatten()
}

fn crc32c_of(sum: &Checksum) -> Option<u32> {
    (sum.kind() == ChecksumKind::Crc32c)
        .then(|| sum.crc_value().and_then(|v| u32::try_from(v).ok()))
        .flatten()
}

/// The sums of a payload's bytes, before any of them is written.
///
/// A payload that carries a CRC-32C is taken at its word: its producer
/// computed the checksums from these very buffers (the engine does so in
/// the pass that reads them), so the bytes are not read again, the carried
/// MD5 (if any) makes the `ETag`, and the other carried checksums are not
/// checked. Otherwise one pass computes the CRC-32C, the MD5 (unless
/// carried) and every carried kind, and a carried checksum that does not
/// match is a [`Mismatch`].
pub(crate) fn payload_sums(body: &Payload) -> Result<Sums, Mismatch> {
    let carried = body.checksums();
    let md5 = carried.iter().find_map(md5_of);
    if let Some(crc32c) = carried.iter().find_map(crc32c_of) {
        return Ok(Sums {
            size: body.len(),
            md5,
            crc32c,
        });
    }
    let mut kinds: Vec<ChecksumKind> = carried.iter().map(Checksum::kind).collect();
    kinds.extend([ChecksumKind::Md5, ChecksumKind::Crc32c]);
    let mut hasher = MultiHasher::new(&kinds);
    for piece in body.pieces() {
        hasher.update(piece);
    }
    let size = hasher.len();
    let got = hasher.finish();
    for want in carried {
        let actual = got.iter().find(|c| c.kind() == want.kind());
        if actual != Some(want) {
            return Err(Mismatch {
                expected: want.clone(),
                actual: actual.cloned(),
            });
        }
    }
    Ok(Sums {
        size,
        md5: got.iter().find_map(md5_of),
        crc32c: got.iter().find_map(crc32c_of).unwrap_or(0),
    })
}

/// Writes a streamed part's chunks at the file's position as they come
/// from `rx` and returns their sums: the producer's when it computed a
/// CRC-32C (taken at its word, as [`payload_sums`] does), else computed
/// here while writing. A feed that stops before its end, or delivers other
/// than `len` bytes, is an error (and the part is not recorded).
pub(crate) fn write_feed(
    file: &mut File,
    len: u64,
    trust_carried: bool,
    rx: &mut tokio::sync::mpsc::Receiver<Feed>,
) -> io::Result<Sums> {
    let mut hasher = (!trust_carried).then(Hasher::new);
    let mut written = 0u64;
    // Chunks that queued up while the last batch was written go out in
    // one `writev`.
    let mut batch = Vec::new();
    let mut next = rx.blocking_recv();
    let carried = loop {
        match next {
            Some(Feed::Chunks(pieces)) => {
                for c in pieces {
                    if let Some(h) = hasher.as_mut() {
                        h.update(&c);
                    }
                    written += c.len() as u64;
                    batch.push(c);
                }
                next = match rx.try_recv() {
                    Ok(feed) => Some(feed),
                    Err(TryRecvError::Empty) => {
                        write_pieces(file, &batch)?;
                        batch.clear();
                        rx.blocking_recv()
                    }
                    Err(TryRecvError::Disconnected) => None,
                };
            }
            Some(Feed::End(sums)) => {
                write_pieces(file, &batch)?;
                break sums;
            }
            None => {
                return Err(io::Error::new(
                    io::ErrorKind::Interrupted,
                    format!("the part's body stopped after {written} of {len} bytes"),
                ));
            }
        }
    };
    if written != len {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the part's body held {written} bytes, not {len}"),
        ));
    }
    let crc32c = carried.iter().find_map(crc32c_of);
    Ok(match (hasher, crc32c) {
        (None, Some(crc32c)) => Sums {
            size: written,
            md5: carried.iter().find_map(md5_of),
            crc32c,
        },
        (Some(h), _) => h.finish(),
        (None, None) => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the part's body came without the CRC-32C it promised",
            ));
        }
    })
}

/// Computes a part's sums from bytes that pass through (part copies, whose
/// bytes are read from another file anyway): CRC-32C and MD5.
#[derive(Debug)]
pub(crate) struct Hasher(MultiHasher);

impl Hasher {
    /// A fresh hasher.
    pub(crate) fn new() -> Self {
        Self(MultiHasher::new(&[ChecksumKind::Md5, ChecksumKind::Crc32c]))
    }

    /// Feeds bytes.
    pub(crate) fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// The sums of everything fed.
    pub(crate) fn finish(self) -> Sums {
        let size = self.0.len();
        let got = self.0.finish();
        Sums {
            size,
            md5: got.iter().find_map(md5_of),
            crc32c: got.iter().find_map(crc32c_of).unwrap_or(0),
        }
    }
}

/// Writes `pieces` at the file's position, with as few `writev` calls as
/// the kernel allows.
pub(crate) fn write_pieces(file: &mut File, pieces: &[Bytes]) -> io::Result<()> {
    // Under IOV_MAX (1024 on Linux).
    for batch in pieces.chunks(512) {
        let mut slices: Vec<IoSlice<'_>> = batch.iter().map(|p| IoSlice::new(p)).collect();
        let mut rest = &mut slices[..];
        while !rest.is_empty() {
            match file.write_vectored(rest) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => IoSlice::advance_slices(&mut rest, n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// The file name of part `n`: zero-padded so names sort as numbers.
pub(crate) fn file_name(n: PartNumber) -> String {
    format!("{:05}.part", n.get())
}

/// The part number a file name stands for, if it is a part file's name.
pub(crate) fn parse_file_name(name: &str) -> Option<PartNumber> {
    parse_numbered(name, ".part")
}

/// The part number of `NNNNN<suffix>`, zero-padded to five digits.
pub(crate) fn parse_numbered(name: &str, suffix: &str) -> Option<PartNumber> {
    let digits = name.strip_suffix(suffix)?;
    if digits.len() != 5 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    PartNumber::new(digits.parse().ok()?).ok()
}

pub(crate) fn corrupt(path: &Path, what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("part file {} is corrupt: {what}", path.display()),
    )
}

/// Reads the trailer of the part file at `path`.
pub(crate) fn read_info(path: &Path, number: PartNumber) -> io::Result<PartInfo> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    if len < INFO_LEN {
        return Err(corrupt(path, "shorter than its trailer"));
    }
    let t = read_full_at(&file, len - INFO_LEN, INFO_LEN as usize)?;
    let info = PartInfo::decode(&t, number).ok_or_else(|| corrupt(path, "no trailer"))?;
    if info.size != len - INFO_LEN {
        return Err(corrupt(path, "size in trailer does not match the file"));
    }
    Ok(info)
}

/// A part file being written: a temp file in the staging directory.
#[derive(Debug)]
pub(crate) struct PartFile {
    tmp: TempFile,
}

impl PartFile {
    /// Starts a part file in `dir`.
    pub(crate) fn new(dir: &Path) -> io::Result<Self> {
        Ok(Self {
            tmp: TempFile::create_in(dir)?,
        })
    }

    /// The file, to append bytes to.
    pub(crate) fn file(&mut self) -> &mut File {
        &mut self.tmp.file
    }

    /// Appends the trailer for `info` and renames the file into place as
    /// part `info.number` of `dir`. Dropped unfinished, the temp file goes.
    pub(crate) fn finish(mut self, dir: &Path, info: &PartInfo) -> io::Result<()> {
        self.tmp.file.write_all(&info.encode())?;
        self.tmp.commit(&dir.join(file_name(info.number)))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use haul_core::checksum::compute;

    fn n(i: u32) -> PartNumber {
        PartNumber::new(i).unwrap()
    }

    #[test]
    fn names_round_trip() {
        assert_eq!(file_name(n(42)), "00042.part");
        assert_eq!(parse_file_name("00042.part"), Some(n(42)));
        assert_eq!(parse_file_name("42.part"), None);
        assert_eq!(parse_file_name("00000.part"), None);
        assert_eq!(parse_file_name("10001.part"), None);
        assert_eq!(parse_file_name("+0042.part"), None);
        assert_eq!(parse_file_name(".haul-tmp-00042.part"), None);
        assert_eq!(parse_file_name("upload.json"), None);
        assert_eq!(parse_numbered("00007.rec", ".rec"), Some(n(7)));
        assert_eq!(parse_numbered("00007.part", ".rec"), None);
    }

    #[test]
    fn trailer_round_trips_and_detects_damage() {
        let dir = tempfile::tempdir().unwrap();
        let mut h = Hasher::new();
        h.update(b"123");
        h.update(b"456789");
        let info = PartInfo::new(n(3), &h.finish());
        assert_eq!(info.size, 9);
        assert_eq!(info.crc32c, 0xE306_9283);
        assert_eq!(info.etag(), "25f9e794323b453885f5181f1b624d0b");
        let mut w = PartFile::new(dir.path()).unwrap();
        w.file().write_all(b"123456789").unwrap();
        w.finish(dir.path(), &info).unwrap();
        let path = dir.path().join("00003.part");
        assert_eq!(read_info(&path, n(3)).unwrap(), info);
        std::fs::write(&path, b"short").unwrap();
        assert_eq!(
            read_info(&path, n(3)).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
    }

    #[test]
    fn encodings_with_and_without_md5_round_trip() {
        let with = PartInfo {
            number: n(1),
            size: 5,
            md5: Some([7; 16]),
            crc32c: 9,
        };
        let without = PartInfo {
            md5: None,
            ..with.clone()
        };
        for info in [&with, &without] {
            assert_eq!(PartInfo::decode(&info.encode(), n(1)).as_ref(), Some(info));
        }
        assert_eq!(without.etag(), "crc32c-00000009-5");
        assert_eq!(PartInfo::decode(&with.encode()[..35], n(1)), None);
        let mut bad = with.encode();
        bad[7] = b'9';
        assert_eq!(PartInfo::decode(&bad, n(1)), None);
    }

    #[test]
    fn carried_crc32c_is_trusted_and_anything_else_is_checked() {
        let body = Bytes::from_static(b"part bytes");
        let crc = compute(ChecksumKind::Crc32c, &body);
        let md5 = compute(ChecksumKind::Md5, &body);
        let plain = payload_sums(&Payload::from(body.clone())).unwrap();
        assert_eq!(plain.md5.as_slice(), [md5.as_bytes()]);
        assert_eq!(u64::from(plain.crc32c), crc.crc_value().unwrap());
        // With a CRC-32C the bytes are not read: a wrong one is believed.
        let lie = Checksum::from_crc(ChecksumKind::Crc32c, 1);
        let trusted = payload_sums(&Payload::from(body.clone()).with_checksums(vec![lie])).unwrap();
        assert_eq!((trusted.crc32c, trusted.md5, trusted.size), (1, None, 10));
        let both = Payload::from(body.clone()).with_checksums(vec![crc.clone(), md5]);
        assert_eq!(payload_sums(&both).unwrap(), plain);
        // Without one, the carried kinds are computed and compared.
        let sha1 = compute(ChecksumKind::Sha1, b"other");
        let wrong = Payload::from(body.clone()).with_checksums(vec![sha1]);
        assert!(payload_sums(&wrong).is_err());
        let right =
            Payload::from(body.clone()).with_checksums(vec![compute(ChecksumKind::Sha1, &body)]);
        assert_eq!(payload_sums(&right).unwrap(), plain);
    }
}
