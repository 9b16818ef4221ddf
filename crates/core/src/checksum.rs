//! Streaming checksums and their wire renderings.
//!
//! [`MultiHasher`] computes any set of [`ChecksumKind`]s in one pass over the
//! bytes, so a part is read once whatever the destination wants. CRCs of
//! consecutive parts [`combine`] into the CRC of the whole object without
//! re-reading anything.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use crc_fast::CrcAlgorithm;
use md5::Digest as _;
use serde::{Deserialize, Serialize};

/// A checksum algorithm haul knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChecksumKind {
    /// CRC-32 (IEEE, as in zip and gzip; S3 `x-amz-checksum-crc32`, Qiniu `crc32`).
    Crc32,
    /// CRC-32C (Castagnoli; S3 `x-amz-checksum-crc32c`). haul's default.
    Crc32c,
    /// CRC-64/XZ, the ECMA-182 polynomial reflected (COS `x-cos-hash-crc64ecma`).
    Crc64Xz,
    /// CRC-64/NVME (S3 `x-amz-checksum-crc64nvme`).
    Crc64Nvme,
    /// MD5 (Content-MD5, single-part ETags).
    Md5,
    /// SHA-1 (S3 `x-amz-checksum-sha1`, Qiniu qetag blocks, NOS CheckSum).
    Sha1,
    /// Kodo's qetag v1: SHA-1 over 4 MiB blocks ([`crate::qetag`]); its
    /// 21 bytes are the prefix byte and the SHA-1.
    Qetag,
}

impl ChecksumKind {
    /// Every kind.
    pub const ALL: [Self; 7] = [
        Self::Crc32,
        Self::Crc32c,
        Self::Crc64Xz,
        Self::Crc64Nvme,
        Self::Md5,
        Self::Sha1,
        Self::Qetag,
    ];

    /// The lowercase name used in the journal and in messages.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Crc32 => "crc32",
            Self::Crc32c => "crc32c",
            Self::Crc64Xz => "crc64xz",
            Self::Crc64Nvme => "crc64nvme",
            Self::Md5 => "md5",
            Self::Sha1 => "sha1",
            Self::Qetag => "qetag",
        }
    }

    /// Whether CRCs of this kind can be combined across parts.
    #[must_use]
    pub fn is_crc(self) -> bool {
        self.crc_algorithm().is_some()
    }

    fn crc_algorithm(self) -> Option<CrcAlgorithm> {
        match self {
            Self::Crc32 => Some(CrcAlgorithm::Crc32IsoHdlc),
            Self::Crc32c => Some(CrcAlgorithm::Crc32Iscsi),
            Self::Crc64Xz => Some(CrcAlgorithm::Crc64Xz),
            Self::Crc64Nvme => Some(CrcAlgorithm::Crc64Nvme),
            Self::Md5 | Self::Sha1 | Self::Qetag => None,
        }
    }

    fn width_bytes(self) -> usize {
        match self {
            Self::Crc32 | Self::Crc32c => 4,
            Self::Crc64Xz | Self::Crc64Nvme => 8,
            Self::Md5 => 16,
            Self::Sha1 => 20,
            Self::Qetag => 21,
        }
    }
}

impl fmt::Display for ChecksumKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ChecksumKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown checksum kind {s:?}"))
    }
}

/// A computed or reported checksum: its kind and big-endian digest bytes.
///
/// Serialises as `kind:hex` (`crc32c:e3069283`) so the journal stays readable.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Checksum {
    kind: ChecksumKind,
    bytes: Vec<u8>,
}

impl Checksum {
    /// Wraps raw digest bytes; fails when the length does not fit the kind.
    pub fn from_bytes(kind: ChecksumKind, bytes: Vec<u8>) -> Result<Self, String> {
        if bytes.len() == kind.width_bytes() {
            Ok(Self { kind, bytes })
        } else {
            Err(format!(
                "{kind} digest must be {} bytes, got {}",
                kind.width_bytes(),
                bytes.len()
            ))
        }
    }

    /// A CRC value of `kind` (CRC-32 values use the low 32 bits).
    ///
    /// # Panics
    /// When `kind` is not a CRC kind (a programming error, never input).
    #[must_use]
    pub fn from_crc(kind: ChecksumKind, value: u64) -> Self {
        let bytes = match kind.width_bytes() {
            4 => (value as u32).to_be_bytes().to_vec(),
            8 => value.to_be_bytes().to_vec(),
            _ => panic!("{kind} is not a CRC"),
        };
        Self { kind, bytes }
    }

    /// Parses a base64 rendering (S3 `x-amz-checksum-*` headers).
    pub fn from_base64(kind: ChecksumKind, text: &str) -> Result<Self, String> {
        let bytes = B64
            .decode(text.trim())
            .map_err(|e| format!("bad base64 {kind} {text:?}: {e}"))?;
        Self::from_bytes(kind, bytes)
    }

