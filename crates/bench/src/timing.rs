//! [`TimingStore`]: an [`ObjectStore`] that delegates every call to another
//! and times the writes, so the migration bench gets per-part latencies the
//! engine's events do not carry.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use haul_core::{
    ByteRange, Capabilities, CompletedPart, CopyOptions, GetOptions, GetResponse, Key, ListOptions,
    ListStream, ObjectMeta, ObjectStore, PartNumber, Payload, PayloadStream, PutOptions,
    PutOutcome, Result, UploadId,
};

use crate::report::RequestKind;

/// One timed call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timed {
    /// Which call.
    pub kind: RequestKind,
    /// When it finished, since the wrapper was made.
    pub end: Duration,
    /// How long it took.
    pub latency: Duration,
    /// Payload bytes it carried (for part copies, the range; 0 when unknown).
    pub bytes: u64,
    /// Whether it succeeded.
    pub ok: bool,
}

/// Wraps a store and records the latency of every `put`, `copy`,
/// `create_multipart`, `upload_part`, `upload_part_copy` and
/// `complete_multipart`; every other call is passed through untimed.
pub struct TimingStore {
    inner: Arc<dyn ObjectStore>,
    t0: Instant,
    log: Mutex<Vec<Timed>>,
}

impl TimingStore {
    /// A wrapper around `inner`; times count from now.
    #[must_use]
    pub fn new(inner: Arc<dyn ObjectStore>) -> Self {
        Self {
            inner,
            t0: Instant::now(),
            log: Mutex::new(Vec::new()),
        }
    }

    /// The wrapped store.
    #[must_use]
    pub fn inner(&self) -> &Arc<dyn ObjectStore> {
        &self.inner
    }

    /// Every call timed so far, in the order they finished.
    #[must_use]
    pub fn timings(&self) -> Vec<Timed> {
        self.log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    async fn timed<T>(
        &self,
        kind: RequestKind,
        bytes: u64,
        call: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        let start = Instant::now();
        let r = call.await;
        let end = Instant::now();
        let rec = Timed {
            kind,
            end: end - self.t0,
            latency: end - start,
            bytes,
            ok: r.is_ok(),
        };
        self.log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(rec);
        r
    }
}

impl fmt::Debug for TimingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimingStore")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for TimingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner, f)
    }
}

fn range_len(range: ByteRange) -> u64 {
    match range {
        ByteRange::Bounded { start, end } => end.saturating_sub(start),
        ByteRange::From(_) => 0,
        ByteRange::Suffix(n) => n,
    }
}

#[async_trait]
impl ObjectStore for TimingStore {
    fn capabilities(&self) -> &Capabilities {
        self.inner.capabilities()
    }

    async fn head(&self, key: &Key) -> Result<ObjectMeta> {
        self.inner.head(key).await
    }

    async fn get(&self, key: &Key, opts: GetOptions) -> Result<GetResponse> {
        self.inner.get(key, opts).await
    }

    async fn put(&self, key: &Key, body: Payload, opts: PutOptions) -> Result<PutOutcome> {
        let n = body.len();
        self.timed(RequestKind::Put, n, self.inner.put(key, body, opts))
            .await
    }

    async fn put_stream(
        &self,
        key: &Key,
        body: PayloadStream,
        opts: PutOptions,
    ) -> Result<PutOutcome> {
        let n = body.len();
        self.timed(RequestKind::Put, n, self.inner.put_stream(key, body, opts))
            .await
    }

    async fn copy(&self, src: &Key, dst: &Key, opts: CopyOptions) -> Result<PutOutcome> {
        self.timed(RequestKind::Copy, 0, self.inner.copy(src, dst, opts))
            .await
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
        self.timed(
            RequestKind::CreateMultipart,
            0,
            self.inner.create_multipart(key, opts),
        )
        .await
    }

