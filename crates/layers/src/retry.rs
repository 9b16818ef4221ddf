//! [`Retry`]: every request whose inputs can be sent again (all but the
//! streamed bodies) is retried by one [`RetryPolicy`]; a listing that
//! fails part-way lists again after the last entry it gave.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;
use haul_core::{
    ByteRange, Capabilities, CompletedPart, CopyOptions, GetOptions, GetResponse, Key, ListOptions,
    ListStream, ObjectMeta, ObjectStore, PartNumber, Payload, PayloadStream, PutOptions,
    PutOutcome, Result, UploadId,
};

use crate::policy::{Patience, RetryPolicy};

/// Retries the requests of the store it wraps.
///
/// A streamed body ([`ObjectStore::put_stream`],
/// [`ObjectStore::upload_part_stream`]) is consumed by its first try and
/// cannot be sent again from here: those calls pass through, and whoever
/// owns the source reads it again (the engine's part retries, under the
/// same policy). A body that ends early in a `get` is the reader's to
/// notice; the request that opens it is retried here.
pub struct Retry {
    inner: Arc<dyn ObjectStore>,
    policy: RetryPolicy,
}

impl Retry {
    /// Wraps `inner`, retrying by `policy`.
    #[must_use]
    pub fn new(inner: Arc<dyn ObjectStore>, policy: RetryPolicy) -> Self {
        Self { inner, policy }
    }
}

impl fmt::Debug for Retry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retry")
            .field("inner", &self.inner)
            .field("policy", &self.policy)
            .finish()
    }
}

crate::named_as_inner!(Retry);

#[async_trait]
impl ObjectStore for Retry {
    fn capabilities(&self) -> &Capabilities {
        self.inner.capabilities()
    }

    async fn head(&self, key: &Key) -> Result<ObjectMeta> {
        self.policy.run(0, || self.inner.head(key)).await
    }

    async fn get(&self, key: &Key, opts: GetOptions) -> Result<GetResponse> {
        self.policy
            .run(0, || self.inner.get(key, opts.clone()))
            .await
    }

    async fn put(&self, key: &Key, body: Payload, opts: PutOptions) -> Result<PutOutcome> {
        self.policy
            .run(body.len(), || {
                self.inner.put(key, body.clone(), opts.clone())
            })
            .await
    }

    async fn put_stream(
        &self,
        key: &Key,
        body: PayloadStream,
        opts: PutOptions,
    ) -> Result<PutOutcome> {
        self.inner.put_stream(key, body, opts).await
    }

    async fn copy(&self, src: &Key, dst: &Key, opts: CopyOptions) -> Result<PutOutcome> {
        self.policy
            .run(0, || self.inner.copy(src, dst, opts.clone()))
            .await
    }

    async fn delete(&self, key: &Key) -> Result<()> {
        self.policy.run(0, || self.inner.delete(key)).await
    }

    async fn delete_many(&self, keys: &[Key]) -> Result<Vec<Result<()>>> {
        self.policy.run(0, || self.inner.delete_many(keys)).await
    }

    fn list(&self, prefix: &str, opts: ListOptions) -> ListStream {
        resumed_listing(
            Arc::clone(&self.inner),
            self.policy,
            prefix.to_owned(),
            opts,
        )
    }

    async fn create_multipart(&self, key: &Key, opts: PutOptions) -> Result<UploadId> {
        self.policy
            .run(0, || self.inner.create_multipart(key, opts.clone()))
            .await
    }

    async fn upload_part(
        &self,
        key: &Key,
        id: &UploadId,
        n: PartNumber,
        body: Payload,
    ) -> Result<CompletedPart> {
        self.policy
            .run(body.len(), || {
                self.inner.upload_part(key, id, n, body.clone())
            })
            .await
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
        self.policy
            .run(0, || self.inner.upload_part_copy(src, range, dst, id, n))
            .await
    }

    async fn list_parts(&self, key: &Key, id: &UploadId) -> Result<Vec<CompletedPart>> {
        self.policy.run(0, || self.inner.list_parts(key, id)).await
    }

    async fn complete_multipart(
        &self,
        key: &Key,
        id: &UploadId,
        parts: &[CompletedPart],
    ) -> Result<PutOutcome> {
        self.policy
            .run(0, || self.inner.complete_multipart(key, id, parts))
            .await
    }

    async fn abort_multipart(&self, key: &Key, id: &UploadId) -> Result<()> {
        self.policy
            .run(0, || self.inner.abort_multipart(key, id))
            .await
    }
}

/// Where a resumed listing stands.
struct Listing {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    opts: ListOptions,
    stream: ListStream,
    /// The name of the last entry given, after which a new listing starts.
    last: Option<String>,
    /// Failures in a row since the last entry given.
    failures: usize,
    policy: RetryPolicy,
    patience: Patience,
}

/// A listing that survives retryable failures: it lists again after the
/// last entry it gave (dropping any entry at or before it, so a prefix
/// rolled up again is not given twice), waiting as the policy says, up to
/// `times` failures in a row.
fn resumed_listing(
    store: Arc<dyn ObjectStore>,
    policy: RetryPolicy,
    prefix: String,
    opts: ListOptions,
) -> ListStream {
    let stream = store.list(&prefix, opts.clone());
    let state = Listing {
        store,
        prefix,
        last: opts.start_after.clone(),
        opts,
        stream,
        failures: 0,
        policy,
        patience: Patience::default(),
    };
    futures::stream::unfold(Some(state), |state| async move {
        let mut s = state?;
        loop {
            match s.stream.next().await {
                None => return None,
                Some(Ok(entry)) => {
                    if s.failures > 0 && s.last.as_deref().is_some_and(|last| entry.name() <= last)
                    {
                        continue;
                    }
                    s.failures = 0;
                    s.last = Some(entry.name().to_owned());
                    return Some((Ok(entry), Some(s)));
                }
                Some(Err(e)) if s.failures < s.policy.times && s.patience.retry(&e) => {
                    s.failures += 1;
                    haul_core::observe::retried(&e, 0);
                    let wait = s
                        .policy
                        .delays()
                        .nth(s.failures - 1)
                        .unwrap_or(crate::policy::MAX_DELAY);
                    tracing::debug!(error = %e, "listing again after the last entry given");
                    tokio::time::sleep(e.retry_after().unwrap_or(wait)).await;
                    let opts = ListOptions {
                        start_after: s.last.clone(),
                        ..s.opts.clone()
                    };
                    s.stream = s.store.list(&s.prefix, opts);
                }
                Some(Err(e)) => return Some((Err(e), None)),
            }
        }
    })
    .boxed()
}
