//! A store wrapper that injects failures by rule and counts what passes.

mod rules;
mod stats;

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use futures::stream::{self, BoxStream};
use haul_core::{
    ByteRange, Capabilities, CompletedPart, CopyOptions, Error, GetOptions, GetResponse, Key,
    ListOptions, ListStream, ObjectMeta, ObjectStore, PartNumber, Payload, PayloadStream,
    PutOptions, PutOutcome, Result, UploadId,
};
use rand::SeedableRng;
use rand::rngs::StdRng;

pub use rules::{Fault, FaultRule, Op, Trigger};
pub use stats::FaultStats;

use rules::{Plan, Rules};
use stats::{Counters, InFlight};

/// Wraps a store and injects failures by [`FaultRule`], deterministically
/// from a seed, while counting requests, bytes and concurrency.
///
/// Every call is counted, faulted or not (see [`FaultStats`]). Rules are
/// tried in order on each call; delays add up and the first other fault that
/// fires wins. With the same seed, rules and sequence of calls, the same calls
/// fail; concurrent calls draw from the rng in the order they arrive.
///
/// Display is `fault(<inner>)`.
pub struct FaultStore {
    inner: Arc<dyn ObjectStore>,
    seed: u64,
    rules: Mutex<Rules>,
    counters: Arc<Counters>,
}

impl FaultStore {
    /// Wraps `inner` with no rules (a pure counter) and an rng seeded with `seed`.
    #[must_use]
    pub fn new(inner: Arc<dyn ObjectStore>, seed: u64) -> Self {
        Self {
            inner,
            seed,
            rules: Mutex::new(Rules::new(StdRng::seed_from_u64(seed))),
            counters: Arc::default(),
        }
    }

    /// Installs `rules` (builder form of [`set_rules`](Self::set_rules)).
    #[must_use]
    pub fn with_rules(self, rules: Vec<FaultRule>) -> Self {
        self.set_rules(rules);
        self
    }

    /// Replaces the rules; their match and fire counts start again at zero.
    /// The rng carries on.
    pub fn set_rules(&self, rules: Vec<FaultRule>) {
        self.lock_rules().set(rules);
    }

    /// Appends one rule.
    pub fn add_rule(&self, rule: FaultRule) {
        self.lock_rules().push(rule);
    }

    /// Removes every rule: the store only counts from now on.
    pub fn clear_rules(&self) {
        self.lock_rules().set(Vec::new());
    }

    /// The rules installed now.
    #[must_use]
    pub fn rules(&self) -> Vec<FaultRule> {
        self.lock_rules().rules()
    }

    /// The seed the rng started from.
    #[must_use]
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The wrapped store.
    #[must_use]
    pub fn inner(&self) -> &Arc<dyn ObjectStore> {
        &self.inner
    }

    /// A snapshot of the counters.
    #[must_use]
    pub fn stats(&self) -> FaultStats {
        self.counters.snapshot()
    }

    /// Zeroes the totals; maxima restart from what is in flight now.
    pub fn reset_stats(&self) {
        self.counters.reset();
    }

    fn lock_rules(&self) -> MutexGuard<'_, Rules> {
        self.rules.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn enter(&self, op: Op, key: &str, bytes: u64) -> InFlight {
        InFlight::enter(&self.counters, op, key, bytes)
    }

    /// Decides the call's fate and counts what was injected.
    fn decide(&self, op: Op, key: &str) -> Plan {
        let in_flight = self.counters.in_flight.load(Ordering::SeqCst);
        let plan = self.lock_rules().decide(op, key, in_flight);
        if !plan.delay.is_zero() {
            self.counters.delays_injected.fetch_add(1, Ordering::SeqCst);
        }
        if plan.fault.is_some() {
            self.counters.faults_injected.fetch_add(1, Ordering::SeqCst);
        }
        plan
    }

    /// Decides, sleeps any delay, and fails the faults that strike before the call.
    async fn before(&self, op: Op, key: &str) -> Result<Plan> {
        let plan = self.decide(op, key);
        if !plan.delay.is_zero() {
            tokio::time::sleep(plan.delay).await;
        }
        match before_error(&plan, op, key) {
            Some(e) => Err(e),
            None => Ok(plan),
        }
    }

    /// Runs a call with no payload and no stream.
    async fn call<T: Send>(
        &self,
        op: Op,
        key: &str,
        fut: impl Future<Output = Result<T>> + Send,
    ) -> Result<T> {
        let _guard = self.enter(op, key, 0);
        let plan = self.before(op, key).await?;
        after(&plan, op, key, fut.await)
    }

    /// Runs a call that sends a payload, corrupting it if the plan says so.
    async fn send<T, F, Fut>(&self, op: Op, key: &str, body: Payload, call: F) -> Result<T>
    where
        F: FnOnce(Payload) -> Fut + Send,
        Fut: Future<Output = Result<T>> + Send,
    {
        let _guard = self.enter(op, key, body.len());
        self.counters
            .largest_gathered_body
            .fetch_max(body.len(), Ordering::SeqCst);
        let plan = self.before(op, key).await?;
        let body = corrupt(&plan, body);
        after(&plan, op, key, call(body).await)
    }
}

