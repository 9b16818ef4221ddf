//! Listing cases: prefixes, pages, start-after and delimiters.

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt, stream};
use haul_core::{Key, ListEntry, ListOptions, ObjectStore, ObjectStoreExt};

use super::{Outcome, Skip, cleanup, key, unique_prefix, write};

/// How many keys the pagination case writes: more than one 1000-key page.
const MANY: usize = 1_100;

/// Lists `prefix` with `opts`, as `obj:<key>` / `dir:<prefix>` names.
async fn names(store: &dyn ObjectStore, prefix: &str, opts: ListOptions) -> Vec<String> {
    let what = format!("list {prefix:?} with {opts:?}");
    let entries: Vec<ListEntry> = store
        .list(prefix, opts)
        .try_collect()
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    entries
        .into_iter()
        .map(|e| match e {
            ListEntry::Object(m) => format!("obj:{}", m.key),
            ListEntry::Prefix(p) => format!("dir:{p}"),
            ListEntry::Unusable(u) => format!("unusable:{}", u.name),
        })
        .collect()
}

fn objs<'a>(keys: impl IntoIterator<Item = &'a Key>) -> Vec<String> {
    keys.into_iter().map(|k| format!("obj:{k}")).collect()
}

/// 1100 keys written concurrently under one prefix list completely, in
/// ascending order, across pages, with page-size hints and `start_after`,
/// and without the neighbours that only share part of the prefix.
pub async fn list_prefix_pagination(store: &dyn ObjectStore) -> Outcome {
    if !store.capabilities().list {
        return Err(Skip("the store cannot list (capability list)"));
    }
    let p = unique_prefix("list_prefix_pagination");
    let dir = format!("{p}k/");
    let keys: Vec<Key> = (0..MANY).map(|i| key(format!("{dir}{i:05}"))).collect();
    stream::iter(keys.clone())
        .map(|k| async move {
            let body = Bytes::from(k.as_str().to_owned());
            store.put_bytes(&k, body).await.map(|_| ())
        })
        .buffer_unordered(32)
        .try_collect::<Vec<()>>()
        .await
        .unwrap_or_else(|e| panic!("writing {MANY} keys: {e}"));
    // Neighbours share the text before `k/` but are not under it. (None is
    // `<p>k` itself: a file system cannot hold that beside `<p>k/…`.)
    for neighbour in ["k0", "kk", "j/00001", "l"] {
        write(
            store,
            &key(format!("{p}{neighbour}")),
            Bytes::from_static(b"n"),
        )
        .await;
    }

    let all = store
        .list_all(&dir)
        .await
        .unwrap_or_else(|e| panic!("list {dir:?}: {e}"));
    assert_eq!(all.len(), MANY, "every key under the prefix, nothing else");
    for (m, k) in all.iter().zip(&keys) {
        assert_eq!(&m.key, k, "keys in ascending order");
        assert_eq!(m.size, k.as_str().len() as u64, "listed size of {k:?}");
    }
    let want = objs(&keys);
    for page in [1_000, 250, 7] {
        let opts = ListOptions {
            page_size: Some(page),
            ..ListOptions::default()
        };
        assert_eq!(names(store, &dir, opts).await, want, "page size {page}");
    }
    let opts = ListOptions {
        start_after: Some(keys[549].to_string()),
        ..ListOptions::default()
    };
    assert_eq!(
        names(store, &dir, opts).await,
        want[550..],
        "start_after the 550th key"
    );
    let opts = ListOptions {
        start_after: Some(format!("{p}a")),
        ..ListOptions::default()
    };
    assert_eq!(
        names(store, &dir, opts).await,
        want,
        "start_after before the prefix"
    );
    let opts = ListOptions {
        start_after: Some(keys[MANY - 1].to_string()),
        ..ListOptions::default()
    };
    assert!(
        names(store, &dir, opts).await.is_empty(),
        "start_after the last key"
    );
    let everything = store.list_all(&p).await.expect("list the case prefix");
    assert_eq!(everything.len(), MANY + 4, "the keys and their neighbours");
    let missing = format!("{p}nothing-here/");
    assert!(
        store
            .list_all(&missing)
            .await
            .expect("list an empty prefix")
            .is_empty(),
        "an empty prefix lists nothing"
    );
    cleanup(store, &p).await;
    Ok(())
}

/// With a delimiter, keys below the next separator fold into one prefix
/// entry ending in it, ordered among the objects, on every page size.
pub async fn list_delimiter(store: &dyn ObjectStore) -> Outcome {
    if !store.capabilities().list {
        return Err(Skip("the store cannot list (capability list)"));
    }
    let p = unique_prefix("list_delimiter");
    let rel = ["a.txt", "b/1", "b/2", "b/c/3", "c/d/e", "z"];
    for r in rel {
        write(store, &key(format!("{p}{r}")), Bytes::from_static(b"d")).await;
    }
    let slash = |page: Option<usize>| ListOptions {
        delimiter: Some("/".into()),
        page_size: page,
        ..ListOptions::default()
    };
    let top = vec![
        format!("obj:{p}a.txt"),
        format!("dir:{p}b/"),
        format!("dir:{p}c/"),
        format!("obj:{p}z"),
    ];
    for page in [None, Some(1), Some(2)] {
        assert_eq!(
            names(store, &p, slash(page)).await,
            top,
            "top level, page {page:?}"
        );
    }
    let b = vec![
        format!("obj:{p}b/1"),
        format!("obj:{p}b/2"),
        format!("dir:{p}b/c/"),
    ];
    assert_eq!(
        names(store, &format!("{p}b/"), slash(None)).await,
        b,
        "inside b/"
    );
    assert_eq!(
        names(store, &format!("{p}b"), slash(None)).await,
        [format!("dir:{p}b/")],
        "a prefix that is not a whole segment"
    );
    let opts = ListOptions {
        start_after: Some(format!("{p}a.txt")),
        ..slash(None)
    };
    assert_eq!(
        names(store, &p, opts).await,
        top[1..],
        "start_after with a delimiter"
    );
    let flat: Vec<String> = rel.iter().map(|r| format!("obj:{p}{r}")).collect();
    assert_eq!(
        names(store, &p, ListOptions::default()).await,
        flat,
        "without a delimiter everything is listed"
    );
    cleanup(store, &p).await;
    Ok(())
}
