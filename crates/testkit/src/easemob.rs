//! [`EasemobServer`]: Easemob's (and Agora Chat's) app-token and chat-file
//! REST API on a loopback port, in memory, after protocols.md §5.
//!
//! * `POST /{org}/{app}/token` with `{"grant_type":"client_credentials",
//!   "client_id","client_secret","ttl"}` answers `{"access_token",
//!   "expires_in","application"}`; wrong credentials are 400
//!   `invalid_grant`, an unknown org/app 404.
//! * `POST /{org}/{app}/chatfiles` (`multipart/form-data`, field `file`,
//!   `Authorization: Bearer`, optional `restrict-access`) answers the
//!   `entities` with `uuid` and `share-secret`; over 10 MB is 413, a bad or
//!   expired token 401 `auth_bad_access_token`.
//! * `GET /{org}/{app}/chatfiles/{uuid}` needs the token and, for a
//!   restricted file, the `share-secret` header (or query parameter): 403
//!   otherwise, 404 for an unknown uuid. `thumbnail: true` serves the
//!   thumbnail: the file itself up to 10 KB, else a small stand-in. `Range`
//!   is ignored (the service does not document it).
//! * Errors are `{"error","exception","timestamp","duration",
//!   "error_description"}`.
//! * Hooks: [`fail_next`](EasemobServer::fail_next) answers with an HTTP
//!   status (429 is `reach_limit`), [`lose_next`](EasemobServer::lose_next)
//!   stores an upload and drops the connection,
//!   [`expire_tokens`](EasemobServer::expire_tokens) makes every token
//!   issued so far expired.
//!
//! ```
//! use haul_testkit::easemob::{EasemobOp, EasemobServer};
//!
//! let server = EasemobServer::start();
//! assert!(server.host().starts_with("http://127.0.0.1:"));
//! assert_eq!(server.requests(EasemobOp::Any), 0);
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use crate::emu::{Reply, Req, Runtime, md5_hex, parse_form_data, serve_bytes};

/// The org [`EasemobServer::start`] serves.
pub const EASEMOB_ORG: &str = "haulorg";
/// The app [`EasemobServer::start`] serves.
pub const EASEMOB_APP: &str = "haulapp";
/// The client id it accepts.
pub const EASEMOB_CLIENT_ID: &str = "YXA6haulClientId0123";
/// The client secret that goes with [`EASEMOB_CLIENT_ID`].
pub const EASEMOB_CLIENT_SECRET: &str = "YXA6haulClientSecret-0123456789";
/// The largest file it takes: 10 MB.
pub const EASEMOB_MAX_FILE_BYTES: usize = 10 << 20;

/// The kinds of request, for counting and for fault hooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EasemobOp {
    /// Every request (hooks and counts only).
    Any,
    /// `POST .../token`.
    Token,
    /// `POST .../chatfiles`.
    Upload,
    /// `GET .../chatfiles/{uuid}` (file or thumbnail).
    Download,
    /// Anything else.
    Other,
}

/// A stored chat file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EasemobFile {
    /// The bytes.
    pub data: Bytes,
    /// The form's file name.
    pub name: Option<String>,
    /// The share secret.
    pub share_secret: String,
    /// Whether the upload sent `restrict-access`.
    pub restricted: bool,
    created: SystemTime,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Status(u16),
    Lose,
}

#[derive(Debug, Clone, Copy)]
struct Fault {
    op: EasemobOp,
    kind: Kind,
    times: u32,
}

#[derive(Debug, Default)]
struct State {
    files: HashMap<String, EasemobFile>,
    /// Token → expiry (Unix seconds; `None`: never).
    tokens: HashMap<String, Option<u64>>,
    faults: Vec<Fault>,
    requests: HashMap<EasemobOp, u64>,
    auth_failures: u64,
    tokens_issued: u64,
}

impl State {
    fn admit(&mut self, op: EasemobOp) -> Option<Kind> {
        *self.requests.entry(op).or_default() += 1;
        let idx = self
            .faults
            .iter()
            .position(|f| f.op == op || f.op == EasemobOp::Any)?;
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

/// An Easemob error answer.
fn error(status: u16, error: &str, description: &str) -> Reply {
    Reply::json(
        status,
        &serde_json::json!({
            "error": error,
            "exception": format!("EasemobException: {error}"),
            "timestamp": now() * 1000,
            "duration": 0,
            "error_description": description,
        }),
    )
}

fn random_token(len: usize) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..len)
        .map(|_| CHARS[rand::random_range(0..CHARS.len())] as char)
        .collect()
}