    /// Parses a hex rendering (ETags, Qiniu's hex Content-MD5).
    pub fn from_hex(kind: ChecksumKind, text: &str) -> Result<Self, String> {
        let bytes =
            hex::decode(text.trim()).map_err(|e| format!("bad hex {kind} {text:?}: {e}"))?;
        Self::from_bytes(kind, bytes)
    }

    /// Parses a decimal CRC rendering (COS `x-cos-hash-crc64ecma`).
    pub fn from_decimal(kind: ChecksumKind, text: &str) -> Result<Self, String> {
        if !kind.is_crc() {
            return Err(format!("{kind} has no decimal form"));
        }
        let v: u64 = text
            .trim()
            .parse()
            .map_err(|e| format!("bad decimal {kind} {text:?}: {e}"))?;
        Ok(Self::from_crc(kind, v))
    }

    /// The algorithm.
    #[must_use]
    pub fn kind(&self) -> ChecksumKind {
        self.kind
    }

    /// The big-endian digest bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The CRC as an integer, or `None` for MD5/SHA-1.
    #[must_use]
    pub fn crc_value(&self) -> Option<u64> {
        self.kind.is_crc().then(|| {
            self.bytes
                .iter()
                .fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
        })
    }

    /// Base64 of the big-endian digest (S3 headers, Content-MD5).
    #[must_use]
    pub fn to_base64(&self) -> String {
        B64.encode(&self.bytes)
    }

    /// Lowercase hex of the digest (ETags).
    #[must_use]
    pub fn to_hex(&self) -> String {
        hex::encode(&self.bytes)
    }

    /// Decimal rendering of a CRC (COS); hex for the digests that have no decimal form.
    #[must_use]
    pub fn to_decimal(&self) -> String {
        self.crc_value()
            .map_or_else(|| self.to_hex(), |v| v.to_string())
    }
}

impl fmt::Debug for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.to_hex())
    }
}

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl TryFrom<String> for Checksum {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let (kind, hex) = s
            .split_once(':')
            .ok_or_else(|| format!("checksum {s:?} is not kind:hex"))?;
        Self::from_hex(kind.parse()?, hex)
    }
}

impl From<Checksum> for String {
    fn from(c: Checksum) -> Self {
        format!("{c}")
    }
}

/// Combines the CRC of a first block with the CRC of the `len_b` bytes that
/// follow it into the CRC of both. Returns `None` for non-CRC kinds or when
/// the kinds differ.
#[must_use]
pub fn combine(a: &Checksum, b: &Checksum, len_b: u64) -> Option<Checksum> {
    if a.kind != b.kind {
        return None;
    }
    let alg = a.kind.crc_algorithm()?;
    let v = crc_fast::checksum_combine(alg, a.crc_value()?, b.crc_value()?, len_b);
    Some(Checksum::from_crc(a.kind, v))
}

/// Folds part CRCs (with their lengths) into the whole-object CRC.
pub fn combine_all<'a>(
    kind: ChecksumKind,
    parts: impl IntoIterator<Item = (&'a Checksum, u64)>,
) -> Option<Checksum> {
    let mut acc: Option<Checksum> = None;
    for (c, len) in parts {
        acc = Some(match acc {
            None => c.clone(),
            Some(prev) => combine(&prev, c, len)?,
        });
    }
    Some(acc.unwrap_or_else(|| MultiHasher::new(&[kind]).finish().remove(0)))
}

enum State {
    Crc(ChecksumKind, crc_fast::Digest),
    Md5(md5::Md5),
    Sha1(sha1::Sha1),
    Qetag(Box<crate::qetag::QetagHasher>),
}

/// Computes several checksums in one pass over the bytes.
pub struct MultiHasher {
    states: Vec<State>,
    len: u64,
}

impl MultiHasher {
    /// A hasher for `kinds` (duplicates are ignored).
    #[must_use]
    pub fn new(kinds: &[ChecksumKind]) -> Self {
        let mut sorted = kinds.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let states = sorted
            .into_iter()
            .map(|k| match k {
                ChecksumKind::Md5 => State::Md5(md5::Md5::new()),
                ChecksumKind::Sha1 => State::Sha1(sha1::Sha1::new()),
                ChecksumKind::Qetag => State::Qetag(Box::default()),
                crc => State::Crc(
                    crc,
                    crc_fast::Digest::new(crc.crc_algorithm().unwrap_or(CrcAlgorithm::Crc32Iscsi)),
                ),
            })
            .collect();
        Self { states, len: 0 }
    }

    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.len += data.len() as u64;
        for s in &mut self.states {
            match s {
                State::Crc(_, d) => d.update(data),
                State::Md5(h) => h.update(data),
                State::Sha1(h) => h.update(data),
                State::Qetag(h) => h.update(data),
            }
        }
    }

    /// Bytes fed so far.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing was fed.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The checksums, in [`ChecksumKind`] order.
    #[must_use]
    pub fn finish(self) -> Vec<Checksum> {
        self.states
            .into_iter()
            .map(|s| match s {
                State::Crc(k, d) => Checksum::from_crc(k, d.finalize()),
                State::Md5(h) => Checksum {
                    kind: ChecksumKind::Md5,
                    bytes: h.finalize().to_vec(),
                },
                State::Sha1(h) => Checksum {
                    kind: ChecksumKind::Sha1,
                    bytes: h.finalize().to_vec(),
                },
                State::Qetag(h) => Checksum {
                    kind: ChecksumKind::Qetag,
                    bytes: h.digest().to_vec(),
                },
            })
            .collect()
    }
}

