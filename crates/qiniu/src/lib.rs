//! haul-qiniu: [`QiniuStore`], an [`ObjectStore`] for one Qiniu Kodo bucket,
//! speaking Kodo's own protocol (protocols §1, with the wire details of §8).
//!
//! * Writes: `put` is a form upload (`multipart/form-data` with the upload
//!   token, the key and the `crc32` Kodo checks); multipart is resumable
//!   upload v2 (parts of 1 MiB to 1 GiB, at most 10,000, each with its hex
//!   `Content-MD5`). Every upload request carries an upload token minted for
//!   it ([`PutPolicy`] scoped to the key), so a long upload never presents
//!   an expired one.
//! * Management on the rs host, signed with the Qiniu (v2) signature: stat
//!   (`head`), copy and move (`force`), delete, and batches of up to 1000
//!   operations ([`QiniuStore::batch`]; HTTP 298 reports each failed
//!   operation against its key). Listing on the rsf host (marker, prefix,
//!   delimiter).
//! * Reads: ranged GETs from the bucket's download domain, through a signed
//!   URL when the bucket is private.
//! * Verification: [`qetag`] (v1 and v2) is computed over the bytes as they
//!   are sent and compared with the `hash` Kodo answers for a form upload,
//!   each part, and the completed object; a mismatch is
//!   [`haul_core::Error::Integrity`]. Objects report their `hash` as ETag
//!   and, where Kodo gives one, their MD5 as a checksum.
//!
//! * Attributes: the Content-Type is Kodo's `mimeType` (the form upload's
//!   file part Content-Type, the v2 complete call's `mimeType`), user
//!   metadata its `x-qn-meta-<name>` fields (names lowercased, ASCII
//!   letters, digits, `-` and `_`), and Cache-Control, Content-Encoding and
//!   Content-Disposition its `cacheControl`, `contentEncoding` and
//!   `contentDisposition` fields (form upload and complete alike). Values
//!   that are not printable ASCII are sent as RFC 2047 encoded words
//!   ([`haul_http::attrs`]) and decoded when read. `head` (stat) reports
//!   `mimeType` and `x-qn-meta`; Kodo documents no stat field for the other
//!   three, so `head` reports them only where the answer carries them,
//!   while `get` reads all of them from the download's headers. `rs/copy`
//!   keeps everything.
//!
//! ```no_run
//! use haul_core::{Key, ObjectStoreExt};
//! use haul_qiniu::{QiniuConfig, QiniuStore};
//!
//! # async fn demo() -> haul_core::Result<()> {
//! let store = QiniuStore::new(QiniuConfig::from_env("my-bucket")?)?;
//! let out = store.put_bytes(&Key::new("photos/a b.jpg")?, "hi".into()).await?;
//! println!("{store} {:?}", out.etag); // qiniu://my-bucket Some("Fo...")
//! # Ok(()) }
//! ```
//!
//! Capabilities are Kodo's: form uploads up to 1 GiB, parts of 1 MiB to
//! 1 GiB, whole-object server-side copy (`rs/copy`) but no part copy,
//! CRC-32 verified on form uploads, MD5 on parts, 1000 keys per batch.

pub mod auth;
mod batch;
mod config;
mod core;
mod error;
mod lister;
mod multipart;
mod policy;
pub mod qetag;
mod reader;
mod writer;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use haul_core::{
    ByteRange, Capabilities, ChecksumKind, CompletedPart, CopyOptions, Error, GetOptions,
    GetResponse, Key, ListOptions, ListStream, ObjectMeta, ObjectStore, PartNumber, Payload,
    PutOptions, PutOutcome, Result, UploadId,
};

pub use auth::Credentials;
pub use batch::{BatchAnswer, BatchOp, MAX_BATCH_OPS};
pub use config::{QiniuConfig, RegionHosts};
pub use policy::PutPolicy;

use crate::core::Core;

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// Kodo's capabilities.
fn capabilities() -> Capabilities {
    Capabilities {
        multipart: true,
        min_part_size_bytes: MIB,
        max_part_size_bytes: GIB,
        max_parts: 10_000,
        streamed_puts: true,
        max_single_put_bytes: GIB,
        max_object_size_bytes: 10_000 * GIB,
        server_side_copy: true,
        max_copy_bytes: 10_000 * GIB,
        part_copy: false,
        list_parts: true,
        list: true,
        ranged_get: true,
        native_checksums: vec![ChecksumKind::Crc32, ChecksumKind::Qetag],
        wants_content_md5: true,
        etag_is_md5: false,
        batch_delete_max: MAX_BATCH_OPS,
        ..Capabilities::default()
    }
}

/// An [`ObjectStore`] over one Kodo bucket. Cheap to clone; one pooled
/// HTTP client serves every call.
#[derive(Clone)]
pub struct QiniuStore {
    core: Arc<Core>,
}

