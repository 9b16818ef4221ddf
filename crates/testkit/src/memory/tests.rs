use futures::TryStreamExt;
use haul_core::{ListEntry, ObjectStoreExt};

use super::*;

fn key(s: &str) -> Key {
    Key::new(s).unwrap()
}

#[tokio::test]
async fn multipart_etag_is_md5_of_md5s() {
    let store = MemoryStore::with_min_part_size(4);
    let k = key("m");
    let id = store
        .create_multipart(&k, PutOptions::default())
        .await
        .unwrap();
    let p1 = store
        .upload_part(&k, &id, PartNumber::new(1).unwrap(), b"abcd"[..].into())
        .await
        .unwrap();
    let p2 = store
        .upload_part(&k, &id, PartNumber::new(2).unwrap(), b"e"[..].into())
        .await
        .unwrap();
    assert_eq!(p1.etag, compute(ChecksumKind::Md5, b"abcd").to_hex());
    assert_eq!(p2.checksum, Some(compute(ChecksumKind::Crc32c, b"e")));
    let out = store
        .complete_multipart(&k, &id, &[p1.clone(), p2.clone()])
        .await
        .unwrap();
    let mut raw = hex_bytes(&p1.etag);
    raw.extend(hex_bytes(&p2.etag));
    let want = format!("{}-2", compute(ChecksumKind::Md5, &raw).to_hex());
    assert_eq!(out.etag.as_deref(), Some(want.as_str()));
    assert_eq!(out.checksums, vec![compute(ChecksumKind::Crc32c, b"abcde")]);
    assert_eq!(store.head(&k).await.unwrap().etag, Some(want));
    assert!(store.pending_uploads().is_empty());
}

fn hex_bytes(s: &str) -> Vec<u8> {
    Checksum::from_hex(ChecksumKind::Md5, s)
        .unwrap()
        .as_bytes()
        .to_vec()
}

#[tokio::test]
async fn put_checksums_are_verified() {
    let store = MemoryStore::new();
    let k = key("c");
    let opts = PutOptions {
        checksums: vec![compute(ChecksumKind::Sha1, b"other")],
        ..PutOptions::default()
    };
    let err = store.put(&k, b"body"[..].into(), opts).await.unwrap_err();
    assert!(matches!(err, Error::Integrity { .. }), "{err}");
    assert!(store.object(&k).is_none());
    let opts = PutOptions {
        checksums: vec![compute(ChecksumKind::Sha1, b"body")],
        content_type: Some("text/plain".into()),
        ..PutOptions::default()
    };
    store.put(&k, b"body"[..].into(), opts).await.unwrap();
    let o = store.object(&k).unwrap();
    assert_eq!(o.content_type.as_deref(), Some("text/plain"));
}

#[tokio::test]
async fn disabled_capabilities_are_refused() {
    let store = MemoryStore::with_capabilities(Capabilities {
        multipart: false,
        server_side_copy: false,
        list: false,
        batch_delete_max: 1,
        ..MemoryStore::default_capabilities()
    });
    let k = key("x");
    let err = store
        .create_multipart(&k, PutOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotSupported { .. }));
    let err = store
        .copy(&k, &k, CopyOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotSupported { .. }));
    let err = store.list_all("").await.unwrap_err();
    assert!(matches!(err, Error::NotSupported { .. }));
    let err = store.delete_many(&[k.clone(), k]).await.unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }));
}

#[tokio::test]
async fn list_pages_through_common_prefixes() {
    let store = MemoryStore::new();
    for k in ["a/1", "a/2", "b", "c/1", "d"] {
        store.put_bytes(&key(k), Bytes::new()).await.unwrap();
    }
    let opts = ListOptions {
        delimiter: Some("/".into()),
        page_size: Some(1),
        ..ListOptions::default()
    };
    let got: Vec<ListEntry> = store.list("", opts).try_collect().await.unwrap();
    let names: Vec<String> = got
        .into_iter()
        .map(|e| match e {
            ListEntry::Object(m) => m.key.to_string(),
            ListEntry::Prefix(p) => p,
            ListEntry::Unusable(u) => u.name,
        })
        .collect();
    assert_eq!(names, ["a/", "b", "c/", "d"]);
}
