//! What the emulator holds: buckets, objects, uploads, credentials, hooks.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use haul_core::ChecksumKind;
use haul_core::checksum::compute;

use super::route::CosOp;
use super::{COS_REGION, CosStats};

/// The smallest part but the last, as COS enforces it at completion.
pub(crate) const MIN_PART: usize = 1 << 20;

/// Lowercase hex MD5.
pub(crate) fn md5_hex(data: &[u8]) -> String {
    compute(ChecksumKind::Md5, data).to_hex()
}

/// CRC-64/XZ as COS reports it.
pub(crate) fn crc64(data: &[u8]) -> u64 {
    compute(ChecksumKind::Crc64Xz, data)
        .crc_value()
        .unwrap_or_default()
}

/// A stored object.
#[derive(Debug, Clone)]
pub(crate) struct Object {
    pub(crate) data: Bytes,
    /// Unquoted.
    pub(crate) etag: String,
    pub(crate) crc64: u64,
    pub(crate) modified: SystemTime,
    pub(crate) content_type: String,
    /// `x-cos-meta-*`, `Cache-Control`, `Content-Disposition`,
    /// `Content-Encoding` and `Expires` headers, names lowercase.
    pub(crate) meta: Vec<(String, String)>,
}

impl Object {
    /// An object of `data` with a plain MD5 ETag.
    pub(crate) fn new(data: Bytes, content_type: String, meta: Vec<(String, String)>) -> Self {
        Self {
            etag: md5_hex(&data),
            crc64: crc64(&data),
            data,
            modified: SystemTime::now(),
            content_type,
            meta,
        }
    }
}

/// A stored part.
#[derive(Debug, Clone)]
pub(crate) struct Part {
    pub(crate) data: Bytes,
    pub(crate) etag: String,
    pub(crate) crc64: u64,
    pub(crate) modified: SystemTime,
}

impl Part {
    pub(crate) fn new(data: Bytes) -> Self {
        Self {
            etag: md5_hex(&data),
            crc64: crc64(&data),
            data,
            modified: SystemTime::now(),
        }
    }
}

/// A multipart upload in progress.
#[derive(Debug, Clone)]
pub(crate) struct Upload {
    pub(crate) bucket: String,
    pub(crate) key: String,
    pub(crate) initiated: SystemTime,
    pub(crate) parts: BTreeMap<u32, Part>,
    pub(crate) content_type: String,
    pub(crate) meta: Vec<(String, String)>,
}

/// A bucket.
#[derive(Debug, Default)]
pub(crate) struct Bucket {
    pub(crate) region: String,
    pub(crate) objects: BTreeMap<String, Object>,
}

/// Buckets and uploads, behind one lock.
#[derive(Debug, Default)]
pub(crate) struct Store {
    pub(crate) buckets: HashMap<String, Bucket>,
    /// By upload id.
    pub(crate) uploads: BTreeMap<String, Upload>,
    next_upload: u64,
}

impl Store {
    /// A fresh upload id: long and opaque, as COS's are.
    pub(crate) fn new_upload_id(&mut self) -> String {
        self.next_upload += 1;
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        format!("{nanos:x}{:08x}haul", self.next_upload)
    }
}

/// A SecretKey and, for temporary keys, the token that must come with it.
#[derive(Debug, Clone)]
pub(crate) struct Credential {
    pub(crate) secret_key: String,
    pub(crate) token: Option<String>,
}

/// A fault waiting for its requests.
#[derive(Debug, Clone)]
pub(crate) struct Fault {
    pub(crate) op: CosOp,
    pub(crate) remaining: usize,
    pub(crate) status: u16,
    pub(crate) code: String,
}

