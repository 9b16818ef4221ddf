//! Tests of `LocalStore` beyond the shared conformance suite: path safety,
//! symlinks, ranges, listing order, multipart staging and crash leftovers.

mod list;
mod mtime;
mod multipart;
mod objects;
mod paths;
mod placed;

use std::path::Path;

use bytes::Bytes;
use haul_core::{Error, Key, ObjectStoreExt};
use haul_local::LocalStore;
use tempfile::TempDir;

/// A store rooted at `<tmp>/root`, with `<tmp>/outside` beside it.
pub(crate) fn store() -> (TempDir, LocalStore) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("outside")).unwrap();
    let store = LocalStore::new(dir.path().join("root")).unwrap();
    (dir, store)
}

pub(crate) fn key(s: &str) -> Key {
    Key::new(s).unwrap()
}

pub(crate) async fn put(store: &LocalStore, k: &str, body: &'static [u8]) {
    store
        .put_bytes(&key(k), Bytes::from_static(body))
        .await
        .unwrap_or_else(|e| panic!("put {k:?}: {e}"));
}

/// Every file and directory under `dir`, relative, sorted (none when `dir`
/// does not exist: the uploads directory goes with its last upload).
pub(crate) fn tree(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            out.push(p.strip_prefix(base).unwrap().to_string_lossy().into_owned());
            if e.file_type().unwrap().is_dir() {
                walk(base, &p, out);
            }
        }
    }
    let mut out = Vec::new();
    if !dir.exists() {
        return out;
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[allow(clippy::needless_pass_by_value)] // called on results inline
pub(crate) fn is_invalid<T: std::fmt::Debug>(r: Result<T, Error>) -> bool {
    matches!(r, Err(Error::InvalidInput { .. }))
}
