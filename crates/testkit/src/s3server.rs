//! S3 servers for tests (feature `s3`): [`S3Server`], in process, and
//! [`SeaweedServer`], a real SeaweedFS when `weed` is installed.
//!
//! [`S3Server`] is [s3s](https://crates.io/crates/s3s) with SigV4
//! authentication in front of `s3s-fs` 0.14, bound to `127.0.0.1` on an
//! ephemeral port, served from its own thread and runtime (so any test,
//! sync or async, can start one), stopped when dropped. Buckets are
//! directories under the root; [`S3Server::create_bucket`] makes one.
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
//! * `GetObject` honours `If-Match`, `UploadPartCopy` honours
//!   `x-amz-copy-source-if-match` (s3s-fs ignores both);
//! * `encoding-type=url` listings are URL-encoded (s3s-fs echoes the
//!   encoding type but sends keys raw);
//! * keys too long for s3s-fs's side files (it names them after the base64
//!   of bucket and key; over ~170 bytes of key the name passes 255 bytes) are
//!   stored by the shim: `PutObject`, `CopyObject`, `CreateMultipartUpload`
//!   and `CompleteMultipartUpload` work for 1024-byte keys, without
//!   Content-Type or user metadata, with plain MD5 ETags.
//!
//! Gaps that remain: a `PutObject` refused for a bad checksum (`BadDigest`)
//! has already replaced the object; `UploadPart` verifies neither
//! `Content-MD5` nor `x-amz-checksum-*`; no part or object reports a CRC it
//! was not sent; `GetObject ?partNumber=` is ignored; deleting an object
//! leaves its side files behind (a later copy may inherit stale metadata);
//! no versioning, no SSE, no bucket policies.

mod files;
mod shim;
mod weed;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;

pub use weed::SeaweedServer;

/// The access key id every [`S3Server`] accepts.
pub const ACCESS_KEY: &str = "HAULTESTACCESSKEY";
/// The secret key every [`S3Server`] accepts.
pub const SECRET_KEY: &str = "haul/test+secret/key/0123456789abcdef";
/// The region to sign for.
pub const REGION: &str = "us-east-1";

/// An in-process S3 server over a directory. Stops when dropped.
#[derive(Debug)]
pub struct S3Server {
    addr: SocketAddr,
    root: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl S3Server {
    /// Starts a server storing buckets as directories under `root` (which
    /// must exist).
    ///
    /// # Panics
    /// When the root cannot be opened or no loopback port can be bound: a
    /// test cannot go on without its server.
    #[must_use]
    pub fn start(root: &Path) -> Self {
        let shim = shim::Shim::new(root)
            .unwrap_or_else(|e| panic!("S3Server root {}: {e}", root.display()));
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap_or_else(|e| panic!("S3Server cannot bind 127.0.0.1: {e}"));
        let addr = listener.local_addr().expect("bound address");
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
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
                    builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
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
                        let conn = http
                            .serve_connection(TokioIo::new(socket), service.clone())
                            .into_owned();
                        tokio::spawn(async move {
                            let _ = conn.await;
                        });
                    }
                });
                rt.shutdown_background();
            })
            .expect("S3Server thread");
        Self {
            addr,
            root: root.to_path_buf(),
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`.
    #[must_use]
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The access key id it accepts.
    #[must_use]
    pub fn access_key(&self) -> &'static str {
        ACCESS_KEY
    }

    /// The secret key it accepts.
    #[must_use]
    pub fn secret_key(&self) -> &'static str {
        SECRET_KEY
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
