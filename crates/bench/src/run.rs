//! [`run`]: drives one store directly (not through the engine) with the
//! configured workload, timing every request.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use haul_core::{
    CompletedPart, CopyOptions, Error, GetOptions, Key, ObjectStore, PartNumber, Payload,
    PutOptions, UploadId,
};
use haul_layers::RetryPolicy;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::cleanup::{Written, cleanup};
use crate::report::{BenchReport, RequestKind, RequestLatency, RunReport, rfc3339};
use crate::stats::{Completion, LatencyHistogram, LatencySummary, Throughput, sorted_nanos};
use crate::{BenchConfig, BenchError, Result, Workload};

/// Extra bytes of generated data, so consecutive objects are different
/// slices of one buffer (no copy per request).
const SHIFT: usize = 4096;

/// One timed request.
#[derive(Debug, Clone, Copy)]
struct Record {
    kind: RequestKind,
    end: Duration,
    latency: Duration,
    ttfb: Option<Duration>,
    bytes: u64,
    objects: u64,
}

/// Benchmarks `store` with `cfg`: writes a pool first when the workload
/// reads or copies, runs once per concurrency (several with `sweep`), then
/// deletes everything it wrote (also when a run fails).
///
/// Every request is timed; a request failing with a retryable error is
/// retried up to `max_retries` times (each failure counts as an error, each
/// retry as a retry). A permanent failure (denied, not found, bad input)
/// stops the benchmark with that error.
pub async fn run(store: Arc<dyn ObjectStore>, cfg: BenchConfig) -> Result<BenchReport> {
    cfg.validate(store.capabilities())?;
    let cfg = Arc::new(cfg);
    let prefix = unique_prefix(&cfg.key_prefix);
    let started_at = rfc3339(SystemTime::now());
    let written = Written::default();
    let unit = if cfg.workload == Workload::Multipart {
        cfg.part_size.min(cfg.object_size_bytes)
    } else {
        cfg.object_size_bytes
    };
    let data = generate(unit as usize + SHIFT, cfg.seed);
    let outcome: Result<(u64, Vec<RunReport>)> = async {
        let pool = prepare(&store, &cfg, &prefix, &data, &written).await?;
        let pool = Arc::new(pool);
        let mut runs = Vec::new();
        for c in cfg.concurrencies() {
            let bench = Arc::new(Bench::new(
                Arc::clone(&store),
                Arc::clone(&cfg),
                &prefix,
                Arc::clone(&pool),
                c,
                data.clone(),
                written.clone(),
            ));
            runs.push(bench.run().await?);
        }
        Ok((pool.len() as u64, runs))
    }
    .await;
    let cleaned = cleanup(&*store, &prefix, &written).await;
    let (pool_objects, runs) = outcome?;
    Ok(BenchReport {
        haul_version: env!("CARGO_PKG_VERSION").to_owned(),
        target: store.to_string(),
        started_at,
        workload: cfg.workload,
        object_size_bytes: cfg.object_size_bytes,
        part_size_bytes: (cfg.workload == Workload::Multipart).then_some(cfg.part_size),
        objects: cfg.objects,
        duration_s: cfg.duration.map(|d| d.as_secs_f64()),
        pool_objects,
        prefix,
        runs,
        cleanup: cleaned,
    })
}

/// `<prefix>/haul-bench-<unix seconds>-<random hex>/` (no `/` is added
/// after an empty prefix or one that already ends in `/`).
pub(crate) fn unique_prefix(prefix: &str) -> String {
    let sep = if prefix.is_empty() || prefix.ends_with('/') {
        ""
    } else {
        "/"
    };
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let tag: u32 = rand::random();
    format!("{prefix}{sep}haul-bench-{secs}-{tag:08x}/")
}

/// `len` pseudo-random bytes (xorshift64: fast, incompressible).
pub(crate) fn generate(len: usize, seed: u64) -> Bytes {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut v = vec![0u8; len];
    for chunk in v.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    Bytes::from(v)
}

