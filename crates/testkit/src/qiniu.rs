//! [`QiniuServer`]: Qiniu Kodo's up, rs and rsf hosts and a download domain
//! per bucket on loopback ports, in memory, written from protocols.md §1 and
//! corrected by what the official Python SDK sends (§8).
//!
//! * Upload tokens are verified over the policy segment as received; the
//!   scope (bucket, key or prefix), `deadline` (when the file is created:
//!   form upload, complete), `insertOnly`, `fsizeLimit`, `fsizeMin`,
//!   `saveKey` and `returnBody` are honoured. A bucket-only scope answers
//!   614 for an existing key unless the content is identical.
//! * Management (rs, rsf) verifies the Qiniu (v2) signature — Host with its
//!   port, Content-Type, `X-Qiniu-*` headers, the body of forms and JSON —
//!   or the QBox (v1) one, and `X-Qiniu-Date` within 15 minutes.
//! * Form upload checks `crc32` (406). Resumable v1 (mkblk, bput, mkfile)
//!   keeps each block's ctx good for the next call only (701 after).
//!   Resumable v2 checks the hex `Content-MD5` (406), part numbers 1–10000,
//!   parts up to 1 GiB, and at completion ascending parts, their etags,
//!   1 MiB for every part but the last. Part etags are the parts' qetags;
//!   objects get qetag v1 or v2.
//! * rs: stat, copy, move (with `force`), delete; batch (at most 1000 ops,
//!   200 or 298 with one `{code, data}` each). rsf: list with marker,
//!   prefix, delimiter and limit. Errors are `{"error": ...}` with the code
//!   as HTTP status; every answer has an `X-Reqid`.
//! * Downloads serve `Range` (206, 416), and verify private URLs
//!   (`e=<deadline>&token=AK:sign` over the whole URL).
//! * Files keep the mime type (the form's file part Content-Type, mkfile's
//!   and complete's `mimeType`), `x-qn-meta-*` metadata, and the
//!   `cacheControl`, `contentEncoding` and `contentDisposition` fields of a
//!   form upload or a v2 complete. Stat reports `mimeType` and `x-qn-meta`
//!   (names without the prefix), not the other three (Kodo documents no
//!   such stat fields); downloads answer with all of them as headers
//!   (`X-Qn-Meta-<name>`); copy and move keep them.
//! * Hooks: [`fail_next`](QiniuServer::fail_next) and
//!   [`fail_after`](QiniuServer::fail_after) answer requests with an error
//!   status, [`corrupt_next`](QiniuServer::corrupt_next) stores uploads with
//!   a flipped byte, [`set_clock_skew`](QiniuServer::set_clock_skew) moves
//!   the server's clock.
//!
//! ```
//! use haul_testkit::qiniu::{QiniuServer, QINIU_BUCKET};
//!
//! let server = QiniuServer::start();
//! assert!(server.up_url().starts_with("http://127.0.0.1:"));
//! assert!(server.download_url(QINIU_BUCKET).is_some());
//! assert!(server.object(QINIU_BUCKET, "nothing").is_none());
//! ```

mod io;
mod rs;
mod sign;
mod state;
mod up;
mod v1;
mod wire;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

use state::{Injected, Shared, State};
use wire::{Reply, Req};

/// The access key [`QiniuServer::start`] accepts.
pub const QINIU_ACCESS_KEY: &str = "haulQiniuAccessKey0123456789ab";
/// The secret key that goes with [`QINIU_ACCESS_KEY`].
pub const QINIU_SECRET_KEY: &str = "haulQiniuSecretKey/0123+abcdef=";
/// The public bucket [`QiniuServer::start`] creates.
pub const QINIU_BUCKET: &str = "haul-public";
/// The private bucket [`QiniuServer::start`] creates.
pub const QINIU_PRIVATE_BUCKET: &str = "haul-private";

/// The kinds of request, for counting and for fault rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QiniuOp {
    /// Every request (fault rules only).
    Any,
    /// `POST /` on the up host.
    FormUpload,
    /// Resumable v1: make a block with its first chunk.
    MakeBlock,
    /// Resumable v1: put the next chunk of a block.
    PutChunk,
    /// Resumable v1: make the file from its blocks.
    MakeFile,
    /// Resumable v2: initiate.
    InitParts,
    /// Resumable v2: upload a part.
    UploadPart,
    /// Resumable v2: list parts.
    ListParts,
    /// Resumable v2: complete.
    CompleteParts,
    /// Resumable v2: abort.
    AbortParts,
    /// rs stat.
    Stat,
    /// rs copy.
    Copy,
    /// rs move.
    Move,
    /// rs delete.
    Delete,
    /// rs batch.
    Batch,
    /// rsf list.
    List,
    /// A GET or HEAD on a download domain.
    Download,
    /// Anything else.
    Other,
}

