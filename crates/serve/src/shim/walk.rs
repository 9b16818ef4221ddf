//! A bucket's objects, listed from its directory (instead of s3s-fs's
//! listing): stored paths mapped back to clients' keys (`keys.rs`),
//! sorted by key, then filtered by prefix, start, delimiter and page size
//! as S3 does.

use std::path::Path;
use std::time::SystemTime;

use crate::confine::check_fs;

use super::keys::client_key;

/// One object on disk.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    /// The client's key.
    pub(super) key: String,
    /// The key it is stored under.
    pub(super) stored: String,
    pub(super) size: u64,
    pub(super) modified: SystemTime,
}

/// Every object under `bucket_dir` whose key starts with `prefix`, sorted
/// by key. Links are listed when they resolve to a file inside the bucket.
/// Runs on a blocking thread.
pub(super) fn walk(root: &Path, bucket_dir: &Path, prefix: &str) -> std::io::Result<Vec<Entry>> {
    let mut out = Vec::new();
    let mut todo = vec![(bucket_dir.to_path_buf(), String::new())];
    while let Some((dir, rel)) = todo.pop() {
        for e in std::fs::read_dir(&dir)?.flatten() {
            let Some(name) = e.file_name().to_str().map(str::to_owned) else {
                continue; // not UTF-8: no S3 key names it
            };
            let stored = format!("{rel}{name}");
            let Ok(kind) = e.file_type() else { continue };
            let path = e.path();
            if kind.is_dir() {
                // Only directories that may hold keys under the prefix.
                let sub = format!("{stored}/");
                if sub.starts_with(prefix) || prefix.starts_with(&sub) {
                    todo.push((path, sub));
                }
                continue;
            }
            if kind.is_symlink() && check_fs(root, bucket_dir, &path, &stored).is_err() {
                continue;
            }
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            if !meta.is_file() {
                continue;
            }
            let key = client_key(&stored);
            if key.starts_with(prefix) {
                out.push(Entry {
                    key,
                    stored,
                    size: meta.len(),
                    modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                });
            }
        }
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}

/// One page of a listing.
#[derive(Debug, Default)]
pub(super) struct Page {
    pub(super) objects: Vec<Entry>,
    pub(super) prefixes: Vec<String>,
    pub(super) truncated: bool,
    /// The last key or common prefix of the page (where the next starts).
    pub(super) last: Option<String>,
}

/// The page of `entries` (sorted, all under `prefix`) after `start`, at
/// most `max` keys and common prefixes, grouped by `delimiter`.
pub(super) fn page(
    entries: Vec<Entry>,
    prefix: &str,
    delimiter: Option<&str>,
    start: Option<&str>,
    max: usize,
) -> Page {
    let mut page = Page::default();
    let mut count = 0;
    for e in entries {
        let rest = &e.key[prefix.len()..];
        let group = delimiter.filter(|d| !d.is_empty()).and_then(|d| {
            rest.find(d)
                .map(|i| format!("{prefix}{}", &rest[..i + d.len()]))
        });
        let name = group.as_deref().unwrap_or(&e.key);
        let seen = group.is_some() && page.prefixes.last() == group.as_ref();
        if seen || start.is_some_and(|s| name <= s) {
            continue;
        }
        if count == max {
            page.truncated = max > 0;
            break;
        }
        count += 1;
        page.last = Some(name.to_owned());
        match group {
            Some(g) => page.prefixes.push(g),
            None => page.objects.push(e),
        }
    }
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(keys: &[&str]) -> Vec<Entry> {
        keys.iter()
            .map(|k| Entry {
                key: (*k).to_owned(),
                stored: (*k).to_owned(),
                size: 0,
                modified: SystemTime::UNIX_EPOCH,
            })
            .collect()
    }

    #[test]
    fn pages_like_s3() {
        let all = entries(&["a", "b/1", "b/2", "c", "d/x/1"]);
        let p = page(all.clone(), "", Some("/"), None, 1000);
        let keys: Vec<_> = p.objects.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["a", "c"]);
        assert_eq!(p.prefixes, ["b/", "d/"]);
        assert!(!p.truncated);
        let p = page(all.clone(), "", Some("/"), None, 2);
        assert_eq!((p.truncated, p.last.as_deref()), (true, Some("b/")));
        let p = page(all.clone(), "", Some("/"), Some("b/"), 2);
        assert_eq!(p.objects.first().map(|e| e.key.as_str()), Some("c"));
        assert_eq!(p.prefixes, ["d/"]);
        let p = page(all, "", None, Some("b/1"), 0);
        assert!(p.objects.is_empty() && !p.truncated);
    }
}
