//! Multipart cases: order, overwrites, listing parts, refusals, abort, copy.

use bytes::{Bytes, BytesMut};
use futures::{StreamExt, TryStreamExt, stream};
use haul_core::checksum::compute;
use haul_core::{
    ByteRange, ChecksumKind, CompletedPart, Error, Key, ObjectStore, ObjectStoreExt, PutOptions,
    UploadId,
};

use super::{
    Outcome, Skip, assert_err, assert_same, data, key, part, part_size, read, stream_of,
    unique_prefix, write,
};

/// Uploads one part and checks what the store acknowledged.
async fn upload(
    store: &dyn ObjectStore,
    k: &Key,
    id: &UploadId,
    n: u32,
    body: &Bytes,
) -> CompletedPart {
    let done = store
        .upload_part(k, id, part(n), body.clone().into())
        .await
        .unwrap_or_else(|e| panic!("upload_part {n} of {k:?}: {e}"));
    check_part(&done, n, body);
    done
}

/// Checks an acknowledged part against the bytes it should hold.
fn check_part(done: &CompletedPart, n: u32, body: &[u8]) {
    assert_eq!(done.number, part(n), "acknowledged part number");
    assert_eq!(
        done.size,
        body.len() as u64,
        "acknowledged size of part {n}"
    );
    assert!(!done.etag.is_empty(), "part {n} has an ETag");
    if let Some(c) = &done.checksum {
        assert_eq!(*c, compute(c.kind(), body), "{} of part {n}", c.kind());
    }
}

async fn create(store: &dyn ObjectStore, k: &Key) -> UploadId {
    store
        .create_multipart(k, PutOptions::default())
        .await
        .unwrap_or_else(|e| panic!("create_multipart {k:?}: {e}"))
}

async fn complete(store: &dyn ObjectStore, k: &Key, id: &UploadId, parts: &[CompletedPart]) {
    store
        .complete_multipart(k, id, parts)
        .await
        .unwrap_or_else(|e| panic!("complete_multipart {k:?}: {e}"));
}

fn concat(parts: &[&[u8]]) -> Bytes {
    let mut b = BytesMut::new();
    for p in parts {
        b.extend_from_slice(p);
    }
    b.freeze()
}

/// Parts uploaded out of order, one overwritten; nothing visible before
/// completion; `list_parts` matches what was sent; the completed object is
/// the parts in number order; the upload id is gone afterwards.
pub async fn multipart_out_of_order(store: &dyn ObjectStore) -> Outcome {
    let caps = store.capabilities().clone();
    if !caps.multipart {
        return Err(Skip("no multipart uploads (capability multipart)"));
    }
    let p = unique_prefix("multipart_out_of_order");
    let k = key(format!("{p}object"));
    let ps = part_size(store);
    let bodies = [data(10, ps), data(11, ps), data(12, ps / 2 + 1)];
    let opts = PutOptions {
        content_type: Some("application/x-haul-test".into()),
        ..PutOptions::default()
    };
    let id = store
        .create_multipart(&k, opts)
        .await
        .unwrap_or_else(|e| panic!("create_multipart: {e}"));
    let p3 = upload(store, &k, &id, 3, &bodies[2]).await;
    let p1 = upload(store, &k, &id, 1, &bodies[0]).await;
    upload(store, &k, &id, 2, &data(99, ps)).await;
    let p2 = upload(store, &k, &id, 2, &bodies[1]).await;

    assert_err!(
        store.head(&k).await,
        Error::NotFound { .. },
        "head before complete"
    );
    if caps.list {
        let listed = store.list_all(&p).await.expect("list before complete");
        assert!(listed.is_empty(), "a pending upload is listed: {listed:?}");
    }
    if caps.list_parts {
        let listed = store.list_parts(&k, &id).await.expect("list_parts");
        assert_eq!(listed.len(), 3, "list_parts count: {listed:?}");
        for (got, (sent, body)) in listed.iter().zip([&p1, &p2, &p3].into_iter().zip(&bodies)) {
            check_part(got, sent.number.get(), body);
            assert_eq!(got.etag, sent.etag, "listed ETag of part {}", sent.number);
            if let (Some(a), Some(b)) = (&got.checksum, &sent.checksum) {
                assert_eq!(a, b, "listed checksum of part {}", sent.number);
            }
        }
    }

    let out = store
        .complete_multipart(&k, &id, &[p1, p2, p3])
        .await
        .unwrap_or_else(|e| panic!("complete_multipart: {e}"));
    let want = concat(&[&bodies[0], &bodies[1], &bodies[2]]);
    assert_same(&read(store, &k).await, &want, "completed object");
    let head = store.head(&k).await.expect("head after complete");
    assert_eq!(head.size, want.len() as u64, "size after complete");
    if let (Some(a), Some(b)) = (&out.etag, &head.etag) {
        assert_eq!(a, b, "complete and head ETags agree");
    }
    for c in head.checksums.iter().chain(&out.checksums) {
        if !c.as_bytes().is_empty() && c.kind().is_crc() {
            assert_eq!(*c, compute(c.kind(), &want), "whole-object {}", c.kind());
        }
    }
    if caps.list_parts {
        assert_err!(
            store.list_parts(&k, &id).await,
            Error::NoSuchUpload { .. },
            "list_parts after complete"
        );
    }
    assert_err!(
        store
            .upload_part(&k, &id, part(4), bodies[2].clone().into())
            .await,
        Error::NoSuchUpload { .. },
        "upload_part after complete"
    );
    store.delete(&k).await.expect("delete");
    Ok(())
}

