//! S3Endpoint's bucket operations (ListBuckets, CreateBucket, DeleteBucket)
//! and object attributes across buckets, against the in-process server.

use bytes::Bytes;
use haul_core::{
    Attributes, ByteRange, CopyOptions, Error, Key, ObjectStore, ObjectStoreExt, PartNumber,
    PutOptions,
};
use haul_s3::{S3Config, S3Endpoint};
use haul_testkit::S3Server;
use tempfile::TempDir;

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

#[tokio::test]
async fn make_list_and_remove_buckets() {
    let (_server, _dir, s3) = server(&[]);
    assert!(s3.list_buckets().await.expect("list").is_empty());

    s3.create_bucket("zeta", None).await.expect("create zeta");
    s3.create_bucket("alpha", Some("us-east-1"))
        .await
        .expect("create alpha");
    assert_eq!(s3.list_buckets().await.expect("list"), ["alpha", "zeta"]);
    let e = s3
        .create_bucket("alpha", None)
        .await
        .expect_err("exists already");
    assert!(matches!(e, Error::AlreadyExists { .. }), "{e:?}");
    assert!(e.to_string().contains("alpha"), "{e}");

    assert!(s3.bucket_is_empty("alpha").await.expect("empty"));
    s3.put_bytes(&key("alpha/dir/a b.txt"), Bytes::from_static(b"x"))
        .await
        .expect("put");
    assert!(!s3.bucket_is_empty("alpha").await.expect("not empty"));

    let e = s3.delete_bucket("alpha").await.expect_err("not empty");
    assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
    assert!(e.to_string().contains("bucket alpha is not empty"), "{e}");
    assert_eq!(
        s3.get_bytes(&key("alpha/dir/a b.txt")).await.expect("kept"),
        "x",
        "a refused delete leaves the objects"
    );

    s3.delete(&key("alpha/dir/a b.txt")).await.expect("delete");
    assert!(s3.bucket_is_empty("alpha").await.expect("empty again"));
    s3.delete_bucket("alpha")
        .await
        .expect("delete empty bucket");
    assert_eq!(s3.list_buckets().await.expect("list"), ["zeta"]);

    let e = s3.delete_bucket("alpha").await.expect_err("gone");
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
    let e = s3.bucket_is_empty("alpha").await.expect_err("gone");
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
    assert!(s3.create_bucket("", None).await.is_err());
}

#[tokio::test]
async fn a_region_other_than_us_east_1_is_a_location_constraint() {
    // The test server takes any constraint; the request must still be a
    // well-formed, signed CreateBucket.
    let (_server, _dir, s3) = server(&[]);
    s3.create_bucket("eu-bucket", Some("eu-west-1"))
        .await
        .expect("create with a location constraint");
    assert_eq!(s3.list_buckets().await.expect("list"), ["eu-bucket"]);
}

/// All five attributes, with values a header cannot carry as they are.
fn attrs() -> Attributes {
    Attributes {
        content_type: Some("text/csv".into()),
        content_encoding: Some("x-haul-test".into()),
        cache_control: Some("no-cache".into()),
        content_disposition: Some("attachment; filename=\"données.csv\"".into()),
        metadata: [
            ("note".to_owned(), "  padded and café  ".to_owned()),
            ("mtime".to_owned(), "1700000000.5".to_owned()),
        ]
        .into(),
    }
}

#[tokio::test]
async fn attributes_cross_buckets_server_side() {
    let (_server, _dir, s3) = server(&["src", "dst"]);
    let want = attrs();
    let src = key("src/data.csv");
    let body: Bytes = (0..(6 << 20)).map(|i| (i % 251) as u8).collect();
    s3.put(
        &src,
        body.clone().into(),
        PutOptions::with_attributes(&want),
    )
    .await
    .expect("put");
    assert_eq!(s3.head(&src).await.expect("head").attrs, want, "head");
    let got = s3
        .get(&src, haul_core::GetOptions::default())
        .await
        .expect("get");
    assert_eq!(got.meta.attrs, want, "get");

    // CopyObject between buckets keeps everything (metadata directive COPY).
    let copied = key("dst/copied.csv");
    s3.copy(&src, &copied, CopyOptions::default())
        .await
        .expect("copy");
    assert_eq!(s3.head(&copied).await.expect("head").attrs, want, "copy");

    // UploadPartCopy takes bytes only: the attributes come from the
    // create call, as the engine makes it with the source's attributes.
    let parted = key("dst/parted.csv");
    let source = s3.head(&src).await.expect("head").attrs;
    let id = s3
        .create_multipart(&parted, PutOptions::with_attributes(&source))
        .await
        .expect("create");
    let mut parts = Vec::new();
    for (n, range) in [
        (
            1,
            ByteRange::Bounded {
                start: 0,
                end: 5 << 20,
            },
        ),
        (2, ByteRange::From(5 << 20)),
    ] {
        let n = PartNumber::new(n).expect("part");
        parts.push(
            s3.upload_part_copy(&src, range, &parted, &id, n)
                .await
                .expect("part copy"),
        );
    }
    s3.complete_multipart(&parted, &id, &parts)
        .await
        .expect("complete");
    assert_eq!(s3.head(&parted).await.expect("head").attrs, want, "parts");
    assert_eq!(s3.get_bytes(&parted).await.expect("get"), body);
}

#[tokio::test]
async fn bad_metadata_names_are_refused_before_sending() {
    let (_server, _dir, s3) = server(&["b"]);
    let mut opts = PutOptions::default();
    opts.metadata.insert("has space".into(), "v".into());
    let e = s3
        .put(&key("b/k"), Bytes::from_static(b"x").into(), opts)
        .await
        .expect_err("bad name");
    assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
    assert!(e.to_string().contains("b/k"), "{e}");
}