    async fn upload_part(
        &self,
        key: &Key,
        id: &UploadId,
        n: PartNumber,
        body: Payload,
    ) -> Result<CompletedPart> {
        let len = body.len();
        self.timed(
            RequestKind::UploadPart,
            len,
            self.inner.upload_part(key, id, n, body),
        )
        .await
    }

    async fn upload_part_stream(
        &self,
        key: &Key,
        id: &UploadId,
        n: PartNumber,
        body: PayloadStream,
    ) -> Result<CompletedPart> {
        let len = body.len();
        self.timed(
            RequestKind::UploadPart,
            len,
            self.inner.upload_part_stream(key, id, n, body),
        )
        .await
    }

    async fn upload_part_copy(
        &self,
        src: &Key,
        range: ByteRange,
        dst: &Key,
        id: &UploadId,
        n: PartNumber,
    ) -> Result<CompletedPart> {
        self.timed(
            RequestKind::UploadPartCopy,
            range_len(range),
            self.inner.upload_part_copy(src, range, dst, id, n),
        )
        .await
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
        self.timed(
            RequestKind::CompleteMultipart,
            0,
            self.inner.complete_multipart(key, id, parts),
        )
        .await
    }

    async fn abort_multipart(&self, key: &Key, id: &UploadId) -> Result<()> {
        self.inner.abort_multipart(key, id).await
    }
}

#[cfg(test)]
mod tests {
    use haul_core::ObjectStoreExt;
    use haul_testkit::MemoryStore;

    use super::*;

    #[tokio::test]
    async fn times_writes_and_passes_everything_through() {
        let mem: Arc<dyn ObjectStore> = Arc::new(MemoryStore::with_min_part_size(1));
        let t = TimingStore::new(Arc::clone(&mem));
        let k = Key::new("a").unwrap();
        t.put_bytes(&k, "hello".into()).await.unwrap();
        assert_eq!(&t.get_bytes(&k).await.unwrap()[..], b"hello");
        let k2 = Key::new("b").unwrap();
        t.copy(&k, &k2, CopyOptions::default()).await.unwrap();
        let id = t
            .create_multipart(&k2, PutOptions::default())
            .await
            .unwrap();
        let p1 = t
            .upload_part(
                &k2,
                &id,
                PartNumber::new(1).unwrap(),
                Payload::from(&b"xy"[..]),
            )
            .await
            .unwrap();
        let p2 = t
            .upload_part_copy(
                &k,
                ByteRange::at(0, 3),
                &k2,
                &id,
                PartNumber::new(2).unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(t.list_parts(&k2, &id).await.unwrap().len(), 2);
        t.complete_multipart(&k2, &id, &[p1, p2]).await.unwrap();
        assert_eq!(&mem.get_bytes(&k2).await.unwrap()[..], b"xyhel");
        assert_eq!(t.head(&k2).await.unwrap().size, 5);
        assert_eq!(t.list_all("").await.unwrap().len(), 2);
        t.delete(&k).await.unwrap();
        t.delete_many(std::slice::from_ref(&k2)).await.unwrap();
        let id = t.create_multipart(&k, PutOptions::default()).await.unwrap();
        t.abort_multipart(&k, &id).await.unwrap();
        assert!(mem.list_all("").await.unwrap().is_empty());
        let kinds: Vec<(RequestKind, u64)> =
            t.timings().iter().map(|r| (r.kind, r.bytes)).collect();
        assert_eq!(
            kinds,
            vec![
                (RequestKind::Put, 5),
                (RequestKind::Copy, 0),
                (RequestKind::CreateMultipart, 0),
                (RequestKind::UploadPart, 2),
                (RequestKind::UploadPartCopy, 3),
                (RequestKind::CompleteMultipart, 0),
                (RequestKind::CreateMultipart, 0),
            ]
        );
        assert!(t.timings().iter().all(|r| r.ok));
        assert_eq!(t.to_string(), mem.to_string());
        assert_eq!(t.capabilities(), mem.capabilities());
    }
}
