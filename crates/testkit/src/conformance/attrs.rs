//! Object attributes: Content-Type, Content-Encoding, Cache-Control,
//! Content-Disposition and user metadata, kept by put, multipart and copy.

use bytes::Bytes;
use haul_core::{Attributes, CopyOptions, GetOptions, Key, ObjectMeta, ObjectStore, PutOptions};

use super::{Outcome, Skip, cleanup, data, key, part, part_size, unique_prefix};

/// The attributes every write of the case stores: all five, with metadata
/// values a header cannot carry as they are (spaces, non-ASCII).
fn wanted() -> Attributes {
    Attributes {
        content_type: Some("text/plain; charset=utf-8".into()),
        // An encoding no HTTP layer on the way decodes by itself.
        content_encoding: Some("x-haul-test".into()),
        cache_control: Some("public, max-age=3600".into()),
        content_disposition: Some("attachment; filename=\"report 2026.txt\"".into()),
        metadata: [
            ("origin".to_owned(), "conformance suite run".to_owned()),
            ("city".to_owned(), "café".to_owned()),
            (
                Attributes::MTIME.to_owned(),
                "1700000000.123456789".to_owned(),
            ),
        ]
        .into(),
    }
}

/// Checks that `k` carries `want`, as `head` and `get` report it.
///
/// `head` must report the Content-Type and the user metadata exactly. The
/// three other headers may be missing from `head` where the store's
/// metadata call does not report them (Kodo's stat) — then `get`, whose
/// answer carries them as headers, must; whatever either reports must be
/// what was stored.
async fn check(store: &dyn ObjectStore, k: &Key, want: &Attributes, what: &str) {
    let head: ObjectMeta = store
        .head(k)
        .await
        .unwrap_or_else(|e| panic!("{what}: head {k:?}: {e}"));
    let got = store
        .get(k, GetOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{what}: get {k:?}: {e}"))
        .meta
        .attrs;
    assert_eq!(
        head.attrs.content_type, want.content_type,
        "{what}: head Content-Type"
    );
    assert_eq!(
        head.attrs.metadata, want.metadata,
        "{what}: head user metadata"
    );
    let headers = [
        (
            "Content-Encoding",
            &want.content_encoding,
            &head.attrs.content_encoding,
            &got.content_encoding,
        ),
        (
            "Cache-Control",
            &want.cache_control,
            &head.attrs.cache_control,
            &got.cache_control,
        ),
        (
            "Content-Disposition",
            &want.content_disposition,
            &head.attrs.content_disposition,
            &got.content_disposition,
        ),
    ];
    for (name, want, head, get) in headers {
        assert!(
            head.is_none() || head == want,
            "{what}: head {name} is {head:?}, want {want:?}"
        );
        assert!(
            get.is_none() || get == want,
            "{what}: get {name} is {get:?}, want {want:?}"
        );
        assert!(
            head.is_some() || get.is_some(),
            "{what}: neither head nor get reports {name} (want {want:?})"
        );
    }
    if got.content_type.is_some() {
        assert_eq!(
            got.content_type, want.content_type,
            "{what}: get Content-Type"
        );
    }
}

/// On a store that keeps attributes (`capabilities().metadata`): `put`,
/// a multipart upload (attributes given to `create_multipart`) and a
/// server-side `copy` (where the store has one) all keep Content-Type,
/// Content-Encoding, Cache-Control, Content-Disposition and user metadata,
/// including a value with spaces and a non-ASCII one; writing the key
/// again without attributes leaves none of the old metadata behind.
pub async fn attributes_round_trip(store: &dyn ObjectStore) -> Outcome {
    let caps = store.capabilities().clone();
    if !caps.metadata {
        return Err(Skip("the store keeps no metadata (capability metadata)"));
    }
    let p = unique_prefix("attributes_round_trip");
    let want = wanted();
    let opts = PutOptions::with_attributes(&want);

    let small = key(format!("{p}small.txt"));
    store
        .put(&small, data(1, 1000).into(), opts.clone())
        .await
        .unwrap_or_else(|e| panic!("put {small:?}: {e}"));
    check(store, &small, &want, "put").await;

    if caps.multipart {
        let big = key(format!("{p}multipart.txt"));
        let id = store
            .create_multipart(&big, opts.clone())
            .await
            .unwrap_or_else(|e| panic!("create_multipart {big:?}: {e}"));
        let mut parts = Vec::new();
        for (n, len) in [(1, part_size(store)), (2, 100)] {
            let body: Bytes = data(10 + u64::from(n), len);
            parts.push(
                store
                    .upload_part(&big, &id, part(n), body.into())
                    .await
                    .unwrap_or_else(|e| panic!("upload part {n} of {big:?}: {e}")),
            );
        }
        store
            .complete_multipart(&big, &id, &parts)
            .await
            .unwrap_or_else(|e| panic!("complete {big:?}: {e}"));
        check(store, &big, &want, "multipart").await;
    }

    if caps.server_side_copy {
        let copied = key(format!("{p}copied.txt"));
        store
            .copy(&small, &copied, CopyOptions::default())
            .await
            .unwrap_or_else(|e| panic!("copy {small:?} to {copied:?}: {e}"));
        check(store, &copied, &want, "server-side copy").await;
    }

    store
        .put(&small, data(2, 10).into(), PutOptions::default())
        .await
        .unwrap_or_else(|e| panic!("put {small:?} again: {e}"));
    let head = store
        .head(&small)
        .await
        .unwrap_or_else(|e| panic!("head {small:?}: {e}"));
    assert!(
        head.attrs.metadata.is_empty(),
        "a put without metadata replaces the old metadata: {:?}",
        head.attrs.metadata
    );
    assert_eq!(
        head.attrs.cache_control, None,
        "a put without Cache-Control leaves none"
    );

    if caps.list {
        cleanup(store, &p).await;
    } else {
        for name in ["small.txt", "multipart.txt", "copied.txt"] {
            let _ = store.delete(&key(format!("{p}{name}"))).await;
        }
    }
    Ok(())
}