/// A well-mixed hash of `x` (splitmix64's finaliser).
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// `len` bytes of `data` starting at a shift that depends on `i`.
fn slice(data: &Bytes, i: u64, len: u64) -> Payload {
    let off = (mix(i) % SHIFT as u64) as usize;
    Payload::from(data.slice(off..off + len as usize))
}

/// The retry policy of a benchmark: haul's one policy, from 20 ms.
fn policy(max_retries: u32) -> RetryPolicy {
    RetryPolicy::new(max_retries as usize, Duration::from_millis(20))
}

/// Backoff before retry `attempt` (1-based), as the policy has it, or what
/// the store asked for (at most 5 s).
fn backoff(max_retries: u32, attempt: u32, asked: Option<Duration>) -> Duration {
    if let Some(d) = asked {
        return d.min(Duration::from_secs(5));
    }
    policy(max_retries)
        .delays()
        .nth(attempt.saturating_sub(1) as usize)
        .unwrap_or(haul_layers::MAX_DELAY)
}

/// Writes the pool of objects that `get`, `mixed` and `copy` read (untimed).
async fn prepare(
    store: &Arc<dyn ObjectStore>,
    cfg: &BenchConfig,
    prefix: &str,
    data: &Bytes,
    written: &Written,
) -> Result<Vec<Key>> {
    let n = cfg.pool_objects();
    let keys: Vec<Key> = (0..n)
        .map(|i| Key::new(format!("{prefix}pool-{i:08}")))
        .collect::<Result<_, _>>()?;
    futures::stream::iter(keys.iter().enumerate())
        .map(|(i, key)| {
            written.add(key.clone());
            let body = slice(data, i as u64, cfg.object_size_bytes);
            let policy = policy(cfg.max_retries);
            async move {
                policy
                    .run(0, || store.put(key, body.clone(), PutOptions::default()))
                    .await
            }
        })
        .buffer_unordered(cfg.concurrency.max(1))
        .try_collect::<Vec<_>>()
        .await?;
    Ok(keys)
}

/// State shared by the workers of one run.
struct Bench {
    store: Arc<dyn ObjectStore>,
    cfg: Arc<BenchConfig>,
    prefix: String,
    pool: Arc<Vec<Key>>,
    concurrency: usize,
    data: Bytes,
    written: Written,
    t0: Instant,
    deadline: Option<Instant>,
    next: AtomicU64,
    stop: AtomicBool,
    fatal: Mutex<Option<Error>>,
    records: Mutex<Vec<Record>>,
    errors: AtomicU64,
    retries: AtomicU64,
    failed: AtomicU64,
    /// Caps requests in flight (multipart objects share it for their parts).
    inflight: Semaphore,
}

impl Bench {
    fn new(
        store: Arc<dyn ObjectStore>,
        cfg: Arc<BenchConfig>,
        prefix: &str,
        pool: Arc<Vec<Key>>,
        concurrency: usize,
        data: Bytes,
        written: Written,
    ) -> Self {
        let t0 = Instant::now();
        Self {
            deadline: cfg.duration.map(|d| t0 + d),
            store,
            cfg,
            prefix: prefix.to_owned(),
            pool,
            concurrency,
            data,
            written,
            t0,
            next: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            fatal: Mutex::new(None),
            records: Mutex::new(Vec::new()),
            errors: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            inflight: Semaphore::new(concurrency),
        }
    }