/// A fault rule: after `skip` matching requests, the next `times` are
/// answered with `status` (0: stored corrupted instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QiniuFault {
    pub(crate) op: QiniuOp,
    pub(crate) status: u16,
    pub(crate) times: u32,
    pub(crate) skip: u32,
}

/// Which host a listener plays.
#[derive(Debug, Clone)]
enum Service {
    Up,
    Rs,
    Rsf,
    Io(String),
}

/// An in-memory Kodo on `127.0.0.1`, served from its own thread and runtime
/// (so sync and async callers alike can start one). Stops when dropped.
#[derive(Debug)]
pub struct QiniuServer {
    shared: Arc<Shared>,
    up: SocketAddr,
    rs: SocketAddr,
    rsf: SocketAddr,
    downloads: Mutex<HashMap<String, SocketAddr>>,
    handle: tokio::runtime::Handle,
    stop: tokio::sync::watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

fn bind() -> std::net::TcpListener {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    l.set_nonblocking(true).expect("nonblocking listener");
    l
}

impl QiniuServer {
    /// Starts a server with [`QINIU_BUCKET`] (public) and
    /// [`QINIU_PRIVATE_BUCKET`] (private), accepting [`QINIU_ACCESS_KEY`]
    /// and [`QINIU_SECRET_KEY`].
    ///
    /// # Panics
    /// When no loopback port can be bound or no runtime built.
    #[must_use]
    pub fn start() -> Self {
        let shared = Arc::new(Shared::new(State {
            access_key: QINIU_ACCESS_KEY.to_owned(),
            secret_key: QINIU_SECRET_KEY.to_owned(),
            ..State::default()
        }));
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("qiniu-server".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("qiniu-server-worker")
                    .enable_all()
                    .build()
                    .expect("qiniu server runtime");
                let _ = tx.send(rt.handle().clone());
                let mut stopped = stopped;
                rt.block_on(async move {
                    let _ = stopped.wait_for(|s| *s).await;
                });
                rt.shutdown_background();
            })
            .expect("spawn the qiniu server thread");
        let handle = rx.recv().expect("the qiniu server runtime starts");
        let mut server = Self {
            shared,
            up: "127.0.0.1:0".parse().expect("addr"),
            rs: "127.0.0.1:0".parse().expect("addr"),
            rsf: "127.0.0.1:0".parse().expect("addr"),
            downloads: Mutex::new(HashMap::new()),
            handle,
            stop,
            thread: Some(thread),
        };
        server.up = server.listen(Service::Up);
        server.rs = server.listen(Service::Rs);
        server.rsf = server.listen(Service::Rsf);
        server.create_bucket(QINIU_BUCKET, false);
        server.create_bucket(QINIU_PRIVATE_BUCKET, true);
        server
    }

    /// Binds a port and serves `service` on it.
    fn listen(&self, service: Service) -> SocketAddr {
        let listener = bind();
        let addr = listener.local_addr().expect("local address");
        let shared = Arc::clone(&self.shared);
        let stopped = self.stop.subscribe();
        self.handle
            .spawn(accept(listener, service, shared, stopped));
        addr
    }

    /// Creates (or keeps) bucket `name` with a download domain of its own.
    ///
    /// # Panics
    /// When no loopback port can be bound for the download domain.
    pub fn create_bucket(&self, name: &str, private: bool) {
        self.shared
            .lock()
            .buckets
            .entry(name.to_owned())
            .or_default()
            .private = private;
        let mut downloads = self
            .downloads
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !downloads.contains_key(name) {
            let addr = self.listen(Service::Io(name.to_owned()));
            downloads.insert(name.to_owned(), addr);
        }
    }

    /// `http://127.0.0.1:<port>` of the up host.
    #[must_use]
    pub fn up_url(&self) -> String {
        format!("http://{}", self.up)
    }

    /// `http://127.0.0.1:<port>` of the rs host.
    #[must_use]
    pub fn rs_url(&self) -> String {
        format!("http://{}", self.rs)
    }

