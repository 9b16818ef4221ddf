//! [`Throttle`]: a job's bandwidth and request-rate limits, shared by every
//! store it wraps (both sides of a transfer take from the same buckets).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use haul_core::{
    ByteRange, Capabilities, CompletedPart, CopyOptions, GetOptions, GetResponse, Key, ListOptions,
    ListStream, ObjectMeta, ObjectStore, PartNumber, Payload, PayloadStream, PutOptions,
    PutOutcome, Result, UploadId,
};

/// A token bucket shared by every task. Takers go into debt and sleep it
/// off, so one large take waits in proportion to its size.
#[derive(Debug)]
pub struct TokenBucket {
    rate_per_sec: f64,
    state: tokio::sync::Mutex<(f64, Instant)>,
}

impl TokenBucket {
    /// `None` when `rate_per_sec` is 0 (unlimited).
    #[must_use]
    pub fn new(rate_per_sec: u64) -> Option<Self> {
        (rate_per_sec > 0).then(|| Self {
            rate_per_sec: rate_per_sec as f64,
            state: tokio::sync::Mutex::new((rate_per_sec as f64, Instant::now())),
        })
    }

    /// Takes `n` tokens, waiting as long as the debt it leaves.
    pub async fn take(&self, n: u64) {
        let wait = {
            let mut st = self.state.lock().await;
            let now = Instant::now();
            let refill = now.duration_since(st.1).as_secs_f64() * self.rate_per_sec;
            // At most one second of burst.
            st.0 = (st.0 + refill).min(self.rate_per_sec) - n as f64;
            st.1 = now;
            if st.0 < 0.0 {
                Duration::from_secs_f64(-st.0 / self.rate_per_sec)
            } else {
                Duration::ZERO
            }
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

/// The limits: bytes per second of payload written (uploads, and the
/// local writes of a download) and requests per second (every try).
/// Clones share their buckets.
#[derive(Debug, Clone, Default)]
pub struct Limits {
    bandwidth: Option<Arc<TokenBucket>>,
    requests: Option<Arc<TokenBucket>>,
}

impl Limits {
    /// `bytes_per_sec` and `requests_per_sec`; 0 is unlimited.
    #[must_use]
    pub fn new(bytes_per_sec: u64, requests_per_sec: u64) -> Self {
        Self {
            bandwidth: TokenBucket::new(bytes_per_sec).map(Arc::new),
            requests: TokenBucket::new(requests_per_sec).map(Arc::new),
        }
    }

    /// Whether neither limit is set.
    #[must_use]
    pub fn is_unlimited(&self) -> bool {
        self.bandwidth.is_none() && self.requests.is_none()
    }

    async fn request(&self, payload: u64) {
        if let Some(b) = &self.requests {
            b.take(1).await;
        }
        if payload > 0
            && let Some(b) = &self.bandwidth
        {
            b.take(payload).await;
        }
    }
}

/// Holds every request of the store it wraps to the [`Limits`].
pub struct Throttle {
    inner: Arc<dyn ObjectStore>,
    limits: Limits,
}

impl Throttle {
    /// Wraps `inner`, limited by `limits` (shared with whoever else holds
    /// a clone of them).
    #[must_use]
    pub fn new(inner: Arc<dyn ObjectStore>, limits: Limits) -> Self {
        Self { inner, limits }
    }
}

impl fmt::Debug for Throttle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Throttle")
            .field("inner", &self.inner)
            .field("limits", &self.limits)
            .finish()
    }
}

crate::named_as_inner!(Throttle);

#[async_trait]
impl ObjectStore for Throttle {
    fn capabilities(&self) -> &Capabilities {
        self.inner.capabilities()
    }

    async fn head(&self, key: &Key) -> Result<ObjectMeta> {
        self.limits.request(0).await;
        self.inner.head(key).await
    }

    async fn get(&self, key: &Key, opts: GetOptions) -> Result<GetResponse> {
        self.limits.request(0).await;
        self.inner.get(key, opts).await
    }

    async fn put(&self, key: &Key, body: Payload, opts: PutOptions) -> Result<PutOutcome> {
        self.limits.request(body.len()).await;
        self.inner.put(key, body, opts).await
    }

    async fn put_stream(
        &self,
        key: &Key,
        body: PayloadStream,
        opts: PutOptions,
    ) -> Result<PutOutcome> {
        self.limits.request(body.len()).await;
        self.inner.put_stream(key, body, opts).await
    }

    async fn copy(&self, src: &Key, dst: &Key, opts: CopyOptions) -> Result<PutOutcome> {
        self.limits.request(0).await;
        self.inner.copy(src, dst, opts).await
    }

    async fn delete(&self, key: &Key) -> Result<()> {
        self.limits.request(0).await;
        self.inner.delete(key).await
    }

    async fn delete_many(&self, keys: &[Key]) -> Result<Vec<Result<()>>> {
        self.limits.request(0).await;
        self.inner.delete_many(keys).await
    }

    fn list(&self, prefix: &str, opts: ListOptions) -> ListStream {
        // The first page waits for its token inside the stream; later pages
        // are the store's own requests, which this layer cannot see.
        let limits = self.limits.clone();
        let inner = self.inner.list(prefix, opts);
        futures::StreamExt::boxed(futures::StreamExt::flatten(futures::stream::once(
            async move {
                limits.request(0).await;
                inner
            },
        )))
    }

    async fn create_multipart(&self, key: &Key, opts: PutOptions) -> Result<UploadId> {
        self.limits.request(0).await;
        self.inner.create_multipart(key, opts).await
    }

    async fn upload_part(
        &self,
        key: &Key,
        id: &UploadId,
        n: PartNumber,
        body: Payload,
    ) -> Result<CompletedPart> {
        self.limits.request(body.len()).await;
        self.inner.upload_part(key, id, n, body).await
    }

    async fn upload_part_stream(
        &self,
        key: &Key,
        id: &UploadId,
        n: PartNumber,
        body: PayloadStream,
    ) -> Result<CompletedPart> {
        self.limits.request(body.len()).await;
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
        self.limits.request(0).await;
        self.inner.upload_part_copy(src, range, dst, id, n).await
    }

    async fn list_parts(&self, key: &Key, id: &UploadId) -> Result<Vec<CompletedPart>> {
        self.limits.request(0).await;
        self.inner.list_parts(key, id).await
    }

    async fn complete_multipart(
        &self,
        key: &Key,
        id: &UploadId,
        parts: &[CompletedPart],
    ) -> Result<PutOutcome> {
        self.limits.request(0).await;
        self.inner.complete_multipart(key, id, parts).await
    }

    async fn abort_multipart(&self, key: &Key, id: &UploadId) -> Result<()> {
        self.limits.request(0).await;
        self.inner.abort_multipart(key, id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn bucket_paces_takers() {
        let bucket = TokenBucket::new(100).expect("a rate");
        let start = tokio::time::Instant::now();
        bucket.take(100).await; // the initial burst
        bucket.take(50).await; // half a second of debt
        assert!(start.elapsed() >= Duration::from_millis(490));
        assert!(TokenBucket::new(0).is_none());
        assert!(Limits::new(0, 0).is_unlimited());
        assert!(!Limits::new(1, 0).is_unlimited());
    }
}
