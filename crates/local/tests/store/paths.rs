//! Keys that could escape the root, and symlinks that try to.

use std::os::unix::fs::symlink;

use bytes::Bytes;
use haul_core::{
    ByteRange, CopyOptions, Error, GetOptions, ObjectStore, ObjectStoreExt, PartNumber, PutOptions,
};
use haul_local::LocalStore;

use crate::{is_invalid, key, put, store, tree};

const ESCAPES: &[&str] = &[
    "..",
    "../x",
    "../outside/x",
    "a/../../x",
    "a/../b",
    "/etc/passwd",
    "/x",
    "..\\x",
    "..\\..\\outside\\x",
    "a\\b",
    ".",
    "./x",
    "a/./b",
    "a//b",
    "a/",
    "x.haul-partial",
    ".haul-uploads/x",
    ".haul-tmp-0123",
];

#[tokio::test]
async fn every_operation_refuses_escaping_keys() {
    let (dir, store) = store();
    put(&store, "ok", b"fine").await;
    let before = tree(dir.path());
    for &bad in ESCAPES {
        let k = key(bad);
        let msg = match store.put_bytes(&k, Bytes::from_static(b"x")).await {
            Err(Error::InvalidInput { key, message }) => {
                assert_eq!(key, bad);
                message
            }
            other => panic!("put {bad:?} was not refused: {other:?}"),
        };
        assert!(msg.contains(&format!("{bad:?}")), "{msg}");
        assert!(is_invalid(store.head(&k).await), "head {bad:?}");
        assert!(
            is_invalid(store.get(&k, GetOptions::default()).await),
            "get {bad:?}"
        );
        assert!(is_invalid(store.delete(&k).await), "delete {bad:?}");
        assert!(
            is_invalid(store.copy(&key("ok"), &k, CopyOptions::default()).await),
            "copy to {bad:?}"
        );
        assert!(
            is_invalid(store.copy(&k, &key("ok2"), CopyOptions::default()).await),
            "copy from {bad:?}"
        );
        assert!(
            is_invalid(store.create_multipart(&k, PutOptions::default()).await),
            "create_multipart {bad:?}"
        );
    }
    assert_eq!(tree(dir.path()), before, "nothing was written anywhere");
}

#[tokio::test]
async fn percent_encoded_names_are_literal_and_stay_inside() {
    let (dir, store) = store();
    for k in [
        "%2e%2e/x",
        "%2E%2E%2Fescape",
        "..%2fx",
        "...",
        "a..b",
        "%2F",
    ] {
        put(&store, k, b"inside").await;
        let path = store.path_of(&key(k)).unwrap();
        assert!(path.starts_with(store.root()), "{k} -> {}", path.display());
        assert!(path.is_file(), "{k}");
        assert_eq!(&store.get_bytes(&key(k)).await.unwrap()[..], b"inside");
    }
    assert!(dir.path().join("root/%2e%2e/x").is_file());
    assert!(dir.path().join("root/..%2fx").is_file());
    assert!(tree(&dir.path().join("outside")).is_empty());
    let listed: Vec<String> = store
        .list_all("")
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.key.to_string())
        .collect();
    assert_eq!(
        listed,
        [
            "%2E%2E%2Fescape",
            "%2F",
            "%2e%2e/x",
            "..%2fx",
            "...",
            "a..b"
        ]
    );
}

#[tokio::test]
async fn symlinked_directory_outside_root_is_refused() {
    let (dir, store) = store();
    let outside = dir.path().join("outside");
    std::fs::write(outside.join("secret"), b"secret").unwrap();
    symlink(&outside, store.root().join("link")).unwrap();

    assert!(is_invalid(store.head(&key("link/secret")).await));
    assert!(is_invalid(store.get_bytes(&key("link/secret")).await));
    assert!(is_invalid(
        store
            .put_bytes(&key("link/new"), Bytes::from_static(b"x"))
            .await
    ));
    assert!(is_invalid(
        store
            .put_bytes(&key("link/deeper/new"), Bytes::from_static(b"x"))
            .await
    ));
    assert!(is_invalid(store.delete(&key("link/secret")).await));
    assert!(is_invalid(
        store
            .copy(&key("link/secret"), &key("stolen"), CopyOptions::default())
            .await
    ));
    put(&store, "inside", b"data").await;
    assert!(is_invalid(
        store
            .copy(&key("inside"), &key("link/planted"), CopyOptions::default())
            .await
    ));
    let id = store
        .create_multipart(&key("mp"), PutOptions::default())
        .await
        .unwrap();
    assert!(is_invalid(
        store
            .upload_part_copy(
                &key("link/secret"),
                ByteRange::From(0),
                &key("mp"),
                &id,
                PartNumber::new(1).unwrap()
            )
            .await
    ));
    assert_eq!(tree(&outside), ["secret"], "nothing written outside");
    assert_eq!(std::fs::read(outside.join("secret")).unwrap(), b"secret");
    let listed = store.list_all("").await.unwrap();
    assert_eq!(listed.len(), 1, "symlinks are not listed: {listed:?}");
    assert!(store.list_all("link/").await.unwrap().is_empty());
}

