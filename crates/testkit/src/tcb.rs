//! [`TcbServer`]: WeChat CloudBase's storage HTTP API and the COS bucket
//! behind it on loopback ports, in memory, after protocols.md §6.
//!
//! * `GET /cgi-bin/token?grant_type=client_credential&appid=&secret=`
//!   answers `{"access_token","expires_in":7200}` (40013 for a wrong appid,
//!   40125 for a wrong secret).
//! * `POST /tcb/{uploadfile,batchdownloadfile,batchdeletefile}?access_token=`
//!   take JSON and answer `{"errcode":0,"errmsg":"ok",...}`, always HTTP
//!   200: 41001 without a token, 40014 for an unknown one, 42001 for an
//!   expired one, 43002 for a GET, 44002 for an empty body, 47001 for bad
//!   JSON, 40101 for a missing parameter, 40097 for bad arguments (a wrong
//!   env, more than 50 files in one batch).
//! * `uploadfile` hands out a COS form-POST ticket (url, token,
//!   authorization, file_id, cos_file_id). The COS host takes
//!   `POST /<bucket>/<path>` as `multipart/form-data` with `key`,
//!   `Signature`, `x-cos-security-token`, `x-cos-meta-fileid` and `file`,
//!   in that order (`file` last), checks them against the ticket (403
//!   `AccessDenied` otherwise) and answers 204. A file stored without
//!   `x-cos-meta-fileid` cannot be downloaded later (403), as on the real
//!   service.
//! * `batchdownloadfile` gives signed download URLs (valid `max_age`
//!   seconds) that serve `GET`/`HEAD` with `Range`; unknown files get
//!   `status` -503003 `STORAGE_FILE_NONEXIST`, in the batch answers of
//!   both download and delete.
//! * Hooks: [`fail_next`](TcbServer::fail_next) answers API calls with an
//!   errcode (or COS requests with an HTTP status),
//!   [`lose_next`](TcbServer::lose_next) does the work and drops the
//!   connection, [`expire_tokens`](TcbServer::expire_tokens) expires every
//!   access token issued so far.
//!
//! ```
//! use haul_testkit::tcb::{TcbOp, TcbServer};
//!
//! let server = TcbServer::start();
//! assert!(server.api_url().starts_with("http://127.0.0.1:"));
//! assert_eq!(server.requests(TcbOp::Any), 0);
//! ```

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde_json::{Value, json};

use crate::emu::{Reply, Req, Runtime, hex, md5_hex, parse_form_data, serve_bytes};

/// The appid [`TcbServer::start`] accepts.
pub const TCB_APPID: &str = "wxhaul0123456789";
/// The app secret that goes with [`TCB_APPID`].
pub const TCB_APPSECRET: &str = "haultcbsecret0123456789abcdef012";
/// The CloudBase environment it serves.
pub const TCB_ENV: &str = "haul-env-1a2b3c";
/// The bucket behind the environment.
pub const TCB_BUCKET: &str = "7461-haul-env-1a2b3c-1250000000";
/// The most files one batch call takes.
pub const TCB_MAX_BATCH: usize = 50;

/// The kinds of request, for counting and for fault hooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TcbOp {
    /// Every request (hooks and counts only).
    Any,
    /// `GET /cgi-bin/token`.
    Token,
    /// `POST /tcb/uploadfile` (step 1).
    UploadFile,
    /// The COS form POST (step 2).
    CosPost,
    /// `POST /tcb/batchdownloadfile`.
    DownloadUrls,
    /// A GET or HEAD of a download URL.
    Download,
    /// `POST /tcb/batchdeletefile`.
    Delete,
    /// Anything else.
    Other,
}

/// A stored file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcbFile {
    /// The bytes.
    pub data: Bytes,
    /// Whether the upload carried the right `x-cos-meta-fileid`.
    pub has_fileid: bool,
    created: SystemTime,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Code(i64),
    Lose,
}

