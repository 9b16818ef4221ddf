//! Single-object operations: put, get with ranges, head, copy, delete.

use bytes::Bytes;
use futures::TryStreamExt;
use haul_core::checksum::compute;
use haul_core::{
    ByteRange, ChecksumKind, CopyOptions, Error, GetOptions, ObjectStore, ObjectStoreExt, Payload,
    PutOptions,
};

use crate::{key, put, store, tree};

fn pattern(len: usize) -> Bytes {
    (0..len)
        .map(|i| (i * 7 % 251) as u8)
        .collect::<Vec<_>>()
        .into()
}

#[tokio::test]
async fn put_head_get_agree() {
    let (_dir, store) = store();
    let k = key("dir/sub/a b+c.txt");
    let body: Payload = [Bytes::from_static(b"hello "), Bytes::from_static(b"world")]
        .into_iter()
        .collect();
    let out = store.put(&k, body, PutOptions::default()).await.unwrap();
    assert!(store.root().join("dir/sub/a b+c.txt").is_file());
    let meta = store.head(&k).await.unwrap();
    assert_eq!(meta.size, 11);
    assert_eq!(meta.etag, out.etag, "put and head report the same ETag");
    assert!(meta.last_modified.is_some());
    assert!(meta.checksums.is_empty());
    assert_eq!(
        out.checksums,
        vec![compute(ChecksumKind::Crc32c, b"hello world")]
    );
    assert_eq!(&store.get_bytes(&k).await.unwrap()[..], b"hello world");
    assert!(matches!(
        store.head(&key("dir/missing")).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        store.get_bytes(&key("nope/nope")).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        store.head(&key("dir")).await,
        Err(Error::NotFound { .. })
    ));

    // Rewriting changes the ETag.
    put(&store, "dir/sub/a b+c.txt", b"longer than before").await;
    assert_ne!(store.head(&k).await.unwrap().etag, out.etag);
}