/// The payload with one byte flipped when the plan corrupts bodies.
fn corrupt(plan: &Plan, body: Payload) -> Payload {
    if matches!(plan.fault, Some(Fault::CorruptBody)) && !body.is_empty() {
        let mut bytes = BytesMut::from(&body.to_bytes()[..]);
        bytes[(plan.pick % body.len()) as usize] ^= 0xff;
        Payload::from(bytes.freeze()).with_checksums(body.checksums().to_vec())
    } else {
        body
    }
}

/// The error a fault that strikes before the call produces.
fn before_error(plan: &Plan, op: Op, key: &str) -> Option<Error> {
    match plan.fault? {
        Fault::TransientBefore => Some(Error::transient(
            key,
            format!("injected fault: {op} failed before reaching the store"),
        )),
        Fault::RateLimited(retry_after) => Some(Error::RateLimited {
            key: key.to_owned(),
            retry_after,
        }),
        Fault::Error(make) => Some(make(key)),
        _ => None,
    }
}

/// The error that replaces a successful answer that was lost.
fn lost_answer(op: Op, key: &str) -> Error {
    Error::transient(
        key,
        format!("injected fault: {op} succeeded but its answer was lost"),
    )
}

fn after<T>(plan: &Plan, op: Op, key: &str, res: Result<T>) -> Result<T> {
    match (plan.fault, res) {
        (Some(Fault::TransientAfter), Ok(_)) => Err(lost_answer(op, key)),
        (_, res) => res,
    }
}

/// How a `get` body is damaged.
struct BodyState {
    inner: BoxStream<'static, Result<Bytes>>,
    counters: Arc<Counters>,
    guard: Option<InFlight>,
    key: String,
    /// Bytes yielded so far.
    pos: u64,
    /// Stop after this many bytes.
    limit: Option<u64>,
    /// End a truncated body with an error.
    error_at_limit: bool,
    /// Flip the byte at this offset.
    corrupt_at: Option<u64>,
    /// Nothing more to yield.
    done: bool,
}

impl BodyState {
    /// The next item, or `None` at the end (which also ends the call's flight).
    async fn next(&mut self) -> Option<Result<Bytes>> {
        if self.done {
            return None;
        }
        if self.limit.is_some_and(|l| self.pos >= l) {
            self.finish();
            return self.error_at_limit.then(|| {
                Err(Error::transient(
                    self.key.as_str(),
                    format!("injected fault: body cut after {} bytes", self.pos),
                ))
            });
        }
        match self.inner.next().await {
            None => {
                self.finish();
                None
            }
            Some(Err(e)) => {
                self.finish();
                Some(Err(e))
            }
            Some(Ok(mut chunk)) => {
                let len = chunk.len() as u64;
                if let Some(limit) = self.limit
                    && self.pos + len > limit
                {
                    chunk.truncate((limit - self.pos) as usize);
                }
                let len = chunk.len() as u64;
                if let Some(at) = self.corrupt_at
                    && (self.pos..self.pos + len).contains(&at)
                {
                    let mut b = BytesMut::from(&chunk[..]);
                    b[(at - self.pos) as usize] ^= 0xff;
                    chunk = b.freeze();
                }
                self.pos += len;
                self.counters
                    .bytes_downloaded
                    .fetch_add(len, Ordering::SeqCst);
                Some(Ok(chunk))
            }
        }
    }

    fn finish(&mut self) {
        self.done = true;
        self.guard = None;
    }
}

impl fmt::Debug for FaultStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultStore")
            .field("inner", &self.inner)
            .field("seed", &self.seed)
            .field("rules", &self.rules())
            .finish_non_exhaustive()
    }
}

