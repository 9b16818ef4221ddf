//! `list`: a depth-first walk that yields keys in ascending byte order.
//!
//! Sorting each directory by entry name is not enough: `a-b` sorts before
//! `a/x` as keys (`-` is 0x2D, `/` is 0x2F), but a directory `a` sorts before
//! a file `a-b` by name. So within a directory, a subdirectory `d` sorts as
//! `d/` — exactly the prefix of every key under it — and the walk order is
//! then the global key order. Only the directories on the current path are
//! held in memory, one sorted listing each.
//!
//! Nothing is left out silently. What cannot be an object is listed as
//! [`ListEntry::Unusable`] with its reason: names that are not UTF-8 or
//! could not be keys (a backslash, a segment over 255 bytes, a key over
//! 1024 bytes) fail; fifos, sockets and devices, broken links, link loops
//! and — unless the store follows them — symbolic links are skipped. Only
//! haul's own writes in progress (`.haul-*` and `*.haul-partial`: temp
//! files and the multipart staging area) are not listed, as S3 does not
//! list an upload in progress. A store that follows links (see
//! [`crate::LocalStore::following_symlinks`]) lists a link to a file as that
//! file and walks into a link to a directory, under the link's own name;
//! a directory met again on its own path is a loop, skipped.

use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::StreamExt;
use haul_core::{
    Error, Key, ListEntry, ListOptions, ListStream, ObjectMeta, Result, Unusable, escape_bytes,
};

use crate::path::{Root, io_err, is_reserved_name, segment_problem};
use crate::read::object_meta;

/// Entries per blocking batch when the caller gives no page size.
const DEFAULT_PAGE: usize = 1000;

/// What a directory entry is, as far as listing goes.
#[derive(Debug)]
enum Kind {
    /// A directory (or a followed link to one).
    Dir,
    /// A regular file (or a followed link to one).
    File,
    /// Not an object: `(reason, fails)`.
    Unusable(String, bool),
}

#[derive(Debug)]
struct Entry {
    /// The name, with `/` appended for directories: the sort key. Names
    /// that are not UTF-8 are escaped (they only sort, never become keys).
    sort: String,
    /// The name on disk.
    raw: std::ffi::OsString,
    kind: Kind,
}

#[derive(Debug)]
struct Frame {
    /// Key prefix of everything in this directory (`""` or ending in `/`).
    prefix: String,
    dir: PathBuf,
    /// Device and inode of `dir`, to recognise a link loop.
    id: (u64, u64),
    entries: Vec<Entry>,
    next: usize,
}