/// Completion refuses no parts, a part never uploaded, a wrong ETag, parts
/// out of order or repeated, and a too-small part that is not the last; the
/// upload survives every refusal and completes afterwards.
pub async fn multipart_complete_refusals(store: &dyn ObjectStore) -> Outcome {
    let caps = store.capabilities().clone();
    if !caps.multipart {
        return Err(Skip("no multipart uploads (capability multipart)"));
    }
    let p = unique_prefix("multipart_complete_refusals");
    let k = key(format!("{p}object"));
    let ps = part_size(store);
    let small = (ps / 2).max(1);
    let bodies = [data(20, ps), data(21, ps), data(22, small), data(23, small)];
    let id = create(store, &k).await;
    let mut parts = Vec::new();
    for (i, body) in bodies.iter().enumerate() {
        parts.push(upload(store, &k, &id, i as u32 + 1, body).await);
    }
    let [p1, p2, p3, p4] = [0, 1, 2, 3].map(|i| parts[i].clone());
    let ghost = CompletedPart {
        number: part(5),
        ..p4.clone()
    };
    let wrong_etag = CompletedPart {
        etag: p1.etag.clone(),
        ..p2.clone()
    };
    let mut refusals = vec![
        ("no parts", vec![]),
        (
            "a part never uploaded",
            vec![p1.clone(), p2.clone(), p3.clone(), ghost],
        ),
        ("a wrong ETag", vec![p1.clone(), wrong_etag, p3.clone()]),
        ("descending parts", vec![p2.clone(), p1.clone(), p3.clone()]),
        ("a repeated part", vec![p1.clone(), p1.clone(), p3.clone()]),
    ];
    if caps.min_part_size_bytes > 1 {
        refusals.push((
            "a small part before the last",
            vec![p1.clone(), p3.clone(), p4],
        ));
    }
    for (what, list) in refusals {
        assert_err!(
            store.complete_multipart(&k, &id, &list).await,
            Error::InvalidInput { .. },
            "complete with {what}"
        );
    }
    assert_err!(
        store.head(&k).await,
        Error::NotFound { .. },
        "head after refusals"
    );
    complete(store, &k, &id, &[p1, p2, p3]).await;
    let want = concat(&[&bodies[0], &bodies[1], &bodies[2]]);
    assert_same(
        &read(store, &k).await,
        &want,
        "object completed after refusals",
    );
    store.delete(&k).await.expect("delete");
    Ok(())
}

/// Aborting makes the id `NoSuchUpload` to every call, leaves nothing
/// behind, and leaves another upload to the same key untouched.
pub async fn multipart_abort(store: &dyn ObjectStore) -> Outcome {
    let caps = store.capabilities().clone();
    if !caps.multipart {
        return Err(Skip("no multipart uploads (capability multipart)"));
    }
    let p = unique_prefix("multipart_abort");
    let k = key(format!("{p}object"));
    let body = data(30, 10);
    let id = create(store, &k).await;
    let other = create(store, &k).await;
    assert_ne!(id, other, "two uploads to one key get distinct ids");
    let p1 = upload(store, &k, &id, 1, &body).await;
    let kept = upload(store, &k, &other, 1, &data(31, 20)).await;
    store
        .abort_multipart(&k, &id)
        .await
        .unwrap_or_else(|e| panic!("abort: {e}"));
    assert_err!(
        store
            .upload_part(&k, &id, part(2), body.clone().into())
            .await,
        Error::NoSuchUpload { .. },
        "upload_part after abort"
    );
    if caps.list_parts {
        assert_err!(
            store.list_parts(&k, &id).await,
            Error::NoSuchUpload { .. },
            "list_parts after abort"
        );
    }
    assert_err!(
        store.complete_multipart(&k, &id, &[p1]).await,
        Error::NoSuchUpload { .. },
        "complete after abort"
    );
    match store.abort_multipart(&k, &id).await {
        Ok(()) | Err(Error::NoSuchUpload { .. }) => {}
        Err(e) => panic!("second abort: expected success or NoSuchUpload, got {e:?}"),
    }
    assert_err!(
        store.head(&k).await,
        Error::NotFound { .. },
        "head after abort"
    );
    complete(store, &k, &other, &[kept]).await;
    assert_same(&read(store, &k).await, &data(31, 20), "the other upload");
    store.delete(&k).await.expect("delete");
    Ok(())
}