#[derive(Debug, Clone, Copy)]
struct Fault {
    op: TcbOp,
    kind: Kind,
    times: u32,
}

#[derive(Debug, Clone)]
struct Ticket {
    token: String,
    authorization: String,
    cos_file_id: String,
    expires: u64,
}

#[derive(Debug, Default)]
struct State {
    files: BTreeMap<String, TcbFile>,
    tickets: HashMap<String, Ticket>,
    /// Download signature → (path, expiry).
    signs: HashMap<String, (String, u64)>,
    tokens: HashMap<String, u64>,
    faults: Vec<Fault>,
    requests: HashMap<TcbOp, u64>,
    auth_failures: u64,
    tokens_issued: u64,
    cos: String,
}

impl State {
    fn admit(&mut self, op: TcbOp) -> Option<Kind> {
        *self.requests.entry(op).or_default() += 1;
        let idx = self
            .faults
            .iter()
            .position(|f| f.op == op || f.op == TcbOp::Any)?;
        let f = &mut self.faults[idx];
        let kind = f.kind;
        f.times = f.times.saturating_sub(1);
        if f.times == 0 {
            self.faults.remove(idx);
        }
        Some(kind)
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn rand_hex(bytes: usize) -> String {
    let raw: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    hex(&raw)
}

fn errcode(code: i64, msg: &str) -> Reply {
    Reply::json(200, &json!({ "errcode": code, "errmsg": msg }))
}

fn cos_error(status: u16, code: &str, message: &str) -> Reply {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>{}</RequestId></Error>",
        rand_hex(8)
    );
    Reply::Answer {
        status,
        headers: vec![("content-type".into(), "application/xml".into())],
        body: Bytes::from(body),
    }
}

/// Percent-encodes a path for a URL, keeping `/`.
fn encode_path(path: &str) -> String {
    path.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// An in-memory CloudBase storage API and COS bucket on `127.0.0.1`,
/// served from its own thread. Stops when dropped.
#[derive(Debug)]
pub struct TcbServer {
    state: Arc<Mutex<State>>,
    api: std::net::SocketAddr,
    _rt: Runtime,
}

impl TcbServer {
    /// Starts a server for [`TCB_ENV`] accepting [`TCB_APPID`] and
    /// [`TCB_APPSECRET`].
    ///
    /// # Panics
    /// When no loopback port can be bound or no runtime built.
    #[must_use]
    pub fn start() -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let rt = Runtime::start("tcb-server");
        let s = Arc::clone(&state);
        let api = rt.listen(Arc::new(move |req| {
            api(&mut s.lock().unwrap_or_else(PoisonError::into_inner), &req)
        }));
        let s = Arc::clone(&state);
        let cos = rt.listen(Arc::new(move |req| {
            cos(&mut s.lock().unwrap_or_else(PoisonError::into_inner), &req)
        }));
        state.lock().unwrap_or_else(PoisonError::into_inner).cos = format!("http://{cos}");
        Self {
            state,
            api,
            _rt: rt,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `http://127.0.0.1:<port>`, the API host (api.weixin.qq.com).
    #[must_use]
    pub fn api_url(&self) -> String {
        format!("http://{}", self.api)
    }

    /// The `TCB_*` variables that point a client here.
    #[must_use]
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("TCB_APPID", TCB_APPID.to_owned()),
            ("TCB_APPSECRET", TCB_APPSECRET.to_owned()),
            ("TCB_ENV", TCB_ENV.to_owned()),
            ("TCB_BUCKET", TCB_BUCKET.to_owned()),
            ("TCB_API_URL", self.api_url()),
        ]
    }

    /// Answers the next `n` requests of `op` with errcode `code` (API
    /// calls) or HTTP status `code` (COS requests), doing nothing.
    pub fn fail_next(&self, op: TcbOp, n: u32, code: i64) {
        if n > 0 {
            self.lock().faults.push(Fault {
                op,
                kind: Kind::Code(code),
                times: n,
            });
        }
    }

    /// Does the next `n` requests of `op`, then drops the connection
    /// without answering.
    pub fn lose_next(&self, op: TcbOp, n: u32) {
        if n > 0 {
            self.lock().faults.push(Fault {
                op,
                kind: Kind::Lose,
                times: n,
            });
        }
    }

    /// Expires every access token issued so far (42001 from now on).
    pub fn expire_tokens(&self) {
        for exp in self.lock().tokens.values_mut() {
            *exp = 0;
        }
    }

    /// How many access tokens were issued.
    #[must_use]
    pub fn tokens_issued(&self) -> u64 {
        self.lock().tokens_issued
    }

    /// How many requests of `op` arrived ([`TcbOp::Any`]: all).
    #[must_use]
    pub fn requests(&self, op: TcbOp) -> u64 {
        let s = self.lock();
        match op {
            TcbOp::Any => s.requests.values().sum(),
            op => s.requests.get(&op).copied().unwrap_or(0),
        }
    }

    /// How many requests were refused for their credentials or token.
    #[must_use]
    pub fn auth_failures(&self) -> u64 {
        self.lock().auth_failures
    }

    /// How many files are stored.
    #[must_use]
    pub fn file_count(&self) -> usize {
        self.lock().files.len()
    }

    /// The file at `path`, if any.
    #[must_use]
    pub fn file(&self, path: &str) -> Option<TcbFile> {
        self.lock().files.get(path).cloned()
    }
}

fn token(s: &mut State, req: &Req) -> Reply {
    if req.param("grant_type").as_deref() != Some("client_credential") {
        return errcode(40002, "invalid grant_type");
    }
    if req.param("appid").as_deref() != Some(TCB_APPID) {
        s.auth_failures += 1;
        return errcode(40013, "invalid appid");
    }
    if req.param("secret").as_deref() != Some(TCB_APPSECRET) {
        s.auth_failures += 1;
        return errcode(40125, "invalid appsecret");
    }
    let t = rand_hex(32);
    s.tokens.insert(t.clone(), now() + 7200);
    s.tokens_issued += 1;
    Reply::json(200, &json!({ "access_token": t, "expires_in": 7200 }))
}

/// The path of a `cloud://<env>.<bucket>/<path>` file id.
fn path_of(file_id: &str) -> Option<&str> {
    file_id
        .strip_prefix("cloud://")?
        .strip_prefix(&format!("{TCB_ENV}.{TCB_BUCKET}/"))
}

fn api(s: &mut State, req: &Req) -> Reply {
    let op = match req.path.as_str() {
        "/cgi-bin/token" => TcbOp::Token,
        "/tcb/uploadfile" => TcbOp::UploadFile,
        "/tcb/batchdownloadfile" => TcbOp::DownloadUrls,
        "/tcb/batchdeletefile" => TcbOp::Delete,
        _ => TcbOp::Other,
    };
    let fault = s.admit(op);
    if let Some(Kind::Code(c)) = fault {
        return errcode(c, "injected fault");
    }
    let reply = match op {
        TcbOp::Other => return Reply::empty(404),
        TcbOp::Token => token(s, req),
        _ => call(s, req, op),
    };
    if matches!(fault, Some(Kind::Lose)) {
        Reply::Drop
    } else {
        reply
    }
}

fn call(s: &mut State, req: &Req, op: TcbOp) -> Reply {
    match req.param("access_token") {
        None => {
            s.auth_failures += 1;
            return errcode(41001, "access_token missing");
        }
        Some(t) => match s.tokens.get(&t) {
            None => {
                s.auth_failures += 1;
                return errcode(40014, "invalid access_token");
            }
            Some(exp) if *exp <= now() => {
                s.auth_failures += 1;
                return errcode(42001, "access_token expired");
            }
            Some(_) => {}
        },
    }
    if req.method != "POST" {
        return errcode(43002, "require POST method");
    }
    if req.body.is_empty() {
        return errcode(44002, "empty post data");
    }
    let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
        return errcode(47001, "data format error");
    };
    match body["env"].as_str() {
        None => return errcode(40101, "missing parameter: env"),
        Some(e) if e != TCB_ENV => return errcode(40097, "invalid args: no such env"),
        Some(_) => {}
    }
    match op {
        TcbOp::UploadFile => upload_file(s, &body),
        TcbOp::DownloadUrls => download_urls(s, &body),
        _ => delete(s, &body),
    }
}

