//! [`NosServer`]: NetEase Yunxin's file upload API and a NOS download host
//! on loopback ports, in memory, after protocols.md §4.
//!
//! * `POST /nimserver/msg/upload.action` (form-urlencoded, base64
//!   `content`, at most 15,000,000 characters) and
//!   `POST /nimserver/msg/fileUpload.action` (`multipart/form-data`, the
//!   file in `content`, at most 15 MB) answer HTTP 200 with
//!   `{"code":200,"url":...}` or `{"code":...,"desc":...}`.
//! * Every call is authenticated: `AppKey`, `Nonce` (≤ 128 characters,
//!   never seen before: 431 otherwise), `CurTime` within 5 minutes of the
//!   server's clock and `CheckSum = hex(sha1(secret + nonce + curtime))`;
//!   missing headers are 414, a wrong key, checksum or time 302.
//! * Parameters: `expireSec` ≥ 86400 (414), `tag` ≤ 32 characters (405),
//!   `type` over 128 characters is dropped, empty content is 414,
//!   oversized content 405.
//! * Each upload gets a new URL on the download host, which serves `GET`
//!   and `HEAD` with `Range`, and `<Error><Code>NoSuchKey</Code>` (404)
//!   for unknown files. `ishttps` is recorded, but URLs are `http://`.
//! * Hooks: [`fail_next`](NosServer::fail_next) answers calls with a
//!   Yunxin code (416: rate limited, 414, 403, ...) or, for downloads, an
//!   HTTP status; [`lose_next`](NosServer::lose_next) stores an upload and
//!   drops the connection without answering;
//!   [`set_clock_skew`](NosServer::set_clock_skew) moves the clock.
//!
//! ```
//! use haul_testkit::nos::{NosOp, NosServer};
//!
//! let server = NosServer::start();
//! assert!(server.api_url().ends_with("/nimserver"));
//! assert_eq!(server.requests(NosOp::Any), 0);
//! ```

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use bytes::Bytes;
use sha1::{Digest as _, Sha1};

use crate::emu::{
    Reply, Req, Runtime, hex, md5_hex, parse_form_data, parse_urlencoded, serve_bytes,
};

/// The app key [`NosServer::start`] accepts.
pub const NOS_APP_KEY: &str = "haulnosappkey0123456789abcdef01";
/// The app secret that goes with [`NOS_APP_KEY`].
pub const NOS_APP_SECRET: &str = "haulnossecret0123";
/// The largest file `fileUpload.action` takes: 15 MB.
pub const NOS_MAX_FILE_BYTES: usize = 15 << 20;
/// The most base64 characters `upload.action` takes.
pub const NOS_MAX_BASE64_CHARS: usize = 15_000_000;

/// The kinds of request, for counting and for fault hooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NosOp {
    /// Every request (hooks and counts only).
    Any,
    /// `msg/upload.action` (base64).
    Upload,
    /// `msg/fileUpload.action` (multipart).
    FileUpload,
    /// A GET or HEAD on the download host.
    Download,
    /// Anything else.
    Other,
}

/// A stored file, as the service recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NosFile {
    /// The bytes.
    pub data: Bytes,
    /// `type`, if given (and ≤ 128 characters).
    pub file_type: Option<String>,
    /// `tag`, if given.
    pub tag: Option<String>,
    /// `expireSec`, if given.
    pub expire_secs: Option<u64>,
    /// `ishttps`.
    pub https: bool,
    /// The file name of a `fileUpload.action` upload.
    pub name: Option<String>,
    /// Which call stored it.
    pub via: NosOp,
    created: SystemTime,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Code(u16),
    Lose,
}

#[derive(Debug, Clone, Copy)]
struct Fault {
    op: NosOp,
    kind: Kind,
    times: u32,
}

#[derive(Debug, Default)]
struct State {
    files: HashMap<String, NosFile>,
    nonces: HashSet<String>,
    faults: Vec<Fault>,
    requests: HashMap<NosOp, u64>,
    auth_failures: u64,
    skew_secs: i64,
    next_id: u64,
}

impl State {
    fn admit(&mut self, op: NosOp) -> Option<Kind> {
        *self.requests.entry(op).or_default() += 1;
        let idx = self
            .faults
            .iter()
            .position(|f| f.op == op || f.op == NosOp::Any)?;
        let f = &mut self.faults[idx];
        let kind = f.kind;
        f.times = f.times.saturating_sub(1);
        if f.times == 0 {
            self.faults.remove(idx);
        }
        Some(kind)
    }

