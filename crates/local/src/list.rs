//! `list`: a depth-first walk that yields keys in ascending byte order.
//!
//! Sorting each directory by entry name is not enough: `a-b` sorts before
//! `a/x` as keys (`-` is 0x2D, `/` is 0x2F), but a directory `a` sorts before
//! a file `a-b` by name. So within a directory, a subdirectory `d` sorts as
//! `d/` — exactly the prefix of every key under it — and the walk order is
//! then the global key order. Only the directories on the current path are
//! held in memory, one sorted listing each.
//!
//! Skipped: haul's temp files and staging area (names starting `.haul-` or
//! ending `.haul-partial`), names that are not UTF-8 or could not be keys
//! (backslashes, over-long keys), symlinks (never followed while listing) and
//! anything that is neither a file nor a directory.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::StreamExt;
use haul_core::{Error, Key, ListEntry, ListOptions, ListStream, ObjectMeta, Result};

use crate::path::{Root, io_err, segment_problem};
use crate::read::object_meta;

/// Entries per blocking batch when the caller gives no page size.
const DEFAULT_PAGE: usize = 1000;

#[derive(Debug)]
struct Entry {
    /// The name, with `/` appended for directories: the sort key.
    sort: String,
    is_dir: bool,
}

impl Entry {
    fn name(&self) -> &str {
        if self.is_dir {
            &self.sort[..self.sort.len() - 1]
        } else {
            &self.sort
        }
    }
}

#[derive(Debug)]
struct Frame {
    /// Key prefix of everything in this directory (`""` or ending in `/`).
    prefix: String,
    dir: PathBuf,
    entries: Vec<Entry>,
    next: usize,
}

fn is_missing(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

/// The listable entries of `dir` whose names start with `name_prefix`, in key order.
fn read_dir_sorted(dir: &Path, name_prefix: &str) -> io::Result<Vec<Entry>> {
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if !name.starts_with(name_prefix) || segment_problem(&name).is_some() {
            continue;
        }
        let file_type = match entry.file_type() {
            Ok(t) => t,
            Err(e) if is_missing(&e) => continue,
            Err(e) => return Err(e),
        };
        let entry = if file_type.is_dir() {
            Entry {
                sort: name + "/",
                is_dir: true,
            }
        } else if file_type.is_file() {
            Entry {
                sort: name,
                is_dir: false,
            }
        } else {
            continue;
        };
        entries.push(entry);
    }
    entries.sort_unstable_by(|a, b| a.sort.cmp(&b.sort));
    Ok(entries)
}

/// Walks files in key order, skipping what `start_after` and `skip` exclude.
#[derive(Debug)]
struct Walker {
    frames: Vec<Frame>,
    start_after: Option<String>,
    /// Keys starting with this are skipped (a common prefix already emitted).
    skip: Option<String>,
}

impl Walker {
    /// Whether any key starting with `dir_key` (ending in `/`) can be listed.
    fn subtree_wanted(&self, dir_key: &str) -> bool {
        if self.skip.as_deref().is_some_and(|s| dir_key.starts_with(s)) {
            return false;
        }
        // Every extension of `dir_key` is <= start_after exactly when dir_key
        // is <= start_after without being a prefix of it.
        !self
            .start_after
            .as_deref()
            .is_some_and(|sa| dir_key <= sa && !sa.starts_with(dir_key))
    }

    fn file_wanted(&self, key: &str) -> bool {
        let skipped = self.skip.as_deref().is_some_and(|s| key.starts_with(s));
        let seen = self.start_after.as_deref().is_some_and(|sa| key <= sa);
        !(skipped || seen)
    }

    fn next_object(&mut self) -> Result<Option<ObjectMeta>> {
        loop {
            let Some(frame) = self.frames.last_mut() else {
                return Ok(None);
            };
            let Some(entry) = frame.entries.get(frame.next) else {
                self.frames.pop();
                continue;
            };
            frame.next += 1;
            let is_dir = entry.is_dir;
            let key = format!("{}{}", frame.prefix, entry.sort);
            let path = frame.dir.join(entry.name());
            if is_dir {
                if !self.subtree_wanted(&key) {
                    continue;
                }
                match read_dir_sorted(&path, "") {
                    Ok(entries) => self.frames.push(Frame {
                        prefix: key,
                        dir: path,
                        entries,
                        next: 0,
                    }),
                    Err(e) if is_missing(&e) => {}
                    Err(e) => return Err(io_err(&key, e)),
                }
            } else {
                if !self.file_wanted(&key) {
                    continue;
                }
                let Ok(key) = Key::new(key) else {
                    continue; // longer than any key may be
                };
                match fs::symlink_metadata(&path) {
                    Ok(m) if m.is_file() => return Ok(Some(object_meta(key, &m))),
                    Ok(_) => {}
                    Err(e) if is_missing(&e) => {}
                    Err(e) => return Err(io_err(key.as_str(), e)),
                }
            }
        }
    }
}

