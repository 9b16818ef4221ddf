//! Multipart uploads: ordering, resume across store instances, refusals.

use bytes::Bytes;
use haul_core::checksum::compute;
use haul_core::{
    ByteRange, ChecksumKind, CompletedPart, Error, ObjectStore, ObjectStoreExt, PartNumber,
    PutOptions, UploadId,
};
use haul_local::LocalStore;

use crate::{key, put, store, tree};

fn n(i: u32) -> PartNumber {
    PartNumber::new(i).unwrap()
}

#[allow(clippy::needless_pass_by_value)] // called on results inline
fn no_such<T: std::fmt::Debug>(r: Result<T, Error>) -> bool {
    matches!(r, Err(Error::NoSuchUpload { .. }))
}

async fn part(store: &LocalStore, k: &str, id: &UploadId, i: u32, body: &[u8]) -> CompletedPart {
    store
        .upload_part(&key(k), id, n(i), Bytes::copy_from_slice(body).into())
        .await
        .unwrap()
}

#[tokio::test]
async fn out_of_order_parts_assemble_in_order() {
    let (_dir, store) = store();
    let k = key("mp/object");
    let id = store
        .create_multipart(&k, PutOptions::default())
        .await
        .unwrap();
    let p3 = part(&store, "mp/object", &id, 3, b"ccc").await;
    let p1 = part(&store, "mp/object", &id, 1, b"aaaaa").await;
    let p2 = part(&store, "mp/object", &id, 2, b"bbbbb").await;
    assert_eq!(p1.etag, compute(ChecksumKind::Md5, b"aaaaa").to_hex());
    assert_eq!(p1.checksum, Some(compute(ChecksumKind::Crc32c, b"aaaaa")));
    assert_eq!(p3.size, 3);
    // Nothing visible until completed.
    assert!(matches!(store.head(&k).await, Err(Error::NotFound { .. })));
    assert!(store.list_all("").await.unwrap().is_empty());

    let listed = store.list_parts(&k, &id).await.unwrap();
    assert_eq!(listed, vec![p1.clone(), p2.clone(), p3.clone()]);
    let out = store
        .complete_multipart(&k, &id, &[p1, p2, p3])
        .await
        .unwrap();
    assert_eq!(&store.get_bytes(&k).await.unwrap()[..], b"aaaaabbbbbccc");
    assert_eq!(store.head(&k).await.unwrap().etag, out.etag);
    assert_eq!(
        out.checksums,
        vec![compute(ChecksumKind::Crc32c, b"aaaaabbbbbccc")]
    );
    // The upload is gone, and so is its staging area.
    assert!(no_such(store.list_parts(&k, &id).await));
    assert!(no_such(
        store.upload_part(&k, &id, n(1), Bytes::new().into()).await
    ));
    assert!(no_such(store.complete_multipart(&k, &id, &[]).await));
    assert!(tree(&store.root().join(".haul-uploads")).is_empty());
}

#[tokio::test]
async fn another_store_instance_resumes_an_upload_by_id() {
    let (dir, first) = store();
    let k = key("resume/me");
    let id = first
        .create_multipart(&k, PutOptions::default())
        .await
        .unwrap();
    let p1 = part(&first, "resume/me", &id, 1, b"first-").await;
    drop(first);

    let second = LocalStore::new(dir.path().join("root")).unwrap();
    assert_eq!(second.list_parts(&k, &id).await.unwrap(), vec![p1.clone()]);
    let p2 = part(&second, "resume/me", &id, 2, b"second").await;
    second.complete_multipart(&k, &id, &[p1, p2]).await.unwrap();
    assert_eq!(&second.get_bytes(&k).await.unwrap()[..], b"first-second");
}

#[tokio::test]
async fn a_part_sent_again_replaces_the_first() {
    let (_dir, store) = store();
    let k = key("again");
    let id = store
        .create_multipart(&k, PutOptions::default())
        .await
        .unwrap();
    let old = part(&store, "again", &id, 1, b"old bytes").await;
    let new = part(&store, "again", &id, 1, b"new").await;
    assert_eq!(store.list_parts(&k, &id).await.unwrap(), vec![new.clone()]);
    let refused = store.complete_multipart(&k, &id, &[old]).await;
    assert!(matches!(refused, Err(Error::InvalidInput { .. })));
    store.complete_multipart(&k, &id, &[new]).await.unwrap();
    assert_eq!(&store.get_bytes(&k).await.unwrap()[..], b"new");
}

