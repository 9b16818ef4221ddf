//! QiniuStore's own behaviour against the emulator, and the emulator's
//! enforcement of what Kodo enforces.

use std::time::Duration;

use bytes::Bytes;
use haul_core::{Error, Key, ObjectStore, ObjectStoreExt, PartNumber, PutOptions};
use haul_qiniu::qetag::{qetag, qetag_v2};
use haul_qiniu::{BatchAnswer, BatchOp, PutPolicy, QiniuStore};
use haul_testkit::qiniu::{QINIU_BUCKET, QINIU_PRIVATE_BUCKET, QiniuOp, QiniuServer};

use crate::{config, store};

const MIB: usize = 1 << 20;

fn key(k: &str) -> Key {
    Key::new(k).unwrap()
}

fn data(len: usize, seed: u8) -> Bytes {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 11) as u8)
        .collect::<Vec<u8>>()
        .into()
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A hand-made form upload, for policies QiniuStore never sends.
async fn form_upload(
    server: &QiniuServer,
    token: &str,
    key: &str,
    body: &[u8],
    crc32: Option<u32>,
) -> (u16, String) {
    let b = "xXhaulBoundaryXx";
    let mut form = Vec::new();
    let mut field = |name: &str, value: &str| {
        form.extend_from_slice(
            format!("--{b}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                .as_bytes(),
        );
    };
    field("token", token);
    field("key", key);
    if let Some(c) = crc32 {
        field("crc32", &c.to_string());
    }
    form.extend_from_slice(
        format!("--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\nContent-Type: text/plain\r\n\r\n")
            .as_bytes(),
    );
    form.extend_from_slice(body);
    form.extend_from_slice(format!("\r\n--{b}--\r\n").as_bytes());
    let resp = reqwest::Client::new()
        .post(format!("{}/", server.up_url()))
        .header("content-type", format!("multipart/form-data; boundary={b}"))
        .body(form)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap())
}

#[tokio::test]
async fn qetag_is_the_etag_of_puts_parts_and_objects() {
    let server = QiniuServer::start();
    let s = store(&server, QINIU_BUCKET);
    let body = data(100_000, 1);
    let out = s.put_bytes(&key("a"), body.clone()).await.unwrap();
    assert_eq!(out.etag.as_deref(), Some(qetag(&body).as_str()));
    let head = s.head(&key("a")).await.unwrap();
    assert_eq!(head.etag, out.etag);
    assert_eq!(head.checksums[0].to_hex(), hex::encode(md5_of(&body)));
    // Parts that are not 4 MiB make a v2 qetag.
    let parts = [data(MIB, 2), data(MIB + 7, 3)];
    let k = key("multi");
    let id = s.create_multipart(&k, PutOptions::default()).await.unwrap();
    let mut done = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let part = s
            .upload_part(
                &k,
                &id,
                PartNumber::new(i as u32 + 1).unwrap(),
                p.clone().into(),
            )
            .await
            .unwrap();
        assert_eq!(part.etag, qetag(p), "a part's etag is its qetag");
        done.push(part);
    }
    let out = s.complete_multipart(&k, &id, &done).await.unwrap();
    let want = qetag_v2(&[&parts[0][..], &parts[1][..]]);
    assert!(want.starts_with('n'), "v2 prefix 0x9e: {want}");
    assert_eq!(out.etag.as_deref(), Some(want.as_str()));
    assert_eq!(server.object_info(QINIU_BUCKET, "multi").unwrap().0, want);
}

fn md5_of(b: &[u8]) -> Vec<u8> {
    haul_core::checksum::compute(haul_core::ChecksumKind::Md5, b)
        .as_bytes()
        .to_vec()
}

#[tokio::test]
async fn long_uploads_renew_their_token() {
    let server = QiniuServer::start();
    let mut cfg = config(&server, QINIU_BUCKET);
    cfg.token_lifetime = Duration::from_secs(2);
    let s = QiniuStore::new(cfg).unwrap();
    let k = key("slow/upload.bin");
    let id = s.create_multipart(&k, PutOptions::default()).await.unwrap();
    let p1 = s
        .upload_part(&k, &id, PartNumber::new(1).unwrap(), data(MIB, 4).into())
        .await
        .unwrap();
    // Longer than a token lives: the first token's deadline has passed by
    // the time the file is created, so completing works only with a new one.
    tokio::time::sleep(Duration::from_millis(3_200)).await;
    s.complete_multipart(&k, &id, &[p1]).await.unwrap();
    assert_eq!(
        server.object(QINIU_BUCKET, "slow/upload.bin").unwrap(),
        data(MIB, 4)
    );
    // The server does enforce deadlines: with its clock ahead of every
    // token's deadline, creating a file is refused.
    server.set_clock_skew(10);
    let e = s.put_bytes(&key("late"), data(10, 5)).await.unwrap_err();
    assert!(matches!(e, Error::Unauthenticated { .. }), "{e:?}");
    assert!(e.to_string().contains("QINIU_SECRET_KEY"), "{e}");
}

