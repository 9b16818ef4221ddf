//! S3Store against the in-process s3s-fs server: the whole conformance
//! suite, then what is specific to S3 (credentials, buckets, checksums,
//! presigning, pending uploads).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use haul_core::checksum::compute;
use haul_core::{
    ChecksumKind, Error, GetOptions, Key, ObjectStore, ObjectStoreExt, Payload, PutOptions,
};
use haul_s3::{S3Config, S3Store};
use haul_testkit::{Guarded, S3Server};
use tempfile::TempDir;

/// A server over a fresh directory with bucket `bucket`, and its config.
fn server(bucket: &str) -> (S3Server, TempDir, S3Config) {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = S3Server::start(dir.path());
    server.create_bucket(bucket).expect("bucket");
    let cfg = S3Config::new(
        bucket,
        server.region(),
        server.access_key(),
        server.secret_key(),
    )
    .with_endpoint(server.endpoint());
    (server, dir, cfg)
}

fn key(s: &str) -> Key {
    Key::new(s).expect("key")
}

mod conformance {
    use super::*;

    fn store() -> Guarded<(S3Server, TempDir)> {
        let (server, dir, cfg) = server("conformance");
        Guarded::new(Arc::new(S3Store::new(cfg).expect("store")), (server, dir))
    }

    haul_testkit::conformance_tests!(
        async { store() },
        skip {
            put_checksums: "S3 has no checksum of its own to check (it checks the CRC32C haul sends: payload_checksums)",
        }
    );
}

mod signed_payload {
    use super::*;

    fn store() -> Guarded<(S3Server, TempDir)> {
        let (server, dir, mut cfg) = server("signed");
        cfg.signed_payload = true;
        Guarded::new(Arc::new(S3Store::new(cfg).expect("store")), (server, dir))
    }

    #[tokio::test]
    async fn round_trip_and_multipart() {
        let store = store();
        assert_eq!(
            haul_testkit::conformance::put_get_head_delete(&*store).await,
            Ok(()),
            "put_get_head_delete"
        );
        assert_eq!(
            haul_testkit::conformance::multipart_out_of_order(&*store).await,
            Ok(()),
            "multipart_out_of_order"
        );
    }
}

/// With `stream_parts` off, streamed parts are gathered and sent with
/// their CRC32C as a header (the path for servers without trailers).
mod gathered_parts {
    use super::*;

    #[tokio::test]
    async fn streamed_parts_are_gathered() {
        let (server, dir, mut cfg) = server("gathered");
        cfg.stream_parts = false;
        let store = S3Store::new(cfg).expect("store");
        assert!(!store.capabilities().streamed_parts);
        let store = Guarded::new(Arc::new(store), (server, dir));
        assert_eq!(
            haul_testkit::conformance::streamed_parts(&*store).await,
            Ok(()),
            "streamed_parts"
        );
        assert_eq!(
            haul_testkit::conformance::multipart_out_of_order(&*store).await,
            Ok(()),
            "multipart_out_of_order"
        );
    }
}

#[tokio::test]
async fn bad_secret_is_unauthenticated_naming_key_and_hint() {
    let (_server, _dir, mut cfg) = server("auth");
    cfg.secret_access_key = "not-the-secret".into();
    let store = S3Store::new(cfg).expect("store");
    let k = key("dir/some object.txt");
    let err = store
        .put_bytes(&k, "x".into())
        .await
        .expect_err("bad secret");
    assert!(matches!(err, Error::Unauthenticated { .. }), "{err:?}");
    assert!(!err.is_retryable());
    let line = err.to_string();
    assert!(!line.contains('\n'), "one line: {line}");
    assert!(line.starts_with("dir/some object.txt: "), "{line}");
    assert!(line.contains("AWS_SECRET_ACCESS_KEY"), "{line}");
    assert!(
        !line.contains("not-the-secret"),
        "the secret leaked: {line}"
    );
}

#[tokio::test]
async fn unknown_access_key_is_unauthenticated() {
    let (_server, _dir, mut cfg) = server("auth2");
    cfg.access_key_id = "AKIDUNKNOWN".into();
    let store = S3Store::new(cfg).expect("store");
    let err = store.list_all("").await.expect_err("unknown key");
    assert!(matches!(err, Error::Unauthenticated { .. }), "{err:?}");
    assert!(err.to_string().contains("AKIDUNKNOWN"), "{err}");
}