fn upload_file(s: &mut State, body: &Value) -> Reply {
    let Some(path) = body["path"].as_str().filter(|p| !p.is_empty()) else {
        return errcode(40101, "missing parameter: path");
    };
    let t = now();
    let ticket = Ticket {
        token: rand_hex(48),
        authorization: format!(
            "q-sign-algorithm=sha1&q-ak=AKIDhaul{}&q-sign-time={t};{}&q-key-time={t};{}&q-header-list=&q-url-param-list=&q-signature={}",
            rand_hex(8),
            t + 900,
            t + 900,
            rand_hex(20)
        ),
        cos_file_id: format!("HEAD:{}", rand_hex(24)),
        expires: t + 900,
    };
    let reply = json!({
        "errcode": 0,
        "errmsg": "ok",
        "url": format!("{}/{TCB_BUCKET}/{}", s.cos, encode_path(path)),
        "token": ticket.token,
        "authorization": ticket.authorization,
        "file_id": format!("cloud://{TCB_ENV}.{TCB_BUCKET}/{path}"),
        "cos_file_id": ticket.cos_file_id,
    });
    s.tickets.insert(path.to_owned(), ticket);
    Reply::json(200, &reply)
}

fn file_list(body: &Value, field: &str) -> Result<Vec<Value>, Reply> {
    let Some(list) = body[field].as_array() else {
        return Err(errcode(40101, &format!("missing parameter: {field}")));
    };
    if list.len() > TCB_MAX_BATCH {
        return Err(errcode(
            40097,
            &format!("invalid args: {field} has more than {TCB_MAX_BATCH} files"),
        ));
    }
    Ok(list.clone())
}

