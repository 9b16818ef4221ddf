//! S3Endpoint against the in-process s3s-fs server: the whole conformance
//! suite, then copies between buckets (server-side, observed through the
//! requests haul sends), listing across buckets, and keys it refuses.

use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::TryStreamExt;
use haul_core::{
    ByteRange, CopyOptions, Error, Key, ListEntry, ListOptions, ObjectStore, ObjectStoreExt,
    PartNumber, PutOptions,
};
use haul_s3::{S3Config, S3Endpoint};
use haul_testkit::{Guarded, S3Server};
use tempfile::TempDir;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata};

/// A server over a fresh directory with `buckets`, and an endpoint on it.
fn server(buckets: &[&str]) -> (S3Server, TempDir, S3Endpoint) {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = S3Server::start(dir.path());
    for b in buckets {
        server.create_bucket(b).expect("bucket");
    }
    let cfg = S3Config::new(
        "ignored",
        server.region(),
        server.access_key(),
        server.secret_key(),
    )
    .with_endpoint(server.endpoint());
    let s3 = S3Endpoint::new(cfg).expect("endpoint");
    (server, dir, s3)
}

fn key(s: &str) -> Key {
    Key::new(s).expect("key")
}

fn part(n: u32) -> PartNumber {
    PartNumber::new(n).expect("part number")
}

/// Bytes that differ from position to position.
fn data(len: usize) -> Bytes {
    (0..len).map(|i| (i % 251) as u8).collect()
}

mod conformance {
    use super::*;

    // Every key and prefix of the suite starts with `conformance/<case>/`:
    // on an endpoint that is bucket `conformance`, and the keys within it
    // are `<case>/...`. The suite runs unchanged, through the bucket split.
    fn store() -> Guarded<(S3Server, TempDir)> {
        let (server, dir, s3) = server(&["conformance"]);
        Guarded::new(Arc::new(s3), (server, dir))
    }

    haul_testkit::conformance_tests!(
        async { store() },
        skip {
            put_checksums: "S3 has no checksum of its own to check (it checks the CRC32C haul sends: payload_checksums)",
        }
    );
}

/// The requests haul sends (`haul_http`'s debug events), as (method, URL).
#[derive(Clone, Default)]
struct Requests(Arc<Mutex<Vec<(String, String)>>>);

impl Requests {
    /// Records the requests sent on this thread until the guard drops.
    fn record(&self) -> tracing::subscriber::DefaultGuard {
        tracing::subscriber::set_default(self.clone())
    }

    fn take(&self) -> Vec<(String, String)> {
        std::mem::take(&mut *self.0.lock().expect("lock"))
    }
}

#[derive(Default)]
struct Fields {
    message: String,
    method: String,
    url: String,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        let text = format!("{value:?}");
        match field.name() {
            "message" => self.message = text,
            "method" => self.method = text,
            "url" => self.url = text,
            _ => {}
        }
    }
}

impl tracing::Subscriber for Requests {
    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        meta.target() == "haul_http"
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut f = Fields::default();
        event.record(&mut f);
        if f.message == "request" {
            self.0.lock().expect("lock").push((f.method, f.url));
        }
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// The requests whose URL is in `bucket` (path style, as on loopback).
fn in_bucket<'a>(reqs: &'a [(String, String)], server: &S3Server, bucket: &str) -> Vec<&'a str> {
    let base = format!("{}/{bucket}/", server.endpoint());
    reqs.iter()
        .filter(|(_, url)| url.starts_with(&base))
        .map(|(m, _)| m.as_str())
        .collect()
}

#[tokio::test]
async fn copy_between_buckets_is_server_side() {
    let (server, _dir, s3) = server(&["src-b", "dst-b"]);
    let src = key("src-b/dir/a b+c 日本 100%.txt");
    let dst = key("dst-b/copied/ü x+y#?.bin");
    let body = data(70_000);
    s3.put_bytes(&src, body.clone()).await.expect("put");

    let requests = Requests::default();
    let guard = requests.record();
    let out = s3
        .copy(&src, &dst, CopyOptions::default())
        .await
        .expect("copy across buckets");
    drop(guard);
    let sent = requests.take();
    assert_eq!(
        in_bucket(&sent, &server, "dst-b"),
        ["PUT"],
        "one CopyObject: {sent:?}"
    );
    assert!(
        in_bucket(&sent, &server, "src-b").is_empty(),
        "the source is never read through the client: {sent:?}"
    );
    assert_eq!(sent.len(), 1, "{sent:?}");

    assert!(out.etag.is_some(), "{out:?}");
    assert!(
        s3.get_bytes(&dst).await.expect("get") == body,
        "copied bytes"
    );
    // It is in the destination bucket, under the key within it.
    let dst_bucket = s3.bucket("dst-b").expect("store");
    let inner = key("copied/ü x+y#?.bin");
    assert_eq!(dst_bucket.head(&inner).await.expect("head").size, 70_000);
    let meta = s3.head(&dst).await.expect("head");
    assert_eq!((meta.key, meta.size), (dst.clone(), 70_000));
    assert!(s3.get_bytes(&src).await.expect("source kept") == body);

    // Within one bucket, and with a source ETag to match.
    let again = key("src-b/again/ü+ .txt");
    let opts = CopyOptions {
        if_match: out.etag.clone(),
    };
    s3.copy(&dst, &again, opts).await.expect("copy back");
    assert!(s3.get_bytes(&again).await.expect("get") == body);
}