impl fmt::Display for FaultStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "fault({})", self.inner)
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl ObjectStore for FaultStore {
    fn capabilities(&self) -> &Capabilities {
        self.inner.capabilities()
    }

    async fn head(&self, key: &Key) -> Result<ObjectMeta> {
        self.call(Op::Head, key.as_str(), self.inner.head(key))
            .await
    }

    async fn get(&self, key: &Key, opts: GetOptions) -> Result<GetResponse> {
        let op = Op::Get;
        let guard = self.enter(op, key.as_str(), 0);
        let plan = self.before(op, key.as_str()).await?;
        let resp = after(&plan, op, key.as_str(), self.inner.get(key, opts).await)?;
        let len = resp.range.end - resp.range.start;
        let (limit, error_at_limit) = match plan.fault {
            Some(Fault::TruncateBody { error }) => (Some(len / 2), error),
            _ => (None, false),
        };
        let corrupt_at = matches!(plan.fault, Some(Fault::CorruptBody))
            .then(|| plan.pick.checked_rem(len))
            .flatten();
        let state = BodyState {
            inner: resp.body,
            counters: Arc::clone(&self.counters),
            guard: Some(guard),
            key: key.as_str().to_owned(),
            pos: 0,
            limit,
            error_at_limit,
            corrupt_at,
            done: false,
        };
        let body = stream::unfold(state, |mut s| async move {
            let item = s.next().await?;
            Some((item, s))
        })
        .boxed();
        Ok(GetResponse { body, ..resp })
    }

    async fn put(&self, key: &Key, body: Payload, opts: PutOptions) -> Result<PutOutcome> {
        let inner = &self.inner;
        self.send(Op::Put, key.as_str(), body, move |b| {
            inner.put(key, b, opts)
        })
        .await
    }

    async fn put_stream(
        &self,
        key: &Key,
        body: PayloadStream,
        opts: PutOptions,
    ) -> Result<PutOutcome> {
        let (op, k) = (Op::Put, key.as_str());
        let _guard = self.enter(op, k, body.len());
        let plan = self.before(op, k).await?;
        let res = if matches!(plan.fault, Some(Fault::CorruptBody)) && !body.is_empty() {
            // Damage needs the whole body: gathered, flipped, sent at once.
            let payload = corrupt(&plan, body.collect().await?);
            self.inner.put(key, payload, opts).await
        } else {
            self.inner.put_stream(key, body, opts).await
        };
        after(&plan, op, k, res)
    }

    async fn copy(&self, src: &Key, dst: &Key, opts: CopyOptions) -> Result<PutOutcome> {
        self.call(Op::Copy, dst.as_str(), self.inner.copy(src, dst, opts))
            .await
    }

    async fn delete(&self, key: &Key) -> Result<()> {
        self.call(Op::Delete, key.as_str(), self.inner.delete(key))
            .await
    }

    async fn delete_many(&self, keys: &[Key]) -> Result<Vec<Result<()>>> {
        let first = keys.first().map_or("", Key::as_str);
        let _guard = self.enter(Op::DeleteMany, first, 0);
        let plan = self.before(Op::DeleteMany, first).await?;
        let mut answer = after(
            &plan,
            Op::DeleteMany,
            first,
            self.inner.delete_many(keys).await,
        )?;
        if matches!(plan.fault, Some(Fault::ShortAnswer)) {
            answer.pop();
        }
        Ok(answer)
    }

    fn list(&self, prefix: &str, opts: ListOptions) -> ListStream {
        let op = Op::List;
        let guard = self.enter(op, prefix, 0);
        let plan = self.decide(op, prefix);
        let early = before_error(&plan, op, prefix);
        let late =
            matches!(plan.fault, Some(Fault::TransientAfter)).then(|| lost_answer(op, prefix));
        let delay = plan.delay;
        let mut inner = early.is_none().then(|| self.inner.list(prefix, opts));
        let mut tail = late;
        stream::once(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            early
        })
        .flat_map(move |early| match (early, inner.take()) {
            (Some(e), _) => stream::iter([Err(e)]).boxed(),
            (None, Some(inner)) => inner.chain(stream::iter(tail.take().map(Err))).boxed(),
            (None, None) => stream::empty().boxed(),
        })
        .map(move |item| {
            let _in_flight = &guard;
            item
        })
        .boxed()
    }

    async fn create_multipart(&self, key: &Key, opts: PutOptions) -> Result<UploadId> {
        self.call(
            Op::CreateMultipart,
            key.as_str(),
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
        let inner = &self.inner;
        self.send(Op::UploadPart, key.as_str(), body, move |b| {
            inner.upload_part(key, id, n, b)
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
        let (op, k) = (Op::UploadPart, key.as_str());
        let _guard = self.enter(op, k, body.len());
        let plan = self.before(op, k).await?;
        let res = if matches!(plan.fault, Some(Fault::CorruptBody)) && !body.is_empty() {
            // Damage needs the whole body: gathered, flipped, sent at once.
            let payload = corrupt(&plan, body.collect().await?);
            self.inner.upload_part(key, id, n, payload).await
        } else {
            self.inner.upload_part_stream(key, id, n, body).await
        };
        after(&plan, op, k, res)
    }

    async fn upload_part_copy(
        &self,
        src: &Key,
        range: ByteRange,
        dst: &Key,
        id: &UploadId,
        n: PartNumber,
    ) -> Result<CompletedPart> {
        self.call(
            Op::UploadPartCopy,
            dst.as_str(),
            self.inner.upload_part_copy(src, range, dst, id, n),
        )
        .await
    }

    async fn list_parts(&self, key: &Key, id: &UploadId) -> Result<Vec<CompletedPart>> {
        self.call(Op::ListParts, key.as_str(), self.inner.list_parts(key, id))
            .await
    }

    async fn complete_multipart(
        &self,
        key: &Key,
        id: &UploadId,
        parts: &[CompletedPart],
    ) -> Result<PutOutcome> {
        self.call(
            Op::CompleteMultipart,
            key.as_str(),
            self.inner.complete_multipart(key, id, parts),
        )
        .await
    }

    async fn abort_multipart(&self, key: &Key, id: &UploadId) -> Result<()> {
        self.call(
            Op::AbortMultipart,
            key.as_str(),
            self.inner.abort_multipart(key, id),
        )
        .await
    }
}