/// A multipart upload of one empty part makes a zero-byte object.
pub async fn multipart_zero_byte(store: &dyn ObjectStore) -> Outcome {
    if !store.capabilities().multipart {
        return Err(Skip("no multipart uploads (capability multipart)"));
    }
    let p = unique_prefix("multipart_zero_byte");
    let k = key(format!("{p}empty"));
    let id = create(store, &k).await;
    let p1 = upload(store, &k, &id, 1, &Bytes::new()).await;
    complete(store, &k, &id, &[p1]).await;
    assert_eq!(store.head(&k).await.expect("head").size, 0, "size");
    assert!(read(store, &k).await.is_empty(), "empty body");
    store.delete(&k).await.expect("delete");
    Ok(())
}

/// `upload_part_copy` with bounded, from-offset and suffix ranges, mixed
/// with uploaded parts; a range starting past the source's end is
/// `InvalidInput`, a missing source `NotFound`.
pub async fn upload_part_copy_ranges(store: &dyn ObjectStore) -> Outcome {
    let caps = store.capabilities().clone();
    if !caps.multipart || !caps.part_copy {
        return Err(Skip("no part copy (capabilities multipart and part_copy)"));
    }
    let p = unique_prefix("upload_part_copy_ranges");
    let ps = part_size(store);
    let src = key(format!("{p}src"));
    let body = data(40, 2 * ps + 100);
    let len = body.len() as u64;
    write(store, &src, body.clone()).await;

    let copy = async |dst: &Key, id: &UploadId, n: u32, range: ByteRange, want: &[u8]| {
        let done = store
            .upload_part_copy(&src, range, dst, id, part(n))
            .await
            .unwrap_or_else(|e| panic!("upload_part_copy {range:?}: {e}"));
        check_part(&done, n, want);
        done
    };
    let ps64 = ps as u64;
    let whole = key(format!("{p}whole"));
    let id = create(store, &whole).await;
    let parts = vec![
        copy(
            &whole,
            &id,
            1,
            ByteRange::Bounded {
                start: 0,
                end: ps64,
            },
            &body[..ps],
        )
        .await,
        copy(&whole, &id, 2, ByteRange::at(ps64, ps64), &body[ps..2 * ps]).await,
        copy(&whole, &id, 3, ByteRange::From(2 * ps64), &body[2 * ps..]).await,
    ];
    complete(store, &whole, &id, &parts).await;
    assert_same(
        &read(store, &whole).await,
        &body,
        "object copied in three ranges",
    );

    let mixed = key(format!("{p}mixed"));
    let fresh = data(41, ps);
    let id = create(store, &mixed).await;
    let parts = vec![
        upload(store, &mixed, &id, 1, &fresh).await,
        copy(
            &mixed,
            &id,
            2,
            ByteRange::Suffix(100),
            &body[body.len() - 100..],
        )
        .await,
    ];
    for range in [ByteRange::at(len, 10), ByteRange::From(len + 5)] {
        assert_err!(
            store
                .upload_part_copy(&src, range, &mixed, &id, part(3))
                .await,
            Error::InvalidInput { .. },
            "upload_part_copy of {range:?} from a {len}-byte source"
        );
    }
    let missing = key(format!("{p}missing"));
    assert_err!(
        store
            .upload_part_copy(&missing, ByteRange::at(0, 1), &mixed, &id, part(3))
            .await,
        Error::NotFound { .. },
        "upload_part_copy from a missing source"
    );
    complete(store, &mixed, &id, &parts).await;
    let want = concat(&[&fresh, &body[body.len() - 100..]]);
    assert_same(
        &read(store, &mixed).await,
        &want,
        "uploaded part then copied suffix",
    );
    for k in [&src, &whole, &mixed] {
        store.delete(k).await.expect("delete");
    }
    Ok(())
}

