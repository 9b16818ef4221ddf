//! Single-object cases: put, get, head, delete, ranges, copy, errors.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use haul_core::checksum::compute;
use haul_core::{
    ByteRange, ChecksumKind, CopyOptions, Error, GetOptions, MultiHasher, ObjectStore,
    ObjectStoreExt, Payload, PutOptions,
};

use super::{
    Outcome, Skip, assert_err, assert_same, data, key, md5_hex, part, read, remove, stream_of,
    unique_prefix, write,
};

/// Put, get, head, overwrite and delete one object; ETag, size, checksums
/// and modification time agree between the answers.
pub async fn put_get_head_delete(store: &dyn ObjectStore) -> Outcome {
    let caps = store.capabilities().clone();
    let p = unique_prefix("put_get_head_delete");
    let k = key(format!("{p}object.bin"));
    let body = data(1, 100_003);
    let opts = PutOptions {
        content_type: Some("application/x-haul-test".into()),
        metadata: [("origin".to_owned(), "conformance".to_owned())].into(),
        ..PutOptions::default()
    };
    let out = store
        .put(&k, body.clone().into(), opts)
        .await
        .unwrap_or_else(|e| panic!("put {k:?}: {e}"));
    if caps.etag_is_md5 {
        assert_eq!(out.etag, Some(md5_hex(&body)), "put ETag is the body's MD5");
    }

    let head = store
        .head(&k)
        .await
        .unwrap_or_else(|e| panic!("head {k:?}: {e}"));
    assert_eq!(head.key, k, "head names the key");
    assert_eq!(head.size, body.len() as u64, "head size");
    if let (Some(put), Some(head)) = (&out.etag, &head.etag) {
        assert_eq!(put, head, "put and head ETags agree");
        assert!(!head.starts_with('"'), "ETags are unquoted: {head}");
    }
    for c in &head.checksums {
        assert_eq!(
            *c,
            compute(c.kind(), &body),
            "head reports a wrong {}",
            c.kind()
        );
    }
    for c in &out.checksums {
        assert_eq!(
            *c,
            compute(c.kind(), &body),
            "put reports a wrong {}",
            c.kind()
        );
    }
    if let Some(t) = head.last_modified {
        let now = SystemTime::now();
        let skew = now.duration_since(t).unwrap_or_else(|e| e.duration());
        assert!(
            skew < Duration::from_hours(24),
            "last_modified {t:?} is far from now"
        );
    }

    let resp = store
        .get(&k, GetOptions::default())
        .await
        .unwrap_or_else(|e| panic!("get {k:?}: {e}"));
    assert_eq!(resp.meta.size, body.len() as u64, "get meta size");
    assert_eq!(
        resp.range,
        0..body.len() as u64,
        "get range of a whole object"
    );
    if let (Some(a), Some(b)) = (&resp.meta.etag, &head.etag) {
        assert_eq!(a, b, "get and head ETags agree");
    }
    if caps.whole_get_meta {
        // The engine reads such an object without heading it first.
        assert_eq!(resp.meta, head, "a whole get's metadata is head's");
    }
    let got = resp
        .bytes()
        .await
        .unwrap_or_else(|e| panic!("read {k:?}: {e}"));
    assert_same(&got, &body, "get body");

    let smaller = data(2, 1_000);
    write(store, &k, smaller.clone()).await;
    assert_same(&read(store, &k).await, &smaller, "get after overwrite");
    let head = store.head(&k).await.expect("head after overwrite");
    assert_eq!(head.size, 1_000, "head size after overwrite");

    if caps.delete {
        store.delete(&k).await.expect("delete");
        assert_err!(
            store.head(&k).await,
            Error::NotFound { .. },
            "head after delete"
        );
        assert_err!(
            store.get(&k, GetOptions::default()).await,
            Error::NotFound { .. },
            "get after delete"
        );
    }
    Ok(())
}