const NONEXIST: i64 = -503_003;

fn download_urls(s: &mut State, body: &Value) -> Reply {
    let list = match file_list(body, "file_list") {
        Ok(l) => l,
        Err(r) => return r,
    };
    let mut out = Vec::new();
    for item in list {
        let id = item["fileid"].as_str().unwrap_or("").to_owned();
        let max_age = item["max_age"].as_u64().unwrap_or(7200);
        match path_of(&id).filter(|p| s.files.contains_key(*p)).map(str::to_owned) {
            Some(path) => {
                let sign = rand_hex(16);
                let exp = now() + max_age;
                s.signs.insert(sign.clone(), (path.clone(), exp));
                let url = format!("{}/{TCB_BUCKET}/{}?sign={sign}&t={exp}", s.cos, encode_path(&path));
                out.push(json!({ "fileid": id, "download_url": url, "status": 0, "errmsg": "ok" }));
            }
            None => out.push(json!({ "fileid": id, "download_url": "", "status": NONEXIST, "errmsg": "STORAGE_FILE_NONEXIST" })),
        }
    }
    Reply::json(
        200,
        &json!({ "errcode": 0, "errmsg": "ok", "file_list": out }),
    )
}

fn delete(s: &mut State, body: &Value) -> Reply {
    let list = match file_list(body, "fileid_list") {
        Ok(l) => l,
        Err(r) => return r,
    };
    let mut out = Vec::new();
    for item in list {
        let id = item.as_str().unwrap_or("").to_owned();
        let removed = path_of(&id).and_then(|p| s.files.remove(p)).is_some();
        out.push(if removed {
            json!({ "fileid": id, "status": 0, "errmsg": "ok" })
        } else {
            json!({ "fileid": id, "status": NONEXIST, "errmsg": "STORAGE_FILE_NONEXIST" })
        });
    }
    Reply::json(
        200,
        &json!({ "errcode": 0, "errmsg": "ok", "delete_list": out }),
    )
}