/// How many parts `concurrent_upload_parts` sends at once.
const PARTS: u32 = 16;

/// 16 parts of one upload in flight at once.
pub async fn concurrent_upload_parts(store: &dyn ObjectStore) -> Outcome {
    if !store.capabilities().multipart {
        return Err(Skip("no multipart uploads (capability multipart)"));
    }
    let p = unique_prefix("concurrent_upload_parts");
    let k = key(format!("{p}object"));
    let ps = part_size(store);
    let bodies: Vec<Bytes> = (0..PARTS)
        .map(|i| data(50 + u64::from(i), if i + 1 == PARTS { 1_234 } else { ps }))
        .collect();
    let id = create(store, &k).await;
    let (k, id, bodies) = (&k, &id, &bodies);
    let mut parts: Vec<CompletedPart> = stream::iter(0..PARTS)
        .map(|i| async move {
            let body = &bodies[i as usize];
            let done = store
                .upload_part(k, id, part(i + 1), body.clone().into())
                .await?;
            check_part(&done, i + 1, body);
            Ok::<_, Error>(done)
        })
        .buffer_unordered(PARTS as usize)
        .try_collect()
        .await
        .unwrap_or_else(|e| panic!("concurrent upload_part: {e}"));
    parts.sort_by_key(|p| p.number);
    complete(store, k, id, &parts).await;
    let refs: Vec<&[u8]> = bodies.iter().map(|b| &b[..]).collect();
    let want = concat(&refs);
    assert_same(
        &read(store, k).await,
        &want,
        "object of 16 concurrent parts",
    );
    store.delete(k).await.expect("delete");
    Ok(())
}

/// Parts sent with `upload_part_stream`: chunks of any size make the part,
/// with or without checksums computed on the way; a body that fails
/// midway, or ends short, fails with its own error and leaves no part
/// behind; the completed object is exact.
pub async fn streamed_parts(store: &dyn ObjectStore) -> Outcome {
    let caps = store.capabilities().clone();
    if !caps.multipart {
        return Err(Skip("no multipart uploads (capability multipart)"));
    }
    let p = unique_prefix("streamed_parts");
    let k = key(format!("{p}object"));
    // Stores without a real minimum still get parts of many chunks.
    let ps = match part_size(store) {
        small if small < 1024 => 200_000,
        ps => ps,
    };
    let (b1, b2) = (data(21, ps), data(22, ps / 3 + 5));
    let id = create(store, &k).await;

    let body = stream_of(&k, b1.len() as u64, &b1, &[ChecksumKind::Crc32c], None);
    let sums = body.sums();
    let p1 = store
        .upload_part_stream(&k, &id, part(1), body)
        .await
        .unwrap_or_else(|e| panic!("upload_part_stream 1 of {k:?}: {e}"));
    check_part(&p1, 1, &b1);
    assert_eq!(
        sums.get(),
        Some(&[compute(ChecksumKind::Crc32c, &b1)][..]),
        "the checksums computed on the way"
    );

    let len2 = b2.len() as u64;
    let failing = stream_of(&k, len2, &b2, &[ChecksumKind::Crc32c], Some(b2.len() / 2));
    match store.upload_part_stream(&k, &id, part(2), failing).await {
        Err(e @ Error::Transient { .. }) => {
            assert!(
                e.to_string().contains("source reset"),
                "the body's error: {e}"
            );
        }
        other => panic!("a body failing midway: expected its Transient error, got {other:?}"),
    }
    let short = stream_of(&k, len2 + 1, &b2, &[ChecksumKind::Crc32c], None);
    assert_err!(
        store.upload_part_stream(&k, &id, part(2), short).await,
        Error::Transient { .. },
        "a body one byte short"
    );
    if caps.list_parts {
        let listed = store
            .list_parts(&k, &id)
            .await
            .unwrap_or_else(|e| panic!("list_parts {k:?}: {e}"));
        let numbers: Vec<u32> = listed.iter().map(|p| p.number.get()).collect();
        assert_eq!(numbers, [1], "failed bodies leave no part");
    }

    let plain = stream_of(&k, len2, &b2, &[], None);
    let p2 = store
        .upload_part_stream(&k, &id, part(2), plain)
        .await
        .unwrap_or_else(|e| panic!("upload_part_stream 2 of {k:?}: {e}"));
    check_part(&p2, 2, &b2);
    complete(store, &k, &id, &[p1, p2]).await;
    assert_same(
        &read(store, &k).await,
        &concat(&[&b1, &b2]),
        "streamed object",
    );
    store.delete(&k).await.expect("delete");
    Ok(())
}