    fn now(&self) -> u64 {
        let real = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        real.saturating_add_signed(self.skew_secs)
    }
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    cdn: Mutex<String>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// An in-memory Yunxin upload API and NOS download host on `127.0.0.1`,
/// served from its own thread. Stops when dropped.
#[derive(Debug)]
pub struct NosServer {
    shared: Arc<Shared>,
    api: std::net::SocketAddr,
    cdn: std::net::SocketAddr,
    _rt: Runtime,
}

fn code(code: u16, desc: &str) -> Reply {
    Reply::json(200, &serde_json::json!({ "code": code, "desc": desc }))
}

impl NosServer {
    /// Starts a server accepting [`NOS_APP_KEY`] and [`NOS_APP_SECRET`].
    ///
    /// # Panics
    /// When no loopback port can be bound or no runtime built.
    #[must_use]
    pub fn start() -> Self {
        let shared = Arc::new(Shared::default());
        let rt = Runtime::start("nos-server");
        let s = Arc::clone(&shared);
        let api = rt.listen(Arc::new(move |req| api(&s, &req)));
        let s = Arc::clone(&shared);
        let cdn = rt.listen(Arc::new(move |req| download(&s, &req)));
        *shared.cdn.lock().unwrap_or_else(PoisonError::into_inner) = format!("http://{cdn}");
        Self {
            shared,
            api,
            cdn,
            _rt: rt,
        }
    }

    /// `http://127.0.0.1:<port>/nimserver`, the API base URL.
    #[must_use]
    pub fn api_url(&self) -> String {
        format!("http://{}/nimserver", self.api)
    }

    /// `http://127.0.0.1:<port>`, the download host.
    #[must_use]
    pub fn download_host(&self) -> String {
        format!("http://{}", self.cdn)
    }

    /// The `YUNXIN_*` variables that point a client here.
    #[must_use]
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("YUNXIN_APP_KEY", NOS_APP_KEY.to_owned()),
            ("YUNXIN_APP_SECRET", NOS_APP_SECRET.to_owned()),
            ("YUNXIN_API_URL", self.api_url()),
            ("YUNXIN_NOS_HTTPS", "false".to_owned()),
        ]
    }

    /// Answers the next `n` requests of `op` ([`NosOp::Any`]: any) with
    /// Yunxin code `code` (HTTP 200) — or, for downloads, HTTP status
    /// `code` — without storing anything.
    pub fn fail_next(&self, op: NosOp, n: u32, code: u16) {
        if n > 0 {
            self.shared.lock().faults.push(Fault {
                op,
                kind: Kind::Code(code),
                times: n,
            });
        }
    }

    /// Lets the next `n` uploads of `op` store their file, then closes the
    /// connection without answering: an answer lost after the work was done.
    pub fn lose_next(&self, op: NosOp, n: u32) {
        if n > 0 {
            self.shared.lock().faults.push(Fault {
                op,
                kind: Kind::Lose,
                times: n,
            });
        }
    }

    /// Moves the server's clock by `secs` (negative: into the past).
    pub fn set_clock_skew(&self, secs: i64) {
        self.shared.lock().skew_secs = secs;
    }

    /// How many requests of `op` arrived ([`NosOp::Any`]: all of them).
    #[must_use]
    pub fn requests(&self, op: NosOp) -> u64 {
        let s = self.shared.lock();
        match op {
            NosOp::Any => s.requests.values().sum(),
            op => s.requests.get(&op).copied().unwrap_or(0),
        }
    }

    /// How many calls were refused for their authentication headers.
    #[must_use]
    pub fn auth_failures(&self) -> u64 {
        self.shared.lock().auth_failures
    }

    /// How many files are stored.
    #[must_use]
    pub fn file_count(&self) -> usize {
        self.shared.lock().files.len()
    }

    /// The file a download URL serves, if any.
    #[must_use]
    pub fn file(&self, url: &str) -> Option<NosFile> {
        let path = url.strip_prefix(&self.download_host())?;
        self.shared.lock().files.get(path).cloned()
    }
}

/// Checks the four authentication headers; the refusal otherwise.
fn authenticate(s: &mut State, req: &Req) -> Result<(), Reply> {
    let (Some(key), Some(nonce), Some(time), Some(sum)) = (
        req.header("appkey"),
        req.header("nonce"),
        req.header("curtime"),
        req.header("checksum"),
    ) else {
        s.auth_failures += 1;
        return Err(code(
            414,
            "AppKey, Nonce, CurTime and CheckSum headers are required",
        ));
    };
    let refuse = |s: &mut State, c: u16, why: &str| {
        s.auth_failures += 1;
        Err(code(c, why))
    };
    if key != NOS_APP_KEY {
        return refuse(s, 302, "unknown AppKey");
    }
    if nonce.is_empty() || nonce.len() > 128 {
        return refuse(s, 414, "Nonce must be 1 to 128 characters");
    }
    let Ok(t) = time.parse::<u64>() else {
        return refuse(s, 414, "CurTime is not a number of seconds");
    };
    if t.abs_diff(s.now()) > 300 {
        return refuse(s, 302, "CurTime is more than 5 minutes off");
    }
    let mut h = Sha1::new();
    h.update(NOS_APP_SECRET.as_bytes());
    h.update(nonce.as_bytes());
    h.update(time.as_bytes());
    let want = hex(&h.finalize());
    if sum != want {
        return refuse(s, 302, "CheckSum mismatch");
    }
    if !s.nonces.insert(nonce.to_owned()) {
        return refuse(s, 431, "duplicate HTTP request: Nonce already used");
    }
    Ok(())
}