#[tokio::test]
async fn symlinked_file_outside_root_is_refused_and_replaced_not_followed() {
    let (dir, store) = store();
    let secret = dir.path().join("outside/secret");
    std::fs::write(&secret, b"secret").unwrap();
    symlink(&secret, store.root().join("evil")).unwrap();

    assert!(is_invalid(store.head(&key("evil")).await));
    assert!(is_invalid(store.get_bytes(&key("evil")).await));
    // A write renames over the link itself: the target outside is untouched.
    put(&store, "evil", b"mine").await;
    assert_eq!(std::fs::read(&secret).unwrap(), b"secret");
    assert!(
        !std::fs::symlink_metadata(store.root().join("evil"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(&store.get_bytes(&key("evil")).await.unwrap()[..], b"mine");

    // Deleting a link removes the link, never its target.
    symlink(&secret, store.root().join("evil2")).unwrap();
    store.delete(&key("evil2")).await.unwrap();
    assert!(std::fs::symlink_metadata(store.root().join("evil2")).is_err());
    assert_eq!(std::fs::read(&secret).unwrap(), b"secret");
}

#[tokio::test]
async fn symlinks_that_stay_inside_the_root_are_followed() {
    let (_dir, store) = store();
    put(&store, "real/a", b"A").await;
    symlink(store.root().join("real"), store.root().join("alias")).unwrap();
    assert_eq!(&store.get_bytes(&key("alias/a")).await.unwrap()[..], b"A");
    put(&store, "alias/b", b"B").await;
    assert_eq!(&store.get_bytes(&key("real/b")).await.unwrap()[..], b"B");
    // Listing does not follow the link, so each object is listed once.
    let keys: Vec<String> = store
        .list_all("")
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.key.to_string())
        .collect();
    assert_eq!(keys, ["real/a", "real/b"]);
}

#[tokio::test]
async fn a_root_behind_a_symlink_works() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("real")).unwrap();
    symlink(dir.path().join("real"), dir.path().join("link")).unwrap();
    let store = LocalStore::new(dir.path().join("link")).unwrap();
    assert_eq!(
        store.root(),
        dir.path().join("real").canonicalize().unwrap()
    );
    put(&store, "a/b", b"x").await;
    assert!(dir.path().join("real/a/b").is_file());
}

#[tokio::test]
async fn files_and_directories_cannot_share_a_key() {
    let (_dir, store) = store();
    put(&store, "a", b"file").await;
    let err = store
        .put_bytes(&key("a/b"), Bytes::from_static(b"x"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
    assert!(err.to_string().contains("cannot hold both"), "{err}");
    assert!(matches!(
        store.head(&key("a/b")).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        store.get_bytes(&key("a/b/c")).await,
        Err(Error::NotFound { .. })
    ));
    store.delete(&key("a/b")).await.unwrap();

    put(&store, "d/x", b"x").await;
    assert!(is_invalid(
        store.put_bytes(&key("d"), Bytes::from_static(b"x")).await
    ));
    assert!(matches!(
        store.head(&key("d")).await,
        Err(Error::NotFound { .. })
    ));
    store.delete(&key("d")).await.unwrap();
    assert!(
        store.root().join("d/x").is_file(),
        "delete of a dir key is a no-op"
    );
}

#[test]
fn new_creates_the_root_and_refuses_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("a/b/c");
    let store = LocalStore::new(&nested).unwrap();
    assert!(nested.is_dir());
    assert_eq!(
        store.to_string(),
        format!("file://{}", nested.canonicalize().unwrap().display())
    );
    assert!(format!("{store:?}").contains("LocalStore"));
    std::fs::write(dir.path().join("file"), b"x").unwrap();
    assert!(LocalStore::new(dir.path().join("file")).is_err());
}