    /// `http://127.0.0.1:<port>` of the rsf host.
    #[must_use]
    pub fn rsf_url(&self) -> String {
        format!("http://{}", self.rsf)
    }

    /// `http://127.0.0.1:<port>` of `bucket`'s download domain.
    #[must_use]
    pub fn download_url(&self, bucket: &str) -> Option<String> {
        let downloads = self
            .downloads
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        downloads.get(bucket).map(|a| format!("http://{a}"))
    }

    /// The `QINIU_*` variables that point a client at `bucket` here.
    #[must_use]
    pub fn env(&self, bucket: &str) -> Vec<(&'static str, String)> {
        let private = self
            .shared
            .lock()
            .buckets
            .get(bucket)
            .is_some_and(|b| b.private);
        let mut v = vec![
            ("QINIU_ACCESS_KEY", QINIU_ACCESS_KEY.to_owned()),
            ("QINIU_SECRET_KEY", QINIU_SECRET_KEY.to_owned()),
            ("QINIU_UP_HOST", self.up_url()),
            ("QINIU_RS_HOST", self.rs_url()),
            ("QINIU_RSF_HOST", self.rsf_url()),
            ("QINIU_PRIVATE", if private { "1" } else { "0" }.to_owned()),
        ];
        if let Some(d) = self.download_url(bucket) {
            v.push(("QINIU_DOWNLOAD_DOMAIN", d));
        }
        v
    }

    /// Answers the next `n` requests of `op` ([`QiniuOp::Any`]: any) with
    /// HTTP `status` and a `{"error"}` body, before looking at them.
    pub fn fail_next(&self, op: QiniuOp, n: u32, status: u16) {
        self.fail_after(op, 0, n, status);
    }

    /// As [`fail_next`](Self::fail_next), after letting `skip` such
    /// requests through.
    pub fn fail_after(&self, op: QiniuOp, skip: u32, n: u32, status: u16) {
        if n > 0 {
            self.shared.lock().faults.push(QiniuFault {
                op,
                status: status.max(100),
                times: n,
                skip,
            });
        }
    }

    /// Stores the bytes of the next `n` form uploads or parts (`op`) with
    /// their first byte flipped, answering the hash of what was stored:
    /// bytes corrupted on the way in.
    pub fn corrupt_next(&self, op: QiniuOp, n: u32) {
        if n > 0 {
            self.shared.lock().faults.push(QiniuFault {
                op,
                status: 0,
                times: n,
                skip: 0,
            });
        }
    }

    /// Moves the server's clock by `secs` (negative: into the past).
    pub fn set_clock_skew(&self, secs: i64) {
        self.shared.lock().skew_secs = secs;
    }

    /// The bytes of an object, if it exists.
    #[must_use]
    pub fn object(&self, bucket: &str, key: &str) -> Option<Bytes> {
        let s = self.shared.lock();
        s.buckets
            .get(bucket)?
            .objects
            .get(key)
            .map(|o| o.data.clone())
    }

    /// The `hash` (qetag) and MIME type of an object, if it exists.
    #[must_use]
    pub fn object_info(&self, bucket: &str, key: &str) -> Option<(String, String)> {
        let s = self.shared.lock();
        let o = s.buckets.get(bucket)?.objects.get(key)?;
        Some((o.hash.clone(), o.mime.clone()))
    }