/// Deleting a missing key succeeds, alone and in a batch with existing keys.
pub async fn delete_missing_key(store: &dyn ObjectStore) -> Outcome {
    if !store.capabilities().delete {
        return Err(Skip("no delete by key (capability delete)"));
    }
    let p = unique_prefix("delete_missing_key");
    let missing = key(format!("{p}never-written"));
    store
        .delete(&missing)
        .await
        .unwrap_or_else(|e| panic!("delete of a missing key: {e}"));

    let present = [key(format!("{p}a")), key(format!("{p}b"))];
    for k in &present {
        write(store, k, Bytes::from_static(b"x")).await;
    }
    let batch = [present[0].clone(), missing.clone(), present[1].clone()];
    let max = store.capabilities().batch_delete_max.max(1);
    for chunk in batch.chunks(max) {
        let results = store.delete_many(chunk).await.expect("delete_many");
        assert_eq!(results.len(), chunk.len(), "one result per key, in order");
        for (k, r) in chunk.iter().zip(results) {
            r.unwrap_or_else(|e| panic!("delete_many of {k:?}: {e}"));
        }
    }
    for k in &present {
        assert_err!(
            store.head(k).await,
            Error::NotFound { .. },
            "head {k:?} after delete_many"
        );
    }
    if store.capabilities().list {
        let left = store.list_all(&p).await.expect("list after delete_many");
        assert!(left.is_empty(), "objects left after delete_many: {left:?}");
    }
    Ok(())
}

/// A zero-byte object: put, head, get (empty body, empty range) and list
/// (where the store lists).
pub async fn zero_byte_object(store: &dyn ObjectStore) -> Outcome {
    let caps = store.capabilities().clone();
    if !caps.empty_objects {
        return Err(Skip(
            "the store keeps no empty objects (capability empty_objects)",
        ));
    }
    let p = unique_prefix("zero_byte_object");
    let k = key(format!("{p}empty"));
    let out = store
        .put_bytes(&k, Bytes::new())
        .await
        .expect("put of zero bytes");
    if caps.etag_is_md5 {
        assert_eq!(out.etag, Some(md5_hex(b"")), "ETag of zero bytes");
    }
    assert_eq!(store.head(&k).await.expect("head").size, 0, "head size");
    let resp = store.get(&k, GetOptions::default()).await.expect("get");
    assert_eq!(resp.range, 0..0, "range of an empty object");
    assert_eq!(resp.meta.size, 0, "get meta size");
    assert!(resp.bytes().await.expect("read").is_empty(), "empty body");
    if caps.list {
        let listed = store.list_all(&p).await.expect("list");
        assert_eq!(listed.len(), 1, "the empty object is listed");
        assert_eq!(listed[0].size, 0, "listed size");
    }
    remove(store, &k).await;
    Ok(())
}

/// Bounded, clamped, from-offset and suffix ranges; ranges past the end are
/// `InvalidInput`; `meta.size` stays the whole object's.
pub async fn ranges(store: &dyn ObjectStore) -> Outcome {
    if !store.capabilities().ranged_get {
        return Err(Skip("no ranged GET (capability ranged_get)"));
    }
    let p = unique_prefix("ranges");
    let k = key(format!("{p}object"));
    let body = data(3, 1_000);
    write(store, &k, body.clone()).await;
    let cases = [
        (ByteRange::Bounded { start: 10, end: 20 }, 10..20),
        (ByteRange::at(0, 1), 0..1),
        (ByteRange::at(999, 1), 999..1_000),
        (ByteRange::at(990, 100), 990..1_000),
        (ByteRange::at(0, 5_000), 0..1_000),
        (ByteRange::From(500), 500..1_000),
        (ByteRange::From(0), 0..1_000),
        (ByteRange::From(999), 999..1_000),
        (ByteRange::Suffix(100), 900..1_000),
        (ByteRange::Suffix(1), 999..1_000),
        (ByteRange::Suffix(5_000), 0..1_000),
    ];
    for (range, want) in cases {
        let opts = GetOptions {
            range: Some(range),
            ..GetOptions::default()
        };
        let resp = store
            .get(&k, opts)
            .await
            .unwrap_or_else(|e| panic!("get {range:?}: {e}"));
        assert_eq!(resp.range, want, "resolved range of {range:?}");
        assert_eq!(resp.meta.size, 1_000, "meta.size for {range:?}");
        let got = resp
            .bytes()
            .await
            .unwrap_or_else(|e| panic!("read {range:?}: {e}"));
        let want = &body[want.start as usize..want.end as usize];
        assert_same(&got, want, &format!("body of {range:?}"));
    }
    for range in [
        ByteRange::From(1_000),
        ByteRange::From(5_000),
        ByteRange::at(1_000, 10),
        ByteRange::at(4_000, 1),
    ] {
        let opts = GetOptions {
            range: Some(range),
            ..GetOptions::default()
        };
        assert_err!(
            store.get(&k, opts).await,
            Error::InvalidInput { .. },
            "get {range:?} of a 1000-byte object"
        );
    }
    remove(store, &k).await;
    Ok(())
}

