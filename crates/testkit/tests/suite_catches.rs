//! The conformance suite has teeth: stores with one planted bug each fail
//! the cases meant to catch it.

use std::fmt;
use std::panic::AssertUnwindSafe;

use async_trait::async_trait;
use futures::{FutureExt, StreamExt, TryStreamExt};
use haul_core::{
    ByteRange, Capabilities, CompletedPart, CopyOptions, Error, GetOptions, GetResponse, Key,
    ListOptions, ListStream, ObjectMeta, ObjectStore, PartNumber, Payload, PutOptions, PutOutcome,
    Result, UploadId,
};
use haul_testkit::MemoryStore;
use haul_testkit::conformance::run_case;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Bug {
    /// Listing pages come out in descending order.
    ListReversed,
    /// Listing stops after one 1000-key page.
    ListOnePage,
    /// The delimiter is ignored.
    ListIgnoresDelimiter,
    /// Completion uses the held parts whose numbers were named, in order,
    /// whatever their ETags, order or repetition.
    CompleteIgnoresParts,
    /// Ranged gets return the whole object.
    RangeIgnored,
    /// Missing keys are reported as transient.
    MissingIsTransient,
    /// Abort does nothing.
    AbortIgnored,
    /// `+` in a key is stored as a space (form decoding).
    PlusIsSpace,
    /// Deleting a missing key fails.
    DeleteMissingFails,
    /// Checksums a payload carries are dropped, not checked.
    PayloadChecksumsIgnored,
}

/// Which case must catch each bug.
const CAUGHT_BY: &[(Bug, &str)] = &[
    (Bug::ListReversed, "list_prefix_pagination"),
    (Bug::ListOnePage, "list_prefix_pagination"),
    (Bug::ListIgnoresDelimiter, "list_delimiter"),
    (Bug::CompleteIgnoresParts, "multipart_complete_refusals"),
    (Bug::RangeIgnored, "ranges"),
    (Bug::MissingIsTransient, "error_classification"),
    (Bug::MissingIsTransient, "put_get_head_delete"),
    (Bug::AbortIgnored, "multipart_abort"),
    (Bug::PlusIsSpace, "odd_keys"),
    (Bug::DeleteMissingFails, "delete_missing_key"),
    (Bug::PayloadChecksumsIgnored, "payload_checksums"),
];

#[derive(Debug)]
struct Buggy {
    inner: MemoryStore,
    bug: Bug,
}

impl fmt::Display for Buggy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "buggy({:?})", self.bug)
    }
}

impl Buggy {
    fn key(&self, k: &Key) -> Key {
        if self.bug == Bug::PlusIsSpace {
            Key::new(k.as_str().replace('+', " ")).unwrap()
        } else {
            k.clone()
        }
    }

    fn err<T>(&self, r: Result<T>) -> Result<T> {
        match r {
            Err(Error::NotFound { key, .. }) if self.bug == Bug::MissingIsTransient => {
                Err(Error::transient(key, "not found"))
            }
            r => r,
        }
    }
}