fn is_missing(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

fn dir_id(meta: &fs::Metadata) -> (u64, u64) {
    (meta.dev(), meta.ino())
}

/// What a file type that is neither file, directory nor link is called.
fn special_kind(t: fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt as _;
    if t.is_fifo() {
        "a fifo"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_char_device() {
        "a character device"
    } else {
        "not a regular file"
    }
}

/// Sorts one directory entry into what the listing does with it.
fn classify(name: &str, path: &Path, t: fs::FileType, follow: bool) -> io::Result<Option<Kind>> {
    if is_reserved_name(name) {
        // haul's own writes in progress, like an upload S3 does not list.
        return Ok(None);
    }
    if let Some(problem) = segment_problem(name) {
        return Ok(Some(Kind::Unusable(
            format!("the name {problem}, so it cannot be a key"),
            true,
        )));
    }
    let t = if t.is_symlink() {
        if !follow {
            return Ok(Some(Kind::Unusable(
                "a symbolic link, not followed (--no-follow-symlinks)".into(),
                false,
            )));
        }
        match fs::metadata(path) {
            Ok(m) => m.file_type(),
            Err(e) if is_missing(&e) => {
                return Ok(Some(Kind::Unusable(
                    "a broken symbolic link (its target does not exist)".into(),
                    false,
                )));
            }
            Err(e) if e.raw_os_error() == Some(40) => {
                return Ok(Some(Kind::Unusable(
                    "a symbolic link that loops (ELOOP)".into(),
                    false,
                )));
            }
            Err(e) => return Err(e),
        }
    } else {
        t
    };
    Ok(Some(if t.is_dir() {
        Kind::Dir
    } else if t.is_file() {
        Kind::File
    } else {
        Kind::Unusable(format!("{}, not a regular file", special_kind(t)), false)
    }))
}

/// The entries of `dir` whose names start with `name_prefix`, in key order.
fn read_dir_sorted(dir: &Path, name_prefix: &str, follow: bool) -> io::Result<Vec<Entry>> {
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let raw = entry.file_name();
        let (name, kind) = if let Some(name) = raw.to_str() {
            if !name.starts_with(name_prefix) {
                continue;
            }
            let t = match entry.file_type() {
                Ok(t) => t,
                Err(e) if is_missing(&e) => continue,
                Err(e) => return Err(e),
            };
            match classify(name, &entry.path(), t, follow)? {
                Some(kind) => (name.to_owned(), kind),
                None => continue,
            }
        } else {
            let name = escape_bytes(raw.as_bytes());
            if !name.starts_with(name_prefix) {
                continue;
            }
            let kind = Kind::Unusable("the name is not UTF-8, so it cannot be a key".into(), true);
            (name, kind)
        };
        let sort = if matches!(kind, Kind::Dir) {
            name + "/"
        } else {
            name
        };
        entries.push(Entry { sort, raw, kind });
    }
    entries.sort_unstable_by(|a, b| a.sort.cmp(&b.sort));
    Ok(entries)
}

/// One step of the walk.
enum Found {
    Object(ObjectMeta),
    Unusable(Unusable),
}

/// Walks files in key order, skipping what `start_after` and `skip` exclude.
#[derive(Debug)]
struct Walker {
    frames: Vec<Frame>,
    start_after: Option<String>,
    /// Keys starting with this are skipped (a common prefix already emitted).
    skip: Option<String>,
    /// Follow symbolic links.
    follow: bool,
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

    /// Enters directory `path` listed as `key` (ending in `/`), unless it is
    /// one already on the path (a link loop).
    fn enter(&mut self, key: String, path: PathBuf) -> Result<Option<Found>> {
        let meta = match fs::metadata(&path) {
            Ok(m) => m,
            Err(e) if is_missing(&e) => return Ok(None),
            Err(e) => return Err(io_err(&key, e)),
        };
        let id = dir_id(&meta);
        if self.frames.iter().any(|f| f.id == id) {
            let name = key.trim_end_matches('/').to_owned();
            return Ok(Some(Found::Unusable(Unusable::skipped(
                name,
                "a symbolic link to a directory that contains it (a loop)",
            ))));
        }
        match read_dir_sorted(&path, "", self.follow) {
            Ok(entries) => self.frames.push(Frame {
                prefix: key,
                dir: path,
                id,
                entries,
                next: 0,
            }),
            Err(e) if is_missing(&e) => {}
            Err(e) => return Err(io_err(&key, e)),
        }
        Ok(None)
    }

    fn next_found(&mut self) -> Result<Option<Found>> {
        loop {
            let Some(frame) = self.frames.last_mut() else {
                return Ok(None);
            };
            let Some(entry) = frame.entries.get_mut(frame.next) else {
                self.frames.pop();
                continue;
            };
            frame.next += 1;
            let key = format!("{}{}", frame.prefix, entry.sort);
            let path = frame.dir.join(&entry.raw);
            // Each entry is visited once: its kind can be taken.
            match std::mem::replace(&mut entry.kind, Kind::File) {
                Kind::Dir => {
                    if self.subtree_wanted(&key)
                        && let Some(found) = self.enter(key, path)?
                    {
                        return Ok(Some(found));
                    }
                }
                Kind::Unusable(reason, fails) => {
                    if self.file_wanted(&key) {
                        return Ok(Some(Found::Unusable(Unusable {
                            name: key,
                            reason,
                            fails,
                        })));
                    }
                }
                Kind::File => {
                    if !self.file_wanted(&key) {
                        continue;
                    }
                    if let Some(problem) = Key::problem(&key) {
                        return Ok(Some(Found::Unusable(Unusable::failed(
                            key,
                            format!("{problem}, so it cannot be a key"),
                        ))));
                    }
                    let key = Key::new(key)?;
                    let meta = if self.follow {
                        fs::metadata(&path)
                    } else {
                        fs::symlink_metadata(&path)
                    };
                    match meta {
                        Ok(m) if m.is_file() => {
                            return Ok(Some(Found::Object(object_meta(key, &m))));
                        }
                        Ok(_) => {}
                        Err(e) if is_missing(&e) => {}
                        Err(e) => return Err(io_err(key.as_str(), e)),
                    }
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
        let follow = self.root.follows_links();
        let mut walker = Walker {
            frames: Vec::new(),
            start_after: self.start_after.clone(),
            skip: None,
            follow,
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
                let meta = if follow {
                    fs::metadata(&dir)
                } else {
                    fs::symlink_metadata(&dir)
                };
                match meta {
                    Ok(m) if m.is_dir() => {}
                    Ok(_) => return Ok(walker),
                    Err(e) if is_missing(&e) => return Ok(walker),
                    Err(e) => return Err(io_err(&self.prefix, e)),
                }
            }
        }
        let id = match fs::metadata(&dir) {
            Ok(m) => dir_id(&m),
            Err(e) if is_missing(&e) => return Ok(walker),
            Err(e) => return Err(io_err(&self.prefix, e)),
        };
        match read_dir_sorted(&dir, name_prefix, follow) {
            Ok(entries) => walker.frames.push(Frame {
                prefix: dir_part.to_owned(),
                dir,
                id,
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
            let meta = match walker.next_found() {
                Ok(Some(Found::Object(meta))) => meta,
                Ok(Some(Found::Unusable(u))) => {
                    if grouped(
                        self.delimiter.as_deref(),
                        &self.prefix,
                        walker,
                        &u.name,
                        &mut out,
                    ) {
                        continue;
                    }
                    out.push(Ok(ListEntry::Unusable(u)));
                    continue;
                }
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
            if grouped(
                self.delimiter.as_deref(),
                &self.prefix,
                walker,
                meta.key.as_str(),
                &mut out,
            ) {
                continue;
            }
            out.push(Ok(ListEntry::Object(meta)));
        }
        out
    }
}

/// With a delimiter, a name holding it after the prefix is listed as its
/// common prefix (once; the walker then skips the rest of it).
fn grouped(
    delimiter: Option<&str>,
    prefix: &str,
    walker: &mut Walker,
    name: &str,
    out: &mut Vec<Result<ListEntry>>,
) -> bool {
    let Some(d) = delimiter else {
        return false;
    };
    let rest = name.get(prefix.len()..).unwrap_or_default();
    let Some(i) = rest.find(d) else {
        return false;
    };
    let common = format!("{prefix}{}", &rest[..i + d.len()]);
    walker.skip = Some(common.clone());
    out.push(Ok(ListEntry::Prefix(common)));
    true
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