/// Everything the server tasks share.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub(crate) store: Mutex<Store>,
    creds: Mutex<HashMap<String, Credential>>,
    faults: Mutex<VecDeque<Fault>>,
    pub(crate) corrupt_next: AtomicUsize,
    pub(crate) skew_secs: AtomicI64,
    pub(crate) requests: AtomicU64,
    pub(crate) verified: AtomicU64,
    pub(crate) auth_failures: AtomicU64,
    pub(crate) injected: AtomicU64,
}

/// Locks a mutex, recovering from a panicked holder (the data stays usable
/// for a test server).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// The server's clock, skew applied.
    pub(crate) fn now(&self) -> SystemTime {
        let skew = self.skew_secs.load(Ordering::SeqCst);
        let d = Duration::from_secs(skew.unsigned_abs());
        if skew >= 0 {
            SystemTime::now() + d
        } else {
            SystemTime::now() - d
        }
    }

    pub(crate) fn create_bucket(&self, bucket: &str, region: &str) {
        let mut store = lock(&self.store);
        let b = store.buckets.entry(bucket.to_owned()).or_default();
        b.region = if region.is_empty() {
            COS_REGION.to_owned()
        } else {
            region.to_owned()
        };
    }

    pub(crate) fn add_credentials(&self, id: &str, key: &str, token: Option<&str>) {
        lock(&self.creds).insert(
            id.to_owned(),
            Credential {
                secret_key: key.to_owned(),
                token: token.map(str::to_owned),
            },
        );
    }

    pub(crate) fn credential(&self, id: &str) -> Option<Credential> {
        lock(&self.creds).get(id).cloned()
    }

    pub(crate) fn add_fault(&self, op: CosOp, n: usize, status: u16, code: &str) {
        if n > 0 {
            lock(&self.faults).push_back(Fault {
                op,
                remaining: n,
                status,
                code: code.to_owned(),
            });
        }
    }

    /// The fault to answer a request of `op` with, if one is armed.
    pub(crate) fn take_fault(&self, op: CosOp) -> Option<Fault> {
        let mut faults = lock(&self.faults);
        let i = faults
            .iter()
            .position(|f| f.op == CosOp::Any || f.op == op)?;
        let f = faults.get_mut(i)?;
        f.remaining -= 1;
        let out = f.clone();
        if f.remaining == 0 {
            faults.remove(i);
        }
        self.injected.fetch_add(1, Ordering::SeqCst);
        Some(out)
    }

    /// Whether the next stored part is to be corrupted (and counts it).
    pub(crate) fn take_corruption(&self) -> bool {
        self.corrupt_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }

    pub(crate) fn corrupt_part(&self, upload_id: &str, n: u32) -> bool {
        let mut store = lock(&self.store);
        let Some(part) = store
            .uploads
            .get_mut(upload_id)
            .and_then(|u| u.parts.get_mut(&n))
        else {
            return false;
        };
        if part.data.is_empty() {
            return false;
        }
        part.data = flip(&part.data);
        true
    }

    pub(crate) fn object(&self, bucket: &str, key: &str) -> Option<Bytes> {
        let store = lock(&self.store);
        Some(store.buckets.get(bucket)?.objects.get(key)?.data.clone())
    }

    pub(crate) fn upload_ids(&self, bucket: &str) -> Vec<String> {
        let store = lock(&self.store);
        store
            .uploads
            .iter()
            .filter(|(_, u)| u.bucket == bucket)
            .map(|(id, _)| id.clone())
            .collect()
    }

    pub(crate) fn stats(&self) -> CosStats {
        CosStats {
            requests: self.requests.load(Ordering::SeqCst),
            verified: self.verified.load(Ordering::SeqCst),
            auth_failures: self.auth_failures.load(Ordering::SeqCst),
            injected: self.injected.load(Ordering::SeqCst),
        }
    }
}

/// `data` with its middle byte flipped.
pub(crate) fn flip(data: &[u8]) -> Bytes {
    let mut v = data.to_vec();
    if let Some(b) = v.get_mut(data.len() / 2) {
        *b ^= 0xff;
    }
    v.into()
}
