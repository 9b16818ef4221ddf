//! [`Timing`]: times every call of the store it wraps and hands each
//! record to a [`Recorder`] (a [`TimingLog`] in memory, a metrics
//! exporter), with a `tracing` event per call at debug level.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use haul_core::{
    ByteRange, Capabilities, CompletedPart, CopyOptions, GetOptions, GetResponse, Key, ListOptions,
    ListStream, ObjectMeta, ObjectStore, PartNumber, Payload, PayloadStream, PutOptions,
    PutOutcome, Result, UploadId,
};

/// Which call of [`ObjectStore`] was timed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// [`ObjectStore::head`].
    Head,
    /// [`ObjectStore::get`]: until the body starts, not to its end.
    Get,
    /// [`ObjectStore::put`] and [`ObjectStore::put_stream`].
    Put,
    /// [`ObjectStore::copy`].
    Copy,
    /// [`ObjectStore::delete`] and [`ObjectStore::delete_many`].
    Delete,
    /// [`ObjectStore::list`]: until its first entry.
    List,
    /// [`ObjectStore::create_multipart`].
    CreateMultipart,
    /// [`ObjectStore::upload_part`] and [`ObjectStore::upload_part_stream`].
    UploadPart,
    /// [`ObjectStore::upload_part_copy`].
    UploadPartCopy,
    /// [`ObjectStore::list_parts`].
    ListParts,
    /// [`ObjectStore::complete_multipart`].
    CompleteMultipart,
    /// [`ObjectStore::abort_multipart`].
    AbortMultipart,
}

impl Op {
    /// The snake_case name (`upload_part`).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Head => "head",
            Self::Get => "get",
            Self::Put => "put",
            Self::Copy => "copy",
            Self::Delete => "delete",
            Self::List => "list",
            Self::CreateMultipart => "create_multipart",
            Self::UploadPart => "upload_part",
            Self::UploadPartCopy => "upload_part_copy",
            Self::ListParts => "list_parts",
            Self::CompleteMultipart => "complete_multipart",
            Self::AbortMultipart => "abort_multipart",
        }
    }
}

/// One timed call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timed {
    /// Which call.
    pub op: Op,
    /// When it finished, since the layer was made.
    pub end: Duration,
    /// How long it took.
    pub latency: Duration,
    /// Payload bytes it carried (for part copies, the range; 0 when none).
    pub bytes: u64,
    /// Whether it succeeded.
    pub ok: bool,
}

/// Where timed calls go.
pub trait Recorder: Send + Sync {
    /// One call finished.
    fn record(&self, timed: Timed);
}

/// A [`Recorder`] that keeps every record in memory, in the order the calls
/// finished.
#[derive(Debug, Default)]
pub struct TimingLog {
    log: Mutex<Vec<Timed>>,
}

impl TimingLog {
    /// Every call recorded so far.
    #[must_use]
    pub fn timings(&self) -> Vec<Timed> {
        self.log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

impl Recorder for TimingLog {
    fn record(&self, timed: Timed) {
        self.log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(timed);
    }
}

/// Times the calls of the store it wraps.
pub struct Timing {
    inner: Arc<dyn ObjectStore>,
    recorder: Arc<dyn Recorder>,
    t0: Instant,
}

impl Timing {
    /// Wraps `inner`, sending a record of each call to `recorder`; times
    /// count from now.
    #[must_use]
    pub fn new(inner: Arc<dyn ObjectStore>, recorder: Arc<dyn Recorder>) -> Self {
        Self {
            inner,
            recorder,
            t0: Instant::now(),
        }
    }

    async fn timed<T>(
        &self,
        op: Op,
        bytes: u64,
        call: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        let start = Instant::now();
        let r = call.await;
        let end = Instant::now();
        let timed = Timed {
            op,
            end: end - self.t0,
            latency: end - start,
            bytes,
            ok: r.is_ok(),
        };
        tracing::debug!(
            op = op.name(),
            store = %self.inner,
            ms = timed.latency.as_secs_f64() * 1e3,
            bytes,
            ok = timed.ok,
            "request"
        );
        self.recorder.record(timed);
        r
    }
}

impl fmt::Debug for Timing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timing")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

crate::named_as_inner!(Timing);

fn range_len(range: ByteRange) -> u64 {
    match range {
        ByteRange::Bounded { start, end } => end.saturating_sub(start),
        ByteRange::From(_) => 0,
        ByteRange::Suffix(n) => n,
    }
}

#[async_trait]
impl ObjectStore for Timing {
    fn capabilities(&self) -> &Capabilities {
        self.inner.capabilities()
    }

    async fn head(&self, key: &Key) -> Result<ObjectMeta> {
        self.timed(Op::Head, 0, self.inner.head(key)).await
    }

    async fn get(&self, key: &Key, opts: GetOptions) -> Result<GetResponse> {
        self.timed(Op::Get, 0, self.inner.get(key, opts)).await
    }

    async fn put(&self, key: &Key, body: Payload, opts: PutOptions) -> Result<PutOutcome> {
        let n = body.len();
        self.timed(Op::Put, n, self.inner.put(key, body, opts))
            .await
    }

    async fn put_stream(
        &self,
        key: &Key,
        body: PayloadStream,
        opts: PutOptions,
    ) -> Result<PutOutcome> {
        let n = body.len();
        self.timed(Op::Put, n, self.inner.put_stream(key, body, opts))
            .await
    }

    async fn copy(&self, src: &Key, dst: &Key, opts: CopyOptions) -> Result<PutOutcome> {
        self.timed(Op::Copy, 0, self.inner.copy(src, dst, opts))
            .await
    }

    async fn delete(&self, key: &Key) -> Result<()> {
        self.timed(Op::Delete, 0, self.inner.delete(key)).await
    }

    async fn delete_many(&self, keys: &[Key]) -> Result<Vec<Result<()>>> {
        self.timed(Op::Delete, 0, self.inner.delete_many(keys))
            .await
    }

    fn list(&self, prefix: &str, opts: ListOptions) -> ListStream {
        use futures::StreamExt;
        let recorder = Arc::clone(&self.recorder);
        let (t0, start) = (self.t0, Instant::now());
        let mut first = true;
        self.inner
            .list(prefix, opts)
            .inspect(move |item| {
                if std::mem::take(&mut first) {
                    let end = Instant::now();
                    recorder.record(Timed {
                        op: Op::List,
                        end: end - t0,
                        latency: end - start,
                        bytes: 0,
                        ok: item.is_ok(),
                    });
                }
            })
            .boxed()
    }

    async fn create_multipart(&self, key: &Key, opts: PutOptions) -> Result<UploadId> {
        self.timed(
            Op::CreateMultipart,
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
            Op::UploadPart,
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
            Op::UploadPart,
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
            Op::UploadPartCopy,
            range_len(range),
            self.inner.upload_part_copy(src, range, dst, id, n),
        )
        .await
    }

    async fn list_parts(&self, key: &Key, id: &UploadId) -> Result<Vec<CompletedPart>> {
        self.timed(Op::ListParts, 0, self.inner.list_parts(key, id))
            .await
    }

    async fn complete_multipart(
        &self,
        key: &Key,
        id: &UploadId,
        parts: &[CompletedPart],
    ) -> Result<PutOutcome> {
        self.timed(
            Op::CompleteMultipart,
            0,
            self.inner.complete_multipart(key, id, parts),
        )
        .await
    }

    async fn abort_multipart(&self, key: &Key, id: &UploadId) -> Result<()> {
        self.timed(Op::AbortMultipart, 0, self.inner.abort_multipart(key, id))
            .await
    }
}
