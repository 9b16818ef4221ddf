use std::ops::Range;

use serde::{Deserialize, Serialize};

/// A byte range of an object, in the three shapes HTTP `Range` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ByteRange {
    /// Bytes `start..end` (end exclusive). An `end` past the object is clamped.
    Bounded {
        /// First byte.
        start: u64,
        /// One past the last byte.
        end: u64,
    },
    /// From `offset` to the end of the object.
    From(u64),
    /// The last `n` bytes of the object (all of it when shorter).
    Suffix(u64),
}

impl ByteRange {
    /// A bounded range of `len` bytes from `start`.
    #[must_use]
    pub fn at(start: u64, len: u64) -> Self {
        Self::Bounded {
            start,
            end: start.saturating_add(len),
        }
    }

    /// Resolves the range against an object of `size` bytes.
    ///
    /// Returns `None` when the range is unsatisfiable (HTTP 416): a start at or
    /// past the end of a non-empty object, an empty bounded range, or a
    /// zero-length suffix.
    #[must_use]
    pub fn resolve(&self, size: u64) -> Option<Range<u64>> {
        match *self {
            Self::Bounded { start, end } => {
                if start >= end || start >= size {
                    None
                } else {
                    Some(start..end.min(size))
                }
            }
            Self::From(start) => (start < size).then_some(start..size),
            Self::Suffix(n) => (n > 0 && size > 0).then(|| size.saturating_sub(n)..size),
        }
    }

    /// The HTTP `Range` header value (`bytes=0-9`, `bytes=5-`, `bytes=-3`).
    #[must_use]
    pub fn to_http_header(&self) -> String {
        match *self {
            Self::Bounded { start, end } => format!("bytes={start}-{}", end.saturating_sub(1)),
            Self::From(start) => format!("bytes={start}-"),
            Self::Suffix(n) => format!("bytes=-{n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves() {
        assert_eq!(ByteRange::at(2, 3).resolve(10), Some(2..5));
        assert_eq!(ByteRange::at(8, 5).resolve(10), Some(8..10));
        assert_eq!(ByteRange::at(10, 5).resolve(10), None);
        assert_eq!(ByteRange::From(4).resolve(10), Some(4..10));
        assert_eq!(ByteRange::From(10).resolve(10), None);
        assert_eq!(ByteRange::Suffix(3).resolve(10), Some(7..10));
        assert_eq!(ByteRange::Suffix(30).resolve(10), Some(0..10));
        assert_eq!(ByteRange::Suffix(0).resolve(10), None);
        assert_eq!(ByteRange::at(0, 0).resolve(10), None);
    }

    #[test]
    fn header() {
        assert_eq!(ByteRange::at(0, 10).to_http_header(), "bytes=0-9");
        assert_eq!(ByteRange::From(5).to_http_header(), "bytes=5-");
        assert_eq!(ByteRange::Suffix(3).to_http_header(), "bytes=-3");
    }
}