impl fmt::Debug for MultiHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MultiHasher")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

/// One checksum of `data` (a convenience over [`MultiHasher`]).
#[must_use]
pub fn compute(kind: ChecksumKind, data: &[u8]) -> Checksum {
    let mut h = MultiHasher::new(&[kind]);
    h.update(data);
    h.finish().remove(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHECK: &[u8] = b"123456789";

    #[test]
    fn check_values_protocols_3_4() {
        let c = compute(ChecksumKind::Crc32, CHECK);
        assert_eq!(c.crc_value(), Some(0xCBF4_3926));
        assert_eq!(c.to_base64(), "y/Q5Jg==");
        let c = compute(ChecksumKind::Crc32c, CHECK);
        assert_eq!(c.crc_value(), Some(0xE306_9283));
        assert_eq!(c.to_base64(), "4waSgw==");
        let c = compute(ChecksumKind::Crc64Nvme, CHECK);
        assert_eq!(c.crc_value(), Some(0xAE8B_1486_0A79_9888));
        assert_eq!(c.to_base64(), "rosUhgp5mIg=");
    }

    #[test]
    fn crc64_ecma_protocols_2_4() {
        let c = compute(ChecksumKind::Crc64Xz, CHECK);
        assert_eq!(c.crc_value(), Some(0x995D_C9BB_DF19_39FA));
        assert_eq!(c.to_decimal(), "11051210869376104954");
        assert_eq!(compute(ChecksumKind::Crc64Xz, b"").to_decimal(), "0");
        assert_eq!(
            compute(ChecksumKind::Crc64Xz, b"hello world").to_decimal(),
            "5981764153023615706"
        );
    }

    #[test]
    fn digests() {
        assert_eq!(
            compute(ChecksumKind::Md5, b"").to_hex(),
            "d41d8cd98f00b204e9800998ecf8427e"
        );
        assert_eq!(
            compute(ChecksumKind::Sha1, b"abc").to_hex(),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
    }

    #[test]
    fn protocols_3_4_composite_and_full_object_example() {
        // Parts: 5 MiB of 'a', then "b".
        let p1 = vec![b'a'; 5 << 20];
        let p2 = b"b";
        let c1 = compute(ChecksumKind::Crc32, &p1);
        let c2 = compute(ChecksumKind::Crc32, p2);
        let full = combine(&c1, &c2, 1).unwrap();
        assert_eq!(full.to_base64(), "rBxv8Q==");
        let mut raw = c1.as_bytes().to_vec();
        raw.extend_from_slice(c2.as_bytes());
        assert_eq!(compute(ChecksumKind::Crc32, &raw).to_base64(), "dYPmEQ==");
    }

    #[test]
    fn combine_every_crc_kind() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 31 % 251) as u8).collect();
        for kind in ChecksumKind::ALL.into_iter().filter(|k| k.is_crc()) {
            let whole = compute(kind, &data);
            let parts: Vec<(Checksum, u64)> = data
                .chunks(7_777)
                .map(|c| (compute(kind, c), c.len() as u64))
                .collect();
            let combined = combine_all(kind, parts.iter().map(|(c, l)| (c, *l))).unwrap();
            assert_eq!(combined, whole, "{kind}");
        }
    }

    #[test]
    fn multi_hasher_one_pass_equals_separate() {
        let data = b"the quick brown fox";
        let mut h = MultiHasher::new(&ChecksumKind::ALL);
        h.update(&data[..5]);
        h.update(&data[5..]);
        assert_eq!(h.len(), data.len() as u64);
        for c in h.finish() {
            assert_eq!(c, compute(c.kind(), data));
        }
    }

    #[test]
    fn renderings_round_trip() {
        let c = compute(ChecksumKind::Crc64Xz, CHECK);
        assert_eq!(
            Checksum::from_decimal(ChecksumKind::Crc64Xz, &c.to_decimal()).unwrap(),
            c
        );
        assert_eq!(Checksum::from_base64(c.kind(), &c.to_base64()).unwrap(), c);
        let s: String = c.clone().into();
        assert_eq!(s, "crc64xz:995dc9bbdf1939fa");
        assert_eq!(Checksum::try_from(s).unwrap(), c);
        assert!(Checksum::from_base64(ChecksumKind::Crc32c, "AAAA").is_err());
    }
}