#[tokio::test]
async fn complete_refuses_bad_part_lists() {
    let (_dir, store) = store();
    let k = key("refuse");
    let id = store
        .create_multipart(&k, PutOptions::default())
        .await
        .unwrap();
    let p1 = part(&store, "refuse", &id, 1, b"one").await;
    let p2 = part(&store, "refuse", &id, 2, b"").await;
    let p3 = part(&store, "refuse", &id, 3, b"three").await;
    let mut wrong_etag = p1.clone();
    wrong_etag.etag = compute(ChecksumKind::Md5, b"other").to_hex();
    let mut wrong_crc = p1.clone();
    wrong_crc.checksum = Some(compute(ChecksumKind::Crc32c, b"other"));
    let mut missing = p3.clone();
    missing.number = n(9);
    let cases: Vec<(&str, Vec<CompletedPart>)> = vec![
        ("empty", vec![]),
        ("descending", vec![p3.clone(), p1.clone()]),
        ("repeated", vec![p1.clone(), p1.clone()]),
        ("wrong etag", vec![wrong_etag]),
        ("wrong crc", vec![wrong_crc]),
        ("missing", vec![p1.clone(), missing]),
        (
            "empty non-last part",
            vec![p1.clone(), p2.clone(), p3.clone()],
        ),
    ];
    for (what, parts) in cases {
        let r = store.complete_multipart(&k, &id, &parts).await;
        assert!(
            matches!(r, Err(Error::InvalidInput { .. })),
            "{what}: {r:?}"
        );
    }
    assert!(matches!(store.head(&k).await, Err(Error::NotFound { .. })));
    // A refused completion leaves the upload alive; a quoted ETag is fine.
    let mut quoted = p3.clone();
    quoted.etag = format!("\"{}\"", p3.etag);
    store
        .complete_multipart(&k, &id, &[p1, quoted])
        .await
        .unwrap();
    assert_eq!(&store.get_bytes(&k).await.unwrap()[..], b"onethree");
}

#[tokio::test]
async fn the_last_part_may_be_empty_and_so_may_the_object() {
    let (_dir, store) = store();
    let k = key("zero");
    let id = store
        .create_multipart(&k, PutOptions::default())
        .await
        .unwrap();
    let p1 = part(&store, "zero", &id, 1, b"").await;
    store.complete_multipart(&k, &id, &[p1]).await.unwrap();
    assert_eq!(store.head(&k).await.unwrap().size, 0);
}

#[tokio::test]
async fn unknown_foreign_and_malformed_ids_are_no_such_upload() {
    let (_dir, store) = store();
    let k = key("ids");
    let id = store
        .create_multipart(&k, PutOptions::default())
        .await
        .unwrap();
    assert_eq!(id.0.len(), 32);
    for bad in [
        "0123456789abcdef0123456789abcdef",
        "../../etc",
        "",
        "..",
        "0123456789ABCDEF0123456789ABCDEF",
    ] {
        let bad = UploadId(bad.to_owned());
        assert!(no_such(store.list_parts(&k, &bad).await), "{bad}");
        assert!(no_such(
            store
                .upload_part(&k, &bad, n(1), Bytes::from_static(b"x").into())
                .await
        ));
        assert!(no_such(store.complete_multipart(&k, &bad, &[]).await));
        store.abort_multipart(&k, &bad).await.unwrap();
    }
    // The id names an upload of another key.
    let other = key("other");
    assert!(no_such(store.list_parts(&other, &id).await));
    assert!(no_such(store.abort_multipart(&other, &id).await));
    assert!(store.list_parts(&k, &id).await.unwrap().is_empty());
}

#[tokio::test]
async fn abort_frees_the_parts() {
    let (_dir, store) = store();
    let k = key("abort/me");
    let id = store
        .create_multipart(&k, PutOptions::default())
        .await
        .unwrap();
    part(&store, "abort/me", &id, 1, b"data").await;
    store.abort_multipart(&k, &id).await.unwrap();
    assert!(tree(&store.root().join(".haul-uploads")).is_empty());
    assert!(no_such(store.list_parts(&k, &id).await));
    assert!(no_such(
        store
            .upload_part(&k, &id, n(2), Bytes::from_static(b"x").into())
            .await
    ));
    store.abort_multipart(&k, &id).await.unwrap();
    assert!(matches!(store.head(&k).await, Err(Error::NotFound { .. })));
}

#[tokio::test]
async fn a_half_written_part_is_never_reported() {
    let (_dir, store) = store();
    let k = key("crash");
    let id = store
        .create_multipart(&k, PutOptions::default())
        .await
        .unwrap();
    let p1 = part(&store, "crash", &id, 1, b"done").await;
    let staging = store.root().join(".haul-uploads").join(&id.0);
    // What a crash mid-part leaves: a temp file that was never renamed.
    std::fs::write(staging.join(".haul-tmp-feedface"), b"half a part").unwrap();
    assert_eq!(store.list_parts(&k, &id).await.unwrap(), vec![p1]);
}