impl QiniuStore {
    /// A store for `cfg`'s bucket. Performs no I/O; a wrong host or bucket
    /// shows up on the first call.
    pub fn new(cfg: QiniuConfig) -> Result<Self> {
        Ok(Self {
            core: Arc::new(Core::new(cfg)?),
        })
    }

    /// The configuration (its `Debug` hides the secret key).
    #[must_use]
    pub fn config(&self) -> &QiniuConfig {
        &self.core.cfg
    }

    /// The credentials, to mint upload tokens for other uploaders.
    #[must_use]
    pub fn credentials(&self) -> &Credentials {
        &self.core.creds
    }

    /// The URL `key` downloads from: on the download domain, signed for
    /// `lifetime` when the bucket is private.
    pub fn download_url(&self, key: &Key, lifetime: Duration) -> Result<String> {
        self.core.download_url(key, lifetime)
    }

    /// Moves (renames) `src` to `dst` inside the bucket; with `force` an
    /// existing `dst` is replaced, without it that is
    /// [`Error::AlreadyExists`].
    pub async fn move_object(&self, src: &Key, dst: &Key, force: bool) -> Result<()> {
        self.core.rs_two_keys("move", src, dst, force).await
    }

    /// Copies `src` to `dst` inside the bucket, replacing an existing `dst`
    /// only with `force` ([`ObjectStore::copy`] always replaces).
    pub async fn copy_object(&self, src: &Key, dst: &Key, force: bool) -> Result<()> {
        self.core.rs_two_keys("copy", src, dst, force).await
    }

    /// Runs `ops` through rs/batch, [`MAX_BATCH_OPS`] a call: one result per
    /// operation, in order, each failure naming its key. The outer error is
    /// a call that failed whole.
    pub async fn batch(&self, ops: &[BatchOp]) -> Result<Vec<Result<BatchAnswer>>> {
        self.core.batch(ops).await
    }
}

impl fmt::Debug for QiniuStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QiniuStore")
            .field("config", &self.core.cfg)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for QiniuStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "qiniu://{}", self.core.cfg.bucket)
    }
}

#[async_trait]
impl ObjectStore for QiniuStore {
    fn capabilities(&self) -> &Capabilities {
        &self.core.caps
    }

    async fn head(&self, key: &Key) -> Result<ObjectMeta> {
        self.core.head(key).await
    }

    async fn get(&self, key: &Key, opts: GetOptions) -> Result<GetResponse> {
        self.core.get(key, opts).await
    }

    async fn put(&self, key: &Key, body: Payload, opts: PutOptions) -> Result<PutOutcome> {
        self.core.put(key, body.into(), opts).await
    }

    async fn put_stream(
        &self,
        key: &Key,
        body: haul_core::PayloadStream,
        opts: PutOptions,
    ) -> Result<PutOutcome> {
        self.core.put(key, body.into(), opts).await
    }

    async fn copy(&self, src: &Key, dst: &Key, opts: CopyOptions) -> Result<PutOutcome> {
        self.core.copy(src, dst, opts).await
    }

    async fn delete(&self, key: &Key) -> Result<()> {
        self.core.delete(key).await
    }

    async fn delete_many(&self, keys: &[Key]) -> Result<Vec<Result<()>>> {
        self.core.delete_many(keys).await
    }

    fn list(&self, prefix: &str, opts: ListOptions) -> ListStream {
        lister::list(Arc::clone(&self.core), prefix, opts)
    }

    async fn create_multipart(&self, key: &Key, opts: PutOptions) -> Result<UploadId> {
        self.core.create_multipart(key, opts).await
    }

    async fn upload_part(
        &self,
        key: &Key,
        id: &UploadId,
        n: PartNumber,
        body: Payload,
    ) -> Result<CompletedPart> {
        self.core.upload_part(key, id, n, body).await
    }

    async fn upload_part_copy(
        &self,
        _src: &Key,
        _range: ByteRange,
        dst: &Key,
        _id: &UploadId,
        _n: PartNumber,
    ) -> Result<CompletedPart> {
        Err(Error::NotSupported {
            key: dst.to_string(),
            operation: "upload_part_copy (Kodo copies whole objects only)".to_owned(),
            store: self.to_string(),
        })
    }

    async fn list_parts(&self, key: &Key, id: &UploadId) -> Result<Vec<CompletedPart>> {
        self.core.list_parts(key, id).await
    }

    async fn complete_multipart(
        &self,
        key: &Key,
        id: &UploadId,
        parts: &[CompletedPart],
    ) -> Result<PutOutcome> {
        self.core.complete_multipart(key, id, parts).await
    }

    async fn abort_multipart(&self, key: &Key, id: &UploadId) -> Result<()> {
        self.core.abort_multipart(key, id).await
    }
}

#[cfg(test)]
mod vectors;
