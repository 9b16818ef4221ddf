//! CosStore's own behaviour against the emulator: refused signatures,
//! faults, CRC-64 catching corruption, presigned URLs, temporary keys.

use std::time::Duration;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt, stream};
use haul_core::checksum::compute;
use haul_core::{
    ChecksumKind, CompletedPart, Error, Key, MultiHasher, ObjectStore, ObjectStoreExt, PartNumber,
    Payload, PutOptions,
};
use haul_cos::{CosConfig, CosStore};
use haul_testkit::CosEmulator;
use haul_testkit::cos::CosOp;

use crate::{config, store};

const MIB: usize = 1 << 20;

fn key(k: &str) -> Key {
    Key::new(k).expect("key")
}

fn data(len: usize, seed: u8) -> Bytes {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 11) as u8)
        .collect::<Vec<u8>>()
        .into()
}

/// A payload carrying the checksums the engine computes for COS.
fn payload(b: &Bytes) -> Payload {
    let mut h = MultiHasher::new(&[ChecksumKind::Crc32c, ChecksumKind::Crc64Xz]);
    h.update(b);
    Payload::from(b.clone()).with_checksums(h.finish())
}

fn part(n: u32) -> PartNumber {
    PartNumber::new(n).expect("part")
}

#[tokio::test]
async fn a_wrong_secret_is_one_line_saying_the_signature_was_refused() {
    let emu = CosEmulator::start();
    let mut cfg = config(&emu);
    cfg.secret_key = "not-the-secret".into();
    let bad = CosStore::new(cfg).expect("store");
    let e = bad
        .put_bytes(&key("a.txt"), Bytes::from_static(b"x"))
        .await
        .expect_err("refused");
    assert!(matches!(e, Error::Unauthenticated { .. }), "{e:?}");
    let line = e.to_string();
    assert!(!line.contains('\n'), "one line: {line}");
    for want in [
        "SignatureDoesNotMatch",
        "refused the signature",
        "COS_SECRET_KEY",
        emu.secret_id(),
    ] {
        assert!(line.contains(want), "{want:?} missing from {line}");
    }
    assert!(
        !line.contains("not-the-secret"),
        "the secret leaked: {line}"
    );
    // HEAD answers carry no body: the store asks again to say why.
    let e = bad.head(&key("a.txt")).await.expect_err("refused");
    assert!(e.to_string().contains("COS_SECRET_KEY"), "{e}");
    assert!(emu.stats().auth_failures >= 3, "{:?}", emu.stats());

    let mut cfg = config(&emu);
    cfg.secret_id = "AKIDnobody".into();
    let e = CosStore::new(cfg)
        .expect("store")
        .put_bytes(&key("a.txt"), Bytes::from_static(b"x"))
        .await
        .expect_err("unknown id");
    assert!(matches!(e, Error::Unauthenticated { .. }), "{e:?}");
    assert!(e.to_string().contains("COS_SECRET_ID"), "{e}");
}

#[tokio::test]
async fn expired_and_skewed_signatures_are_refused() {
    let emu = CosEmulator::start();
    let s = store(&emu);
    // The server's clock two hours ahead: a one-hour signature has expired.
    emu.set_clock_skew(2 * 3600);
    let e = s.head(&key("k")).await.expect_err("expired");
    assert!(matches!(e, Error::Unauthenticated { .. }), "{e:?}");
    assert!(e.to_string().contains("expired"), "{e}");
    // The server's clock an hour behind: the signature starts in its future.
    emu.set_clock_skew(-3600);
    let e = s
        .put_bytes(&key("k"), Bytes::from_static(b"x"))
        .await
        .expect_err("skewed");
    assert!(matches!(e, Error::Unauthenticated { .. }), "{e:?}");
    assert!(e.to_string().contains("RequestTimeTooSkewed"), "{e}");
    emu.set_clock_skew(0);
    s.put_bytes(&key("k"), Bytes::from_static(b"x"))
        .await
        .expect("clock fixed");
}

