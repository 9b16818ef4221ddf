//! [`CosEmulator`]: Tencent COS's XML API on a loopback port, in memory,
//! written from protocols.md §2 and corrected by what the official Python
//! SDK sends (§8).
//!
//! * Every request's q-sign signature is recomputed byte for byte (header
//!   or presigned query); a mismatch is `403 SignatureDoesNotMatch` with the
//!   documented XML body, an expired KeyTime `403 AccessDenied` ("Request
//!   has expired"), a KeyTime starting more than 15 minutes ahead
//!   `403 RequestTimeTooSkewed`, an unknown SecretId `403
//!   InvalidAccessKeyId`. A signed `host` is accepted with or without the
//!   port, as the SDK signs it without.
//! * Addressing: virtual-hosted through the `Host` header
//!   (`<bucket>.cos.<region>.myqcloud.com`, the region must be the
//!   bucket's), and path style (`/<bucket>/<key>`, the bucket in the signed
//!   path) for any other host.
//! * Objects, ranged GETs, PUT Object copy, batch delete (Content-MD5
//!   required, at most 1000 keys), GET Bucket (marker pagination, prefix,
//!   delimiter, `encoding-type=url`), multipart uploads with UploadPartCopy,
//!   ListParts, ListMultipartUploads; `x-cos-hash-crc64ecma` on every object
//!   and part; `EntityTooSmall` (a part but the last under 1 MiB),
//!   `InvalidPartOrder`, `InvalidPart`, `NoSuchUpload`, `NoSuchKey`,
//!   `BadDigest` with `<Error>` bodies.
//! * Hooks: [`fail_next`](CosEmulator::fail_next) injects errors (a 503, or
//!   an `<Error>` inside a 200), [`corrupt_next_parts`](CosEmulator::corrupt_next_parts)
//!   and [`corrupt_part`](CosEmulator::corrupt_part) corrupt parts,
//!   [`set_clock_skew`](CosEmulator::set_clock_skew) moves the server's clock.
//!
//! ```
//! use haul_testkit::cos::{CosEmulator, COS_BUCKET};
//!
//! let emu = CosEmulator::start();
//! assert!(emu.endpoint().starts_with("http://127.0.0.1:"));
//! assert_eq!(emu.bucket(), COS_BUCKET);
//! assert!(emu.object(COS_BUCKET, "nothing").is_none());
//! ```

mod auth;
mod bucket;
mod multipart;
mod objects;
mod route;
mod state;
mod xml;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;

use bytes::Bytes;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

pub use route::CosOp;
use state::Shared;

/// The SecretId [`CosEmulator::start`] accepts.
pub const COS_SECRET_ID: &str = "AKIDhaulEmulator0123456789abcdef";
/// The SecretKey that goes with [`COS_SECRET_ID`].
pub const COS_SECRET_KEY: &str = "haulEmulatorSecretKey/0123+abcdef";
/// The region of [`COS_BUCKET`].
pub const COS_REGION: &str = "ap-guangzhou";
/// The bucket [`CosEmulator::start`] creates.
pub const COS_BUCKET: &str = "haul-1250000000";

/// What the emulator has seen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CosStats {
    /// Requests received.
    pub requests: u64,
    /// Requests whose signature was verified and accepted.
    pub verified: u64,
    /// Requests refused for their signature, key, time or token.
    pub auth_failures: u64,
    /// Requests answered with an injected fault.
    pub injected: u64,
}