#[tokio::test]
async fn missing_bucket_is_not_found_naming_it() {
    let (_server, _dir, mut cfg) = server("present");
    cfg.bucket = "absent-bucket".into();
    let store = S3Store::new(cfg).expect("store");
    let err = store.list_all("p/").await.expect_err("no bucket");
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    assert!(err.to_string().contains("absent-bucket"), "{err}");
    let err = store.head(&key("k")).await.expect_err("no bucket");
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn unreachable_endpoint_is_transient() {
    let (server, _dir, cfg) = server("gone");
    drop(server);
    let store = S3Store::new(cfg).expect("store");
    let err = store.head(&key("k")).await.expect_err("nobody listens");
    assert!(err.is_retryable(), "{err:?}");
}

#[tokio::test]
async fn wrong_payload_checksum_is_integrity() {
    let (_server, _dir, cfg) = server("sums");
    let store = S3Store::new(cfg).expect("store");
    let body = Bytes::from_static(b"the body that was read");
    for kind in [ChecksumKind::Crc32c, ChecksumKind::Md5] {
        let wrong = Payload::from(body.clone()).with_checksums(vec![compute(kind, b"other")]);
        let err = store
            .put(&key("bad"), wrong, PutOptions::default())
            .await
            .expect_err("wrong checksum");
        assert!(matches!(err, Error::Integrity { .. }), "{kind}: {err:?}");
    }
    let right =
        Payload::from(body.clone()).with_checksums(vec![compute(ChecksumKind::Crc32c, &body)]);
    let out = store
        .put(&key("good"), right, PutOptions::default())
        .await
        .expect("right checksum");
    assert_eq!(
        out.checksums,
        vec![compute(ChecksumKind::Crc32c, &body)],
        "the store echoes the CRC32C it verified"
    );
    let head = store.head(&key("good")).await.expect("head");
    assert_eq!(
        head.checksum(ChecksumKind::Crc32c),
        Some(&compute(ChecksumKind::Crc32c, &body))
    );
}

#[tokio::test]
async fn presigned_get_downloads() {
    let (_server, _dir, cfg) = server("presign");
    let store = S3Store::new(cfg).expect("store");
    let k = key("shared/a b+c.txt");
    store
        .put_bytes(&k, "shared bytes".into())
        .await
        .expect("put");
    let url = store
        .presign_get(&k, Duration::from_mins(5))
        .expect("presign");
    assert!(url.contains("X-Amz-Signature="), "{url}");
    let resp = reqwest::get(&url).await.expect("GET");
    assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
    assert_eq!(&resp.bytes().await.expect("body")[..], b"shared bytes");
}

#[tokio::test]
async fn pending_uploads_are_listed_and_aborted() {
    let (_server, _dir, cfg) = server("pending");
    let store = S3Store::new(cfg).expect("store");
    let a = key("up/a b");
    let b = key("up/b+c");
    let other = key("elsewhere/x");
    let ia = store
        .create_multipart(&a, PutOptions::default())
        .await
        .expect("create");
    let ib = store
        .create_multipart(&b, PutOptions::default())
        .await
        .expect("create");
    store
        .create_multipart(&other, PutOptions::default())
        .await
        .expect("create");
    let pending = store
        .list_multipart_uploads("up/")
        .await
        .expect("list uploads");
    let got: Vec<(&str, &str)> = pending
        .iter()
        .map(|p| (p.key.as_str(), p.upload_id.0.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![(a.as_str(), ia.0.as_str()), (b.as_str(), ib.0.as_str())]
    );
    for p in &pending {
        store
            .abort_multipart(&p.key, &p.upload_id)
            .await
            .expect("abort");
    }
    assert!(
        store
            .list_multipart_uploads("up/")
            .await
            .expect("list")
            .is_empty()
    );
    assert_eq!(
        store.list_multipart_uploads("").await.expect("list").len(),
        1
    );
}

/// The server answers `NoSuchUpload` before reading the part; the answer
/// must reach the client, not a broken pipe (an upload that expired while
/// haul was down is recreated on `NoSuchUpload`, and only on it). Each
/// attempt failed about one time in five before the server drained bodies.
#[tokio::test]
async fn parts_sent_to_an_aborted_upload_get_no_such_upload_every_time() {
    let (_server, _dir, cfg) = server("gone");
    let store = S3Store::new(cfg).expect("store");
    let k = key("gone/part");
    let id = store
        .create_multipart(&k, PutOptions::default())
        .await
        .expect("create");
    store.abort_multipart(&k, &id).await.expect("abort");
    let body = Bytes::from(vec![7u8; 8 << 20]);
    for attempt in 1..=20 {
        let n = haul_core::PartNumber::new(attempt).expect("part number");
        match store.upload_part(&k, &id, n, body.clone().into()).await {
            Err(Error::NoSuchUpload { .. }) => {}
            other => panic!("attempt {attempt}: expected NoSuchUpload, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn get_streams_a_large_object_and_reports_ranges() {
    let (_server, _dir, cfg) = server("large");
    let store = S3Store::new(cfg).expect("store");
    let k = key("big");
    let body: Bytes = (0..12u32 << 20).map(|i| (i % 251) as u8).collect();
    let pieces: Payload = body.chunks(1 << 20).map(Bytes::copy_from_slice).collect();
    store
        .put(&k, pieces, PutOptions::default())
        .await
        .expect("put");
    let resp = store
        .get(
            &k,
            GetOptions {
                range: Some(haul_core::ByteRange::From(5)),
                ..GetOptions::default()
            },
        )
        .await
        .expect("get");
    assert_eq!(resp.range, 5..body.len() as u64);
    assert_eq!(resp.meta.size, body.len() as u64);
    let got = resp.bytes().await.expect("read");
    assert!(got == body.slice(5..), "ranged body differs");
}

/// Files put in the served directory by hand get their MD5 as ETag, and a
/// new one when they change on disk.
#[tokio::test]
async fn files_put_in_the_directory_by_hand_have_their_md5_as_etag() {
    let (server, _dir, cfg) = server("byhand");
    let store = S3Store::new(cfg).expect("store");
    let path = server.root().join("byhand").join("by hand.bin");
    let md5 = |b: &[u8]| compute(ChecksumKind::Md5, b).to_hex();
    let etag = |m: &haul_core::ObjectMeta| m.etag.clone().unwrap_or_default().replace('"', "");

    std::fs::write(&path, b"first version").expect("write");
    let k = key("by hand.bin");
    let head = store.head(&k).await.expect("head");
    assert_eq!(etag(&head), md5(b"first version"));
    assert_eq!(
        etag(&store.head(&k).await.expect("head again")),
        etag(&head)
    );

    std::fs::write(&path, b"second, longer version").expect("rewrite");
    let head = store.head(&k).await.expect("head after the change");
    assert_eq!(etag(&head), md5(b"second, longer version"));
    let got = store.get_bytes(&k).await.expect("get");
    assert_eq!(&got[..], b"second, longer version");

    // Objects the server wrote keep the ETag it recorded.
    store
        .put_bytes(&k, Bytes::from_static(b"uploaded"))
        .await
        .expect("put");
    assert_eq!(etag(&store.head(&k).await.expect("head")), md5(b"uploaded"));

    // By hand again, then a multipart upload over it: the multipart ETag
    // the server recorded wins over the one remembered for the old file.
    std::fs::write(&path, b"by hand again").expect("rewrite");
    assert_eq!(
        etag(&store.head(&k).await.expect("head")),
        md5(b"by hand again")
    );
    let id = store
        .create_multipart(&k, PutOptions::default())
        .await
        .expect("create");
    let n = haul_core::PartNumber::new(1).expect("part number");
    let part = store
        .upload_part(&k, &id, n, Payload::from(Bytes::from_static(b"one part")))
        .await
        .expect("part");
    store
        .complete_multipart(&k, &id, &[part])
        .await
        .expect("complete");
    let after = etag(&store.head(&k).await.expect("head after multipart"));
    assert!(after.ends_with("-1"), "the multipart ETag: {after}");
    assert_eq!(&store.get_bytes(&k).await.expect("get")[..], b"one part");
}
