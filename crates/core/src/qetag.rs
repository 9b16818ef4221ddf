//! qetag v1, the content hash Kodo reports for every object (protocols
//! §1.10), as one more kind the one hashing pass computes
//! ([`ChecksumKind::Qetag`]): the data in 4 MiB blocks; one block (or
//! none) gives `urlsafe_b64(0x16 ‖ SHA1(data))`, more give
//! `urlsafe_b64(0x96 ‖ SHA1(SHA1(b1) ‖ SHA1(b2) ‖ …))`.
//!
//! ```
//! use haul_core::qetag::QetagHasher;
//! let mut h = QetagHasher::new();
//! h.update(b"et");
//! h.update(b"ag");
//! assert_eq!(h.finish(), "FpLiADEaVoALPkdb8tJEJyRTXoe_");
//! ```
//!
//! [`ChecksumKind::Qetag`]: crate::ChecksumKind::Qetag

use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use sha1::{Digest as _, Sha1};

use crate::{Checksum, ChecksumKind};

/// The qetag block size: 4 MiB.
pub const BLOCK_SIZE: usize = 4 << 20;

const SINGLE: u8 = 0x16;
const MULTI: u8 = 0x96;

/// A streaming qetag v1 hasher: feed bytes in any pieces, read the tag.
/// It keeps 20 bytes per 4 MiB block, never the data.
#[derive(Clone, Default)]
pub struct QetagHasher {
    block: Sha1,
    in_block: usize,
    blocks: Vec<[u8; 20]>,
    len: u64,
}

impl std::fmt::Debug for QetagHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QetagHasher")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl QetagHasher {
    /// A hasher that has seen nothing.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next bytes.
    pub fn update(&mut self, mut data: &[u8]) {
        self.len += data.len() as u64;
        while !data.is_empty() {
            let take = (BLOCK_SIZE - self.in_block).min(data.len());
            self.block.update(&data[..take]);
            self.in_block += take;
            data = &data[take..];
            if self.in_block == BLOCK_SIZE {
                let done = std::mem::take(&mut self.block).finalize();
                self.blocks.push(done.into());
                self.in_block = 0;
            }
        }
    }

    /// Bytes seen so far.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing was seen.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The 21-byte v1 digest: the prefix byte and the SHA-1.
    #[must_use]
    pub fn digest(mut self) -> [u8; 21] {
        if self.in_block > 0 || self.blocks.is_empty() {
            self.blocks.push(self.block.finalize().into());
        }
        let mut out = [0u8; 21];
        if self.blocks.len() == 1 {
            out[0] = SINGLE;
            out[1..].copy_from_slice(&self.blocks[0]);
        } else {
            let mut h = Sha1::new();
            for b in &self.blocks {
                h.update(b);
            }
            out[0] = MULTI;
            out[1..].copy_from_slice(&h.finalize());
        }
        out
    }

    /// The qetag (v1) of the bytes seen, as Kodo writes it.
    #[must_use]
    pub fn finish(self) -> String {
        URL_SAFE.encode(self.digest())
    }
}

/// A qetag as Kodo writes it (its ETag, its `hash`) as a checksum, when it
/// is a v1 one: a hash of the content alone. A v2 qetag (an object
/// assembled from parts not all 4 MiB) depends on its parts and is `None`.
#[must_use]
pub fn parse(text: &str) -> Option<Checksum> {
    let bytes = URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok()?;
    if bytes.len() != 21 || !matches!(bytes[0], SINGLE | MULTI) {
        return None;
    }
    Checksum::from_bytes(ChecksumKind::Qetag, bytes).ok()
}

/// A qetag checksum as Kodo writes it.
#[must_use]
pub fn render(sum: &Checksum) -> String {
    URL_SAFE.encode(sum.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_one_pass_computes_the_same_qetag_over_several_blocks() {
        let data: Vec<u8> = (0..BLOCK_SIZE * 2 + 5).map(|i| (i % 251) as u8).collect();
        let mut alone = QetagHasher::new();
        alone.update(&data);
        let mut pass = crate::MultiHasher::new(&[ChecksumKind::Crc32c, ChecksumKind::Qetag]);
        for piece in data.chunks(1_000_003) {
            pass.update(piece);
        }
        let sums = pass.finish();
        assert_eq!(render(&sums[1]), alone.finish());
        assert!(
            render(&sums[1]).starts_with('l'),
            "more than one block: 0x96"
        );
    }

    #[test]
    fn a_v1_tag_parses_and_renders_back_and_v2_does_not_parse() {
        let mut h = QetagHasher::new();
        h.update(b"etag");
        let tag = h.finish();
        let sum = parse(&tag).expect("a v1 qetag");
        assert_eq!(sum.kind(), ChecksumKind::Qetag);
        assert_eq!(render(&sum), tag);
        assert_eq!(parse("ns56DcSIfBFUENXjdhsJTIvl3Rcu"), None);
        assert_eq!(parse("d41d8cd98f00b204e9800998ecf8427e"), None);
    }
}
