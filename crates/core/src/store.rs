use std::collections::BTreeMap;
use std::fmt::{Debug, Display};
use std::ops::Range;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};

use crate::{
    ByteRange, Capabilities, Checksum, ChecksumKind, CompletedPart, Key, MultiHasher, ObjectMeta,
    PartNumber, Payload, PayloadStream, Result, UploadId,
};

/// Options for [`ObjectStore::get`].
#[derive(Debug, Clone, Default)]
pub struct GetOptions {
    /// Only these bytes; `None` for the whole object.
    pub range: Option<ByteRange>,
    /// Fail with [`crate::Error::Precondition`] unless the ETag matches.
    pub if_match: Option<String>,
}

/// The answer to [`ObjectStore::get`]: metadata of the whole object and a body stream.
pub struct GetResponse {
    /// Metadata of the whole object (its full size, not the range's).
    pub meta: ObjectMeta,
    /// The bytes of the object the body holds.
    pub range: Range<u64>,
    /// The body. A body shorter than `range` is an error the reader detects.
    pub body: BoxStream<'static, Result<Bytes>>,
}

impl Debug for GetResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GetResponse")
            .field("meta", &self.meta)
            .field("range", &self.range)
            .finish_non_exhaustive()
    }
}

impl GetResponse {
    /// Reads the whole body into memory; a short body is a transient error.
    pub async fn bytes(self) -> Result<Bytes> {
        let want = self.range.end - self.range.start;
        let mut buf = BytesMut::with_capacity(want as usize);
        let mut body = self.body;
        while let Some(chunk) = body.try_next().await? {
            buf.extend_from_slice(&chunk);
        }
        if buf.len() as u64 == want {
            Ok(buf.freeze())
        } else {
            Err(crate::Error::transient(
                self.meta.key.as_str(),
                format!("body ended after {} of {want} bytes", buf.len()),
            ))
        }
    }
}

/// Options for [`ObjectStore::put`] and [`ObjectStore::create_multipart`].
#[derive(Debug, Clone, Default)]
pub struct PutOptions {
    /// The Content-Type to store.
    pub content_type: Option<String>,
    /// User metadata (without any provider prefix).
    pub metadata: BTreeMap<String, String>,
    /// The Content-Encoding to store.
    pub content_encoding: Option<String>,
    /// The Cache-Control to store.
    pub cache_control: Option<String>,
    /// The Content-Disposition to store.
    pub content_disposition: Option<String>,
    /// Checksums of the body the store should verify on arrival.
    pub checksums: Vec<Checksum>,
    /// For [`ObjectStore::create_multipart`]: the size of every part but
    /// the last, when the caller knows it; stores may use it to place parts
    /// (part `n` then starts at byte `(n - 1) * hint` of the object).
    ///
    /// A caller that gives it promises that layout: parts numbered from 1
    /// without gaps, none larger than the hint, and every part but the last
    /// exactly the hint. A store that uses the hint may refuse a part or a
    /// completion that breaks the promise with
    /// [`crate::Error::InvalidInput`]; stores that do not use it ignore it,
    /// and so does `put`. `None` (the default) promises nothing.
    pub part_size_hint: Option<u64>,
}

impl PutOptions {
    /// Options that store `attrs` with the object.
    #[must_use]
    pub fn with_attributes(attrs: &crate::Attributes) -> Self {
        Self {
            content_type: attrs.content_type.clone(),
            metadata: attrs.metadata.clone(),
            content_encoding: attrs.content_encoding.clone(),
            cache_control: attrs.cache_control.clone(),
            content_disposition: attrs.content_disposition.clone(),
            ..Self::default()
        }
    }

    /// The attributes these options store.
    #[must_use]
    pub fn attributes(&self) -> crate::Attributes {
        crate::Attributes {
            content_type: self.content_type.clone(),
            content_encoding: self.content_encoding.clone(),
            cache_control: self.cache_control.clone(),
            content_disposition: self.content_disposition.clone(),
            metadata: self.metadata.clone(),
        }
    }
}

