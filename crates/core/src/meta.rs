use std::collections::BTreeMap;
use std::fmt;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::{Checksum, ChecksumKind, Error, Key};

/// What a store knows about one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// The object's key.
    pub key: Key,
    /// Size in bytes.
    pub size: u64,
    /// When the object was last written, if the store says.
    pub last_modified: Option<SystemTime>,
    /// The entity tag, unquoted, if the store has one.
    pub etag: Option<String>,
    /// Checksums the store reports for the whole object.
    pub checksums: Vec<Checksum>,
    /// The version id, where the store versions objects.
    pub version: Option<String>,
    /// Content-Type, Cache-Control … and user metadata, where the store
    /// reports them (`head` does; listings usually do not).
    pub attrs: Attributes,
}

/// The HTTP attributes and user metadata an object carries, kept across
/// copies and mapped between providers (`x-amz-meta-*`, `x-cos-meta-*`,
/// `x-qn-meta-*`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attributes {
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// `Content-Encoding`.
    pub content_encoding: Option<String>,
    /// `Cache-Control`.
    pub cache_control: Option<String>,
    /// `Content-Disposition`.
    pub content_disposition: Option<String>,
    /// User metadata: lowercase names without any provider prefix.
    pub metadata: BTreeMap<String, String>,
}

impl Attributes {
    /// The metadata name haul stores a source file's modification time
    /// under, as `seconds.nanoseconds` since the epoch (rclone's convention).
    pub const MTIME: &'static str = "mtime";

    /// Whether nothing is set.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The modification time recorded in [`Attributes::MTIME`], if any.
    #[must_use]
    pub fn mtime(&self) -> Option<SystemTime> {
        let text = self.metadata.get(Self::MTIME)?;
        let (secs, frac) = text.split_once('.').unwrap_or((text, "0"));
        let secs: u64 = secs.trim().parse().ok()?;
        let digits: String = frac.chars().take(9).collect();
        let nanos: u32 = format!("{digits:0<9}").parse().ok()?;
        SystemTime::UNIX_EPOCH.checked_add(std::time::Duration::new(secs, nanos))
    }

    /// Records `t` under [`Attributes::MTIME`].
    pub fn set_mtime(&mut self, t: SystemTime) {
        if let Ok(d) = t.duration_since(SystemTime::UNIX_EPOCH) {
            self.metadata.insert(
                Self::MTIME.to_owned(),
                format!("{}.{:09}", d.as_secs(), d.subsec_nanos()),
            );
        }
    }
}

impl ObjectMeta {
    /// Metadata with only a key and a size.
    #[must_use]
    pub fn new(key: Key, size: u64) -> Self {
        Self {
            key,
            size,
            last_modified: None,
            etag: None,
            checksums: Vec::new(),
            version: None,
            attrs: Attributes::default(),
        }
    }

    /// The modification time of the content: the recorded
    /// [`Attributes::MTIME`] when there is one, else `last_modified`.
    #[must_use]
    pub fn content_mtime(&self) -> Option<SystemTime> {
        self.attrs.mtime().or(self.last_modified)
    }

    /// The reported checksum of `kind`, if any.
    #[must_use]
    pub fn checksum(&self, kind: ChecksumKind) -> Option<&Checksum> {
        self.checksums.iter().find(|c| c.kind() == kind)
    }
}

/// A multipart part number, 1 to 10,000 inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct PartNumber(u32);

impl PartNumber {
    /// The largest part number any supported protocol allows.
    pub const MAX: u32 = 10_000;

    /// Validates `n` (1..=10000).
    pub fn new(n: u32) -> Result<Self, Error> {
        if (1..=Self::MAX).contains(&n) {
            Ok(Self(n))
        } else {
            Err(Error::invalid(
                "",
                format!("part number {n} is outside 1..=10000"),
            ))
        }
    }

    /// The number.
    #[must_use]
    pub fn get(self) -> u32 {
        self.0
    }

    /// The zero-based index (number − 1).
    #[must_use]
    pub fn index(self) -> usize {
        (self.0 - 1) as usize
    }
}

impl TryFrom<u32> for PartNumber {
    type Error = Error;
    fn try_from(n: u32) -> Result<Self, Error> {
        Self::new(n)
    }
}

impl From<PartNumber> for u32 {
    fn from(n: PartNumber) -> Self {
        n.0
    }
}

impl fmt::Display for PartNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The id a store gave a multipart upload. Opaque; journaled as text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct UploadId(pub String);

impl fmt::Display for UploadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A part the store acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompletedPart {
    /// Its number.
    pub number: PartNumber,
    /// The entity tag the store returned, unquoted.
    pub etag: String,
    /// Its size in bytes.
    pub size: u64,
    /// The checksum the store returned or was sent for it, if any.
    pub checksum: Option<Checksum>,
}