    /// Every key of `bucket`, in order.
    #[must_use]
    pub fn keys(&self, bucket: &str) -> Vec<String> {
        let s = self.shared.lock();
        s.buckets
            .get(bucket)
            .map(|b| b.objects.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// How many resumable uploads are in progress.
    #[must_use]
    pub fn pending_uploads(&self) -> usize {
        self.shared.lock().uploads.len()
    }

    /// How many requests of `op` arrived ([`QiniuOp::Any`]: all of them).
    #[must_use]
    pub fn requests(&self, op: QiniuOp) -> u64 {
        let s = self.shared.lock();
        match op {
            QiniuOp::Any => s.requests.values().sum(),
            op => s.requests.get(&op).copied().unwrap_or(0),
        }
    }

    /// How many requests were refused for their token or signature.
    #[must_use]
    pub fn auth_failures(&self) -> u64 {
        self.shared.lock().auth_failures
    }
}

impl Drop for QiniuServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Accepts connections for `service` until told to stop.
async fn accept(
    listener: std::net::TcpListener,
    service: Service,
    shared: Arc<Shared>,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    loop {
        tokio::select! {
            _ = stopped.wait_for(|s| *s) => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let (shared, service) = (Arc::clone(&shared), service.clone());
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let (shared, service) = (Arc::clone(&shared), service.clone());
                        async move { Ok::<_, std::convert::Infallible>(handle(&shared, &service, req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        }
    }
}

/// Which operation a request is.
fn classify(service: &Service, req: &Req) -> QiniuOp {
    let m = req.method.as_str();
    match service {
        Service::Up if req.path == "/" && m == "POST" => QiniuOp::FormUpload,
        Service::Up if m == "POST" && req.path.starts_with("/mkblk/") => QiniuOp::MakeBlock,
        Service::Up if m == "POST" && req.path.starts_with("/bput/") => QiniuOp::PutChunk,
        Service::Up if m == "POST" && req.path.starts_with("/mkfile/") => QiniuOp::MakeFile,
        Service::Up if req.path.starts_with("/buckets/") => {
            let depth = req.path.trim_end_matches('/').split('/').count();
            match (m, depth) {
                ("POST", 6) => QiniuOp::InitParts,
                ("PUT", 8) => QiniuOp::UploadPart,
                ("GET", 7) => QiniuOp::ListParts,
                ("POST", 7) => QiniuOp::CompleteParts,
                ("DELETE", 7) => QiniuOp::AbortParts,
                _ => QiniuOp::Other,
            }
        }
        Service::Rs => match req.path.trim_start_matches('/').split('/').next() {
            Some("stat") => QiniuOp::Stat,
            Some("copy") => QiniuOp::Copy,
            Some("move") => QiniuOp::Move,
            Some("delete") => QiniuOp::Delete,
            Some("batch") => QiniuOp::Batch,
            _ => QiniuOp::Other,
        },
        Service::Rsf if req.path == "/list" => QiniuOp::List,
        Service::Io(_) => QiniuOp::Download,
        _ => QiniuOp::Other,
    }
}

/// Runs one request.
fn dispatch(shared: &Shared, service: &Service, req: &Req, op: QiniuOp, corrupt: bool) -> Reply {
    match (service, op) {
        (Service::Up, QiniuOp::FormUpload) => up::form_upload(shared, req, corrupt),
        (Service::Up, QiniuOp::MakeBlock | QiniuOp::PutChunk | QiniuOp::MakeFile) => {
            v1::handle(shared, req, corrupt)
        }
        (Service::Up, QiniuOp::Other) => Reply::error(404, "no such API"),
        (Service::Up, _) => up::uploads(shared, req, corrupt),
        (Service::Rs | Service::Rsf, _) => {
            let mut s = shared.lock();
            let now = s.now();
            if let Err(r) = sign::verify_mac(&s.access_key, &s.secret_key, req, now) {
                s.auth_failures += 1;
                return r;
            }
            match op {
                QiniuOp::Batch => rs::batch(&mut s, req),
                QiniuOp::List => rs::list(&s, req),
                QiniuOp::Other => Reply::error(404, "no such API"),
                _ => rs::single(&mut s, req),
            }
        }
        (Service::Io(bucket), _) => io::download(&mut shared.lock(), bucket, req),
    }
}

async fn handle(
    shared: &Shared,
    service: &Service,
    req: hyper::Request<hyper::body::Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(http_body_util::Collected::to_bytes)
        .unwrap_or_default();
    let req = Req {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
    };
    let op = classify(service, &req);
    let injected = shared.lock().admit(op);
    let reply = match injected {
        Some(Injected::Status(s)) => Reply::error(s, "injected fault"),
        other => dispatch(shared, service, &req, op, other == Some(Injected::Corrupt)),
    };
    let reqid = shared.lock().fresh_id();
    let mut resp = hyper::Response::builder()
        .status(reply.status)
        .header("x-reqid", reqid);
    for (n, v) in &reply.headers {
        resp = resp.header(n.as_str(), v.as_str());
    }
    resp.body(Full::new(reply.body)).unwrap_or_else(|_| {
        let mut r =
            hyper::Response::new(Full::new(Bytes::from_static(b"{\"error\":\"bad answer\"}")));
        *r.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
        r
    })
}

/// The CRC-32 (IEEE) Kodo computes of an upload.
pub(crate) fn crc32(data: &[u8]) -> u32 {
    haul_core::checksum::compute(haul_core::ChecksumKind::Crc32, data)
        .crc_value()
        .map_or(0, |v| v as u32)
}