/// `if_match` on get (and on copy, where supported) checks the ETag.
pub async fn conditional_get(store: &dyn ObjectStore) -> Outcome {
    let p = unique_prefix("conditional_get");
    let k = key(format!("{p}object"));
    write(store, &k, data(4, 300)).await;
    let Some(etag) = store.head(&k).await.expect("head").etag else {
        return Err(Skip("head gives no ETag to condition on"));
    };
    let opts = GetOptions {
        if_match: Some(etag.clone()),
        ..GetOptions::default()
    };
    let got = store
        .get(&k, opts)
        .await
        .expect("get with the right If-Match");
    assert_eq!(got.bytes().await.expect("read").len(), 300);
    let wrong = GetOptions {
        if_match: Some("0123456789abcdef0123456789abcdef".into()),
        ..GetOptions::default()
    };
    assert_err!(
        store.get(&k, wrong).await,
        Error::Precondition { .. },
        "get with a wrong If-Match"
    );
    if store.capabilities().server_side_copy {
        let dst = key(format!("{p}copy"));
        let opts = CopyOptions {
            if_match: Some("0123456789abcdef0123456789abcdef".into()),
        };
        assert_err!(
            store.copy(&k, &dst, opts).await,
            Error::Precondition { .. },
            "copy with a wrong If-Match"
        );
        let opts = CopyOptions {
            if_match: Some(etag),
        };
        store
            .copy(&k, &dst, opts)
            .await
            .expect("copy with the right If-Match");
        store.delete(&dst).await.expect("delete copy");
    }
    remove(store, &k).await;
    Ok(())
}

/// A put carrying a checksum the store computes natively is verified: a
/// wrong one is `Integrity` and nothing becomes visible.
pub async fn put_checksums(store: &dyn ObjectStore) -> Outcome {
    let Some(kind) = store.capabilities().native_checksums.first().copied() else {
        return Err(Skip(
            "the store checks no checksum of its own (capability native_checksums)",
        ));
    };
    let p = unique_prefix("put_checksums");
    let k = key(format!("{p}object"));
    let body = data(5, 4_096);
    let right = PutOptions {
        checksums: vec![compute(kind, &body)],
        ..PutOptions::default()
    };
    store
        .put(&k, body.clone().into(), right)
        .await
        .unwrap_or_else(|e| panic!("put with the right {kind}: {e}"));
    assert_same(&read(store, &k).await, &body, "body put with a checksum");

    let bad = key(format!("{p}corrupt"));
    let wrong = PutOptions {
        checksums: vec![compute(kind, b"something else")],
        ..PutOptions::default()
    };
    assert_err!(
        store.put(&bad, body.into(), wrong).await,
        Error::Integrity { .. },
        "put with a wrong {kind}"
    );
    assert_err!(
        store.head(&bad).await,
        Error::NotFound { .. },
        "head of a put refused for integrity"
    );
    remove(store, &k).await;
    Ok(())
}