fn cos(s: &mut State, req: &Req) -> Reply {
    let op = match req.method.as_str() {
        "POST" => TcbOp::CosPost,
        "GET" | "HEAD" => TcbOp::Download,
        _ => TcbOp::Other,
    };
    let fault = s.admit(op);
    if let Some(Kind::Code(c)) = fault {
        return cos_error(
            u16::try_from(c).unwrap_or(500),
            "InjectedFault",
            "injected fault",
        );
    }
    match op {
        TcbOp::CosPost => {
            let r = cos_post(s, req);
            if matches!(fault, Some(Kind::Lose)) {
                Reply::Drop
            } else {
                r
            }
        }
        TcbOp::Download => cos_get(s, req),
        _ => cos_error(405, "MethodNotAllowed", "method not allowed"),
    }
}

fn cos_post(s: &mut State, req: &Req) -> Reply {
    let fields = match parse_form_data(req.header("content-type").unwrap_or(""), &req.body) {
        Ok(f) => f,
        Err(e) => return cos_error(400, "InvalidArgument", &e),
    };
    let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
    if names.last() != Some(&"file") {
        return cos_error(400, "InvalidArgument", "the file field must come last");
    }
    let text = |n: &str| {
        fields
            .iter()
            .find(|f| f.name == n)
            .map(|f| String::from_utf8_lossy(&f.data).into_owned())
    };
    let Some(key) = text("key") else {
        return cos_error(400, "InvalidArgument", "key is required");
    };
    let Some(ticket) = s.tickets.get(&key).cloned() else {
        s.auth_failures += 1;
        return cos_error(403, "AccessDenied", "no upload was granted for this key");
    };
    if text("Signature").as_deref() != Some(ticket.authorization.as_str())
        || text("x-cos-security-token").as_deref() != Some(ticket.token.as_str())
    {
        s.auth_failures += 1;
        return cos_error(
            403,
            "AccessDenied",
            "Signature or x-cos-security-token does not match",
        );
    }
    if now() > ticket.expires {
        s.auth_failures += 1;
        return cos_error(403, "AccessDenied", "Request has expired");
    }
    let has_fileid = text("x-cos-meta-fileid").as_deref() == Some(ticket.cos_file_id.as_str());
    let data = fields
        .into_iter()
        .last()
        .map(|f| f.data)
        .unwrap_or_default();
    let etag = md5_hex(&data);
    s.files.insert(
        key,
        TcbFile {
            data,
            has_fileid,
            created: SystemTime::now(),
        },
    );
    Reply::empty(204).with_header("etag", format!("\"{etag}\""))
}

fn cos_get(s: &mut State, req: &Req) -> Reply {
    let path = req.decoded_path();
    let Some(path) = path.strip_prefix(&format!("/{TCB_BUCKET}/")) else {
        return cos_error(404, "NoSuchBucket", "The specified bucket does not exist.");
    };
    let signed = req
        .param("sign")
        .and_then(|sg| s.signs.get(&sg))
        .is_some_and(|(p, exp)| p == path && *exp >= now());
    if !signed {
        s.auth_failures += 1;
        return cos_error(403, "AccessDenied", "sign is missing, wrong or expired");
    }
    let Some(f) = s.files.get(path) else {
        return cos_error(404, "NoSuchKey", "The specified key does not exist.");
    };
    if !f.has_fileid {
        return cos_error(
            403,
            "AccessDenied",
            "the file was uploaded without x-cos-meta-fileid",
        );
    }
    serve_bytes(req, &f.data, &md5_hex(&f.data), f.created, true)
}
