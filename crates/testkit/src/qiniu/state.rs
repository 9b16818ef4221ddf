//! The emulator's memory: buckets, objects, multipart uploads, faults.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use md5::{Digest as _, Md5};

use super::sign::Policy;
use super::wire::Reply;
use super::{QiniuFault, QiniuOp};

/// One stored object.
#[derive(Debug, Clone)]
pub(crate) struct Object {
    pub(crate) data: Bytes,
    pub(crate) hash: String,
    pub(crate) md5: String,
    pub(crate) mime: String,
    /// 100-ns units since the epoch.
    pub(crate) put_time: u64,
    pub(crate) meta: BTreeMap<String, String>,
    pub(crate) headers: Headers,
    pub(crate) end_user: Option<String>,
}

/// What an upload asks to store with its file besides the bytes.
#[derive(Debug, Clone, Default)]
pub(crate) struct FileAttrs {
    /// `mimeType` (the form's file part Content-Type).
    pub(crate) mime: Option<String>,
    /// `x-qn-meta-<name>` fields, by name without the prefix.
    pub(crate) meta: BTreeMap<String, String>,
    pub(crate) headers: Headers,
}

/// The HTTP headers an upload may set for its object's downloads
/// (`cacheControl`, `contentEncoding`, `contentDisposition` fields). Stat
/// does not report them (Kodo documents no such stat fields); downloads
/// answer with them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Headers {
    pub(crate) cache_control: Option<String>,
    pub(crate) content_encoding: Option<String>,
    pub(crate) content_disposition: Option<String>,
}

impl Headers {
    /// The headers as a download answers with them.
    pub(crate) fn pairs(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            ("cache-control", &self.cache_control),
            ("content-encoding", &self.content_encoding),
            ("content-disposition", &self.content_disposition),
        ]
        .into_iter()
        .filter_map(|(n, v)| Some((n, v.as_deref()?)))
    }
}

impl Object {
    /// The stat answer's fields.
    pub(crate) fn stat(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "fsize": self.data.len(),
            "hash": self.hash,
            "md5": self.md5,
            "mimeType": self.mime,
            "putTime": self.put_time,
            "type": 0,
        });
        if !self.meta.is_empty() {
            v["x-qn-meta"] = serde_json::json!(self.meta);
        }
        if let Some(u) = &self.end_user {
            v["endUser"] = serde_json::json!(u);
        }
        v
    }
}

/// A bucket.
#[derive(Debug, Default)]
pub(crate) struct Bucket {
    pub(crate) private: bool,
    pub(crate) objects: BTreeMap<String, Object>,
}

/// One uploaded part.
#[derive(Debug, Clone)]
pub(crate) struct Part {
    pub(crate) data: Bytes,
    pub(crate) etag: String,
    pub(crate) put_time: u64,
}

/// A resumable (v2) upload in progress.
#[derive(Debug)]
pub(crate) struct Upload {
    pub(crate) bucket: String,
    /// `None` for `~` (the key comes from the policy or the hash).
    pub(crate) key: Option<String>,
    pub(crate) parts: BTreeMap<u32, Part>,
    pub(crate) expire_at: u64,
}

/// A resumable (v1) block being filled, under its latest ctx.
#[derive(Debug)]
pub(crate) struct Block {
    /// The size announced by mkblk.
    pub(crate) size: u64,
    pub(crate) data: bytes::BytesMut,
}

/// Everything, behind one lock held only between awaits.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) access_key: String,
    pub(crate) secret_key: String,
    pub(crate) buckets: BTreeMap<String, Bucket>,
    pub(crate) uploads: HashMap<String, Upload>,
    pub(crate) blocks: HashMap<String, Block>,
    pub(crate) faults: Vec<QiniuFault>,
    pub(crate) requests: HashMap<QiniuOp, u64>,
    pub(crate) auth_failures: u64,
    pub(crate) next_id: u64,
    pub(crate) skew_secs: i64,
}

/// What a matching fault does to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Injected {
    /// Answer with this status, untouched.
    Status(u16),
    /// Store the uploaded bytes with one flipped.
    Corrupt,
}

impl State {
    /// Unix seconds on the server's (possibly skewed) clock.
    pub(crate) fn now(&self) -> u64 {
        let real = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        real.saturating_add_signed(self.skew_secs)
    }

    /// `now` in 100-ns units, on the same clock.
    pub(crate) fn put_time(&self) -> u64 {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        ((nanos / 100) as u64).saturating_add_signed(self.skew_secs.saturating_mul(10_000_000))
    }

    /// A fresh id (upload ids, request ids).
    pub(crate) fn fresh_id(&mut self) -> String {
        self.next_id += 1;
        format!("{:016x}{:08x}", rand::random::<u64>(), self.next_id)
    }