/// Checksums a [`Payload`] carries: correct ones of every kind are accepted
/// by `put` and `upload_part`; a wrong one of a kind the store computes
/// natively is `Integrity`, and the object or part is not stored.
pub async fn payload_checksums(store: &dyn ObjectStore) -> Outcome {
    let caps = store.capabilities().clone();
    let p = unique_prefix("payload_checksums");
    let body = data(8, 3_000);
    let all = |b: &Bytes| {
        let mut h = MultiHasher::new(&ChecksumKind::ALL);
        h.update(b);
        Payload::from(b.clone()).with_checksums(h.finish())
    };
    let k = key(format!("{p}object"));
    store
        .put(&k, all(&body), PutOptions::default())
        .await
        .unwrap_or_else(|e| panic!("put carrying correct checksums: {e}"));
    assert_same(&read(store, &k).await, &body, "body put carrying checksums");
    let native = caps.native_checksums.first().copied();
    let wrong = |kind| Payload::from(body.clone()).with_checksums(vec![compute(kind, b"else")]);
    if let Some(kind) = native {
        let bad = key(format!("{p}corrupt"));
        assert_err!(
            store.put(&bad, wrong(kind), PutOptions::default()).await,
            Error::Integrity { .. },
            "put carrying a wrong {kind}"
        );
        assert_err!(
            store.head(&bad).await,
            Error::NotFound { .. },
            "head of a refused put"
        );
    }
    if caps.multipart {
        let id = store
            .create_multipart(&k, PutOptions::default())
            .await
            .unwrap_or_else(|e| panic!("create_multipart: {e}"));
        let done = store
            .upload_part(&k, &id, part(1), all(&body))
            .await
            .unwrap_or_else(|e| panic!("upload_part carrying correct checksums: {e}"));
        if let Some(kind) = native {
            assert_err!(
                store.upload_part(&k, &id, part(2), wrong(kind)).await,
                Error::Integrity { .. },
                "upload_part carrying a wrong {kind}"
            );
        }
        store
            .complete_multipart(&k, &id, &[done])
            .await
            .unwrap_or_else(|e| panic!("complete after a refused part: {e}"));
        assert_same(
            &read(store, &k).await,
            &body,
            "object of a part carrying checksums",
        );
    }
    remove(store, &k).await;
    Ok(())
}

/// Server-side copy: content and size arrive, the source stays, an existing
/// destination is replaced, a missing source is `NotFound`.
pub async fn copy_object(store: &dyn ObjectStore) -> Outcome {
    if !store.capabilities().server_side_copy {
        return Err(Skip("no server-side copy (capability server_side_copy)"));
    }
    let p = unique_prefix("copy_object");
    let src = key(format!("{p}src"));
    let dst = key(format!("{p}dir/dst"));
    let body = data(6, 70_001);
    write(store, &src, body.clone()).await;
    write(store, &dst, data(7, 10)).await;
    store
        .copy(&src, &dst, CopyOptions::default())
        .await
        .unwrap_or_else(|e| panic!("copy {src:?} -> {dst:?}: {e}"));
    assert_same(&read(store, &dst).await, &body, "copied body");
    assert_eq!(
        store.head(&dst).await.expect("head copy").size,
        body.len() as u64
    );
    assert_same(&read(store, &src).await, &body, "source after copy");
    let missing = key(format!("{p}missing"));
    assert_err!(
        store.copy(&missing, &dst, CopyOptions::default()).await,
        Error::NotFound { .. },
        "copy from a missing source"
    );
    for k in [&src, &dst] {
        store.delete(k).await.expect("delete");
    }
    Ok(())
}