/// What a store can do, as data: the engine asks, it never matches on names.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::struct_excessive_bools)] // capability flags are independent yes/no facts
pub struct Capabilities {
    /// Whether multipart uploads exist at all.
    pub multipart: bool,
    /// Smallest part (except the last) a multipart upload accepts.
    pub min_part_size_bytes: u64,
    /// Largest part.
    pub max_part_size_bytes: u64,
    /// Most parts in one upload.
    pub max_parts: u32,
    /// Largest single `put`.
    pub max_single_put_bytes: u64,
    /// Largest object.
    pub max_object_size_bytes: u64,
    /// Whether `copy` works inside the store.
    pub server_side_copy: bool,
    /// Largest object a single `copy` can copy.
    pub max_copy_bytes: u64,
    /// Whether `upload_part_copy` works.
    pub part_copy: bool,
    /// Whether `list_parts` works.
    pub list_parts: bool,
    /// Whether `list` works.
    pub list: bool,
    /// Whether `get` honours ranges.
    pub ranged_get: bool,
    /// Checksums the store computes and reports itself.
    pub native_checksums: Vec<ChecksumKind>,
    /// Whether the store wants a Content-MD5 on writes.
    pub wants_content_md5: bool,
    /// Whether a single-put ETag is the MD5 of the body.
    pub etag_is_md5: bool,
    /// Most keys in one `delete_many` call (1 when there is no batch).
    pub batch_delete_max: usize,
    /// Whether sending the same `put` again (after its answer was lost)
    /// leaves the same one object as sending it once.
    ///
    /// `false` for stores that give every upload a new address (a NOS URL,
    /// an Easemob uuid) or a new server-side identity: a failed `put` whose
    /// request was sent may have stored the object, and such a store marks
    /// that failure as not retryable. The engine must then not re-send the
    /// file by itself: it records it as "sent, answer unknown" and leaves
    /// the choice to the user.
    pub idempotent_put: bool,
    /// Whether the store keeps an object's [`Attributes`]: what `put` and
    /// `create_multipart` are given in [`crate::PutOptions`] comes back in
    /// `head`'s (and `get`'s) [`ObjectMeta::attrs`], and a server-side
    /// `copy` keeps it.
    ///
    /// `false` for stores with nowhere to put them (a local directory, NOS,
    /// Easemob, CloudBase): they accept the options, may honour a part of
    /// them (a local file takes its modification time from
    /// [`Attributes::MTIME`]), and report default attributes. A copy to such
    /// a store cannot preserve headers or user metadata, and callers should
    /// not compare attributes read back from it.
    pub metadata: bool,
    /// Whether [`upload_part_stream`](crate::ObjectStore::upload_part_stream)
    /// writes the bytes as they arrive, holding a few chunks at a time.
    /// Otherwise it gathers the whole part first (the default method), and
    /// a part costs its full size in memory while it is sent.
    pub streamed_parts: bool,
    /// Whether objects can be deleted by key. Stores that give every upload
    /// a new address and delete only in bulk by other criteria (NOS,
    /// Easemob) cannot: their `delete` is `NotSupported`.
    pub delete: bool,
    /// Whether a zero-byte object can be stored (NOS refuses empty files).
    pub empty_objects: bool,
    /// Whether [`put_stream`](crate::ObjectStore::put_stream) sends the
    /// bytes as they arrive, holding a few chunks at a time. Otherwise it
    /// gathers the whole object first (the default method).
    pub streamed_puts: bool,
    /// Whether reading a range again is cheap (a local file, in the page
    /// cache): the engine may hash a part in a first pass and send it in a
    /// second, its checksums known before its first byte.
    pub rereadable: bool,
    /// Whether a streamed body whose checksums are known before its first
    /// byte ([`PayloadStream::with_known_sums`](crate::PayloadStream::with_known_sums))
    /// goes as a plain body of known length with its checksums as headers,
    /// rather than framed with the checksums trailing (S3's aws-chunked).
    pub sums_ahead: bool,
    /// Whether a `get` of a whole object reports in its
    /// [`GetResponse::meta`](crate::GetResponse::meta) all that `head`
    /// would (size, `ETag`, checksums, attributes). The engine may then
    /// read a small object without heading it first: one request (or one
    /// trip to a blocking thread) where it took two.
    pub whole_get_meta: bool,
}

impl Default for Capabilities {
    /// S3's limits with every feature on.
    fn default() -> Self {
        const MIB: u64 = 1 << 20;
        const GIB: u64 = 1 << 30;
        Self {
            multipart: true,
            min_part_size_bytes: 5 * MIB,
            max_part_size_bytes: 5 * GIB,
            max_parts: 10_000,
            max_single_put_bytes: 5 * GIB,
            max_object_size_bytes: 5 * 1024 * GIB,
            server_side_copy: true,
            max_copy_bytes: 5 * GIB,
            part_copy: true,
            list_parts: true,
            list: true,
            ranged_get: true,
            native_checksums: Vec::new(),
            wants_content_md5: false,
            etag_is_md5: false,
            batch_delete_max: 1000,
            idempotent_put: true,
            metadata: true,
            streamed_parts: false,
            streamed_puts: false,
            delete: true,
            empty_objects: true,
            rereadable: false,
            sums_ahead: false,
            whole_get_meta: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mtime_round_trips() {
        let mut a = Attributes::default();
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::new(1_700_000_000, 123_456_789);
        a.set_mtime(t);
        assert_eq!(a.metadata["mtime"], "1700000000.123456789");
        assert_eq!(a.mtime(), Some(t));
        a.metadata.insert("mtime".into(), "1700000000.5".into());
        assert_eq!(
            a.mtime(),
            Some(SystemTime::UNIX_EPOCH + std::time::Duration::new(1_700_000_000, 500_000_000))
        );
        a.metadata.insert("mtime".into(), "garbage".into());
        assert_eq!(a.mtime(), None);
    }

    #[test]
    fn part_numbers() {
        assert!(PartNumber::new(0).is_err());
        assert!(PartNumber::new(10_001).is_err());
        assert_eq!(PartNumber::new(10_000).unwrap().index(), 9_999);
    }
}