    /// Counts a request of `op` and takes the fault it meets, if any.
    pub(crate) fn admit(&mut self, op: QiniuOp) -> Option<Injected> {
        *self.requests.entry(op).or_default() += 1;
        let idx = self
            .faults
            .iter()
            .position(|f| f.op == op || f.op == QiniuOp::Any)?;
        let f = &mut self.faults[idx];
        if f.skip > 0 {
            f.skip -= 1;
            return None;
        }
        let injected = match f.status {
            0 => Injected::Corrupt,
            s => Injected::Status(s),
        };
        f.times = f.times.saturating_sub(1);
        if f.times == 0 {
            self.faults.remove(idx);
        }
        Some(injected)
    }

    /// The bucket `name`, or the 631 answer.
    pub(crate) fn bucket(&mut self, name: &str) -> Result<&mut Bucket, Reply> {
        self.buckets
            .get_mut(name)
            .ok_or_else(|| Reply::error(631, "no such bucket"))
    }

    /// Stores `data` at `key` under `policy` (scope, insert-only, size
    /// limits, deadline), as a file is created at the end of an upload.
    pub(crate) fn create_file(
        &mut self,
        policy: &Policy,
        key: &str,
        data: Bytes,
        hash: String,
        attrs: FileAttrs,
    ) -> Result<(), Reply> {
        let FileAttrs {
            mime,
            meta,
            headers,
        } = attrs;
        if self.now() > policy.deadline {
            return Err(Reply::error(401, "token out of date"));
        }
        if !policy.allows(key) {
            return Err(Reply::error(403, "key doesn't match with scope"));
        }
        if policy.fsize_limit.is_some_and(|l| data.len() as u64 > l) {
            return Err(Reply::error(413, "request entity too large"));
        }
        if policy.fsize_min.is_some_and(|m| (data.len() as u64) < m) {
            return Err(Reply::error(403, "file size is smaller than fsizeMin"));
        }
        let put_time = self.put_time();
        let bucket = self.bucket(policy.bucket())?;
        if let Some(old) = bucket.objects.get(key)
            && policy.refuses_overwrite(&old.hash, &hash)
        {
            return Err(Reply::error(614, "file exists"));
        }
        let md5 = hex(&Md5::digest(&data));
        bucket.objects.insert(
            key.to_owned(),
            Object {
                data,
                hash,
                md5,
                mime: mime
                    .filter(|m| !m.is_empty())
                    .unwrap_or_else(|| "application/octet-stream".to_owned()),
                put_time,
                meta,
                headers,
                end_user: policy.end_user.clone(),
            },
        );
        Ok(())
    }
}

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// `data` with its first byte flipped (for the corruption fault).
pub(crate) fn corrupt(data: &Bytes) -> Bytes {
    let mut v = data.to_vec();
    if let Some(b) = v.first_mut() {
        *b ^= 0xff;
    }
    v.into()
}

/// The answer to a created file: the policy's `returnBody` with its
/// variables filled in, else `{"hash", "key"}`.
pub(crate) fn put_reply(policy: &Policy, key: &str, obj: &Object, fname: &str) -> Reply {
    let Some(tpl) = &policy.return_body else {
        return Reply::json(200, &serde_json::json!({ "hash": obj.hash, "key": key }));
    };
    let q = |s: &str| serde_json::Value::String(s.to_owned()).to_string();
    let body = tpl
        .replace("$(key)", &q(key))
        .replace("$(etag)", &q(&obj.hash))
        .replace("$(hash)", &q(&obj.hash))
        .replace("$(fsize)", &obj.data.len().to_string())
        .replace("$(mimeType)", &q(&obj.mime))
        .replace("$(fname)", &q(fname))
        .replace("$(bucket)", &q(policy.bucket()));
    Reply {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        body: Bytes::from(body),
    }
}

/// The key a file is created under: `saveKey` when forced, else the
/// upload's key, else the scope's key, else `saveKey`, else the hash.
pub(crate) fn resolve_key(policy: &Policy, given: Option<&str>, hash: &str) -> String {
    let save = policy
        .save_key
        .as_deref()
        .map(|k| k.replace("$(etag)", hash));
    if policy.force_save_key == Some(true)
        && let Some(k) = save.clone()
    {
        return k;
    }
    if let Some(k) = given {
        return k.to_owned();
    }
    if policy.is_prefixal_scope.unwrap_or(0) == 0
        && let Some(k) = policy.scope_key()
    {
        return k.to_owned();
    }
    save.unwrap_or_else(|| hash.to_owned())
}

/// The state behind its lock.
#[derive(Debug, Default)]
pub(crate) struct Shared(Mutex<State>);

impl Shared {
    pub(crate) fn new(state: State) -> Self {
        Self(Mutex::new(state))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