    /// The next operation's index, or `None` once the run is over.
    fn claim(&self) -> Option<u64> {
        if self.stop.load(Ordering::Relaxed) || self.deadline.is_some_and(|d| Instant::now() >= d) {
            return None;
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        match self.cfg.objects {
            Some(n) if i >= n => None,
            _ => Some(i),
        }
    }

    fn key(&self, what: &str, i: u64) -> Result<Key, Error> {
        Key::new(format!(
            "{}c{}-{what}-{i:08}",
            self.prefix, self.concurrency
        ))
    }

    async fn run(self: Arc<Self>) -> Result<RunReport> {
        let mut workers = JoinSet::new();
        for _ in 0..self.concurrency {
            let b = Arc::clone(&self);
            workers.spawn(async move {
                while let Some(i) = b.claim() {
                    if let Err(e) = b.op(i).await {
                        if e.is_retryable() {
                            b.failed.fetch_add(1, Ordering::Relaxed);
                        } else {
                            b.stop.store(true, Ordering::Relaxed);
                            b.fatal.lock().expect("fatal lock").get_or_insert(e);
                        }
                    }
                }
            });
        }
        while let Some(r) = workers.join_next().await {
            if let Err(e) = r {
                self.stop.store(true, Ordering::Relaxed);
                return Err(BenchError::Store(Error::transient(
                    self.prefix.as_str(),
                    format!("benchmark worker failed: {e}"),
                )));
            }
        }
        let elapsed = self.t0.elapsed();
        if let Some(e) = self.fatal.lock().expect("fatal lock").take() {
            return Err(BenchError::Store(e));
        }
        let records = std::mem::take(&mut *self.records.lock().expect("records lock"));
        Ok(self.report(&records, elapsed))
    }

    fn report(&self, records: &[Record], elapsed: Duration) -> RunReport {
        let all: Vec<Duration> = records.iter().map(|r| r.latency).collect();
        let sorted = sorted_nanos(&all);
        let mut kinds: Vec<RequestKind> = records.iter().map(|r| r.kind).collect();
        kinds.sort_unstable();
        kinds.dedup();
        let by_request = kinds
            .into_iter()
            .filter_map(|k| {
                let l: Vec<Duration> = records
                    .iter()
                    .filter(|r| r.kind == k)
                    .map(|r| r.latency)
                    .collect();
                Some(RequestLatency {
                    request: k,
                    latency: LatencySummary::of(&l)?,
                })
            })
            .collect();
        let ttfb: Vec<Duration> = records.iter().filter_map(|r| r.ttfb).collect();
        let completions: Vec<Completion> = records
            .iter()
            .map(|r| Completion {
                at: r.end,
                bytes: r.bytes,
                objects: r.objects,
            })
            .collect();
        RunReport {
            concurrency: self.concurrency,
            requests: records.len() as u64,
            errors: self.errors.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            failed_operations: self.failed.load(Ordering::Relaxed),
            throughput: Throughput::of(&completions, elapsed),
            latency: LatencySummary::of_sorted_nanos(&sorted),
            by_request,
            ttfb: LatencySummary::of(&ttfb),
            histogram: LatencyHistogram::of_sorted_nanos(&sorted),
        }
    }

    /// Sends one request with bounded retries, recording every success.
    /// `f` returns the value and, for GETs, the time to the first byte.
    async fn request<T, F, Fut>(
        &self,
        kind: RequestKind,
        bytes: u64,
        objects: u64,
        mut f: F,
    ) -> Result<T, Error>
    where
        F: FnMut(Instant) -> Fut,
        Fut: Future<Output = Result<(T, Option<Duration>), Error>>,
    {
        let mut attempt = 0;
        loop {
            let permit = self.inflight.acquire().await;
            let start = Instant::now();
            let r = f(start).await;
            let end = Instant::now();
            drop(permit);
            match r {
                Ok((v, ttfb)) => {
                    let rec = Record {
                        kind,
                        end: end - self.t0,
                        latency: end - start,
                        ttfb,
                        bytes,
                        objects,
                    };
                    self.records.lock().expect("records lock").push(rec);
                    return Ok(v);
                }
                Err(e) => {
                    self.errors.fetch_add(1, Ordering::Relaxed);
                    let stopping = self.stop.load(Ordering::Relaxed);
                    if !e.is_retryable() || attempt >= self.cfg.max_retries || stopping {
                        return Err(e);
                    }
                    attempt += 1;
                    self.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(backoff(self.cfg.max_retries, attempt, e.retry_after()))
                        .await;
                }
            }
        }
    }

    async fn op(&self, i: u64) -> Result<(), Error> {
        match self.cfg.workload {
            Workload::Put => self.put(i, "obj").await,
            Workload::Get => {
                self.get(&self.pool[(i % self.pool.len() as u64) as usize])
                    .await
            }
            Workload::Copy => self.copy(i).await,
            Workload::Multipart => self.multipart(i).await,
            Workload::Mixed => {
                let r = mix(self.cfg.seed ^ mix(i));
                let key = &self.pool[(r % self.pool.len() as u64) as usize];
                match (r >> 32) % 100 {
                    0..50 => self.get(key).await,
                    50..80 => self.put(i, "mix").await,
                    _ => self.head(key).await,
                }
            }
        }
    }

    async fn put(&self, i: u64, what: &str) -> Result<(), Error> {
        let key = self.key(what, i)?;
        self.written.add(key.clone());
        let size = self.cfg.object_size_bytes;
        let body = slice(&self.data, i, size);
        let store = &self.store;
        self.request(RequestKind::Put, size, 1, |_| async {
            store
                .put(&key, body.clone(), PutOptions::default())
                .await
                .map(|_| ((), None))
        })
        .await
    }

    async fn get(&self, key: &Key) -> Result<(), Error> {
        let store = &self.store;
        let size = self.cfg.object_size_bytes;
        self.request(RequestKind::Get, size, 1, |start| async move {
            let resp = store.get(key, GetOptions::default()).await?;
            let want = resp.range.end - resp.range.start;
            let mut body = resp.body;
            let (mut got, mut ttfb) = (0u64, None);
            while let Some(chunk) = body.try_next().await? {
                if ttfb.is_none() && !chunk.is_empty() {
                    ttfb = Some(start.elapsed());
                }
                got += chunk.len() as u64;
            }
            if got != want {
                return Err(Error::transient(
                    key.as_str(),
                    format!("body ended after {got} of {want} bytes"),
                ));
            }
            Ok(((), Some(ttfb.unwrap_or_else(|| start.elapsed()))))
        })
        .await
    }

    async fn head(&self, key: &Key) -> Result<(), Error> {
        let store = &self.store;
        self.request(RequestKind::Head, 0, 0, |_| async move {
            store.head(key).await.map(|_| ((), None))
        })
        .await
    }

    async fn copy(&self, i: u64) -> Result<(), Error> {
        let src = &self.pool[(i % self.pool.len() as u64) as usize];
        let dst = self.key("copy", i)?;
        self.written.add(dst.clone());
        let store = &self.store;
        let size = self.cfg.object_size_bytes;
        self.request(RequestKind::Copy, size, 1, |_| async {
            store
                .copy(src, &dst, CopyOptions::default())
                .await
                .map(|_| ((), None))
        })
        .await
    }

    async fn multipart(&self, i: u64) -> Result<(), Error> {
        let key = self.key("mp", i)?;
        self.written.add(key.clone());
        let store = &self.store;
        let id: UploadId = self
            .request(RequestKind::CreateMultipart, 0, 0, |_| async {
                store
                    .create_multipart(&key, PutOptions::default())
                    .await
                    .map(|id| (id, None))
            })
            .await?;
        self.written.add_upload(key.clone(), id.clone());
        let (size, part) = (self.cfg.object_size_bytes, self.cfg.part_size);
        let count = self.cfg.parts_per_object();
        let (key_ref, id_ref) = (&key, &id);
        let mut parts: Vec<CompletedPart> = futures::stream::iter(1..=count)
            .map(|n| async move {
                let offset = (n - 1) * part;
                let len = part.min(size - offset);
                let body = slice(&self.data, i.wrapping_add(n), len);
                let pn = PartNumber::new(n as u32)?;
                self.request(RequestKind::UploadPart, len, 0, |_| async {
                    store
                        .upload_part(key_ref, id_ref, pn, body.clone())
                        .await
                        .map(|p| (p, None))
                })
                .await
            })
            .buffer_unordered(self.concurrency)
            .try_collect()
            .await?;
        parts.sort_by_key(|p| p.number);
        self.request(RequestKind::CompleteMultipart, 0, 1, |_| async {
            store
                .complete_multipart(&key, &id, &parts)
                .await
                .map(|_| ((), None))
        })
        .await?;
        self.written.upload_done(&key, &id);
        Ok(())
    }
}
