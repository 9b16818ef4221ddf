//! haul-serve is an S3-compatible endpoint over a local directory: what
//! `haul serve` and `haul demo` run, and what the tests talk to.
//!
//! [`S3Server`] is [s3s](https://crates.io/crates/s3s) with SigV4
//! authentication in front of `s3s-fs` 0.14, bound to a loopback address
//! (an ephemeral port by default), served from its own thread and runtime
//! (so any caller, sync or async, can start one), stopped when dropped.
//! Buckets are directories under the root; [`S3Server::create_bucket`]
//! makes one.
//!
//! ```no_run
//! let dir = std::env::temp_dir().join("haul-serve-doc");
//! std::fs::create_dir_all(&dir).unwrap();
//! let server = haul_serve::S3Server::start(&dir);
//! server.create_bucket("photos").unwrap();
//! println!("{} {} {}", server.endpoint(), server.access_key(), server.secret_key());
//! ```
//!
//! **Confinement.** Every bucket name and key a request carries — object
//! keys, copy sources, multipart keys, each key of a `DeleteObjects` —
//! goes through one checked resolver (`confine.rs`) before the shim or
//! s3s-fs opens anything: keys with a leading `/`, an empty segment, a `.`
//! or `..` segment or a NUL are `InvalidArgument`, and a path that a
//! symbolic link inside the root leads out of its bucket is
//! `AccessDenied`. s3s-fs joins `root/bucket/key` itself (with a lexical
//! `..` check only, blind to links), so nothing reaches it unchecked.
//!
//! s3s-fs is kept rather than replaced by an `S3` implementation over
//! haul-local's `LocalStore` (which refuses escaping keys on its own):
//! the shim, its on-disk layout (side files, upload records, part files)
//! and the remembered ETags of files already served are built on s3s-fs's
//! layout, and a rewrite of every operation was more than the confinement
//! fix needed. Routing every input through the resolver closes the same
//! holes; replacing s3s-fs remains the cleaner end state.
//!
//! s3s-fs is a small, lenient S3. A shim in front of it fixes, the way S3
//! behaves, what the conformance suite would otherwise trip on:
//!
//! * unknown, completed or aborted upload ids are `NoSuchUpload` (s3s-fs
//!   says `AccessDenied`, `InvalidRequest`, or lists no parts);
//! * `ListParts` is sorted, paginated (`max-parts`, `part-number-marker`)
//!   and carries ETags (s3s-fs lists in directory order, without ETags);
//! * `CompleteMultipartUpload` checks the part list before touching
//!   anything — ascending (`InvalidPartOrder`), uploaded and with matching
//!   ETags (`InvalidPart`), 5 MiB but the last (`EntityTooSmall`) — so a
//!   refused completion leaves the upload intact (s3s-fs deletes the upload
//!   first, checks no ETags, and wants parts numbered exactly 1..N: the shim
//!   renumbers gaps and drops unlisted parts, as S3 does);
//! * `ListMultipartUploads` exists (s3s-fs has none);
//! * a suffix range longer than the object is the whole object (s3s-fs
//!   fails with `InternalError`);
//! * `GetObject` and `HeadObject` honour `If-Match`, `If-None-Match`,
//!   `If-Modified-Since` and `If-Unmodified-Since` (`412`/`304`), and
//!   `UploadPartCopy` honours `x-amz-copy-source-if-match` (s3s-fs ignores
//!   them);
//! * listings: v1 and v2 `encoding-type=url` listings are URL-encoded
//!   (s3s-fs echoes the encoding type but sends keys raw), objects carry
//!   ETags (a file over 64 MiB put in the directory by hand only once a
//!   `GET` or `HEAD` has hashed it), v1 echoes `Marker` and gives `NextMarker`, a prefix starting
//!   with `/` matches nothing (s3s-fs strips the `/`), and
//!   `ListObjectVersions` of this unversioned store lists each object once
//!   as version `null`;
//! * deleting an object removes its side files (s3s-fs left them, and a
//!   later object at the key inherited their Content-Type and checksums);
//!   a multipart upload over an object keeps none of the old object's
//!   checksums or metadata;
//! * `CompleteMultipartUpload` repeated within an hour with the same part
//!   list (its answer lost) gets the same success, as on S3;
//! * a key can be an object and a prefix of others (`a/b` and `a/b/c`),
//!   and a key ending in `/` can hold data: such objects are kept as
//!   `a/b/.haul-object` and `k/.haul-folder` (`shim/keys.rs`), and
//!   listings, now read from the directory by the shim (`shim/walk.rs`),
//!   show clients' keys (s3s-fs answered `500` without a message, or
//!   refused the body);
//! * `PutObject` honours `If-None-Match` with an ETag, and `If-Match` on a
//!   missing key is `NoSuchKey`; a copy of an object onto itself that
//!   changes nothing is `InvalidRequest`; a write to or a read from a
//!   missing bucket is `NoSuchBucket`; `aws-chunked` is not stored as a
//!   Content-Encoding;
//! * `x-amz-checksum-*` values come only with `x-amz-checksum-mode:
//!   ENABLED`; an empty `delimiter` is none; listings carry a storage
//!   class and, with `fetch-owner`, an owner;
//! * `GetObjectAttributes` exists (s3s-fs has none): size, ETag, storage
//!   class, stored checksums, and the parts of an object completed here
//!   (their sizes kept in a side file), paginated; `GET`/`HEAD
//!   ?partNumber=` serve that part (`x-amz-mp-parts-count`), part 1 of
//!   any other object being all of it;
//! * a malformed `Content-MD5` is `InvalidDigest`, `DeleteObjects` of
//!   over 1000 keys is `MalformedXML`, and every answer has an
//!   `x-amz-request-id` (error documents a `<RequestId>`, `request_id.rs`);
//! * a request refused before its body was read keeps its connection
//!   usable: the body is drained (`drain.rs`), unless the client is still
//!   waiting for `100 Continue` and will never send it;
//! * `DeleteBucket` refuses a bucket that holds objects (`BucketNotEmpty`;
//!   s3s-fs deletes it with everything in it), `CreateBucket` of an
//!   existing bucket is `BucketAlreadyOwnedByYou` (there is one owner), and
//!   `ListBuckets` is sorted by name;
//! * keys too long for s3s-fs's side files (it names them after the base64
//!   of bucket and key; over ~170 bytes of key the name passes 255 bytes) are
//!   stored by the shim: `PutObject`, `CopyObject`, `CreateMultipartUpload`
//!   and `CompleteMultipartUpload` work for 1024-byte keys, without
//!   Content-Type or user metadata, with plain MD5 ETags.
//!
//! * `PutObject` and `UploadPart` check the body against the checksums the
//!   request declared — `Content-MD5` and `x-amz-checksum-*` headers, or the
//!   `aws-chunked` trailer an `x-amz-trailer` header promises — before
//!   anything is replaced: a mismatch is `BadDigest` and the object or part
//!   that was there stays (s3s-fs checks PutObject only after replacing the
//!   object, and parts not at all); the verified values are in the answer.
//!
//! * a file put in the served directory by hand gets its MD5 computed
//!   once and remembered (with its size and modification time, so a
//!   change on disk is noticed): s3s-fs would hash the whole file on every
//!   `GET` and `HEAD`, so a ranged download of a 256 MiB file took 11 s
//!   instead of 1.
//!
//! * `UploadPartCopy` copies with 1 MiB blocking reads (s3s-fs reads
//!   through tokio's `File` 4 KiB at a time, a trip to the blocking pool
//!   each: the demo's bucket-to-bucket copy went from 7.0 s to 2.0 s).
//!
//! * keys are checked by a [`KeyRing`] (keys added and removed while the
//!   server runs, each with its session token and expiry: `ExpiredToken`
//!   past it), and every key is one owner's (s3s-fs tied a multipart upload
//!   to the key that started it: one refreshed mid-upload was refused);
//! * `PutObject` accepts every storage class S3 has (s3s-fs two); none is
//!   kept. [`S3Server::record_requests`] keeps the requests received.
//!
//! Gaps that remain: no part or object reports a CRC it was not sent
//! (no multipart checksums); keys whose segment is
//! `.haul-object` or `.haul-folder` are refused; no versioning, no SSE
//! (encryption headers are accepted and not applied), no bucket policies
//! beyond a [`KeyRing`]'s buckets open to anonymous reads.

