//! Listing order, prefixes, delimiters, `start_after` and pagination,
//! checked against a reference built from sorted key strings.

use bytes::Bytes;
use futures::TryStreamExt;
use haul_core::{Error, ListEntry, ListOptions, ObjectStore, ObjectStoreExt};
use haul_local::LocalStore;

use crate::{key, store};

/// What a listing must return, from the sorted set of keys (as S3 does it).
fn reference(
    keys: &[String],
    prefix: &str,
    delimiter: Option<&str>,
    after: Option<&str>,
) -> Vec<String> {
    let mut sorted = keys.to_vec();
    sorted.sort();
    let mut out: Vec<String> = Vec::new();
    for k in sorted {
        if !k.starts_with(prefix) || after.is_some_and(|a| k.as_str() <= a) {
            continue;
        }
        let rest = &k[prefix.len()..];
        match delimiter.and_then(|d| rest.find(d).map(|i| (i, d))) {
            Some((i, d)) => {
                let p = format!("P:{prefix}{}", &rest[..i + d.len()]);
                if out.last() != Some(&p) {
                    out.push(p);
                }
            }
            None => out.push(format!("O:{k}")),
        }
    }
    out
}

async fn listed(
    store: &LocalStore,
    prefix: &str,
    delimiter: Option<&str>,
    after: Option<&str>,
    page: Option<usize>,
) -> Vec<String> {
    let opts = ListOptions {
        delimiter: delimiter.map(str::to_owned),
        start_after: after.map(str::to_owned),
        page_size: page,
    };
    store
        .list(prefix, opts)
        .map_ok(|e| match e {
            ListEntry::Object(m) => format!("O:{}", m.key),
            ListEntry::Prefix(p) => format!("P:{p}"),
            ListEntry::Unusable(u) => format!("U:{}", u.name),
        })
        .try_collect()
        .await
        .unwrap()
}

async fn fill(store: &LocalStore, keys: &[String]) {
    for k in keys {
        store
            .put_bytes(&key(k), Bytes::from(k.clone()))
            .await
            .unwrap_or_else(|e| panic!("put {k:?}: {e}"));
    }
}

const TRICKY: &[&str] = &[
    "a b", "a-b", "a+b", "a.b", "a/b", "a/c d", "a/c/e", "a/c-e", "a/c.f/g", "a0", "ab", "z", "~",
    "!x", " lead", "日本/x", "日本-y", "ü", "über/a", "a/c,f",
];

#[tokio::test]
async fn keys_come_in_byte_order_despite_directories() {
    let (_dir, store) = store();
    let keys: Vec<String> = TRICKY.iter().map(|s| (*s).to_owned()).collect();
    fill(&store, &keys).await;
    let got: Vec<String> = store
        .list_all("")
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.key.to_string())
        .collect();
    let mut want = keys.clone();
    want.sort();
    assert_eq!(got, want);
    // The cases that per-directory name order gets wrong.
    let pos = |k: &str| got.iter().position(|g| g == k).unwrap();
    assert!(pos("a-b") < pos("a/b"));
    assert!(pos("a/c-e") < pos("a/c/e"));
    assert!(pos("a/c,f") < pos("a/c.f/g"));
    assert!(pos("日本-y") < pos("日本/x"));
    let m = store.head(&key("a/c d")).await.unwrap();
    let listed = store.list_all("a/c d").await.unwrap();
    assert_eq!(listed, vec![m], "listed metadata equals head");
}

#[tokio::test]
async fn prefixes_delimiters_start_after_and_pages_match_the_reference() {
    let (_dir, store) = store();
    let keys: Vec<String> = TRICKY.iter().map(|s| (*s).to_owned()).collect();
    fill(&store, &keys).await;
    let prefixes = [
        "", "a", "a/", "a/c", "a/c/", "日", "日本/", "zz", "a/c.f/g", "b/",
    ];
    let afters = [
        None,
        Some(""),
        Some("a"),
        Some("a/"),
        Some("a/c"),
        Some("a/c/e"),
        Some("a-b"),
        Some("a/c.f"),
        Some("~~"),
    ];
    for prefix in prefixes {
        for delimiter in [None, Some("/"), Some("-"), Some("c")] {
            for after in afters {
                let want = reference(&keys, prefix, delimiter, after);
                for page in [None, Some(1), Some(3)] {
                    let got = listed(&store, prefix, delimiter, after, page).await;
                    assert_eq!(
                        got, want,
                        "prefix {prefix:?} delimiter {delimiter:?} after {after:?} page {page:?}"
                    );
                }
            }
        }
    }
}