/// Missing objects are `NotFound`, not retryable, and the message names the
/// key; an unknown upload id is `NoSuchUpload`.
pub async fn error_classification(store: &dyn ObjectStore) -> Outcome {
    let p = unique_prefix("error_classification");
    let k = key(format!("{p}missing-object"));
    let Err(err) = store.get(&k, GetOptions::default()).await else {
        panic!("get of a missing key succeeded")
    };
    assert!(
        matches!(err, Error::NotFound { .. }),
        "get of a missing key: {err:?}"
    );
    assert!(!err.is_retryable(), "NotFound must not be retryable");
    assert!(
        err.to_string().contains("missing-object"),
        "the error names the key: {err}"
    );
    let err = store.head(&k).await.expect_err("head of a missing key");
    assert!(
        matches!(err, Error::NotFound { .. }),
        "head of a missing key: {err:?}"
    );
    assert!(!err.is_retryable());

    if store.capabilities().multipart {
        let id = haul_core::UploadId("haul-conformance-no-such-upload".into());
        let err = store
            .upload_part(&k, &id, part(1), Bytes::from_static(b"x").into())
            .await
            .expect_err("upload_part to an unknown upload id");
        assert!(
            matches!(err, Error::NoSuchUpload { .. }),
            "upload_part to an unknown upload id: {err:?}"
        );
        assert!(!err.is_retryable(), "NoSuchUpload must not be retryable");
    }
    Ok(())
}

/// A put whose bytes are still being read (`put_stream`), for a store that
/// sends them as they arrive: chunks of any size make the object, the
/// checksums computed on the way are known at the end and agree with what
/// the store reports; a body that fails midway, or ends short, fails with
/// its own error and leaves the object that was there before untouched.
pub async fn streamed_put(store: &dyn ObjectStore) -> Outcome {
    let caps = store.capabilities().clone();
    if !caps.streamed_puts {
        return Err(Skip(
            "put_stream gathers the body (capability streamed_puts)",
        ));
    }
    let p = unique_prefix("streamed_put");
    let k = key(format!("{p}object"));
    let body = data(31, 300_007);
    let len = body.len() as u64;
    let streamed = stream_of(&k, len, &body, &[ChecksumKind::Crc32c], None);
    let sums = streamed.sums();
    let out = store
        .put_stream(&k, streamed, PutOptions::default())
        .await
        .unwrap_or_else(|e| panic!("put_stream {k:?}: {e}"));
    let want = compute(ChecksumKind::Crc32c, &body);
    assert_eq!(
        sums.get(),
        Some(&[want.clone()][..]),
        "the sums computed on the way"
    );
    for c in &out.checksums {
        if c.kind() == ChecksumKind::Crc32c {
            assert_eq!(c, &want, "the CRC32C the store reports");
        }
    }
    if caps.etag_is_md5 {
        assert_eq!(out.etag, Some(md5_hex(&body)), "put ETag is the body's MD5");
    }
    assert_same(&read(store, &k).await, &body, "streamed object");
    // Asked for an MD5 too (which cannot go before the body).
    let both = [ChecksumKind::Crc32c, ChecksumKind::Md5];
    let again = data(33, 150_001);
    let streamed = stream_of(&k, again.len() as u64, &again, &both, None);
    store
        .put_stream(&k, streamed, PutOptions::default())
        .await
        .unwrap_or_else(|e| panic!("put_stream with an MD5 {k:?}: {e}"));
    assert_same(
        &read(store, &k).await,
        &again,
        "streamed object with an MD5",
    );
    let streamed = stream_of(&k, len, &body, &[ChecksumKind::Crc32c], None);
    store
        .put_stream(&k, streamed, PutOptions::default())
        .await
        .unwrap_or_else(|e| panic!("put_stream {k:?}: {e}"));

    let other = data(32, 200_001);
    let n = other.len() as u64;
    let failing = stream_of(
        &k,
        n,
        &other,
        &[ChecksumKind::Crc32c],
        Some(other.len() / 2),
    );
    match store.put_stream(&k, failing, PutOptions::default()).await {
        Err(e) => assert!(
            e.to_string().contains("source reset"),
            "a body failing midway fails with its own error: {e}"
        ),
        Ok(o) => panic!("a body failing midway was stored: {o:?}"),
    }
    let short = stream_of(&k, n + 1, &other, &[ChecksumKind::Crc32c], None);
    assert!(
        store
            .put_stream(&k, short, PutOptions::default())
            .await
            .is_err(),
        "a body one byte short is refused"
    );
    assert_same(
        &read(store, &k).await,
        &body,
        "the object after failed puts",
    );
    remove(store, &k).await;
    Ok(())
}