mod confine;
mod drain;
mod files;
mod keys;
mod request_id;
mod shim;
mod verify;

use drain::Drained;
pub use keys::KeyRing;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::service::S3ServiceBuilder;

/// The access key id [`S3Server::start`] accepts.
pub const ACCESS_KEY: &str = "HAULTESTACCESSKEY";
/// The secret key [`S3Server::start`] accepts.
pub const SECRET_KEY: &str = "haul/test+secret/key/0123456789abcdef";
/// The region to sign for.
pub const REGION: &str = "us-east-1";

/// An in-process S3 server over a directory. Stops when dropped.
#[derive(Debug)]
pub struct S3Server {
    addr: SocketAddr,
    root: PathBuf,
    access_key: String,
    secret_key: String,
    keys: KeyRing,
    recorded: Arc<Mutex<Option<Vec<RecordedRequest>>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl S3Server {
    /// Starts a server on an ephemeral loopback port with the fixed
    /// [`ACCESS_KEY`] and [`SECRET_KEY`], storing buckets as directories
    /// under `root` (which must exist).
    ///
    /// # Panics
    /// When the root cannot be opened or no loopback port can be bound: a
    /// test cannot go on without its server.
    #[must_use]
    pub fn start(root: &Path) -> Self {
        Self::start_with(root, "127.0.0.1:0", ACCESS_KEY, SECRET_KEY)
            .unwrap_or_else(|e| panic!("S3Server {}: {e}", root.display()))
    }

    /// Starts a server on `addr` accepting one key pair (more through
    /// [`keys`](Self::keys)).
    ///
    /// # Panics
    /// When the server thread cannot build its runtime (out of resources).
    pub fn start_with(
        root: &Path,
        addr: &str,
        access_key: &str,
        secret_key: &str,
    ) -> std::io::Result<Self> {
        let shim = shim::Shim::new(root)?;
        let listener = std::net::TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let keys = KeyRing::new();
        keys.add(access_key, secret_key, None, None);
        let ring = keys.clone();
        let recorded: Arc<Mutex<Option<Vec<RecordedRequest>>>> = Arc::default();
        let log = Arc::clone(&recorded);
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("s3server-{}", addr.port()))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("S3Server runtime");
                rt.block_on(async move {
                    let mut builder = S3ServiceBuilder::new(shim);
                    builder.set_auth(ring.clone());
                    builder.set_access(ring);
                    let service = builder.build();
                    let listener =
                        tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                    let http = ConnBuilder::new(TokioExecutor::new());
                    loop {
                        let socket = tokio::select! {
                            r = listener.accept() => match r {
                                Ok((s, _)) => s,
                                Err(_) => continue,
                            },
                            _ = &mut stopped => break,
                        };
                        let _ = socket.set_nodelay(true);
                        let service = service.clone();
                        let log = Arc::clone(&log);
                        let service = hyper::service::service_fn(
                            move |req: http::Request<hyper::body::Incoming>| {
                                record(&log, &req);
                                let service = service.clone();
                                let expects =
                                    req.headers().get(http::header::EXPECT).is_some_and(|v| {
                                        v.as_bytes().eq_ignore_ascii_case(b"100-continue")
                                    });
                                let req =
                                    req.map(|b| s3s::Body::http_body(Drained::new(b, expects)));
                                async move { service.call(req).await.map(request_id::add) }
                            },
                        );
                        let conn = http
                            .serve_connection(TokioIo::new(socket), service)
                            .into_owned();
                        tokio::spawn(async move {
                            let _ = conn.await;
                        });
                    }
                });
                rt.shutdown_background();
            })?;
        Ok(Self {
            addr,
            root: root.to_path_buf(),
            access_key: access_key.to_owned(),
            secret_key: secret_key.to_owned(),
            keys,
            recorded,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT`.
    #[must_use]
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The access key id it accepts.
    #[must_use]
    pub fn access_key(&self) -> &str {
        &self.access_key
    }

    /// The secret key it accepts.
    #[must_use]
    pub fn secret_key(&self) -> &str {
        &self.secret_key
    }

    /// The keys it accepts (at first only [`access_key`](Self::access_key)):
    /// add others, take that one away, open buckets to anonymous reads.
    #[must_use]
    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    /// Starts keeping every request's method, path and headers (all but
    /// `Authorization`), for [`recorded`](Self::recorded); clears what was kept.
    pub fn record_requests(&self) {
        *self.recorded.lock().unwrap_or_else(PoisonError::into_inner) = Some(Vec::new());
    }

    /// The requests received since [`record_requests`](Self::record_requests).
    #[must_use]
    pub fn recorded(&self) -> Vec<RecordedRequest> {
        self.recorded
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .unwrap_or_default()
    }

    /// The region to sign for.
    #[must_use]
    pub fn region(&self) -> &'static str {
        REGION
    }

    /// The directory buckets live in.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Creates bucket `name` (a directory under the root); an existing one is kept.
    pub fn create_bucket(&self, name: &str) -> std::io::Result<()> {
        std::fs::create_dir_all(self.root.join(name))
    }
}

/// A request as the server received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// `GET`, `PUT`, ...
    pub method: String,
    /// The path and query, as sent.
    pub target: String,
    /// Header names (lowercase) and values, `Authorization` left out.
    pub headers: Vec<(String, String)>,
    /// The credential scope of its SigV4 `Authorization` header
    /// (`AKID/20261207/us-east-1/s3/aws4_request`); `None` when unsigned.
    pub credential_scope: Option<String>,
}

impl RecordedRequest {
    /// The value of header `name` (lowercase).
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

fn record<B>(recorder: &Mutex<Option<Vec<RecordedRequest>>>, req: &http::Request<B>) {
    let mut guard = recorder.lock().unwrap_or_else(PoisonError::into_inner);
    let Some(log) = guard.as_mut() else {
        return;
    };
    log.push(RecordedRequest {
        method: req.method().as_str().to_owned(),
        target: req
            .uri()
            .path_and_query()
            .map_or_else(String::new, ToString::to_string),
        headers: req
            .headers()
            .iter()
            .filter(|(n, _)| *n != http::header::AUTHORIZATION)
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        credential_scope: req
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|a| a.split("Credential=").nth(1))
            .and_then(|c| c.split(',').next())
            .map(str::to_owned),
    });
}

impl Drop for S3Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
