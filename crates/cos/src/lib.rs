//! haul-cos: [`CosStore`], an [`ObjectStore`] for one Tencent Cloud COS
//! bucket (`<name>-<appid>`) over the native XML API.
//!
//! Requests are signed with COS's own q-sign signature, written here by
//! hand exactly as protocols.md §2.2 gives it (the hex SignKey as the HMAC
//! key, lowercased parameter names, the decoded path) and pinned by the
//! three official vectors. Bodies stream both ways without being buffered
//! whole.
//!
//! ```no_run
//! use haul_core::{Key, ObjectStoreExt};
//! use haul_cos::{CosConfig, CosStore};
//!
//! # async fn demo() -> haul_core::Result<()> {
//! // COS_SECRET_ID, COS_SECRET_KEY, COS_REGION (and COS_SECURITY_TOKEN for
//! // temporary keys, COS_ENDPOINT for a private deployment).
//! let store = CosStore::new(CosConfig::from_env("examplebucket-1250000000")?)?;
//! store.put_bytes(&Key::new("photos/a b.jpg")?, "hi".into()).await?;
//! println!("{store}"); // cos://examplebucket-1250000000
//! # Ok(()) }
//! ```
//!
//! # Addressing
//!
//! By default a request goes to `https://<bucket>.cos.<region>.myqcloud.com/<key>`.
//! With an endpoint ([`CosConfig::with_endpoint`], `COS_ENDPOINT`) the bucket
//! goes into the path as the SDKs' `ForcePathStyle` does it —
//! `<endpoint>/<bucket>/<key>` — and into the path that is signed. The
//! `Host` header is signed exactly as it is sent, port included.
//!
//! # Integrity
//!
//! COS reports a CRC-64 (`x-cos-hash-crc64ecma`, decimal CRC-64/XZ) for
//! every object and every part. The store lists
//! [`haul_core::ChecksumKind::Crc64Xz`] as native, so
//! the engine computes it while reading each part, and:
//!
//! * every PUT and part answer's CRC-64 is compared with the payload's; a
//!   mismatch is [`Error::Integrity`] (a
//!   mismatched PUT is deleted so the wrong bytes are never visible);
//! * completion combines the parts' CRC-64s (when every part carries one)
//!   and compares the whole object's, deleting it on a mismatch;
//! * `head`, whole `get`, `put`, `copy` and `complete_multipart` report the
//!   object's CRC-64 in their checksums, for the engine's verification.
//!
//! `Content-MD5` is sent (and checked by COS) whenever a payload carries an
//! MD5, which the engine computes when `upload_check_content_md5` is on.
//!
//! # Attributes
//!
//! `Content-Type`, `Content-Encoding`, `Cache-Control` and
//! `Content-Disposition` go as those headers, user metadata as
//! `x-cos-meta-<name>` (names lowercased; COS itself takes only letters,
//! digits and `-` after the prefix). A value a header cannot carry as it is
//! (non-ASCII, control characters, surrounding spaces) is sent as an
//! RFC 2047 encoded word and decoded when read back ([`haul_http::attrs`]).
//! `put` and `create_multipart` store them, `head` and `get` report them,
//! and `copy` keeps the source's (`x-cos-metadata-directive: Copy`).
//!
//! # The COS SDK, mapped onto haul
//!
//! The engine's knobs keep the names COS users know from the SDK's
//! transfer manager (`haul_engine::TransferConfig`):
//!
//! | COS SDK | haul |
//! |---|---|
//! | `sliceUploadFile`: multipart above `SliceSize`, parts of `ChunkSize` | `slice_size`, `chunk_size` (parts of at least 1 MiB, at most 10,000 of them: the engine grows the part for large files) |
//! | `ChunkParallelLimit`, `ChunkRetryTimes` | `chunk_parallel_limit`, `chunk_retry_times` |
//! | resuming an upload (`upload_file` looks up ListMultipartUploads and ListParts) | the engine journals the upload id and reconciles with [`ObjectStore::list_parts`]; [`CosStore::list_multipart_uploads`] finds forgotten uploads |
//! | `sliceCopyFile`: one PUT Object copy up to `CopySliceSize`, UploadPartCopy by `CopyChunkSize` above | `copy_slice_size`, `copy_chunk_size`, `copy_chunk_parallel_limit` (within one bucket) |
//! | `uploadFiles`: many files under `FileParallelLimit` | `file_parallel_limit` |
//! | `onProgress` every `ProgressInterval` | progress snapshots every `progress_interval` |
//! | `UploadCheckContentMd5` | `upload_check_content_md5` |
//! | CRC-64 check of uploads | always on (see above) |
//!
//! # Capabilities
//!
//! Parts of 1 MiB to 5 GiB (the last may be smaller), at most 10,000 of
//! them; single PUTs and copies up to 5 GiB; 1000 keys per batch delete;
//! ranged GETs; ListParts; UploadPartCopy; CRC-64 native; the ETag of a
//! single PUT is the MD5 of the body.

mod config;
mod core;
mod sign;

use std::time::{Duration, SystemTime};

use haul_core::{Error, Key, Result};
use haul_s3_dialect::check_key;

use crate::core::{Cos, SPEC};
// The docs link to it; the impl is delegate_object_store!'s.
#[cfg(doc)]
use haul_core::ObjectStore;

pub use config::{CosConfig, DEFAULT_MAX_OBJECT_SIZE};
pub use haul_s3_dialect::PendingUpload;

haul_s3_dialect::store! { CosStore, "COS", core::Cos, CosConfig, cfg, core::new }

impl CosStore {
    /// A presigned GET URL for `key`, valid for `expires` from now: anyone
    /// holding it can download the object until then. The host is signed.
    pub fn presign_get(&self, key: &Key, expires: Duration) -> Result<String> {
        self.presign(&http::Method::GET, key, expires)
    }

    /// A presigned URL for `method` (`PUT` to let someone upload one
    /// object) on `key`, valid for `expires` from now.
    pub fn presign(&self, method: &http::Method, key: &Key, expires: Duration) -> Result<String> {
        check_key(key.as_str(), SPEC.api)?;
        let kt = Cos::presign_window(SystemTime::now(), expires).ok_or_else(|| {
            Error::invalid(key.as_str(), "a presigned URL must be valid for some time")
        })?;
        let core = &self.core;
        Ok(core
            .dialect
            .presign(&core.endpoint, method, key.as_str(), kt))
    }

    /// Multipart uploads started under `prefix` and never completed or
    /// aborted (ListMultipartUploads), for resuming or for cleanup with
    /// [`ObjectStore::abort_multipart`].
    pub async fn list_multipart_uploads(&self, prefix: &str) -> Result<Vec<PendingUpload>> {
        self.core.list_uploads(prefix).await
    }
}

#[cfg(test)]
mod vectors;