#[tokio::test]
async fn copy_errors_name_the_bucket_and_key() {
    let (_server, _dir, s3) = server(&["src-b", "dst-b"]);
    let src = key("src-b/here + there.txt");
    s3.put_bytes(&src, "x".into()).await.expect("put");

    let missing = key("src-b/not here.txt");
    let err = s3
        .copy(&missing, &key("dst-b/x"), CopyOptions::default())
        .await
        .expect_err("missing source");
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    assert_eq!(err.key(), "src-b/not here.txt", "{err}");

    let err = s3
        .copy(
            &key("no-such-src/k"),
            &key("dst-b/x"),
            CopyOptions::default(),
        )
        .await
        .expect_err("missing source bucket");
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    assert!(err.to_string().contains("no-such-src"), "{err}");

    let err = s3
        .copy(&src, &key("no-such-dst/k"), CopyOptions::default())
        .await
        .expect_err("missing destination bucket");
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    // s3s-fs does not say which bucket is missing (S3 does, in BucketName):
    // both are named.
    assert!(
        err.to_string()
            .contains("bucket \"src-b\" or bucket \"no-such-dst\" does not exist"),
        "{err}"
    );

    let opts = CopyOptions {
        if_match: Some("0123456789abcdef0123456789abcdef".into()),
    };
    let err = s3
        .copy(&src, &key("dst-b/y"), opts)
        .await
        .expect_err("changed source");
    assert!(matches!(err, Error::Precondition { .. }), "{err:?}");
    assert_eq!(err.key(), src.as_str());
}

#[tokio::test]
async fn upload_part_copy_between_buckets() {
    let (server, _dir, s3) = server(&["src-b", "dst-b"]);
    let min = s3.capabilities().min_part_size_bytes;
    let src = key("src-b/big src+ü 1.bin");
    let dst = key("dst-b/assembled/ü+ x%.bin");
    let body = data(min as usize + 1234);
    s3.put_bytes(&src, body.clone()).await.expect("put");
    let id = s3
        .create_multipart(&dst, PutOptions::default())
        .await
        .expect("create");

    let requests = Requests::default();
    let guard = requests.record();
    let p1 = s3
        .upload_part_copy(
            &src,
            ByteRange::Bounded { start: 0, end: min },
            &dst,
            &id,
            part(1),
        )
        .await
        .expect("part 1");
    let p2 = s3
        .upload_part_copy(&src, ByteRange::From(min), &dst, &id, part(2))
        .await
        .expect("part 2");
    drop(guard);
    let sent = requests.take();
    assert_eq!(
        in_bucket(&sent, &server, "src-b"),
        ["HEAD", "HEAD"],
        "the source is only asked its size and ETag: {sent:?}"
    );
    assert_eq!(
        in_bucket(&sent, &server, "dst-b"),
        ["PUT", "PUT"],
        "{sent:?}"
    );
    assert_eq!((p1.size, p2.size), (min, 1234));

    let listed = s3.list_parts(&dst, &id).await.expect("list parts");
    assert_eq!(listed.len(), 2, "{listed:?}");
    s3.complete_multipart(&dst, &id, &[p1, p2])
        .await
        .expect("complete");
    assert!(
        s3.get_bytes(&dst).await.expect("get") == body,
        "assembled bytes"
    );

    let err = s3
        .upload_part_copy(&key("src-b/absent"), ByteRange::From(0), &dst, &id, part(1))
        .await
        .expect_err("missing source");
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    assert_eq!(err.key(), "src-b/absent");
}

/// Names of a listing: `obj:<key>` / `dir:<prefix>`.
async fn names(s3: &S3Endpoint, prefix: &str, opts: ListOptions) -> Vec<String> {
    s3.list(prefix, opts)
        .map_ok(|e| match e {
            ListEntry::Object(m) => format!("obj:{}", m.key),
            ListEntry::Prefix(p) => format!("dir:{p}"),
            ListEntry::Unusable(u) => format!("unusable:{}", u.name),
        })
        .try_collect()
        .await
        .unwrap_or_else(|e| panic!("list {prefix:?}: {e}"))
}