/// What a store answers to a successful write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PutOutcome {
    /// The new object's ETag, unquoted.
    pub etag: Option<String>,
    /// Checksums the store reported for the object.
    pub checksums: Vec<Checksum>,
    /// The new version id, where the store versions objects.
    pub version: Option<String>,
    /// Where the store put the object, when the store chooses the address
    /// itself: the URL a NOS upload returned, an Easemob file's
    /// `uuid?share-secret=...`, a CloudBase `cloud://` file id. It is the
    /// key to read the object back by (in this or any later process), so
    /// callers record it (journal, `--json`). `None` when the key written
    /// is the address.
    pub location: Option<String>,
}

/// Options for [`ObjectStore::copy`].
#[derive(Debug, Clone, Default)]
pub struct CopyOptions {
    /// Fail with [`crate::Error::Precondition`] unless the source ETag matches.
    pub if_match: Option<String>,
}

/// Options for [`ObjectStore::list`].
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// Group keys that contain this after the prefix into one [`ListEntry::Prefix`].
    pub delimiter: Option<String>,
    /// List only keys strictly after this one.
    pub start_after: Option<String>,
    /// Keys per request, for stores that page (a hint).
    pub page_size: Option<usize>,
}

/// One item of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // almost every entry is an object; boxing would allocate per entry
pub enum ListEntry {
    /// An object.
    Object(ObjectMeta),
    /// A common prefix (with a delimiter), ending in the delimiter.
    Prefix(String),
    /// Something the listing met that cannot be offered as an object (a
    /// file name that is not UTF-8, a key with a NUL, a link not followed,
    /// a fifo): reported so that nothing is left out silently.
    Unusable(Unusable),
}

impl ListEntry {
    /// The name the entry sorts by: an object's key, the prefix, or the
    /// unusable entry's escaped name.
    #[must_use]
    pub fn name(&self) -> &str {
        match self {
            Self::Object(m) => m.key.as_str(),
            Self::Prefix(p) => p,
            Self::Unusable(u) => &u.name,
        }
    }
}

/// An entry a listing cannot offer as an object, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unusable {
    /// Its name where a key would be (the full path under the listed
    /// root), escaped with [`crate::escape_bytes`]: printable, never a key.
    pub name: String,
    /// Why, as a phrase (`"name is not UTF-8"`).
    pub reason: String,
    /// Data that cannot be carried (a failure, exit 1) rather than an
    /// entry left out by choice or by nature (a skip, counted).
    pub fails: bool,
}

impl Unusable {
    /// An entry that is a failure: data the listing cannot carry.
    #[must_use]
    pub fn failed(name: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            reason: reason.into(),
            fails: true,
        }
    }

    /// An entry skipped by choice or by nature (not a regular file).
    #[must_use]
    pub fn skipped(name: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            reason: reason.into(),
            fails: false,
        }
    }
}

/// A stream of listing entries.
pub type ListStream = BoxStream<'static, Result<ListEntry>>;

/// The listing of a store that cannot list: one `NotSupported` error.
pub fn unlistable(prefix: &str, store: &dyn Display) -> ListStream {
    let err = crate::Error::not_supported(prefix, "list", store);
    futures::stream::once(async move { Err(err) }).boxed()
}