/// An upload's bytes, its other parameters and its file name.
type Upload = (Bytes, Vec<(String, String)>, Option<String>);

/// The upload's bytes and parameters, or the refusal.
fn read_upload(req: &Req, op: NosOp) -> Result<Upload, Reply> {
    let ct = req.header("content-type").unwrap_or("");
    if op == NosOp::Upload {
        if !ct
            .to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
        {
            return Err(code(
                414,
                "upload.action takes application/x-www-form-urlencoded",
            ));
        }
        let params = parse_urlencoded(&String::from_utf8_lossy(&req.body));
        let content = params
            .iter()
            .find(|(n, _)| n == "content")
            .map_or("", |(_, v)| v.as_str());
        if content.is_empty() {
            return Err(code(414, "content is empty"));
        }
        if content.len() > NOS_MAX_BASE64_CHARS {
            return Err(code(405, "content is longer than 15M characters"));
        }
        let data = base64::engine::general_purpose::STANDARD
            .decode(content)
            .map_err(|_| code(414, "content is not base64"))?;
        return Ok((data.into(), params, None));
    }
    let fields = parse_form_data(ct, &req.body).map_err(|e| code(414, &e))?;
    let mut params = Vec::new();
    let mut file = None;
    for f in fields {
        if f.name == "content" {
            file = Some((f.data, f.file_name));
        } else {
            params.push((f.name, String::from_utf8_lossy(&f.data).into_owned()));
        }
    }
    let Some((data, name)) = file.filter(|(d, _)| !d.is_empty()) else {
        return Err(code(414, "content is empty"));
    };
    if data.len() > NOS_MAX_FILE_BYTES {
        return Err(code(405, "file is larger than 15 MB"));
    }
    Ok((data, params, name))
}

fn api(shared: &Shared, req: &Req) -> Reply {
    let op = match (req.method.as_str(), req.path.as_str()) {
        ("POST", "/nimserver/msg/upload.action") => NosOp::Upload,
        ("POST", "/nimserver/msg/fileUpload.action") => NosOp::FileUpload,
        _ => NosOp::Other,
    };
    let mut s = shared.lock();
    let fault = s.admit(op);
    if let Some(Kind::Code(c)) = fault {
        return code(c, "injected fault");
    }
    if op == NosOp::Other {
        return Reply::json(
            404,
            &serde_json::json!({ "code": 404, "desc": "no such API" }),
        );
    }
    if let Err(r) = authenticate(&mut s, req) {
        return r;
    }
    let (data, params, name) = match read_upload(req, op) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let param = |n: &str| params.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let expire_secs = match param("expireSec").map(|v| v.parse::<u64>()) {
        None => None,
        Some(Ok(v)) if v >= 86_400 => Some(v),
        Some(_) => return code(414, "expireSec must be a number of seconds, at least 86400"),
    };
    let tag = param("tag");
    if tag.as_ref().is_some_and(|t| t.chars().count() > 32) {
        return code(405, "tag is longer than 32 characters");
    }
    s.next_id += 1;
    let id = format!(
        "/{NOS_APP_KEY}/{:016x}{:04x}",
        rand::random::<u64>(),
        s.next_id
    );
    s.files.insert(
        id.clone(),
        NosFile {
            data,
            file_type: param("type").filter(|t| t.chars().count() <= 128),
            tag,
            expire_secs,
            https: param("ishttps").is_some_and(|v| v == "true"),
            name,
            via: op,
            created: SystemTime::now(),
        },
    );
    if matches!(fault, Some(Kind::Lose)) {
        return Reply::Drop;
    }
    let cdn = shared
        .cdn
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    Reply::json(
        200,
        &serde_json::json!({ "code": 200, "url": format!("{cdn}{id}") }),
    )
}

fn download(shared: &Shared, req: &Req) -> Reply {
    let mut s = shared.lock();
    if let Some(Kind::Code(c)) = s.admit(NosOp::Download) {
        return Reply::empty(c);
    }
    if req.method != "GET" && req.method != "HEAD" {
        return Reply::empty(405);
    }
    let Some(f) = s.files.get(&req.path) else {
        let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>";
        return Reply::Answer {
            status: 404,
            headers: vec![("content-type".into(), "application/xml".into())],
            body: Bytes::from(body),
        };
    };
    serve_bytes(req, &f.data, &md5_hex(&f.data), f.created, true)
}
