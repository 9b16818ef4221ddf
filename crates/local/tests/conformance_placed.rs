//! The shared conformance suite again, with every multipart upload created
//! with a part size hint, so parts are placed in one staging file.
//!
//! The suite sizes its parts by `min_part_size_bytes`, so [`Hinted`] reports
//! the hint as that minimum and passes it to `create_multipart`: every part
//! but the last is then exactly the hint, as the hint promises, and the
//! suite's "a small part before the last" refusal is the hinted layout's.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use haul_core::{
    ByteRange, Capabilities, CompletedPart, CopyOptions, GetOptions, GetResponse, Key, ListOptions,
    ListStream, ObjectMeta, ObjectStore, PartNumber, Payload, PayloadStream, PutOptions,
    PutOutcome, Result, UploadId,
};
use haul_local::LocalStore;
use haul_testkit::Guarded;
use tempfile::TempDir;

/// The part size hint, and the suite's part size.
const HINT: u64 = 4096;

/// A `LocalStore` whose uploads are all created with [`HINT`].
#[derive(Debug)]
struct Hinted {
    inner: LocalStore,
    capabilities: Capabilities,
}

impl fmt::Display for Hinted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

#[async_trait]
impl ObjectStore for Hinted {
    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }
    async fn head(&self, key: &Key) -> Result<ObjectMeta> {
        self.inner.head(key).await
    }
    async fn get(&self, key: &Key, opts: GetOptions) -> Result<GetResponse> {
        self.inner.get(key, opts).await
    }
    async fn put(&self, key: &Key, body: Payload, opts: PutOptions) -> Result<PutOutcome> {
        self.inner.put(key, body, opts).await
    }
    async fn copy(&self, src: &Key, dst: &Key, opts: CopyOptions) -> Result<PutOutcome> {
        self.inner.copy(src, dst, opts).await
    }
    async fn delete(&self, key: &Key) -> Result<()> {
        self.inner.delete(key).await
    }
    async fn delete_many(&self, keys: &[Key]) -> Result<Vec<Result<()>>> {
        self.inner.delete_many(keys).await
    }
    fn list(&self, prefix: &str, opts: ListOptions) -> ListStream {
        self.inner.list(prefix, opts)
    }
    async fn create_multipart(&self, key: &Key, opts: PutOptions) -> Result<UploadId> {
        let opts = PutOptions {
            part_size_hint: Some(HINT),
            ..opts
        };
        self.inner.create_multipart(key, opts).await
    }
    async fn upload_part(
        &self,
        key: &Key,
        id: &UploadId,
        n: PartNumber,
        body: Payload,
    ) -> Result<CompletedPart> {
        self.inner.upload_part(key, id, n, body).await
    }
    async fn put_stream(
        &self,
        key: &Key,
        body: PayloadStream,
        opts: PutOptions,
    ) -> Result<PutOutcome> {
        self.inner.put_stream(key, body, opts).await
    }
    async fn upload_part_stream(
        &self,
        key: &Key,
        id: &UploadId,
        n: PartNumber,
        body: PayloadStream,
    ) -> Result<CompletedPart> {
        self.inner.upload_part_stream(key, id, n, body).await
    }
    async fn upload_part_copy(
        &self,
        src: &Key,
        range: ByteRange,
        dst: &Key,
        id: &UploadId,
        n: PartNumber,
    ) -> Result<CompletedPart> {
        self.inner.upload_part_copy(src, range, dst, id, n).await
    }
    async fn list_parts(&self, key: &Key, id: &UploadId) -> Result<Vec<CompletedPart>> {
        self.inner.list_parts(key, id).await
    }
    async fn complete_multipart(
        &self,
        key: &Key,
        id: &UploadId,
        parts: &[CompletedPart],
    ) -> Result<PutOutcome> {
        self.inner.complete_multipart(key, id, parts).await
    }
    async fn abort_multipart(&self, key: &Key, id: &UploadId) -> Result<()> {
        self.inner.abort_multipart(key, id).await
    }
}

fn store() -> Guarded<TempDir> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let inner = LocalStore::new(dir.path().join("root")).expect("a local store");
    let capabilities = Capabilities {
        min_part_size_bytes: HINT,
        ..inner.capabilities().clone()
    };
    Guarded::new(
        Arc::new(Hinted {
            inner,
            capabilities,
        }),
        dir,
    )
}

haul_testkit::conformance_tests!(
    async { store() },
    skip {
        attributes_round_trip: "a file keeps its modification time, not headers or user metadata",
        put_checksums: "a file system has no checksum of its own to check",
    }
);