#[tokio::test]
async fn injected_faults_are_classified() {
    let emu = CosEmulator::start();
    let s = store(&emu);
    emu.fail_next(CosOp::Any, 2, 503, "SlowDown");
    for _ in 0..2 {
        let e = s
            .put_bytes(&key("k"), Bytes::from_static(b"x"))
            .await
            .expect_err("503");
        assert!(
            matches!(e, Error::RateLimited { .. }) && e.is_retryable(),
            "{e:?}"
        );
    }
    s.put_bytes(&key("k"), Bytes::from_static(b"x"))
        .await
        .expect("the third goes through");
    assert_eq!(emu.stats().injected, 2);

    // CompleteMultipartUpload answering 200 with an <Error> body.
    let k = key("mp");
    let id = s
        .create_multipart(&k, PutOptions::default())
        .await
        .expect("create");
    let p1 = s
        .upload_part(&k, &id, part(1), payload(&data(10, 1)))
        .await
        .expect("part");
    emu.fail_next(CosOp::CompleteMultipartUpload, 1, 200, "InternalError");
    let e = s
        .complete_multipart(&k, &id, std::slice::from_ref(&p1))
        .await
        .expect_err("error inside 200");
    assert!(e.is_retryable(), "{e:?}");
    s.complete_multipart(&k, &id, &[p1]).await.expect("retried");
    assert_eq!(s.get_bytes(&k).await.expect("get"), data(10, 1));
}

#[tokio::test]
async fn a_part_corrupted_on_the_way_in_is_caught_by_its_crc64() {
    let emu = CosEmulator::start();
    let s = store(&emu);
    let k = key("corrupt/in-flight.bin");
    let id = s
        .create_multipart(&k, PutOptions::default())
        .await
        .expect("create");
    let body = data(MIB + 5, 2);
    emu.corrupt_next_parts(1);
    let e = s
        .upload_part(&k, &id, part(1), payload(&body))
        .await
        .expect_err("corrupted");
    assert!(matches!(e, Error::Integrity { .. }), "{e:?}");
    assert!(e.to_string().contains("x-cos-hash-crc64ecma"), "{e}");
    assert!(e.to_string().contains("part 1"), "{e}");
    let p1 = s
        .upload_part(&k, &id, part(1), payload(&body))
        .await
        .expect("sent again");
    assert_eq!(p1.checksum, Some(compute(ChecksumKind::Crc64Xz, &body)));
    let out = s
        .complete_multipart(&k, &id, &[p1])
        .await
        .expect("complete");
    assert_eq!(out.checksums, vec![compute(ChecksumKind::Crc64Xz, &body)]);
    assert_eq!(s.head(&k).await.expect("head").checksums, out.checksums);
}

#[tokio::test]
async fn a_part_rotting_after_its_ack_is_caught_at_completion() {
    let emu = CosEmulator::start();
    let s = store(&emu);
    let k = key("corrupt/at-rest.bin");
    let id = s
        .create_multipart(&k, PutOptions::default())
        .await
        .expect("create");
    let (first, last) = (data(MIB, 3), data(1000, 4));
    let parts: Vec<CompletedPart> = vec![
        s.upload_part(&k, &id, part(1), payload(&first))
            .await
            .expect("p1"),
        s.upload_part(&k, &id, part(2), payload(&last))
            .await
            .expect("p2"),
    ];
    assert!(emu.corrupt_part(&id.0, 1), "the hook found the part");
    let e = s
        .complete_multipart(&k, &id, &parts)
        .await
        .expect_err("whole-object CRC-64 differs");
    assert!(matches!(e, Error::Integrity { .. }), "{e:?}");
    assert!(
        matches!(s.head(&k).await, Err(Error::NotFound { .. })),
        "the corrupt object was removed"
    );

    // A corrupted single PUT is caught too, and not left visible.
    let body = data(5000, 5);
    let mut wrong = payload(&body);
    wrong = wrong.with_checksums(vec![compute(ChecksumKind::Crc64Xz, b"other bytes")]);
    let e = s
        .put(&key("corrupt/put.bin"), wrong, PutOptions::default())
        .await
        .expect_err("mismatch");
    assert!(matches!(e, Error::Integrity { .. }), "{e:?}");
    assert!(emu.object(emu.bucket(), "corrupt/put.bin").is_none());
}

