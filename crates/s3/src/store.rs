//! [`S3Store`]: the S3 dialect's store over one bucket, and what it does
//! beyond [`ObjectStore`]: presigned URLs, creating its bucket, listing
//! forgotten uploads, and copies from another bucket of one endpoint.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use haul_core::{
    ByteRange, CompletedPart, CopyOptions, Error, Key, PartNumber, PutOutcome, Result, UploadId,
};
// The docs link to it; the impl is delegate_object_store!'s.
#[cfg(doc)]
use haul_core::ObjectStore;
use haul_s3_dialect::PendingUpload;

use crate::config::S3Config;
use crate::core::{Body, Call};

haul_s3_dialect::store! { S3Store, "S3", crate::core::S3, S3Config, cfg, crate::core::new }

impl S3Store {
    /// A presigned GET URL for `key`, valid for `expires` (at most 7 days).
    pub fn presign_get(&self, key: &Key, expires: Duration) -> Result<String> {
        self.core.dialect.presign(
            &self.core.endpoint,
            &http::Method::GET,
            key.as_str(),
            expires,
            SystemTime::now(),
        )
    }

    /// Creates the bucket (for setup and tests); one that already exists and
    /// is ours is fine.
    pub async fn create_bucket(&self) -> Result<()> {
        let mut call = Call::new(http::Method::PUT, None);
        let cfg = &self.core.dialect.cfg;
        if cfg.region != "us-east-1" {
            let doc = format!(
                "<CreateBucketConfiguration><LocationConstraint>{}</LocationConstraint></CreateBucketConfiguration>",
                haul_http::xml::escape(&cfg.region)
            );
            call = call.body(Body::Bytes(bytes::Bytes::from(doc)));
        }
        match self.core.send(call, &self.core.ctx(&cfg.bucket)).await {
            Err(Error::Provider { code, .. }) if code == "BucketAlreadyOwnedByYou" => Ok(()),
            r => r.map(drop),
        }
    }

    /// Multipart uploads started under `prefix` and never completed or
    /// aborted, for cleanup with [`ObjectStore::abort_multipart`].
    ///
    /// A service without `ListMultipartUploads` answers
    /// [`haul_core::Error::NotSupported`].
    pub async fn list_multipart_uploads(&self, prefix: &str) -> Result<Vec<PendingUpload>> {
        self.core.list_uploads(prefix).await
    }

    /// A store for `cfg`'s bucket that sends through `http`, a client shared
    /// with the other buckets of one [`S3Endpoint`](crate::S3Endpoint).
    pub(crate) fn with_client(cfg: S3Config, http: reqwest::Client) -> Result<Self> {
        Ok(Self {
            core: Arc::new(crate::core::with_client(cfg, http)?),
        })
    }

    /// [`ObjectStore::copy`] with the source in `from`'s bucket, which must
    /// be on the same endpoint with the same credentials (a server-side
    /// CopyObject crosses buckets, never services).
    pub(crate) async fn copy_from(
        &self,
        from: &S3Store,
        src: &Key,
        dst: &Key,
        opts: CopyOptions,
    ) -> Result<PutOutcome> {
        self.core.copy_from(&from.core, src, dst, opts).await
    }

    /// [`ObjectStore::upload_part_copy`] with the source in `from`'s bucket,
    /// on the same endpoint with the same credentials.
    pub(crate) async fn upload_part_copy_from(
        &self,
        from: &S3Store,
        src: &Key,
        range: ByteRange,
        dst: &Key,
        id: &UploadId,
        n: PartNumber,
    ) -> Result<CompletedPart> {
        self.core
            .upload_part_copy_from(&from.core, src, range, dst, id, n)
            .await
    }
}