#[tokio::test]
async fn a_wrong_secret_is_unauthenticated_and_named() {
    let server = QiniuServer::start();
    let mut cfg = config(&server, QINIU_BUCKET);
    cfg.secret_key = "not-the-secret".into();
    let s = QiniuStore::new(cfg).unwrap();
    for e in [
        s.head(&key("k")).await.unwrap_err(),
        s.put_bytes(&key("k"), data(3, 1)).await.unwrap_err(),
        s.create_multipart(&key("k"), PutOptions::default())
            .await
            .unwrap_err(),
    ] {
        assert!(matches!(e, Error::Unauthenticated { .. }), "{e:?}");
        let text = e.to_string();
        assert!(
            text.starts_with("k: ") && text.contains("QINIU_SECRET_KEY"),
            "{text}"
        );
        assert!(!text.contains("not-the-secret"), "the secret leaks: {text}");
    }
    assert!(server.auth_failures() >= 3);
}

#[tokio::test]
async fn batch_partial_failure_reports_each_failed_key() {
    let server = QiniuServer::start();
    let s = store(&server, QINIU_BUCKET);
    s.put_bytes(&key("a"), data(10, 1)).await.unwrap();
    s.put_bytes(&key("b"), data(20, 2)).await.unwrap();
    let ops = vec![
        BatchOp::Stat(key("a")),
        BatchOp::Delete(key("missing-1")),
        BatchOp::Copy {
            src: key("a"),
            dst: key("b"),
            force: false,
        },
        BatchOp::Move {
            src: key("missing-2"),
            dst: key("c"),
            force: true,
        },
        BatchOp::Copy {
            src: key("a"),
            dst: key("d"),
            force: false,
        },
        BatchOp::Stat(key("b")),
    ];
    let out = s.batch(&ops).await.unwrap();
    assert_eq!(out.len(), ops.len());
    match &out[0] {
        Ok(BatchAnswer::Stat(m)) => assert_eq!((m.key.as_str(), m.size), ("a", 10)),
        r => panic!("{r:?}"),
    }
    let failed: Vec<(String, String)> = out
        .iter()
        .filter_map(|r| r.as_ref().err())
        .map(|e| (e.key().to_owned(), format!("{e:?}")))
        .collect();
    assert_eq!(failed.len(), 3, "{failed:?}");
    assert_eq!(failed[0].0, "missing-1");
    assert!(failed[0].1.starts_with("NotFound"), "{failed:?}");
    assert_eq!(failed[1].0, "b", "614 names the destination");
    assert!(failed[1].1.starts_with("AlreadyExists"), "{failed:?}");
    assert_eq!(failed[2].0, "missing-2");
    assert!(matches!(out[4], Ok(BatchAnswer::Done)));
    assert!(matches!(out[5], Ok(BatchAnswer::Stat(ref m)) if m.size == 20));
    assert!(server.object(QINIU_BUCKET, "d").is_some());

    // delete_many: missing keys succeed; over 1000 keys take two batches.
    let keys: Vec<Key> = (0..1_100).map(|i| key(&format!("many/{i:04}"))).collect();
    for k in keys.iter().step_by(100) {
        s.put_bytes(k, data(1, 9)).await.unwrap();
    }
    let before = server.requests(QiniuOp::Batch);
    let results = s.delete_many(&keys).await.unwrap();
    assert_eq!(results.len(), keys.len());
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(server.requests(QiniuOp::Batch) - before, 2);
    assert!(s.list_all("many/").await.unwrap().is_empty());
}