#[tokio::test]
async fn part_copy_takes_ranges_of_objects() {
    let (_dir, store) = store();
    put(&store, "src", b"0123456789").await;
    let (src, dst) = (key("src"), key("dst"));
    let id = store
        .create_multipart(&dst, PutOptions::default())
        .await
        .unwrap();
    let p1 = store
        .upload_part_copy(&src, ByteRange::at(2, 3), &dst, &id, n(1))
        .await
        .unwrap();
    let p2 = store
        .upload_part_copy(&src, ByteRange::Suffix(2), &dst, &id, n(2))
        .await
        .unwrap();
    assert_eq!(p1.etag, compute(ChecksumKind::Md5, b"234").to_hex());
    for bad in [
        ByteRange::at(8, 5),
        ByteRange::From(10),
        ByteRange::at(10, 1),
    ] {
        let r = store.upload_part_copy(&src, bad, &dst, &id, n(3)).await;
        assert!(
            matches!(r, Err(Error::InvalidInput { .. })),
            "{bad:?}: {r:?}"
        );
    }
    let missing = store
        .upload_part_copy(&key("nope"), ByteRange::From(0), &dst, &id, n(3))
        .await;
    assert!(matches!(missing, Err(Error::NotFound { .. })));
    store
        .complete_multipart(&dst, &id, &[p1, p2])
        .await
        .unwrap();
    assert_eq!(&store.get_bytes(&dst).await.unwrap()[..], b"23489");
}

#[tokio::test]
async fn checksums_given_at_create_are_verified_on_complete() {
    let (_dir, store) = store();
    for (kind, good) in [
        (ChecksumKind::Crc32c, true),
        (ChecksumKind::Sha1, true),
        (ChecksumKind::Md5, false),
    ] {
        let k = key(&format!("sum/{kind}"));
        let want = if good {
            b"abcdef".as_slice()
        } else {
            b"other".as_slice()
        };
        let opts = PutOptions {
            checksums: vec![compute(kind, want)],
            ..PutOptions::default()
        };
        let id = store.create_multipart(&k, opts).await.unwrap();
        let p1 = part(&store, k.as_str(), &id, 1, b"abc").await;
        let p2 = part(&store, k.as_str(), &id, 2, b"def").await;
        let r = store.complete_multipart(&k, &id, &[p1, p2]).await;
        if good {
            r.unwrap();
            assert_eq!(&store.get_bytes(&k).await.unwrap()[..], b"abcdef");
        } else {
            assert!(matches!(r, Err(Error::Integrity { .. })), "{r:?}");
            assert!(matches!(store.head(&k).await, Err(Error::NotFound { .. })));
            assert_eq!(tree(&store.root().join("sum")), ["crc32c", "sha1"]);
        }
    }
}

#[tokio::test]
async fn parts_upload_concurrently() {
    let (_dir, store) = store();
    let k = key("many/parts");
    let id = store
        .create_multipart(&k, PutOptions::default())
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in (1..=24u32).rev() {
        let (store, k, id) = (store.clone(), k.clone(), id.clone());
        tasks.push(tokio::spawn(async move {
            let body = Bytes::from(vec![i as u8; 1000 + i as usize]);
            store.upload_part(&k, &id, n(i), body.into()).await.unwrap()
        }));
    }
    let mut parts = Vec::new();
    for t in tasks {
        parts.push(t.await.unwrap());
    }
    parts.sort_by_key(|p| p.number);
    assert_eq!(store.list_parts(&k, &id).await.unwrap(), parts);
    store.complete_multipart(&k, &id, &parts).await.unwrap();
    let got = store.get_bytes(&k).await.unwrap();
    let want: Vec<u8> = (1..=24u32)
        .flat_map(|i| vec![i as u8; 1000 + i as usize])
        .collect();
    assert_eq!(&got[..], &want[..]);
}

#[tokio::test]
async fn a_part_whose_payload_checksum_is_wrong_is_refused() {
    let (_dir, store) = store();
    let k = key("sums");
    let id = store
        .create_multipart(&k, PutOptions::default())
        .await
        .unwrap();
    let body = Bytes::from_static(b"part bytes");
    let wrong = haul_core::Payload::from(body.clone())
        .with_checksums(vec![compute(ChecksumKind::Sha1, b"other bytes")]);
    let r = store.upload_part(&k, &id, n(1), wrong).await;
    assert!(matches!(r, Err(Error::Integrity { .. })), "{r:?}");
    assert!(store.list_parts(&k, &id).await.unwrap().is_empty());
    let staging = store.root().join(".haul-uploads").join(&id.0);
    assert_eq!(tree(&staging), ["upload.json"], "no temp file left");
    let right = haul_core::Payload::from(body.clone())
        .with_checksums(vec![compute(ChecksumKind::Crc32c, &body)]);
    let p1 = store.upload_part(&k, &id, n(1), right).await.unwrap();
    store.complete_multipart(&k, &id, &[p1]).await.unwrap();
    assert_eq!(store.get_bytes(&k).await.unwrap(), body);
}