#[tokio::test]
async fn presigned_urls_work_and_expire() {
    let emu = CosEmulator::start();
    let s = store(&emu);
    let k = key("shared/a b+c.txt");
    s.put_bytes(&k, Bytes::from_static(b"presigned"))
        .await
        .expect("put");
    let url = s.presign_get(&k, Duration::from_mins(5)).expect("presign");
    assert!(url.contains("q-signature="), "{url}");
    assert!(!url.contains(emu.secret_key()), "{url}");
    let http = reqwest::Client::new();
    let got = http.get(&url).send().await.expect("get");
    assert_eq!(got.status(), 200);
    assert_eq!(&got.bytes().await.expect("body")[..], b"presigned");
    let put_url = s
        .presign(
            &http::Method::PUT,
            &key("shared/up.txt"),
            Duration::from_mins(5),
        )
        .expect("presign put");
    let r = http
        .put(&put_url)
        .body("uploaded")
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 200);
    assert_eq!(
        emu.object(emu.bucket(), "shared/up.txt").as_deref(),
        Some(&b"uploaded"[..])
    );
    emu.set_clock_skew(3600);
    let r = http.get(&url).send().await.expect("get");
    assert_eq!(r.status(), 403, "expired URL");
}

#[tokio::test]
async fn temporary_keys_send_their_token() {
    let emu = CosEmulator::start();
    emu.add_credentials("AKIDtemporary", "temporary-secret", Some("session-token"));
    let mut cfg = CosConfig::new(
        emu.bucket(),
        emu.region(),
        "AKIDtemporary",
        "temporary-secret",
    )
    .with_endpoint(emu.endpoint());
    let without = CosStore::new(cfg.clone()).expect("store");
    let e = without
        .put_bytes(&key("t"), Bytes::from_static(b"x"))
        .await
        .expect_err("no token");
    assert!(e.to_string().contains("COS_SECURITY_TOKEN"), "{e}");
    cfg.security_token = Some("session-token".into());
    assert!(!format!("{cfg:?}").contains("session-token"));
    let with = CosStore::new(cfg).expect("store");
    with.put_bytes(&key("t"), Bytes::from_static(b"x"))
        .await
        .expect("with token");
    let url = with
        .presign_get(&key("t"), Duration::from_mins(1))
        .expect("url");
    let got = reqwest::get(&url).await.expect("get");
    assert_eq!(got.status(), 200, "presigned URLs carry the token");
}

#[tokio::test]
async fn pending_uploads_are_listed_and_batches_split_at_1000() {
    let emu = CosEmulator::start();
    let s = store(&emu);
    let k = key("pending/a b.bin");
    let id = s
        .create_multipart(&k, PutOptions::default())
        .await
        .expect("create");
    let listed = s.list_multipart_uploads("pending/").await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!((&listed[0].key, &listed[0].upload_id), (&k, &id));
    s.abort_multipart(&k, &id).await.expect("abort");
    assert!(s.list_multipart_uploads("").await.expect("list").is_empty());

    let keys: Vec<Key> = (0..1001).map(|i| key(&format!("many/{i:04}"))).collect();
    stream::iter(&keys)
        .map(|k| s.put_bytes(k, Bytes::new()))
        .buffer_unordered(16)
        .try_collect::<Vec<_>>()
        .await
        .expect("puts");
    assert_eq!(s.list_all("many/").await.expect("list").len(), 1001);
    let results = s.delete_many(&keys).await.expect("delete_many");
    assert_eq!(results.len(), 1001);
    assert!(results.iter().all(Result::is_ok));
    assert!(s.list_all("many/").await.expect("list").is_empty());
}

#[tokio::test]
async fn attributes_in_headers_both_ways() {
    let emu = CosEmulator::start();
    let s = store(&emu);
    let want = haul_core::Attributes {
        content_type: Some("image/png".into()),
        content_encoding: Some("x-haul-test".into()),
        cache_control: Some("max-age=60".into()),
        content_disposition: Some("inline; filename=\"été.png\"".into()),
        metadata: [
            ("caption".to_owned(), "au café".to_owned()),
            ("mtime".to_owned(), "1700000000.000000001".to_owned()),
        ]
        .into(),
    };
    let k = key("a/attrs.png");
    s.put(&k, data(10, 1).into(), PutOptions::with_attributes(&want))
        .await
        .expect("put");
    assert_eq!(s.head(&k).await.expect("head").attrs, want, "head");
    let dst = key("b/copied.png");
    s.copy(&k, &dst, haul_core::CopyOptions::default())
        .await
        .expect("copy");
    assert_eq!(s.head(&dst).await.expect("head").attrs, want, "copy");
}