/// One listing: a walker plus delimiter grouping, run a page at a time.
#[derive(Debug)]
struct Lister {
    root: Arc<Root>,
    prefix: String,
    delimiter: Option<String>,
    start_after: Option<String>,
    page: usize,
    walker: Option<Walker>,
    done: bool,
}

impl Lister {
    fn new(root: Arc<Root>, prefix: &str, opts: ListOptions) -> Self {
        Self {
            root,
            prefix: prefix.to_owned(),
            delimiter: opts.delimiter.filter(|d| !d.is_empty()),
            start_after: opts.start_after,
            page: opts.page_size.unwrap_or(DEFAULT_PAGE).clamp(1, 10_000),
            walker: None,
            done: false,
        }
    }

    /// The walker, positioned at the deepest directory the prefix names.
    fn start(&self) -> Result<Walker> {
        let root = self.root.path();
        if let Err(e) = fs::metadata(root) {
            let name = root.display().to_string();
            return Err(if is_missing(&e) {
                Error::not_found(name, "the store's root directory does not exist")
            } else {
                Error::io(name, e)
            });
        }
        let mut walker = Walker {
            frames: Vec::new(),
            start_after: self.start_after.clone(),
            skip: None,
        };
        let (dir_part, name_prefix) = match self.prefix.rfind('/') {
            Some(i) => self.prefix.split_at(i + 1),
            None => ("", self.prefix.as_str()),
        };
        let mut dir = root.to_owned();
        if let Some(dirs) = dir_part.strip_suffix('/') {
            for segment in dirs.split('/') {
                if segment_problem(segment).is_some() {
                    return Ok(walker); // no key can start with this prefix
                }
                dir.push(segment);
                match fs::symlink_metadata(&dir) {
                    Ok(m) if m.is_dir() => {}
                    Ok(_) => return Ok(walker),
                    Err(e) if is_missing(&e) => return Ok(walker),
                    Err(e) => return Err(io_err(&self.prefix, e)),
                }
            }
        }
        match read_dir_sorted(&dir, name_prefix) {
            Ok(entries) => walker.frames.push(Frame {
                prefix: dir_part.to_owned(),
                dir,
                entries,
                next: 0,
            }),
            Err(e) if is_missing(&e) => {}
            Err(e) => return Err(io_err(&self.prefix, e)),
        }
        Ok(walker)
    }

    /// Up to a page of entries; an empty page means the listing is over.
    fn next_page(&mut self) -> Vec<Result<ListEntry>> {
        let mut out = Vec::new();
        if self.done {
            return out;
        }
        if self.walker.is_none() {
            match self.start() {
                Ok(w) => self.walker = Some(w),
                Err(e) => {
                    self.done = true;
                    out.push(Err(e));
                    return out;
                }
            }
        }
        let Some(walker) = self.walker.as_mut() else {
            return out;
        };
        while out.len() < self.page {
            let meta = match walker.next_object() {
                Ok(Some(meta)) => meta,
                Ok(None) => {
                    self.done = true;
                    break;
                }
                Err(e) => {
                    self.done = true;
                    out.push(Err(e));
                    break;
                }
            };
            if let Some(d) = &self.delimiter {
                let rest = &meta.key.as_str()[self.prefix.len()..];
                if let Some(i) = rest.find(d.as_str()) {
                    let common = format!("{}{}", self.prefix, &rest[..i + d.len()]);
                    walker.skip = Some(common.clone());
                    out.push(Ok(ListEntry::Prefix(common)));
                    continue;
                }
            }
            out.push(Ok(ListEntry::Object(meta)));
        }
        out
    }
}

/// `list`: pages of the walk run on blocking threads, flattened into a stream.
pub(crate) fn list(root: Arc<Root>, prefix: &str, opts: ListOptions) -> ListStream {
    let lister = Lister::new(root, prefix, opts);
    futures::stream::unfold(Some(lister), |state| async move {
        let mut lister = state?;
        let joined = tokio::task::spawn_blocking(move || {
            let page = lister.next_page();
            (lister, page)
        })
        .await;
        let (lister, page) = match joined {
            Ok(done) => done,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => {
                let err = Error::Io {
                    key: String::new(),
                    source: io::Error::other(format!("listing task failed: {e}")),
                };
                return Some((futures::stream::iter(vec![Err(err)]), None));
            }
        };
        if page.is_empty() {
            return None;
        }
        let next = (!lister.done).then_some(lister);
        Some((futures::stream::iter(page), next))
    })
    .flatten()
    .boxed()
}
