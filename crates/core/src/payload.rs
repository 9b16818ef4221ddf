mod stream;

use bytes::{Bytes, BytesMut};

pub use stream::{PayloadStream, StreamSums};

use crate::Checksum;

/// A request body: a list of cheap-to-clone [`Bytes`] pieces.
///
/// Cloning a payload clones reference counts, not bytes, so a retry re-sends
/// the same buffers without reading the source again.
///
/// A payload may carry the checksums the engine computed while reading it
/// ([`Payload::with_checksums`]), so a store sends `Content-MD5` or
/// `x-amz-checksum-crc32c` without a second pass over the bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Payload {
    pieces: Vec<Bytes>,
    len: u64,
    checksums: Vec<Checksum>,
}

impl Payload {
    /// An empty payload.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a piece.
    pub fn push(&mut self, piece: Bytes) {
        if !piece.is_empty() {
            self.len += piece.len() as u64;
            self.pieces.push(piece);
        }
    }

    /// Total length in bytes.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the payload has no bytes.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Attaches checksums of these bytes, computed while reading them.
    #[must_use]
    pub fn with_checksums(mut self, checksums: Vec<Checksum>) -> Self {
        self.checksums = checksums;
        self
    }

    /// Checksums of these bytes that the producer computed (may be empty).
    #[must_use]
    pub fn checksums(&self) -> &[Checksum] {
        &self.checksums
    }

    /// The attached checksum of `kind`, if any.
    #[must_use]
    pub fn checksum(&self, kind: crate::ChecksumKind) -> Option<&Checksum> {
        self.checksums.iter().find(|c| c.kind() == kind)
    }

    /// The pieces, in order.
    #[must_use]
    pub fn pieces(&self) -> &[Bytes] {
        &self.pieces
    }

    /// The bytes as one contiguous buffer (copies unless there is one piece).
    #[must_use]
    pub fn to_bytes(&self) -> Bytes {
        match self.pieces.as_slice() {
            [] => Bytes::new(),
            [one] => one.clone(),
            many => {
                let mut buf = BytesMut::with_capacity(self.len as usize);
                for p in many {
                    buf.extend_from_slice(p);
                }
                buf.freeze()
            }
        }
    }
}

impl From<Bytes> for Payload {
    fn from(b: Bytes) -> Self {
        let mut p = Self::new();
        p.push(b);
        p
    }
}

impl From<Vec<u8>> for Payload {
    fn from(v: Vec<u8>) -> Self {
        Bytes::from(v).into()
    }
}

impl From<&'static [u8]> for Payload {
    fn from(v: &'static [u8]) -> Self {
        Bytes::from_static(v).into()
    }
}

impl FromIterator<Bytes> for Payload {
    fn from_iter<T: IntoIterator<Item = Bytes>>(iter: T) -> Self {
        let mut p = Self::new();
        for b in iter {
            p.push(b);
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_and_len() {
        let p: Payload = [
            Bytes::from_static(b"ab"),
            Bytes::new(),
            Bytes::from_static(b"c"),
        ]
        .into_iter()
        .collect();
        assert_eq!(p.len(), 3);
        assert_eq!(p.pieces().len(), 2);
        assert_eq!(&p.to_bytes()[..], b"abc");
    }
}