/// An object store: the primitives every provider implements.
///
/// Stateless by upload id: every multipart step names its upload, so the
/// journal can record it and another process can carry on. Stores lacking a
/// primitive say so in [`Capabilities`] and return
/// [`crate::Error::NotSupported`]; the engine picks another route.
#[async_trait]
pub trait ObjectStore: Debug + Display + Send + Sync + 'static {
    /// What the store can do.
    ///
    /// # Behavior
    /// Returns the same value for the life of the store; never performs I/O.
    fn capabilities(&self) -> &Capabilities;

    /// Metadata of one object.
    ///
    /// # Behavior
    /// A missing key is [`crate::Error::NotFound`]. The size is the whole
    /// object's; the ETag is unquoted.
    async fn head(&self, key: &Key) -> Result<ObjectMeta>;

    /// Reads an object or a range of it.
    ///
    /// # Behavior
    /// A missing key is `NotFound`. A range is clamped to the object; a range
    /// that starts at or past the end of a non-empty object is `InvalidInput`
    /// (HTTP 416). A zero-byte object with no range yields an empty body. A
    /// failed `if_match` is `Precondition`. `meta.size` is the whole object's.
    async fn get(&self, key: &Key, opts: GetOptions) -> Result<GetResponse>;

    /// Writes an object in one request, replacing any object at `key`.
    ///
    /// # Behavior
    /// The object becomes visible whole or not at all. A body larger than
    /// `max_single_put_bytes` is `InvalidInput`. Checksums in `opts` are
    /// verified by the store where it can; a mismatch is `Integrity`.
    async fn put(&self, key: &Key, body: Payload, opts: PutOptions) -> Result<PutOutcome>;

    /// Writes an object in one request whose bytes are still being read.
    ///
    /// # Behavior
    /// As [`put`](Self::put), with the `body.len()` bytes taken from `body`
    /// as they arrive, so the object never sits whole in memory. A body that
    /// ends in an error (or short, or long) fails the put with that error,
    /// and no object may become visible from it. The checksums the body
    /// computed are known once its last chunk was taken
    /// ([`PayloadStream::sums`]); a store compares what it reports with
    /// them. The default gathers the whole body and calls `put`; a store
    /// that sends chunks as they come overrides it and says so in
    /// [`Capabilities::streamed_puts`](crate::Capabilities::streamed_puts).
    async fn put_stream(
        &self,
        key: &Key,
        body: PayloadStream,
        opts: PutOptions,
    ) -> Result<PutOutcome> {
        let payload = body.collect().await?;
        self.put(key, payload, opts).await
    }

    /// Copies `src` to `dst` inside the store, without moving bytes through us.
    ///
    /// # Behavior
    /// A missing source is `NotFound`; a source larger than `max_copy_bytes`
    /// is `InvalidInput`; without `server_side_copy` it is `NotSupported`.
    /// Metadata is copied with the object.
    async fn copy(&self, src: &Key, dst: &Key, opts: CopyOptions) -> Result<PutOutcome>;

    /// Deletes an object.
    ///
    /// # Behavior
    /// Deleting a missing key succeeds.
    async fn delete(&self, key: &Key) -> Result<()>;

    /// Deletes many objects, in batches where the store has them.
    ///
    /// # Behavior
    /// Returns one result per key, in order; missing keys succeed. Callers pass
    /// at most `batch_delete_max` keys; a store may split larger slices.
    async fn delete_many(&self, keys: &[Key]) -> Result<Vec<Result<()>>>;

    /// Lists objects whose key starts with `prefix` (`""` for all).
    ///
    /// # Behavior
    /// Entries come in ascending byte order of key, across pages, with
    /// `Prefix` entries for common prefixes when a delimiter is set. A missing
    /// bucket is `NotFound` on the first item. Objects with a pending
    /// multipart upload are not listed until completed. What the store
    /// holds but cannot offer as an object (a name that is not a valid key,
    /// a link or a special file) is an `Unusable` entry, in its place; it
    /// never ends the listing.
    fn list(&self, prefix: &str, opts: ListOptions) -> ListStream;

    /// Starts a multipart upload.
    ///
    /// # Behavior
    /// Returns a fresh id; nothing is visible at `key` until
    /// [`complete_multipart`](Self::complete_multipart). Without `multipart`
    /// it is `NotSupported`.
    async fn create_multipart(&self, key: &Key, opts: PutOptions) -> Result<UploadId>;

    /// Uploads one part.
    ///
    /// # Behavior
    /// Uploading a part number again replaces the earlier part. An unknown
    /// upload id is `NoSuchUpload`. Parts may arrive in any order and
    /// concurrently. The returned part carries the ETag to complete with and
    /// the part's checksum (the store's, or the one computed on arrival).
    async fn upload_part(
        &self,
        key: &Key,
        id: &UploadId,
        n: PartNumber,
        body: Payload,
    ) -> Result<CompletedPart>;

    /// Uploads one part whose bytes are still being read.
    ///
    /// # Behavior
    /// As [`upload_part`](Self::upload_part), with the bytes taken from
    /// `body` as they arrive. A body that ends in an error fails the part
    /// with that error, and nothing of it may count as stored. The default
    /// gathers the whole body into a [`Payload`] (carrying the checksums
    /// computed on the way) and calls `upload_part`; a store that writes
    /// chunks as they come overrides it and says so in
    /// [`Capabilities::streamed_parts`](crate::Capabilities::streamed_parts).
    async fn upload_part_stream(
        &self,
        key: &Key,
        id: &UploadId,
        n: PartNumber,
        body: PayloadStream,
    ) -> Result<CompletedPart> {
        let payload = body.collect().await?;
        self.upload_part(key, id, n, payload).await
    }

    /// Uploads one part by copying a range of an object inside the store.
    ///
    /// # Behavior
    /// As [`upload_part`](Self::upload_part), with the bytes taken from `src`.
    /// A range past the end of the source is `InvalidInput`; without
    /// `part_copy` it is `NotSupported`.
    async fn upload_part_copy(
        &self,
        src: &Key,
        range: ByteRange,
        dst: &Key,
        id: &UploadId,
        n: PartNumber,
    ) -> Result<CompletedPart>;

    /// The parts the store holds for an upload, in ascending part order.
    ///
    /// # Behavior
    /// An unknown upload id is `NoSuchUpload`. The store is the truth: the
    /// engine trusts this over its journal on resume.
    async fn list_parts(&self, key: &Key, id: &UploadId) -> Result<Vec<CompletedPart>>;

    /// Assembles the listed parts, in order, into the object.
    ///
    /// # Behavior
    /// Parts must be strictly ascending, each must exist with the given ETag
    /// (else `InvalidInput`), and every part except the last must be at least
    /// `min_part_size_bytes`. An unknown upload id is `NoSuchUpload`. On
    /// success the upload id stops existing.
    async fn complete_multipart(
        &self,
        key: &Key,
        id: &UploadId,
        parts: &[CompletedPart],
    ) -> Result<PutOutcome>;

    /// Aborts an upload and frees its parts.
    ///
    /// # Behavior
    /// Afterwards the id is `NoSuchUpload` to every call. Aborting an
    /// unknown id succeeds or is `NoSuchUpload`, as the store does it.
    async fn abort_multipart(&self, key: &Key, id: &UploadId) -> Result<()>;
}