#[tokio::test]
async fn move_and_copy_with_and_without_force() {
    let server = QiniuServer::start();
    let s = store(&server, QINIU_BUCKET);
    s.put_bytes(&key("src"), data(30, 1)).await.unwrap();
    s.move_object(&key("src"), &key("moved"), false)
        .await
        .unwrap();
    assert!(matches!(
        s.head(&key("src")).await,
        Err(Error::NotFound { .. })
    ));
    assert_eq!(s.get_bytes(&key("moved")).await.unwrap(), data(30, 1));
    s.copy_object(&key("moved"), &key("copy"), false)
        .await
        .unwrap();
    let e = s
        .copy_object(&key("moved"), &key("copy"), false)
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::AlreadyExists { ref key, .. } if key == "copy"),
        "{e:?}"
    );
    s.copy_object(&key("moved"), &key("copy"), true)
        .await
        .unwrap();
    let e = s
        .move_object(&key("nothing"), &key("x"), true)
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::NotFound { ref key, .. } if key == "nothing"),
        "{e:?}"
    );
}

#[tokio::test]
async fn corruption_after_arrival_is_caught_by_qetag() {
    let server = QiniuServer::start();
    let s = store(&server, QINIU_BUCKET);
    server.corrupt_next(QiniuOp::FormUpload, 1);
    let e = s.put_bytes(&key("c"), data(1000, 1)).await.unwrap_err();
    assert!(matches!(e, Error::Integrity { .. }), "{e:?}");
    assert!(e.to_string().contains("qetag"), "{e}");
    let k = key("cp");
    let id = s.create_multipart(&k, PutOptions::default()).await.unwrap();
    server.corrupt_next(QiniuOp::UploadPart, 1);
    let e = s
        .upload_part(&k, &id, PartNumber::new(1).unwrap(), data(MIB, 2).into())
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::Integrity { ref key, .. } if key.contains("part 1")),
        "{e:?}"
    );
}

#[tokio::test]
async fn checksums_are_verified_on_arrival() {
    let server = QiniuServer::start();
    let s = store(&server, QINIU_BUCKET);
    let body = data(5000, 3);
    let wrong_md5 = haul_core::checksum::compute(haul_core::ChecksumKind::Md5, b"other");
    let k = key("md5");
    let id = s.create_multipart(&k, PutOptions::default()).await.unwrap();
    let payload = haul_core::Payload::from(body.clone()).with_checksums(vec![wrong_md5]);
    let e = s
        .upload_part(&k, &id, PartNumber::new(1).unwrap(), payload)
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::Integrity { .. }),
        "406 on a wrong Content-MD5: {e:?}"
    );
    let right = haul_core::checksum::compute(haul_core::ChecksumKind::Md5, &body);
    let payload = haul_core::Payload::from(body).with_checksums(vec![right.clone()]);
    let part = s
        .upload_part(&k, &id, PartNumber::new(1).unwrap(), payload)
        .await
        .unwrap();
    assert_eq!(
        part.checksum,
        Some(right),
        "the part reports the MD5 Kodo computed"
    );
}

