use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use super::rules::Op;

const OPS: usize = Op::ALL.len();

/// A snapshot of what a [`FaultStore`](crate::FaultStore) saw since it was
/// made or [`reset`](crate::FaultStore::reset_stats).
///
/// A `get` or `list` counts as in flight from the call until its stream ends
/// or is dropped, so slow body readers show up as concurrency.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultStats {
    /// Calls per method (every method present, zeros included), faulted ones too.
    pub requests: BTreeMap<Op, u64>,
    /// Faults other than delays that were injected.
    pub faults_injected: u64,
    /// Delays that were injected.
    pub delays_injected: u64,
    /// Sum of payload lengths sent to `put` and `upload_part`, counted when
    /// the call is made (faulted and retried calls too).
    pub bytes_uploaded: u64,
    /// Bytes yielded by `get` bodies.
    pub bytes_downloaded: u64,
    /// Calls in flight now.
    pub in_flight: u64,
    /// Most calls in flight at once.
    pub max_in_flight: u64,
    /// Most calls of each method in flight at once (every method present).
    pub max_in_flight_by_op: BTreeMap<Op, u64>,
    /// Distinct keys with a write call (`put`, `copy`, `create_multipart`,
    /// `upload_part`, `upload_part_copy`, `complete_multipart`) in flight now.
    pub keys_writing: u64,
    /// Most distinct keys with a write call in flight at once.
    pub max_keys_writing: u64,
    /// Payload bytes of `put` and `upload_part` calls in flight now.
    pub bytes_in_flight: u64,
    /// Most payload bytes of `put` and `upload_part` calls in flight at once.
    pub max_bytes_in_flight: u64,
    /// The largest body handed over whole (to `put` or `upload_part`); a
    /// body streamed through `put_stream` or `upload_part_stream` is never
    /// held whole and does not count.
    pub largest_gathered_body: u64,
}

impl FaultStats {
    /// Calls of `op`; all calls for [`Op::Any`].
    #[must_use]
    pub fn requests(&self, op: Op) -> u64 {
        match op {
            Op::Any => self.requests.values().sum(),
            op => self.requests.get(&op).copied().unwrap_or(0),
        }
    }

    /// Most calls of `op` in flight at once; overall for [`Op::Any`].
    #[must_use]
    pub fn max_in_flight_of(&self, op: Op) -> u64 {
        match op {
            Op::Any => self.max_in_flight,
            op => self.max_in_flight_by_op.get(&op).copied().unwrap_or(0),
        }
    }
}

/// The live counters.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    requests: [AtomicU64; OPS],
    in_flight_by_op: [AtomicU64; OPS],
    max_in_flight_by_op: [AtomicU64; OPS],
    pub(crate) in_flight: AtomicU64,
    max_in_flight: AtomicU64,
    pub(crate) faults_injected: AtomicU64,
    pub(crate) delays_injected: AtomicU64,
    bytes_uploaded: AtomicU64,
    pub(crate) bytes_downloaded: AtomicU64,
    bytes_in_flight: AtomicU64,
    max_bytes_in_flight: AtomicU64,
    pub(crate) largest_gathered_body: AtomicU64,
    writing: Mutex<HashMap<String, u64>>,
    max_keys_writing: AtomicU64,
}

fn bump(now: &AtomicU64, max: &AtomicU64, by: u64) {
    let v = now.fetch_add(by, Ordering::SeqCst) + by;
    max.fetch_max(v, Ordering::SeqCst);
}

impl Counters {
    pub(crate) fn snapshot(&self) -> FaultStats {
        let load = |a: &AtomicU64| a.load(Ordering::SeqCst);
        let per_op = |arr: &[AtomicU64; OPS]| {
            Op::ALL
                .iter()
                .zip(arr)
                .map(|(op, a)| (*op, load(a)))
                .collect()
        };
        FaultStats {
            requests: per_op(&self.requests),
            faults_injected: load(&self.faults_injected),
            delays_injected: load(&self.delays_injected),
            bytes_uploaded: load(&self.bytes_uploaded),
            bytes_downloaded: load(&self.bytes_downloaded),
            in_flight: load(&self.in_flight),
            max_in_flight: load(&self.max_in_flight),
            max_in_flight_by_op: per_op(&self.max_in_flight_by_op),
            keys_writing: self.writing().len() as u64,
            max_keys_writing: load(&self.max_keys_writing),
            bytes_in_flight: load(&self.bytes_in_flight),
            max_bytes_in_flight: load(&self.max_bytes_in_flight),
            largest_gathered_body: load(&self.largest_gathered_body),
        }
    }

    /// Zeroes the totals; maxima restart from what is in flight now.
    pub(crate) fn reset(&self) {
        let zero = |a: &AtomicU64| a.store(0, Ordering::SeqCst);
        let rebase = |max: &AtomicU64, now: &AtomicU64| {
            max.store(now.load(Ordering::SeqCst), Ordering::SeqCst);
        };
        self.requests.iter().for_each(zero);
        zero(&self.faults_injected);
        zero(&self.delays_injected);
        zero(&self.bytes_uploaded);
        zero(&self.bytes_downloaded);
        zero(&self.largest_gathered_body);
        rebase(&self.max_in_flight, &self.in_flight);
        for (max, now) in self.max_in_flight_by_op.iter().zip(&self.in_flight_by_op) {
            rebase(max, now);
        }
        rebase(&self.max_bytes_in_flight, &self.bytes_in_flight);
        let writing = self.writing();
        self.max_keys_writing
            .store(writing.len() as u64, Ordering::SeqCst);
    }

    fn writing(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        self.writing.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One call in flight; counts it on creation and uncounts it on drop.
#[derive(Debug)]
pub(crate) struct InFlight {
    counters: Arc<Counters>,
    index: usize,
    write_key: Option<String>,
    bytes: u64,
}

impl InFlight {
    /// Counts a call of `op` on `key` sending `bytes` of payload.
    pub(crate) fn enter(counters: &Arc<Counters>, op: Op, key: &str, bytes: u64) -> Self {
        let index = op.index().unwrap_or(0);
        let c = counters;
        c.requests[index].fetch_add(1, Ordering::SeqCst);
        bump(&c.in_flight, &c.max_in_flight, 1);
        bump(&c.in_flight_by_op[index], &c.max_in_flight_by_op[index], 1);
        c.bytes_uploaded.fetch_add(bytes, Ordering::SeqCst);
        bump(&c.bytes_in_flight, &c.max_bytes_in_flight, bytes);
        let write_key = op.is_write().then(|| {
            let mut writing = c.writing();
            *writing.entry(key.to_owned()).or_default() += 1;
            c.max_keys_writing
                .fetch_max(writing.len() as u64, Ordering::SeqCst);
            key.to_owned()
        });
        Self {
            counters: Arc::clone(counters),
            index,
            write_key,
            bytes,
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let c = &self.counters;
        c.in_flight.fetch_sub(1, Ordering::SeqCst);
        c.in_flight_by_op[self.index].fetch_sub(1, Ordering::SeqCst);
        c.bytes_in_flight.fetch_sub(self.bytes, Ordering::SeqCst);
        if let Some(key) = self.write_key.take() {
            let mut writing = c.writing();
            if let Some(n) = writing.get_mut(&key) {
                *n -= 1;
                if *n == 0 {
                    writing.remove(&key);
                }
            }
        }
    }
}
