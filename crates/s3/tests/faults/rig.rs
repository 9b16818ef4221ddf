//! The rig: an in-process S3 server, a fault proxy in front of it, and
//! stores that talk through the proxy or straight to the server.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use haul_core::{Key, ObjectStore, ObjectStoreExt};
use haul_engine::{Endpoint, Summary, TransferConfig};
use haul_s3::{S3Config, S3Endpoint, S3Store};
use haul_testkit::{FaultProxy, ProxyFault, ProxyRule, S3Server};
use tempfile::TempDir;

pub(crate) const KIB: u64 = 1024;
pub(crate) const MIB: u64 = 1024 * KIB;

/// A short client stall timeout, for the test of stalls: each stall the
/// proxy injects then costs about a second.
pub(crate) const STALL: Duration = Duration::from_secs(1);

/// The client's stall timeout elsewhere: above the slowest
/// honest answer of the debug-built test server on a loaded machine
/// (completing a 21 MiB upload takes about a second there), or the client
/// gives up on requests that would have succeeded.
pub(crate) const E2E_STALL: Duration = Duration::from_secs(5);

/// A server over a temp dir with a proxy in front of it.
pub(crate) struct Rig {
    pub(crate) proxy: FaultProxy,
    pub(crate) server: S3Server,
    pub(crate) dir: TempDir,
    stall: Duration,
}

impl Rig {
    /// A server with `buckets` and a proxy seeded with `seed`, no rules
    /// yet; clients stall out after [`E2E_STALL`].
    pub(crate) fn new(buckets: &[&str], seed: u64) -> Self {
        Self::with_stall(buckets, seed, E2E_STALL)
    }

    /// [`new`](Self::new) with clients that stall out after `stall`.
    pub(crate) fn with_stall(buckets: &[&str], seed: u64, stall: Duration) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("s3");
        std::fs::create_dir(&root).expect("server root");
        let server = S3Server::start(&root);
        for b in buckets {
            server.create_bucket(b).expect("bucket");
        }
        let proxy = FaultProxy::start(&server.endpoint(), seed);
        Self {
            proxy,
            server,
            dir,
            stall,
        }
    }

    /// A configuration for `bucket` through the proxy (or straight to the
    /// server), with the short stall timeout.
    pub(crate) fn config(&self, bucket: &str, via_proxy: bool) -> S3Config {
        let url = if via_proxy {
            self.proxy.endpoint()
        } else {
            self.server.endpoint()
        };
        let mut cfg = S3Config::new(
            bucket,
            self.server.region(),
            self.server.access_key(),
            self.server.secret_key(),
        )
        .with_endpoint(url);
        cfg.stall_timeout = self.stall;
        cfg
    }

    /// Every bucket, through the proxy.
    pub(crate) fn faulty(&self) -> Arc<dyn ObjectStore> {
        Arc::new(S3Endpoint::new(self.config("", true)).expect("endpoint"))
    }

    /// Every bucket, straight to the server: for setting up and checking.
    pub(crate) fn direct(&self) -> Arc<dyn ObjectStore> {
        Arc::new(S3Endpoint::new(self.config("", false)).expect("endpoint"))
    }

    /// One bucket, through the proxy.
    pub(crate) fn bucket(&self, bucket: &str) -> S3Store {
        S3Store::new(self.config(bucket, true)).expect("store")
    }

    /// A fresh local directory under the rig's temp dir.
    pub(crate) fn local_dir(&self, name: &str) -> std::path::PathBuf {
        let p = self.dir.path().join(name);
        std::fs::create_dir_all(&p).expect("local dir");
        p
    }
}

/// Faults on about one object request in four (in `bucket`: listings and
/// `HEAD`s are spared, see below): resets before and after the server saw
/// the request, 503 SlowDown, 500 InternalError, answer bodies cut short
/// (object data, and the XML of CompleteMultipartUpload and
/// UploadPartCopy), small delays, and one mid-body stall of a GET longer
/// than the client's stall timeout.
///
/// The engine sends its planning listing and its verifying `HEAD`s once,
/// without retries: a fault there fails the job or the file, whatever the
/// proxy does; so those are left alone here.
pub(crate) fn mixed_faults(bucket: &str) -> Vec<ProxyRule> {
    let objects = format!("/{bucket}/");
    let mut rules = Vec::new();
    for method in ["PUT", "POST", "GET"] {
        let faults = [
            (0.05, ProxyFault::Delay(Duration::from_millis(10))),
            (0.04, ProxyFault::ResetBefore),
            (0.04, ProxyFault::ResetAfter),
            (0.05, ProxyFault::SlowDown { retry_after: None }),
            (0.04, ProxyFault::InternalError),
            (0.08, ProxyFault::TruncateBody),
        ];
        for (p, fault) in faults {
            rules.push(
                ProxyRule::new(p, fault)
                    .method(method)
                    .path_contains(&objects),
            );
        }
    }
    rules.push(
        ProxyRule::new(
            0.1,
            ProxyFault::StallBody(E2E_STALL + Duration::from_secs(1)),
        )
        .method("GET")
        .path_contains(&objects)
        .at_most(1),
    );
    rules
}

