//! Key cases: characters that need encoding, and the longest keys.

use bytes::Bytes;
use futures::TryStreamExt;
use haul_core::{
    ByteRange, CopyOptions, Key, ListEntry, ListOptions, ObjectStore, ObjectStoreExt, PutOptions,
};

use super::{Outcome, assert_same, cleanup, key, part, read, remove, unique_prefix, write};

/// The longest key every provider accepts (`haul_core`'s limit, in UTF-8 bytes).
const MAX_KEY_BYTES: usize = 1024;

/// Names that break naive URL, query-string or form encoding.
const ODD: &[&str] = &[
    "a b.txt",
    "plus+sign",
    "100%",
    "%20already-encoded",
    "hash#tag",
    "what?x=1&y=2",
    "日本語/ファイル.txt",
    "emoji 😀",
    "tilde~",
    "quote'single",
    "semi;colon,comma",
    "equals=at@dollar$",
    "paren(1)[2]",
    "dir with space/file+plus%2B.txt",
];

/// Writes and reads back each key (its own name as the body).
async fn round_trip(store: &dyn ObjectStore, keys: &[Key]) {
    for k in keys {
        let body = Bytes::from(k.as_str().to_owned());
        write(store, k, body.clone()).await;
        let head = store
            .head(k)
            .await
            .unwrap_or_else(|e| panic!("head {k:?}: {e}"));
        assert_eq!(&head.key, k, "head keeps the key as written");
        assert_eq!(head.size, body.len() as u64, "size of {k:?}");
        assert_same(&read(store, k).await, &body, &format!("body of {k:?}"));
        if store.capabilities().ranged_get {
            let got = store
                .get_range(k, ByteRange::Suffix(3))
                .await
                .unwrap_or_else(|e| panic!("ranged get {k:?}: {e}"));
            assert_same(&got, &body[body.len() - 3..], &format!("suffix of {k:?}"));
        }
    }
}

/// Asserts that listing `prefix` yields exactly `keys` (in byte order).
async fn assert_listed(store: &dyn ObjectStore, prefix: &str, keys: &[Key]) {
    if !store.capabilities().list {
        return;
    }
    let mut want: Vec<&str> = keys.iter().map(Key::as_str).collect();
    want.sort_unstable();
    let listed = store
        .list_all(prefix)
        .await
        .unwrap_or_else(|e| panic!("list {prefix:?}: {e}"));
    let got: Vec<&str> = listed.iter().map(|m| m.key.as_str()).collect();
    assert_eq!(got, want, "listing keeps keys exactly, in byte order");
}

/// Multipart (and part copy, where supported) to and from `dst`/`src`.
async fn multipart_to(store: &dyn ObjectStore, src: &Key, dst: &Key) -> Option<Bytes> {
    let caps = store.capabilities().clone();
    if !caps.multipart {
        return None;
    }
    let id = store
        .create_multipart(dst, PutOptions::default())
        .await
        .unwrap_or_else(|e| panic!("create_multipart {dst:?}: {e}"));
    let body = Bytes::from(src.as_str().to_owned());
    let done = if caps.part_copy {
        store
            .upload_part_copy(src, ByteRange::From(0), dst, &id, part(1))
            .await
            .unwrap_or_else(|e| panic!("upload_part_copy {src:?} -> {dst:?}: {e}"))
    } else {
        store
            .upload_part(dst, &id, part(1), body.clone().into())
            .await
            .unwrap_or_else(|e| panic!("upload_part {dst:?}: {e}"))
    };
    if caps.list_parts {
        let listed = store
            .list_parts(dst, &id)
            .await
            .unwrap_or_else(|e| panic!("list_parts {dst:?}: {e}"));
        assert_eq!(listed.len(), 1, "list_parts of {dst:?}");
    }
    store
        .complete_multipart(dst, &id, &[done])
        .await
        .unwrap_or_else(|e| panic!("complete_multipart {dst:?}: {e}"));
    assert_same(
        &read(store, dst).await,
        &body,
        &format!("multipart {dst:?}"),
    );
    Some(body)
}

/// Keys with spaces, `+`, `%`, `#`, `?`, `&`, `=`, quotes and unicode survive
/// put, head, get, ranged get, list (with and without delimiter), copy,
/// multipart and part copy exactly as written.
pub async fn odd_keys(store: &dyn ObjectStore) -> Outcome {
    let caps = store.capabilities().clone();
    let p = unique_prefix("odd_keys");
    let mut keys: Vec<Key> = ODD.iter().map(|n| key(format!("{p}{n}"))).collect();
    round_trip(store, &keys).await;

    if caps.server_side_copy {
        let dst = key(format!("{p}copy of+%#?.txt"));
        store
            .copy(&keys[0], &dst, CopyOptions::default())
            .await
            .unwrap_or_else(|e| panic!("copy {:?} -> {dst:?}: {e}", keys[0]));
        assert_same(
            &read(store, &dst).await,
            keys[0].as_str().as_bytes(),
            "odd copy",
        );
        keys.push(dst);
    }
    let dst = key(format!("{p}multi part+%#?&.bin"));
    if multipart_to(store, &keys[5], &dst).await.is_some() {
        keys.push(dst);
    }
    assert_listed(store, &p, &keys).await;

    if caps.list {
        let opts = ListOptions {
            delimiter: Some("/".into()),
            ..ListOptions::default()
        };
        let entries: Vec<ListEntry> = store
            .list(&p, opts)
            .try_collect()
            .await
            .unwrap_or_else(|e| panic!("list {p:?} with a delimiter: {e}"));
        for dir in ["dir with space/", "日本語/"] {
            let want = ListEntry::Prefix(format!("{p}{dir}"));
            assert!(entries.contains(&want), "{want:?} missing from {entries:?}");
        }
        cleanup(store, &p).await;
    } else {
        for k in &keys {
            remove(store, k).await;
        }
    }
    Ok(())
}

/// A key of exactly `MAX_KEY_BYTES` bytes under `prefix`, in `/`-separated
/// segments of at most 200 bytes so a filesystem can hold it.
fn long_key(prefix: &str, fill: char) -> Key {
    let mut k = prefix.to_owned();
    loop {
        let rem = MAX_KEY_BYTES - k.len();
        if rem <= 200 {
            k.extend(std::iter::repeat_n(fill, rem));
            break;
        }
        k.push('ü');
        k.extend(std::iter::repeat_n(fill, 197));
        k.push('/');
    }
    assert_eq!(k.len(), MAX_KEY_BYTES);
    key(k)
}

/// 1024-byte keys (multi-byte characters included) survive put, head, get,
/// list, copy and multipart.
pub async fn long_keys(store: &dyn ObjectStore) -> Outcome {
    let caps = store.capabilities().clone();
    let p = unique_prefix("long_keys");
    let mut keys = vec![long_key(&p, 'a')];
    round_trip(store, &keys).await;
    let copy = long_key(&p, 'b');
    if caps.server_side_copy {
        store
            .copy(&keys[0], &copy, CopyOptions::default())
            .await
            .unwrap_or_else(|e| panic!("copy of a 1024-byte key: {e}"));
        assert_same(
            &read(store, &copy).await,
            keys[0].as_str().as_bytes(),
            "long copy",
        );
        keys.push(copy);
    }
    let multi = long_key(&p, 'c');
    if multipart_to(store, &keys[0], &multi).await.is_some() {
        keys.push(multi);
    }
    assert_listed(store, &p, &keys).await;
    for k in &keys {
        remove(store, k).await;
    }
    assert_listed(store, &p, &[]).await;
    Ok(())
}