/// An in-memory COS on `127.0.0.1`, served from its own thread and runtime
/// (so sync and async callers alike can start one). Stops when dropped.
#[derive(Debug)]
pub struct CosEmulator {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl CosEmulator {
    /// Starts an emulator on an ephemeral port with [`COS_BUCKET`] in
    /// [`COS_REGION`] and the [`COS_SECRET_ID`] / [`COS_SECRET_KEY`] pair.
    ///
    /// # Panics
    /// When no loopback port can be bound or no runtime built.
    #[must_use]
    pub fn start() -> Self {
        let shared = Arc::new(Shared::new());
        shared.add_credentials(COS_SECRET_ID, COS_SECRET_KEY, None);
        shared.create_bucket(COS_BUCKET, COS_REGION);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let addr = listener.local_addr().expect("local address");
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let served = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("cos-emulator".into())
            .spawn(move || serve(listener, served, stopped))
            .expect("spawn the emulator thread");
        Self {
            addr,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:<port>`: the endpoint for path-style clients.
    #[must_use]
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The SecretId that works.
    #[must_use]
    pub fn secret_id(&self) -> &'static str {
        COS_SECRET_ID
    }

    /// The SecretKey that works.
    #[must_use]
    pub fn secret_key(&self) -> &'static str {
        COS_SECRET_KEY
    }

    /// The region of the default bucket.
    #[must_use]
    pub fn region(&self) -> &'static str {
        COS_REGION
    }

    /// The default bucket.
    #[must_use]
    pub fn bucket(&self) -> &'static str {
        COS_BUCKET
    }

    /// Creates (or keeps) `bucket` (`name-appid`) in `region`.
    pub fn create_bucket(&self, bucket: &str, region: &str) {
        self.shared.create_bucket(bucket, region);
    }

    /// Accepts `secret_id` / `secret_key`; with a `token`, only requests
    /// carrying it as `x-cos-security-token` (temporary keys).
    pub fn add_credentials(&self, secret_id: &str, secret_key: &str, token: Option<&str>) {
        self.shared.add_credentials(secret_id, secret_key, token);
    }

    /// Answers the next `n` requests of operation `op` ([`CosOp::Any`] for
    /// every request) with HTTP `status` and an `<Error>` body of `code`,
    /// before looking at them. A `status` of 200 sends the `<Error>` body
    /// inside an HTTP 200, as COS may for CompleteMultipartUpload and copies.
    pub fn fail_next(&self, op: CosOp, n: usize, status: u16, code: &str) {
        self.shared.add_fault(op, n, status, code);
    }

    /// Stores the next `n` uploaded parts with one byte flipped, reporting
    /// the ETag and CRC-64 of what was stored: bytes corrupted on the way
    /// in, which a client comparing CRC-64s catches.
    pub fn corrupt_next_parts(&self, n: usize) {
        self.shared.corrupt_next.fetch_add(n, Ordering::SeqCst);
    }

    /// Flips a byte of part `n` of upload `upload_id` after it was
    /// acknowledged (ETag kept): bytes rotting at rest, which the
    /// whole-object CRC-64 at completion catches. `false` when there is no
    /// such non-empty part.
    #[must_use]
    pub fn corrupt_part(&self, upload_id: &str, n: u32) -> bool {
        self.shared.corrupt_part(upload_id, n)
    }

    /// Moves the server's clock by `secs` (negative: into the past).
    pub fn set_clock_skew(&self, secs: i64) {
        self.shared.skew_secs.store(secs, Ordering::SeqCst);
    }

    /// The bytes of an object, if it exists.
    #[must_use]
    pub fn object(&self, bucket: &str, key: &str) -> Option<Bytes> {
        self.shared.object(bucket, key)
    }

    /// The ids of the multipart uploads in progress in `bucket`.
    #[must_use]
    pub fn uploads(&self, bucket: &str) -> Vec<String> {
        self.shared.upload_ids(bucket)
    }

    /// What the emulator has seen so far.
    #[must_use]
    pub fn stats(&self) -> CosStats {
        self.shared.stats()
    }
}

impl Drop for CosEmulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Header names as COS writes them (`ETag`, `Content-Type`, ...), for
/// clients that look answers up case-sensitively (the Python SDK returns
/// headers as a plain `dict`, and users write `response['ETag']`).
const HEADER_CASES: &[u8] = b"GET / HTTP/1.1\r\nHost: h\r\nETag: x\r\nContent-Type: x\r\n\
Content-Length: 0\r\nContent-Range: x\r\nLast-Modified: x\r\nAccept-Ranges: x\r\n\
Server: x\r\nConnection: close\r\n\r\n";

/// hyper writes header names lowercase unless a response carries its
/// (private) original-case map; the map is made here the only way hyper
/// offers, by parsing a request that spells the names as COS does, and is
/// then copied into every answer.
async fn header_cases() -> http::Extensions {
    use tokio::io::AsyncWriteExt as _;
    let (mut client, server) = tokio::io::duplex(4096);
    let (tx, rx) = tokio::sync::oneshot::channel();
    let tx = std::sync::Mutex::new(Some(tx));
    let svc = service_fn(move |req: http::Request<hyper::body::Incoming>| {
        if let Some(tx) = state::lock(&tx).take() {
            let _ = tx.send(req.extensions().clone());
        }
        async {
            Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Full::new(
                Bytes::new(),
            )))
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .preserve_header_case(true)
        .serve_connection(TokioIo::new(server), svc);
    tokio::spawn(conn);
    if client.write_all(HEADER_CASES).await.is_err() {
        return http::Extensions::new();
    }
    rx.await.unwrap_or_default()
}

/// The server thread: accepts connections until told to stop.
fn serve(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let Ok(rt) = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("cos-emulator-worker")
        .enable_all()
        .build()
    else {
        return;
    };
    rt.block_on(async move {
        let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
            return;
        };
        let cases = Arc::new(header_cases().await);
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    let shared = Arc::clone(&shared);
                    let cases = Arc::clone(&cases);
                    tokio::spawn(async move {
                        let svc = service_fn(move |req| {
                            let shared = Arc::clone(&shared);
                            let cases = Arc::clone(&cases);
                            async move {
                                let mut resp = route::handle(&shared, req).await;
                                *resp.extensions_mut() = (*cases).clone();
                                Ok::<_, std::convert::Infallible>(resp)
                            }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .keep_alive(true)
                            .preserve_header_case(true)
                            .serve_connection(TokioIo::new(stream), svc)
                            .await;
                    });
                }
            }
        }
    });
}