/// Transfer settings for 5 MiB parts (S3's minimum) everywhere, server-side
/// copies included, with quick retries.
pub(crate) fn transfer_config() -> TransferConfig {
    TransferConfig {
        chunk_size: 5 * MIB,
        slice_size: 5 * MIB,
        copy_chunk_size: 5 * MIB,
        copy_slice_size: 5 * MIB,
        file_parallel_limit: 4,
        chunk_parallel_limit: 4,
        copy_chunk_parallel_limit: 4,
        max_inflight_bytes: 64 * MIB,
        request_retry_times: 8,
        retry_base_delay: Duration::from_millis(2),
        progress_interval: Duration::from_millis(100),
        ..TransferConfig::default()
    }
}

/// Deterministic bytes that differ everywhere (xorshift).
pub(crate) fn data(len: u64, seed: u64) -> Bytes {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut v = Vec::with_capacity(len as usize + 8);
    while (v.len() as u64) < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len as usize);
    v.into()
}

/// The files of the tests: relative path and contents. Two go multipart
/// (5 and 3 parts of 5 MiB), the rest are single requests, enough of them
/// that a fault rate gives a fair number of faults.
pub(crate) fn files() -> Vec<(String, Bytes)> {
    let mut v = vec![
        ("big.bin".to_owned(), data(21 * MIB + 12_345, 1)),
        ("dir/mid.bin".to_owned(), data(11 * MIB, 2)),
        ("dir/sub/small.txt".to_owned(), data(70 * KIB, 3)),
        ("empty".to_owned(), Bytes::new()),
    ];
    for i in 0..24 {
        v.push((format!("many/f{i:02}"), data(i * 3 * KIB + 1, 10 + i)));
    }
    v
}

/// Writes `files` under `dir`.
pub(crate) fn write_files(dir: &Path, files: &[(String, Bytes)]) {
    for (name, body) in files {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, body).expect("write");
    }
}

/// Checks that `dir` holds exactly `files`, byte for byte.
pub(crate) fn check_dir(dir: &Path, files: &[(String, Bytes)]) {
    for (name, body) in files {
        let got = std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            got == body[..],
            "{name}: {} bytes differ from the source",
            got.len()
        );
    }
    let mut count = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir") {
            let e = e.expect("entry");
            if e.file_type().expect("type").is_dir() {
                stack.push(e.path());
            } else {
                count += 1;
            }
        }
    }
    assert_eq!(count, files.len(), "no stray files in {}", dir.display());
}

/// Puts `files` under `prefix` (`bucket/...`), straight to the server.
pub(crate) async fn put_files(store: &dyn ObjectStore, prefix: &str, files: &[(String, Bytes)]) {
    for (name, body) in files {
        let k = Key::new(format!("{prefix}{name}")).expect("key");
        store.put_bytes(&k, body.clone()).await.expect("put");
    }
}

/// Checks that `prefix` holds exactly `files`, byte for byte, reading
/// straight from the server.
pub(crate) async fn check_objects(
    store: &dyn ObjectStore,
    prefix: &str,
    files: &[(String, Bytes)],
) {
    for (name, body) in files {
        let k = Key::new(format!("{prefix}{name}")).expect("key");
        let got = store
            .get_bytes(&k)
            .await
            .unwrap_or_else(|e| panic!("{k}: {e}"));
        assert!(
            got == *body,
            "{k}: {} bytes differ from the source",
            got.len()
        );
    }
    let listed = store.list_all(prefix).await.expect("list");
    assert_eq!(
        listed.len(),
        files.len(),
        "objects under {prefix}: {listed:?}"
    );
}

/// An engine endpoint.
pub(crate) fn ep(store: Arc<dyn ObjectStore>, prefix: &str) -> Endpoint {
    Endpoint::new(store, prefix, format!("test:{prefix}"))
}

/// Asserts success and prints what it took, for the test log.
pub(crate) fn assert_ok(what: &str, s: &Summary, proxy: &FaultProxy) {
    let stats = proxy.stats();
    println!("{what}: {stats}; engine retries {}", s.counts.retries);
    assert!(s.is_success(), "{what}: {s:?}\nproxy: {stats}");
}