#[tokio::test]
async fn private_buckets_need_signed_urls() {
    let server = QiniuServer::start();
    let s = store(&server, QINIU_PRIVATE_BUCKET);
    s.put_bytes(&key("secret file.txt"), data(100, 7))
        .await
        .unwrap();
    assert_eq!(
        s.get_bytes(&key("secret file.txt")).await.unwrap(),
        data(100, 7)
    );
    let http = reqwest::Client::new();
    let base = server.download_url(QINIU_PRIVATE_BUCKET).unwrap();
    let plain = http
        .get(format!("{base}/secret%20file.txt"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        plain.status().as_u16(),
        401,
        "unsigned download of a private object"
    );
    let url = s
        .download_url(&key("secret file.txt"), Duration::from_mins(1))
        .unwrap();
    assert!(url.contains("?e=") && url.contains("&token="), "{url}");
    let ok = http
        .get(&url)
        .header("range", "bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status().as_u16(), 206);
    assert_eq!(ok.bytes().await.unwrap(), data(100, 7).slice(10..20));
    let tampered = url.replace("secret%20file", "secret%20File");
    assert_eq!(
        http.get(&tampered).send().await.unwrap().status().as_u16(),
        401
    );
    server.set_clock_skew(600);
    assert_eq!(
        http.get(&url).send().await.unwrap().status().as_u16(),
        401,
        "an expired URL"
    );
    let e = s.get_bytes(&key("secret file.txt")).await;
    assert!(
        e.is_ok(),
        "the store signs for an hour, longer than the skew: {e:?}"
    );
}

#[tokio::test]
async fn upload_policies_are_enforced() {
    let server = QiniuServer::start();
    let s = store(&server, QINIU_BUCKET);
    let creds = s.credentials();
    let deadline = unix_now() + 600;
    let body = b"hello";
    let crc = 907_060_870; // crc32("hello"), protocols §1.6
    // Insert-only scope (the bucket alone): a new key works, identical
    // content again works (§8), different content is 614.
    let insert_only = creds.upload_token(&PutPolicy::for_bucket(QINIU_BUCKET, deadline));
    let (st, text) = form_upload(&server, &insert_only, "io", body, Some(crc)).await;
    assert_eq!(st, 200, "{text}");
    assert!(text.contains(&qetag(body)), "{text}");
    assert_eq!(
        form_upload(&server, &insert_only, "io", body, None).await.0,
        200
    );
    let (st, text) = form_upload(&server, &insert_only, "io", b"other", None).await;
    assert_eq!((st, text.contains("file exists")), (614, true), "{text}");
    // insertOnly=1 forbids overwriting even with the same content.
    let strict = creds.upload_token(&PutPolicy {
        insert_only: Some(1),
        ..PutPolicy::for_key(QINIU_BUCKET, "io", deadline)
    });
    assert_eq!(form_upload(&server, &strict, "io", body, None).await.0, 614);
    // A key scope allows only its key; a deadline in the past is 401; a
    // wrong crc32 is 406; fsizeLimit is 413; a bad signature is 401.
    let scoped = creds.upload_token(&PutPolicy::for_key(QINIU_BUCKET, "only-this", deadline));
    assert_eq!(
        form_upload(&server, &scoped, "other", body, None).await.0,
        403
    );
    assert_eq!(
        form_upload(&server, &scoped, "only-this", body, Some(crc + 1))
            .await
            .0,
        406
    );
    let past = creds.upload_token(&PutPolicy::for_key(QINIU_BUCKET, "late", unix_now() - 5));
    assert_eq!(form_upload(&server, &past, "late", body, None).await.0, 401);
    let small = creds.upload_token(&PutPolicy {
        fsize_limit: Some(4),
        ..PutPolicy::for_key(QINIU_BUCKET, "big", deadline)
    });
    assert_eq!(form_upload(&server, &small, "big", body, None).await.0, 413);
    let forged = scoped.replacen(':', ":x", 1);
    assert_eq!(
        form_upload(&server, &forged, "only-this", body, None)
            .await
            .0,
        401
    );
    // The returnBody of the policy is the answer.
    let rb = creds.upload_token(&PutPolicy {
        return_body: Some(r#"{"k":$(key),"size":$(fsize)}"#.into()),
        ..PutPolicy::for_key(QINIU_BUCKET, "rb", deadline)
    });
    let (st, text) = form_upload(&server, &rb, "rb", body, None).await;
    assert_eq!((st, text.as_str()), (200, r#"{"k":"rb","size":5}"#));
}

#[tokio::test]
async fn errors_name_key_and_bucket_and_retry_when_they_should() {
    let server = QiniuServer::start();
    let s = store(&server, QINIU_BUCKET);
    let missing =
        QiniuStore::new(config(&server, QINIU_BUCKET).tap_bucket("no-such-bucket")).unwrap();
    let e = missing.head(&key("k")).await.unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
    assert!(e.to_string().contains("bucket \"no-such-bucket\""), "{e}");
    let e = missing.list_all("").await.unwrap_err();
    assert!(e.to_string().contains("no-such-bucket"), "{e}");
    assert!(
        missing.delete(&key("k")).await.is_err(),
        "a missing bucket is not a deleted key"
    );

    s.put_bytes(&key("k"), data(5, 1)).await.unwrap();
    for status in [503, 599, 502] {
        server.fail_next(QiniuOp::Stat, 1, status);
        let e = s.head(&key("k")).await.unwrap_err();
        assert!(e.is_retryable(), "{status}: {e:?}");
        s.head(&key("k")).await.unwrap();
    }
    server.fail_next(QiniuOp::FormUpload, 1, 579);
    let e = s.put_bytes(&key("cb"), data(5, 1)).await.unwrap_err();
    assert!(
        !e.is_retryable() && e.to_string().contains("callback"),
        "{e:?}"
    );
    let e = s
        .upload_part(
            &key("k"),
            &haul_core::UploadId("gone".into()),
            PartNumber::new(1).unwrap(),
            data(5, 1).into(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::NoSuchUpload { ref upload_id, .. } if upload_id == "gone"),
        "{e:?}"
    );
    let e = s
        .upload_part_copy(
            &key("k"),
            haul_core::ByteRange::From(0),
            &key("d"),
            &haul_core::UploadId("u".into()),
            PartNumber::new(1).unwrap(),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotSupported { .. }), "{e:?}");
}

/// A configuration pointed at another bucket of the same server.
trait TapBucket {
    fn tap_bucket(self, bucket: &str) -> Self;
}

impl TapBucket for haul_qiniu::QiniuConfig {
    fn tap_bucket(mut self, bucket: &str) -> Self {
        bucket.clone_into(&mut self.bucket);
        self
    }
}

#[tokio::test]
async fn list_parts_pages_and_creation_options_survive_a_new_process() {
    let server = QiniuServer::start();
    let a = store(&server, QINIU_BUCKET);
    let k = key("typed.txt");
    let opts = PutOptions {
        content_type: Some("text/x-haul".into()),
        metadata: [("origin".to_owned(), "test".to_owned())].into(),
        ..PutOptions::default()
    };
    let id = a.create_multipart(&k, opts).await.unwrap();
    for n in 1..=1_005u32 {
        a.upload_part(
            &k,
            &id,
            PartNumber::new(n).unwrap(),
            Bytes::from(vec![n as u8; 3]).into(),
        )
        .await
        .unwrap();
    }
    // Another store (another process) with only the upload id.
    let b = store(&server, QINIU_BUCKET);
    let listed = b.list_parts(&k, &id).await.unwrap();
    assert_eq!(listed.len(), 1_005, "two pages of parts");
    assert!(listed.windows(2).all(|w| w[0].number < w[1].number));
    let first = listed[..1].to_vec();
    b.complete_multipart(&k, &id, &first).await.unwrap();
    let (_, mime) = server.object_info(QINIU_BUCKET, "typed.txt").unwrap();
    assert_eq!(mime, "text/x-haul");
    assert_eq!(server.pending_uploads(), 0);
}

#[tokio::test]
async fn resumable_v1_blocks_and_stale_contexts() {
    let server = QiniuServer::start();
    let s = store(&server, QINIU_BUCKET);
    let token = s.credentials().upload_token(&PutPolicy::for_key(
        QINIU_BUCKET,
        "v1.bin",
        unix_now() + 600,
    ));
    let http = reqwest::Client::new();
    let post = |path: String, body: &'static [u8]| {
        http.post(format!("{}{path}", server.up_url()))
            .header("authorization", format!("UpToken {token}"))
            .header("content-type", "application/octet-stream")
            .body(body)
            .send()
    };
    let json = |r: reqwest::Response| async move {
        let status = r.status().as_u16();
        let body = r.bytes().await.unwrap();
        (
            status,
            serde_json::from_slice::<serde_json::Value>(&body).unwrap(),
        )
    };
    let (st, first) = json(post("/mkblk/10".into(), b"hello").await.unwrap()).await;
    assert_eq!(st, 200, "{first}");
    assert_eq!(
        first["crc32"], 907_060_870,
        "crc32(\"hello\"), protocols §1.6"
    );
    let ctx1 = first["ctx"].as_str().unwrap().to_owned();
    let (st, second) = json(post(format!("/bput/{ctx1}/5"), b"world").await.unwrap()).await;
    assert_eq!((st, second["offset"].as_u64()), (200, Some(10)), "{second}");
    let (st, _) = json(post(format!("/bput/{ctx1}/5"), b"world").await.unwrap()).await;
    assert_eq!(st, 701, "a ctx is good for the next chunk only");
    let ctx2 = second["ctx"].as_str().unwrap().to_owned();
    let encoded = haul_qiniu::auth::urlsafe_b64("v1.bin");
    let resp = http
        .post(format!("{}/mkfile/10/key/{encoded}", server.up_url()))
        .header("authorization", format!("UpToken {token}"))
        .header("content-type", "text/plain")
        .body(ctx2)
        .send()
        .await
        .unwrap();
    let (st, done) = json(resp).await;
    assert_eq!(
        (st, done["hash"].as_str()),
        (200, Some(qetag(b"helloworld").as_str())),
        "{done}"
    );
    assert_eq!(
        s.get_bytes(&key("v1.bin")).await.unwrap(),
        Bytes::from_static(b"helloworld")
    );
}