#[tokio::test]
async fn ranges_follow_the_trait() {
    let (_dir, store) = store();
    let k = key("big");
    let data = pattern((5 << 20) / 2 + 3);
    store.put_bytes(&k, data.clone()).await.unwrap();
    let size = data.len() as u64;
    let cases = [
        (ByteRange::at(0, 10), 0..10),
        (ByteRange::at(1 << 20, 5), (1 << 20)..(1 << 20) + 5),
        (
            ByteRange::at((1 << 20) - 3, 7),
            (1 << 20) - 3..(1 << 20) + 4,
        ),
        (ByteRange::at(size - 2, 100), size - 2..size),
        (ByteRange::From(5), 5..size),
        (ByteRange::Suffix(3), size - 3..size),
        (ByteRange::Suffix(size * 2), 0..size),
    ];
    for (range, want) in cases {
        let resp = store
            .get(
                &k,
                GetOptions {
                    range: Some(range),
                    ..GetOptions::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(resp.range, want, "{range:?}");
        assert_eq!(resp.meta.size, size);
        let got = resp.bytes().await.unwrap();
        assert_eq!(got, data.slice(want.start as usize..want.end as usize));
    }
    for bad in [
        ByteRange::From(size),
        ByteRange::at(size, 1),
        ByteRange::at(size + 10, 1),
        ByteRange::at(3, 0),
        ByteRange::Suffix(0),
    ] {
        assert!(
            matches!(
                store.get_range(&k, bad).await,
                Err(Error::InvalidInput { .. })
            ),
            "{bad:?}"
        );
    }
}

#[tokio::test]
async fn bodies_stream_in_bounded_chunks() {
    let (_dir, store) = store();
    let k = key("chunks");
    let data = pattern((5 << 20) / 2);
    store.put_bytes(&k, data.clone()).await.unwrap();
    let resp = store.get(&k, GetOptions::default()).await.unwrap();
    let chunks: Vec<Bytes> = resp.body.try_collect().await.unwrap();
    // 2.5 MiB in chunks of 256 KiB.
    assert_eq!(chunks.len(), 10);
    assert!(chunks.iter().all(|c| c.len() <= 256 << 10));
    assert_eq!(chunks.concat(), data.to_vec());
}

#[tokio::test]
async fn zero_byte_objects() {
    let (_dir, store) = store();
    let k = key("empty");
    store.put_bytes(&k, Bytes::new()).await.unwrap();
    assert_eq!(store.head(&k).await.unwrap().size, 0);
    let resp = store.get(&k, GetOptions::default()).await.unwrap();
    assert_eq!(resp.range, 0..0);
    assert!(resp.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn if_match() {
    let (_dir, store) = store();
    put(&store, "k", b"data").await;
    let etag = store.head(&key("k")).await.unwrap().etag.unwrap();
    let opts = |m: &str| GetOptions {
        if_match: Some(m.to_owned()),
        ..GetOptions::default()
    };
    let quoted = format!("\"{etag}\"");
    for ok in [etag.as_str(), quoted.as_str()] {
        let got = store.get(&key("k"), opts(ok)).await.unwrap();
        assert_eq!(&got.bytes().await.unwrap()[..], b"data");
    }
    assert!(matches!(
        store.get(&key("k"), opts("nope")).await,
        Err(Error::Precondition { .. })
    ));
    let copy = CopyOptions {
        if_match: Some("nope".into()),
    };
    assert!(matches!(
        store.copy(&key("k"), &key("k2"), copy).await,
        Err(Error::Precondition { .. })
    ));
}

#[tokio::test]
async fn put_verifies_checksums_and_leaves_nothing_on_mismatch() {
    let (_dir, store) = store();
    let body = Bytes::from_static(b"123456789");
    let good = PutOptions {
        checksums: vec![
            compute(ChecksumKind::Md5, &body),
            compute(ChecksumKind::Sha1, &body),
            compute(ChecksumKind::Crc64Nvme, &body),
        ],
        ..PutOptions::default()
    };
    let out = store
        .put(&key("d/good"), body.clone().into(), good)
        .await
        .unwrap();
    assert!(
        out.checksums
            .contains(&compute(ChecksumKind::Md5, b"123456789"))
    );
    let bad = PutOptions {
        checksums: vec![compute(ChecksumKind::Crc32c, b"something else")],
        ..PutOptions::default()
    };
    let err = store
        .put(&key("d/bad"), body.into(), bad)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Integrity { .. }), "{err:?}");
    assert_eq!(err.key(), "d/bad");
    assert_eq!(tree(&store.root().join("d")), ["good"], "no temp file left");
}

#[tokio::test]
async fn crash_leftovers_are_never_listed_or_read() {
    let (_dir, store) = store();
    put(&store, "d/real", b"x").await;
    // What a crash mid-write leaves behind.
    std::fs::write(store.root().join("d/.haul-tmp-0123abcd"), b"partial").unwrap();
    std::fs::write(store.root().join("d/real.haul-partial"), b"partial").unwrap();
    std::fs::create_dir_all(store.root().join(".haul-uploads/0123")).unwrap();
    std::fs::write(store.root().join(".haul-uploads/0123/00001.part"), b"p").unwrap();
    let keys: Vec<String> = store
        .list_all("")
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.key.to_string())
        .collect();
    assert_eq!(keys, ["d/real"]);
    assert!(store.get_bytes(&key("d/.haul-tmp-0123abcd")).await.is_err());
}

#[tokio::test]
async fn copy_objects() {
    let (_dir, store) = store();
    let data = pattern(3 << 20);
    store.put_bytes(&key("src"), data.clone()).await.unwrap();
    let out = store
        .copy(&key("src"), &key("x/y/dst"), CopyOptions::default())
        .await
        .unwrap();
    assert_eq!(store.get_bytes(&key("x/y/dst")).await.unwrap(), data);
    assert_eq!(store.head(&key("x/y/dst")).await.unwrap().etag, out.etag);
    // Onto itself, and over an existing object.
    store
        .copy(&key("src"), &key("src"), CopyOptions::default())
        .await
        .unwrap();
    put(&store, "small", b"small").await;
    store
        .copy(&key("small"), &key("x/y/dst"), CopyOptions::default())
        .await
        .unwrap();
    assert_eq!(
        &store.get_bytes(&key("x/y/dst")).await.unwrap()[..],
        b"small"
    );
    assert_eq!(store.get_bytes(&key("src")).await.unwrap(), data);
    assert!(matches!(
        store
            .copy(&key("missing"), &key("z"), CopyOptions::default())
            .await,
        Err(Error::NotFound { .. })
    ));
    assert!(store.capabilities().server_side_copy);
    assert_eq!(store.capabilities().max_copy_bytes, u64::MAX);
}

#[tokio::test]
async fn delete_prunes_empty_directories_only() {
    let (dir, store) = store();
    put(&store, "a/b/c/one", b"1").await;
    put(&store, "a/two", b"2").await;
    store.delete(&key("a/b/c/one")).await.unwrap();
    assert!(
        !store.root().join("a/b").exists(),
        "emptied dirs are removed"
    );
    assert!(store.root().join("a/two").is_file());
    store.delete(&key("a/two")).await.unwrap();
    assert!(store.root().is_dir(), "the root stays");
    assert!(tree(store.root()).is_empty());
    store.delete(&key("never/was")).await.unwrap();
    store.delete(&key("never")).await.unwrap();

    put(&store, "m/1", b"1").await;
    put(&store, "m/2", b"2").await;
    let keys = [key("m/1"), key("m/missing"), key("m/2"), key("../x")];
    let results = store.delete_many(&keys).await.unwrap();
    assert_eq!(results.len(), 4);
    assert!(results[..3].iter().all(Result::is_ok));
    assert!(matches!(results[3], Err(Error::InvalidInput { .. })));
    assert!(tree(store.root()).is_empty());
    assert_eq!(tree(dir.path()), ["outside", "root"]);
}

#[tokio::test]
async fn concurrent_puts_and_deletes_in_one_directory() {
    let (_dir, store) = store();
    let mut tasks = Vec::new();
    for i in 0..16 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for round in 0..10 {
                let k = key(&format!("shared/dir/{i}"));
                store
                    .put_bytes(&k, Bytes::from(format!("{i}-{round}")))
                    .await
                    .unwrap();
                store.delete(&k).await.unwrap();
            }
            let k = key(&format!("shared/dir/{i}"));
            store
                .put_bytes(&k, Bytes::from(format!("{i}")))
                .await
                .unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(store.list_all("shared/").await.unwrap().len(), 16);
}

#[tokio::test]
async fn checksums_carried_by_the_payload_are_verified() {
    let (_dir, store) = store();
    let body = Bytes::from_static(b"payload");
    let right = Payload::from(body.clone()).with_checksums(vec![compute(ChecksumKind::Md5, &body)]);
    store
        .put(&key("p/right"), right, PutOptions::default())
        .await
        .unwrap();
    let wrong =
        Payload::from(body).with_checksums(vec![compute(ChecksumKind::Crc32c, b"corrupted")]);
    let err = store
        .put(&key("p/wrong"), wrong, PutOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Integrity { .. }), "{err:?}");
    assert_eq!(tree(&store.root().join("p")), ["right"]);
}