/// A deterministic xorshift generator.
struct Rng(u64);
impl Rng {
    fn next(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

#[tokio::test]
async fn random_trees_list_like_the_reference() {
    const ALPHABET: &[&str] = &["a", "b", " ", "-", ".", "0", "é", "~", "+"];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for round in 0..4 {
        let (_dir, store) = store();
        let mut keys: Vec<String> = Vec::new();
        while keys.len() < 60 {
            let segments = 1 + rng.next(3);
            let k: Vec<String> = (0..segments)
                .map(|_| {
                    (0..=rng.next(3))
                        .map(|_| ALPHABET[rng.next(ALPHABET.len())])
                        .collect()
                })
                .collect();
            let k = k.join("/");
            // A file system cannot hold both `x` and `x/...`; skip such keys.
            let clash = keys.iter().any(|o| {
                o == &k || o.starts_with(&format!("{k}/")) || k.starts_with(&format!("{o}/"))
            });
            if !clash && k.split('/').all(|s| s != "." && s != "..") {
                keys.push(k);
            }
        }
        fill(&store, &keys).await;
        let mut probes: Vec<String> = vec![String::new()];
        for _ in 0..12 {
            let k = &keys[rng.next(keys.len())];
            let cut = k
                .char_indices()
                .map(|(i, _)| i)
                .nth(rng.next(k.chars().count()))
                .unwrap_or(0);
            probes.push(k[..cut].to_owned());
        }
        for prefix in &probes {
            for delimiter in [None, Some("/")] {
                for after in [None, Some(probes[rng.next(probes.len())].as_str())] {
                    let want = reference(&keys, prefix, delimiter, after);
                    let got = listed(&store, prefix, delimiter, after, Some(7)).await;
                    assert_eq!(
                        got, want,
                        "round {round} prefix {prefix:?} delimiter {delimiter:?} after {after:?}"
                    );
                }
            }
        }
    }
}

#[tokio::test]
async fn empty_directories_and_haul_files_are_not_common_prefixes() {
    let (_dir, store) = store();
    fill(&store, &["x/1".to_owned()]).await;
    std::fs::create_dir_all(store.root().join("empty/deeper")).unwrap();
    std::fs::create_dir_all(store.root().join("tmponly")).unwrap();
    std::fs::write(store.root().join("tmponly/.haul-tmp-1"), b"t").unwrap();
    std::fs::write(store.root().join("tmponly/y.haul-partial"), b"t").unwrap();
    std::fs::write(store.root().join("back\\slash"), b"t").unwrap();
    let got = listed(&store, "", Some("/"), None, None).await;
    // A name that cannot be a key is listed as unusable, never left out.
    assert_eq!(got, ["U:back\\slash", "P:x/"]);
    assert_eq!(
        listed(&store, "", None, None, None).await,
        ["U:back\\slash", "O:x/1"]
    );
}

#[tokio::test]
async fn non_utf8_names_are_listed_as_unusable() {
    use std::os::unix::ffi::OsStrExt;
    let (_dir, store) = store();
    fill(&store, &["ok".to_owned()]).await;
    let name = std::ffi::OsStr::from_bytes(b"bad\xff");
    std::fs::write(store.root().join(name), b"t").unwrap();
    assert_eq!(
        listed(&store, "", None, None, None).await,
        ["U:bad\\xFF", "O:ok"]
    );
    let mut s = store.list("", ListOptions::default());
    match futures::StreamExt::next(&mut s).await {
        Some(Ok(ListEntry::Unusable(u))) => {
            assert!(u.fails, "{u:?}");
            assert!(u.reason.contains("not UTF-8"), "{u:?}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_missing_root_is_not_found_on_the_first_item() {
    let (_dir, store) = store();
    std::fs::remove_dir(store.root()).unwrap();
    let mut s = store.list("", ListOptions::default());
    let first = futures::StreamExt::next(&mut s).await.unwrap();
    assert!(matches!(first, Err(Error::NotFound { .. })), "{first:?}");
    assert!(futures::StreamExt::next(&mut s).await.is_none());
}

#[tokio::test]
async fn a_large_directory_pages_through() {
    let (_dir, store) = store();
    let keys: Vec<String> = (0..2500).map(|i| format!("many/{i}")).collect();
    for k in &keys {
        std::fs::create_dir_all(store.root().join("many")).unwrap();
        std::fs::write(store.root().join(k), b"").unwrap();
    }
    let got = listed(&store, "many/", None, None, None).await;
    assert_eq!(got, reference(&keys, "many/", None, None));
    let after = listed(&store, "many/", None, Some("many/5"), Some(100)).await;
    assert_eq!(after, reference(&keys, "many/", None, Some("many/5")));
}

/// `(name, fails)` of every unusable entry, and the object keys, of a listing.
async fn unusable_and_objects(store: &LocalStore) -> (Vec<(String, bool)>, Vec<String>) {
    let all: Vec<ListEntry> = store
        .list("", ListOptions::default())
        .try_collect()
        .await
        .unwrap();
    let mut bad = Vec::new();
    let mut ok = Vec::new();
    for e in all {
        match e {
            ListEntry::Unusable(u) => bad.push((u.name, u.fails)),
            ListEntry::Object(m) => ok.push(m.key.to_string()),
            ListEntry::Prefix(p) => panic!("no delimiter, yet a prefix {p}"),
        }
    }
    (bad, ok)
}

/// A tree with a link to a file inside, a link to a file outside, a link
/// loop, a dangling link and a fifo.
fn linked_tree(root: &std::path::Path, outside: &std::path::Path) {
    use std::os::unix::fs::symlink;
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::write(root.join("sub/t.txt"), b"t").unwrap();
    std::fs::write(outside.join("o.txt"), b"outside").unwrap();
    symlink("sub/t.txt", root.join("link.txt")).unwrap();
    symlink(outside.join("o.txt"), root.join("out.txt")).unwrap();
    symlink("..", root.join("sub/loop")).unwrap();
    symlink("nowhere", root.join("dangling")).unwrap();
    let fifo = root.join("fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
}

#[tokio::test]
async fn links_are_followed_when_asked_and_every_other_entry_is_reported() {
    let (_dir, store) = store();
    let outside = tempfile::tempdir().unwrap();
    linked_tree(store.root(), outside.path());
    let following = store.clone().following_symlinks();
    let (bad, ok) = unusable_and_objects(&following).await;
    assert_eq!(ok, ["link.txt", "out.txt", "sub/t.txt"]);
    assert_eq!(
        bad,
        [
            ("dangling".to_owned(), false),
            ("fifo".to_owned(), false),
            ("sub/loop".to_owned(), false)
        ]
    );
    // Read through the links, wherever they lead.
    let got = following.get_bytes(&crate::key("out.txt")).await.unwrap();
    assert_eq!(&got[..], b"outside");
    assert_eq!(
        &following.get_bytes(&crate::key("link.txt")).await.unwrap()[..],
        b"t"
    );

    // Not following: every link is a skipped entry, the fifo too.
    let (bad, ok) = unusable_and_objects(&store).await;
    assert_eq!(ok, ["sub/t.txt"]);
    let names: Vec<&str> = bad.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["dangling", "fifo", "link.txt", "out.txt", "sub/loop"]
    );
    assert!(bad.iter().all(|(_, fails)| !fails));
    // And a link leading out of the root is not read.
    assert!(store.get_bytes(&crate::key("out.txt")).await.is_err());
}