#[async_trait]
impl ObjectStore for Buggy {
    fn capabilities(&self) -> &Capabilities {
        self.inner.capabilities()
    }
    async fn head(&self, key: &Key) -> Result<ObjectMeta> {
        self.err(self.inner.head(&self.key(key)).await)
    }
    async fn get(&self, key: &Key, mut opts: GetOptions) -> Result<GetResponse> {
        if self.bug == Bug::RangeIgnored {
            opts.range = None;
        }
        self.err(self.inner.get(&self.key(key), opts).await)
    }
    async fn put(&self, key: &Key, body: Payload, opts: PutOptions) -> Result<PutOutcome> {
        let body = if self.bug == Bug::PayloadChecksumsIgnored {
            body.to_bytes().into()
        } else {
            body
        };
        self.inner.put(&self.key(key), body, opts).await
    }
    async fn copy(&self, src: &Key, dst: &Key, opts: CopyOptions) -> Result<PutOutcome> {
        self.err(self.inner.copy(&self.key(src), &self.key(dst), opts).await)
    }
    async fn delete(&self, key: &Key) -> Result<()> {
        if self.bug == Bug::DeleteMissingFails {
            self.inner.head(key).await?;
        }
        self.inner.delete(&self.key(key)).await
    }
    async fn delete_many(&self, keys: &[Key]) -> Result<Vec<Result<()>>> {
        let keys: Vec<Key> = keys.iter().map(|k| self.key(k)).collect();
        self.inner.delete_many(&keys).await
    }
    fn list(&self, prefix: &str, mut opts: ListOptions) -> ListStream {
        match self.bug {
            Bug::ListIgnoresDelimiter => opts.delimiter = None,
            Bug::ListOnePage => return self.inner.list(prefix, opts).take(1000).boxed(),
            Bug::ListReversed => {
                let inner = self.inner.list(prefix, opts);
                return futures::stream::once(async move {
                    let mut v: Vec<_> = inner.try_collect().await?;
                    v.reverse();
                    Ok::<_, Error>(futures::stream::iter(v.into_iter().map(Ok)))
                })
                .try_flatten()
                .boxed();
            }
            _ => {}
        }
        self.inner.list(prefix, opts)
    }
    async fn create_multipart(&self, key: &Key, opts: PutOptions) -> Result<UploadId> {
        self.inner.create_multipart(&self.key(key), opts).await
    }
    async fn upload_part(
        &self,
        key: &Key,
        id: &UploadId,
        n: PartNumber,
        body: Payload,
    ) -> Result<CompletedPart> {
        self.inner.upload_part(&self.key(key), id, n, body).await
    }
    async fn upload_part_copy(
        &self,
        src: &Key,
        range: ByteRange,
        dst: &Key,
        id: &UploadId,
        n: PartNumber,
    ) -> Result<CompletedPart> {
        let (src, dst) = (self.key(src), self.key(dst));
        self.err(self.inner.upload_part_copy(&src, range, &dst, id, n).await)
    }
    async fn list_parts(&self, key: &Key, id: &UploadId) -> Result<Vec<CompletedPart>> {
        self.inner.list_parts(&self.key(key), id).await
    }
    async fn complete_multipart(
        &self,
        key: &Key,
        id: &UploadId,
        parts: &[CompletedPart],
    ) -> Result<PutOutcome> {
        let key = self.key(key);
        if self.bug == Bug::CompleteIgnoresParts {
            let held: Vec<CompletedPart> = self
                .inner
                .list_parts(&key, id)
                .await?
                .into_iter()
                .filter(|h| parts.iter().any(|p| p.number == h.number))
                .collect();
            return self.inner.complete_multipart(&key, id, &held).await;
        }
        self.inner.complete_multipart(&key, id, parts).await
    }
    async fn abort_multipart(&self, key: &Key, id: &UploadId) -> Result<()> {
        if self.bug == Bug::AbortIgnored {
            return Ok(());
        }
        self.inner.abort_multipart(&self.key(key), id).await
    }
}

#[tokio::test]
async fn every_planted_bug_is_caught() {
    let quiet = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut missed = Vec::new();
    for (bug, case) in CAUGHT_BY {
        let store = Buggy {
            inner: MemoryStore::with_min_part_size(64),
            bug: *bug,
        };
        let caught = AssertUnwindSafe(run_case(case, &store))
            .catch_unwind()
            .await
            .is_err();
        if !caught {
            missed.push((*bug, *case));
        }
    }
    std::panic::set_hook(quiet);
    assert!(missed.is_empty(), "bugs the suite missed: {missed:?}");
}

#[tokio::test]
async fn the_honest_store_passes_what_the_buggy_ones_fail() {
    let store = MemoryStore::with_min_part_size(64);
    for (_, case) in CAUGHT_BY {
        assert_eq!(run_case(case, &store).await, Ok(()), "{case} ran");
    }
}