#[tokio::test]
async fn lists_within_each_bucket() {
    let (_server, _dir, s3) = server(&["alpha", "beta"]);
    for k in ["alpha/x/1", "alpha/x/2 +ü", "alpha/y", "beta/x/1"] {
        s3.put_bytes(&key(k), "d".into()).await.expect("put");
    }
    let all = |after: Option<&str>| ListOptions {
        start_after: after.map(str::to_owned),
        ..ListOptions::default()
    };
    assert_eq!(
        names(&s3, "alpha/", all(None)).await,
        ["obj:alpha/x/1", "obj:alpha/x/2 +ü", "obj:alpha/y"]
    );
    assert_eq!(
        names(&s3, "alpha/x/", all(None)).await,
        ["obj:alpha/x/1", "obj:alpha/x/2 +ü"]
    );
    assert_eq!(names(&s3, "beta/", all(None)).await, ["obj:beta/x/1"]);
    let delim = ListOptions {
        delimiter: Some("/".into()),
        ..ListOptions::default()
    };
    assert_eq!(
        names(&s3, "alpha/", delim).await,
        ["dir:alpha/x/", "obj:alpha/y"]
    );
    assert_eq!(
        names(&s3, "alpha/", all(Some("alpha/x/1"))).await,
        ["obj:alpha/x/2 +ü", "obj:alpha/y"]
    );
    assert_eq!(
        names(&s3, "alpha/", all(Some("0"))).await.len(),
        3,
        "before the bucket"
    );
    assert_eq!(
        names(&s3, "alpha/", all(Some("alpha/"))).await.len(),
        3,
        "the bucket itself"
    );
    assert!(
        names(&s3, "alpha/", all(Some("beta"))).await.is_empty(),
        "after the bucket"
    );
    let metas = s3.list_all("alpha/x").await.expect("list");
    assert_eq!(metas[0].key.as_str(), "alpha/x/1");
    assert_eq!(metas[0].size, 1);

    for bad in ["", "alpha", "/x"] {
        let err = s3.list_all(bad).await.expect_err(bad);
        assert!(
            matches!(err, Error::InvalidInput { .. }),
            "{bad:?}: {err:?}"
        );
        assert_eq!(err.key(), bad);
    }
    let err = s3.list_all("nope/").await.expect_err("missing bucket");
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    assert_eq!(err.key(), "nope/");
    assert!(err.to_string().contains("\"nope\""), "{err}");
    let err = s3.list_all("nope/p").await.expect_err("missing bucket");
    assert_eq!(err.key(), "nope/p", "{err}");
}

#[tokio::test]
async fn refuses_keys_without_a_bucket() {
    let (_server, _dir, s3) = server(&["alpha"]);
    for bad in ["nobucket", "/k", "alpha/"] {
        let k = key(bad);
        let err = s3.head(&k).await.expect_err(bad);
        assert!(matches!(err, Error::InvalidInput { .. }), "{bad}: {err:?}");
        assert_eq!(err.key(), bad);
        assert!(err.to_string().contains("<bucket>/<key>"), "{err}");
        let err = s3.put_bytes(&k, "x".into()).await.expect_err(bad);
        assert_eq!(err.key(), bad);
        let err = s3
            .copy(&key("alpha/fine"), &k, CopyOptions::default())
            .await
            .expect_err(bad);
        assert_eq!(err.key(), bad);
    }
}

#[tokio::test]
async fn errors_name_the_whole_key() {
    let (_server, _dir, s3) = server(&["alpha"]);
    let err = s3
        .head(&key("alpha/dir/missing one"))
        .await
        .expect_err("missing");
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    assert_eq!(err.key(), "alpha/dir/missing one");
    let err = s3
        .get_bytes(&key("nope/k"))
        .await
        .expect_err("missing bucket");
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    // (s3s-fs says NoSuchKey here, S3 NoSuchBucket: the key names the bucket either way.)
    assert_eq!(err.key(), "nope/k");
    assert!(err.to_string().starts_with("nope/k: not found"), "{err}");
}

#[tokio::test]
async fn delete_many_across_buckets_keeps_order() {
    let (_server, _dir, s3) = server(&["alpha", "beta"]);
    let keys: Vec<Key> = ["alpha/1", "beta/1 +", "nobucket", "alpha/2 ü", "beta/2"]
        .into_iter()
        .map(key)
        .collect();
    for k in keys.iter().filter(|k| k.as_str() != "nobucket") {
        s3.put_bytes(k, "d".into()).await.expect("put");
    }
    let results = s3.delete_many(&keys).await.expect("delete_many");
    assert_eq!(results.len(), keys.len());
    for (k, r) in keys.iter().zip(&results) {
        if k.as_str() == "nobucket" {
            assert!(
                matches!(r, Err(Error::InvalidInput { key, .. }) if key == "nobucket"),
                "{r:?}"
            );
        } else {
            assert!(r.is_ok(), "{k}: {r:?}");
        }
    }
    assert!(s3.list_all("alpha/").await.expect("list").is_empty());
    assert!(s3.list_all("beta/").await.expect("list").is_empty());
}

#[test]
fn shows_its_endpoint() {
    let (server, _dir, s3) = server(&[]);
    assert_eq!(s3.to_string(), server.endpoint());
    assert!(
        !format!("{s3:?}").contains(server.secret_key()),
        "Debug hides the secret"
    );
    assert_eq!(
        s3.capabilities(),
        s3.bucket("any").expect("store").capabilities()
    );
}