/// Conveniences over [`ObjectStore`], for every store.
#[async_trait]
pub trait ObjectStoreExt: ObjectStore {
    /// Reads a whole object into memory.
    async fn get_bytes(&self, key: &Key) -> Result<Bytes> {
        self.get(key, GetOptions::default()).await?.bytes().await
    }

    /// Reads a range into memory.
    async fn get_range(&self, key: &Key, range: ByteRange) -> Result<Bytes> {
        let opts = GetOptions {
            range: Some(range),
            ..GetOptions::default()
        };
        self.get(key, opts).await?.bytes().await
    }

    /// Writes bytes in one put with default options.
    async fn put_bytes(&self, key: &Key, bytes: Bytes) -> Result<PutOutcome> {
        self.put(key, bytes.into(), PutOptions::default()).await
    }

    /// Reads a whole object once, hashing it as `kinds` on the way; the
    /// memory it holds is one body chunk.
    async fn hash_object(&self, key: &Key, kinds: &[ChecksumKind]) -> Result<HashedObject> {
        let got = self.get(key, GetOptions::default()).await?;
        let mut body = got.body;
        let mut h = MultiHasher::new(kinds);
        while let Some(chunk) = body.next().await {
            h.update(&chunk?);
        }
        Ok(HashedObject {
            read: h.len(),
            sums: h.finish(),
            meta: got.meta,
        })
    }

    /// Every object under `prefix`, recursively.
    async fn list_all(&self, prefix: &str) -> Result<Vec<ObjectMeta>> {
        self.list_objects(prefix).try_collect().await
    }

    /// Objects under `prefix` (no delimiter), as a stream of metadata.
    /// `Unusable` entries are left out: callers that must account for every
    /// entry (the engine's planning) use [`ObjectStore::list`].
    fn list_objects(&self, prefix: &str) -> BoxStream<'static, Result<ObjectMeta>> {
        self.list(prefix, ListOptions::default())
            .try_filter_map(|e| async move {
                Ok(match e {
                    ListEntry::Object(m) => Some(m),
                    ListEntry::Prefix(_) | ListEntry::Unusable(_) => None,
                })
            })
            .boxed()
    }
}

impl<T: ObjectStore + ?Sized> ObjectStoreExt for T {}

/// What [`ObjectStoreExt::hash_object`] read.
#[derive(Debug, Clone)]
pub struct HashedObject {
    /// The checksums of the bytes read, in [`ChecksumKind`] order.
    pub sums: Vec<Checksum>,
    /// The metadata of the version read (from the `get` answer).
    pub meta: ObjectMeta,
    /// Bytes read.
    pub read: u64,
}