fn uuid() -> String {
    let r: u128 = rand::random();
    let h = format!("{r:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// An in-memory Easemob chat-file API on `127.0.0.1`, served from its own
/// thread. Stops when dropped.
#[derive(Debug)]
pub struct EasemobServer {
    state: Arc<Mutex<State>>,
    addr: std::net::SocketAddr,
    _rt: Runtime,
}

impl EasemobServer {
    /// Starts a server for [`EASEMOB_ORG`]`#`[`EASEMOB_APP`] accepting
    /// [`EASEMOB_CLIENT_ID`] and [`EASEMOB_CLIENT_SECRET`].
    ///
    /// # Panics
    /// When no loopback port can be bound or no runtime built.
    #[must_use]
    pub fn start() -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let rt = Runtime::start("easemob-server");
        let s = Arc::clone(&state);
        let addr = rt.listen(Arc::new(move |req| {
            handle(&mut s.lock().unwrap_or_else(PoisonError::into_inner), &req)
        }));
        Self {
            state,
            addr,
            _rt: rt,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `http://127.0.0.1:<port>`, the REST host.
    #[must_use]
    pub fn host(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The `EASEMOB_*` variables that point a client here.
    #[must_use]
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("EASEMOB_HOST", self.host()),
            ("EASEMOB_APPKEY", format!("{EASEMOB_ORG}#{EASEMOB_APP}")),
            ("EASEMOB_CLIENT_ID", EASEMOB_CLIENT_ID.to_owned()),
            ("EASEMOB_CLIENT_SECRET", EASEMOB_CLIENT_SECRET.to_owned()),
        ]
    }

    /// Answers the next `n` requests of `op` ([`EasemobOp::Any`]: any) with
    /// HTTP `status` (429: `reach_limit`) and nothing stored.
    pub fn fail_next(&self, op: EasemobOp, n: u32, status: u16) {
        if n > 0 {
            self.lock().faults.push(Fault {
                op,
                kind: Kind::Status(status),
                times: n,
            });
        }
    }

    /// Lets the next `n` uploads store their file, then closes the
    /// connection without answering.
    pub fn lose_next(&self, n: u32) {
        if n > 0 {
            self.lock().faults.push(Fault {
                op: EasemobOp::Upload,
                kind: Kind::Lose,
                times: n,
            });
        }
    }

    /// Makes every token issued so far expired (401 from now on).
    pub fn expire_tokens(&self) {
        for exp in self.lock().tokens.values_mut() {
            *exp = Some(0);
        }
    }

    /// How many tokens were issued.
    #[must_use]
    pub fn tokens_issued(&self) -> u64 {
        self.lock().tokens_issued
    }

    /// How many requests of `op` arrived ([`EasemobOp::Any`]: all).
    #[must_use]
    pub fn requests(&self, op: EasemobOp) -> u64 {
        let s = self.lock();
        match op {
            EasemobOp::Any => s.requests.values().sum(),
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

    /// The file stored under `uuid`, if any.
    #[must_use]
    pub fn file(&self, uuid: &str) -> Option<EasemobFile> {
        self.lock().files.get(uuid).cloned()
    }
}

fn token(s: &mut State, req: &Req) -> Reply {
    let v: serde_json::Value = serde_json::from_slice(&req.body).unwrap_or_default();
    if v["grant_type"] != "client_credentials" {
        return error(
            400,
            "unsupported_grant_type",
            "grant_type must be client_credentials",
        );
    }
    if v["client_id"] != EASEMOB_CLIENT_ID || v["client_secret"] != EASEMOB_CLIENT_SECRET {
        s.auth_failures += 1;
        return error(400, "invalid_grant", "client_id or client_secret is wrong");
    }
    let ttl = v["ttl"].as_u64().unwrap_or(5_184_000);
    let t = format!("YWMt{}", random_token(40));
    s.tokens.insert(t.clone(), (ttl > 0).then(|| now() + ttl));
    s.tokens_issued += 1;
    Reply::json(
        200,
        &serde_json::json!({ "access_token": t, "expires_in": ttl, "application": "00000000-haul" }),
    )
}

fn authorized(s: &mut State, req: &Req) -> Result<(), Reply> {
    let ok = req
        .header("authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(|t| s.tokens.get(t))
        .is_some_and(|exp| exp.is_none_or(|e| now() < e));
    if ok {
        Ok(())
    } else {
        s.auth_failures += 1;
        Err(error(
            401,
            "auth_bad_access_token",
            "Unable to authenticate due to corrupt access token",
        ))
    }
}

fn upload(s: &mut State, req: &Req, lose: bool) -> Reply {
    if let Err(r) = authorized(s, req) {
        return r;
    }
    let ct = req.header("content-type").unwrap_or("");
    let fields = match parse_form_data(ct, &req.body) {
        Ok(f) => f,
        Err(e) => return error(400, "illegal_argument", &e),
    };
    let Some(file) = fields.into_iter().find(|f| f.name == "file") else {
        return error(400, "illegal_argument", "file is required");
    };
    if file.data.len() > EASEMOB_MAX_FILE_BYTES {
        return error(413, "request_entity_too_large", "Request Entity Too Large");
    }
    let id = uuid();
    let secret = random_token(10);
    s.files.insert(
        id.clone(),
        EasemobFile {
            data: file.data,
            name: file.file_name,
            share_secret: secret.clone(),
            restricted: req.header("restrict-access").is_some(),
            created: SystemTime::now(),
        },
    );
    if lose {
        return Reply::Drop;
    }
    Reply::json(
        200,
        &serde_json::json!({
            "action": "post",
            "application": "00000000-haul",
            "path": "/chatfiles",
            "uri": format!("http://easemob/{EASEMOB_ORG}/{EASEMOB_APP}/chatfiles"),
            "entities": [{ "uuid": id, "type": "chatfile", "share-secret": secret }],
            "timestamp": now() * 1000,
            "duration": 0,
            "organization": EASEMOB_ORG,
            "applicationName": EASEMOB_APP,
        }),
    )
}

fn download(s: &mut State, req: &Req, id: &str) -> Reply {
    if let Err(r) = authorized(s, req) {
        return r;
    }
    let Some(f) = s.files.get(id) else {
        return error(404, "file_not_found", "no chat file with this uuid");
    };
    let given = req
        .header("share-secret")
        .map(str::to_owned)
        .or_else(|| req.param("share-secret"));
    if f.restricted && given.as_deref() != Some(f.share_secret.as_str()) {
        return error(403, "forbidden_op", "share-secret is missing or wrong");
    }
    let data = if req.header("thumbnail") == Some("true") {
        if f.data.len() <= 10 << 10 {
            f.data.clone()
        } else {
            Bytes::from(format!("thumbnail of {id}"))
        }
    } else {
        f.data.clone()
    };
    serve_bytes(req, &data, &md5_hex(&data), f.created, false)
}

fn handle(s: &mut State, req: &Req) -> Reply {
    let path = req.decoded_path();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let op = match (req.method.as_str(), parts.as_slice()) {
        ("POST", [_, _, "token"]) => EasemobOp::Token,
        ("POST", [_, _, "chatfiles"]) => EasemobOp::Upload,
        ("GET" | "HEAD", [_, _, "chatfiles", _]) => EasemobOp::Download,
        _ => EasemobOp::Other,
    };
    let fault = s.admit(op);
    if let Some(Kind::Status(st)) = fault {
        return if st == 429 {
            error(429, "reach_limit", "This request has reached api limit")
        } else {
            error(st, "injected_fault", "injected fault")
        };
    }
    if op == EasemobOp::Other {
        return error(404, "not_found", "no such API");
    }
    if parts[0] != EASEMOB_ORG || parts[1] != EASEMOB_APP {
        return error(
            404,
            "organization_application_not_found",
            "no such org or app",
        );
    }
    match op {
        EasemobOp::Token => token(s, req),
        EasemobOp::Upload => upload(s, req, matches!(fault, Some(Kind::Lose))),
        _ => download(s, req, parts[3]),
    }
}
