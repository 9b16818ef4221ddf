//! Key → path mapping and the checks that keep every path inside the root.
//!
//! A key is split on `/` and each segment becomes one path component. Keys
//! that could name anything outside the root, or alias another key, are
//! refused with [`Error::InvalidInput`] before the file system is touched;
//! nothing is decoded (`%2e%2e` is a literal file name). Symlinks met on the
//! way are followed only while they resolve inside the root.

use std::fs::{self, File, Metadata};
use std::io;
use std::path::{Path, PathBuf};

use haul_core::{Error, Key, Result};

use crate::temp::sync_dir;

/// Names starting with this are haul's own (temp files, the upload area).
pub(crate) const RESERVED_PREFIX: &str = ".haul-";
/// Suffix of partially written files; never a key.
pub(crate) const PARTIAL_SUFFIX: &str = ".haul-partial";
/// Prefix of temp files, written next to their target then renamed.
pub(crate) const TMP_PREFIX: &str = ".haul-tmp-";
/// The directory under the root holding multipart staging areas.
pub(crate) const UPLOADS_DIR: &str = ".haul-uploads";
/// Longest file name most Unix file systems accept (`NAME_MAX`).
const NAME_MAX: usize = 255;

/// Whether `name` is reserved for haul's bookkeeping and so never a key segment.
pub(crate) fn is_reserved_name(name: &str) -> bool {
    name.starts_with(RESERVED_PREFIX) || name.ends_with(PARTIAL_SUFFIX)
}

/// Why `segment` cannot be a path component, if it cannot.
pub(crate) fn segment_problem(segment: &str) -> Option<&'static str> {
    if segment.is_empty() {
        Some("has an empty path segment (a leading, trailing or doubled '/')")
    } else if segment == "." {
        Some("has a '.' segment, which would alias its parent directory")
    } else if segment == ".." {
        Some("has a '..' segment, which could escape the store root")
    } else if segment.contains('\\') {
        Some("contains a backslash, refused as a path separator on every platform")
    } else if segment.contains('\0') {
        Some("contains a NUL byte")
    } else if is_reserved_name(segment) {
        Some("uses a name reserved for haul's temporary files ('.haul-*' or '*.haul-partial')")
    } else if segment.len() > NAME_MAX {
        Some("has a path segment longer than 255 bytes")
    } else {
        None
    }
}

/// Validates `key` as a local path and returns it relative to the root.
pub(crate) fn key_to_rel(key: &str) -> Result<PathBuf> {
    let problem = if key.is_empty() {
        Some("is empty")
    } else if key.starts_with('/') {
        Some("is absolute (starts with '/'), which could escape the store root")
    } else {
        key.split('/').find_map(segment_problem)
    };
    if let Some(problem) = problem {
        return Err(Error::invalid(
            key,
            format!("key {key:?} {problem}; refused by the local store"),
        ));
    }
    Ok(key.split('/').collect())
}

/// Maps an I/O error on `key` to haul's error, treating "not a directory"
/// (a path through a file) as not found.
pub(crate) fn io_err(key: &str, err: io::Error) -> Error {
    if err.kind() == io::ErrorKind::NotADirectory {
        Error::NotFound {
            key: key.to_owned(),
            source: Box::new(err),
        }
    } else {
        Error::io(key, err)
    }
}

fn escapes(key: &str) -> Error {
    Error::invalid(
        key,
        format!("key {key:?} resolves outside the store root through a symlink; refused"),
    )
}

/// A store root: an absolute, canonical directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Root {
    path: PathBuf,
    /// Follow symbolic links when listing and reading, wherever they lead.
    follow: bool,
}

impl Root {
    /// Creates `path` if missing and canonicalises it.
    pub(crate) fn open(path: &Path) -> io::Result<Self> {
        fs::create_dir_all(path)?;
        let path = fs::canonicalize(path)?;
        if fs::metadata(&path)?.is_dir() {
            Ok(Self {
                path,
                follow: false,
            })
        } else {
            Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                format!("{} is not a directory", path.display()),
            ))
        }
    }

    /// The same root, following symbolic links when listing and reading.
    pub(crate) fn following_links(self) -> Self {
        Self {
            follow: true,
            ..self
        }
    }

    /// Whether links are followed wherever they lead (see
    /// [`following_links`](Self::following_links)).
    pub(crate) fn follows_links(&self) -> bool {
        self.follow
    }

    /// The canonical root directory.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The directory holding multipart staging areas.
    pub(crate) fn uploads_dir(&self) -> PathBuf {
        self.path.join(UPLOADS_DIR)
    }

    /// The path of `key` (validated), not yet checked against symlinks.
    pub(crate) fn object_path(&self, key: &Key) -> Result<PathBuf> {
        Ok(self.path.join(key_to_rel(key.as_str())?))
    }

    /// The canonical path to read `key` at: inside the root, or anywhere a
    /// link leads when the root follows links. Missing paths are `NotFound`.
    fn readable(&self, key: &str, path: &Path) -> Result<PathBuf> {
        if self.follow {
            fs::canonicalize(path).map_err(|e| io_err(key, e))
        } else {
            self.check_inside(key, path)
        }
    }

    /// Fails unless `path` resolves inside the root. Missing paths are `NotFound`.
    pub(crate) fn check_inside(&self, key: &str, path: &Path) -> Result<PathBuf> {
        let canonical = fs::canonicalize(path).map_err(|e| io_err(key, e))?;
        if canonical.starts_with(&self.path) {
            Ok(canonical)
        } else {
            Err(escapes(key))
        }
    }

    /// The metadata of the object at `key`, without opening it.
    ///
    /// A missing key, or one that names a directory, is `NotFound`; a key
    /// that resolves outside the root through a symlink is `InvalidInput`.
    pub(crate) fn stat_object(&self, key: &Key) -> Result<Metadata> {
        let k = key.as_str();
        let path = self.readable(k, &self.object_path(key)?)?;
        let meta = fs::metadata(&path).map_err(|e| io_err(k, e))?;
        only_files(k, meta)
    }

    /// Opens the object at `key` for reading, with its metadata; fails as
    /// [`stat_object`](Self::stat_object) does.
    pub(crate) fn open_object(&self, key: &Key) -> Result<(File, Metadata)> {
        let k = key.as_str();
        let path = self.readable(k, &self.object_path(key)?)?;
        let file = File::open(&path).map_err(|e| io_err(k, e))?;
        let meta = file.metadata().map_err(|e| io_err(k, e))?;
        Ok((file, only_files(k, meta)?))
    }

    /// Creates the directories above `key`, one component at a time, and
    /// returns the object's path and its parent directory.
    ///
    /// Symlinked directories are followed only when they resolve inside the
    /// root. A component that is a file (an object `a` when writing `a/b`),
    /// or a directory where the object itself should go, is `InvalidInput`:
    /// a file system cannot hold both.
    pub(crate) fn prepare_parent(&self, key: &Key) -> Result<(PathBuf, PathBuf)> {
        let k = key.as_str();
        let rel = key_to_rel(k)?;
        let mut dir = self.path.clone();
        let mut components = rel.components().peekable();
        let mut target = None;
        while let Some(c) = components.next() {
            let next = dir.join(c);
            if components.peek().is_none() {
                target = Some(next);
                break;
            }
            match fs::symlink_metadata(&next) {
                Ok(m) if m.is_dir() => {}
                Ok(m) if m.file_type().is_symlink() => {
                    let resolved = self.check_inside(k, &next)?;
                    if !fs::metadata(&resolved).map_err(|e| io_err(k, e))?.is_dir() {
                        return Err(conflict(k, &next, &self.path));
                    }
                }
                Ok(_) => return Err(conflict(k, &next, &self.path)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => match fs::create_dir(&next) {
                    // Make the new directory's name durable, as the file's will be.
                    Ok(()) => sync_dir(&dir).map_err(|e| io_err(k, e))?,
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists && next.is_dir() => {}
                    Err(e) => return Err(io_err(k, e)),
                },
                Err(e) => return Err(io_err(k, e)),
            }
            dir = next;
        }
        let target = target.unwrap_or_else(|| dir.clone());
        if fs::symlink_metadata(&target).is_ok_and(|m| m.is_dir()) {
            return Err(Error::invalid(
                k,
                format!("key {k:?} is a directory holding other objects; a file cannot replace it"),
            ));
        }
        Ok((target, dir))
    }
}

fn only_files(key: &str, meta: Metadata) -> Result<Metadata> {
    if meta.is_file() {
        Ok(meta)
    } else {
        Err(Error::not_found(
            key,
            "the path is a directory of other objects, not an object",
        ))
    }
}

fn conflict(key: &str, path: &Path, root: &Path) -> Error {
    let at = path.strip_prefix(root).unwrap_or(path);
    Error::invalid(
        key,
        format!(
            "key {key:?} needs {} to be a directory, but it is an object (or a symlink \
             to a file); a local file system cannot hold both",
            at.display()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(key: &str) -> String {
        match key_to_rel(key) {
            Err(Error::InvalidInput { key: k, message }) => {
                assert_eq!(k, key, "the error names the key");
                assert!(message.contains(&format!("{key:?}")), "{message}");
                message
            }
            other => panic!("{key:?} was not refused: {other:?}"),
        }
    }

    #[test]
    fn refuses_escapes() {
        for key in [
            "..",
            "../x",
            "a/../../x",
            "a/..",
            "/etc/passwd",
            "/x",
            "..\\x",
            "a\\b",
            ".",
            "./x",
            "a/./b",
            "a//b",
            "a/",
            "",
            "a\0b",
        ] {
            refused(key);
        }
        assert!(refused("../x").contains("'..'"));
        assert!(refused("/etc/passwd").contains("absolute"));
        assert!(refused("..\\x").contains("backslash"));
    }

    #[test]
    fn refuses_reserved_names() {
        for key in [
            "x.haul-partial",
            "a/b.haul-partial",
            ".haul-uploads/x",
            ".haul-tmp-123",
            "a/.haul-tmp-abc",
            "a.haul-partial/b",
        ] {
            assert!(refused(key).contains("reserved"), "{key}");
        }
        let long = "x".repeat(256);
        refused(&long);
        assert!(key_to_rel(&"x".repeat(255)).is_ok());
    }

    #[test]
    fn keeps_literal_names() {
        for key in [
            "%2e%2e/x",
            "%2E%2E%2Fetc",
            "..%2fx",
            "...",
            "a..b",
            ".hidden",
            "a b/c+d",
            "日本/ü",
            "x.haul-partial.txt",
            ".haul",
        ] {
            let rel = key_to_rel(key).unwrap();
            assert_eq!(rel, key.split('/').collect::<PathBuf>());
            assert!(rel.is_relative());
            assert!(
                rel.components()
                    .all(|c| matches!(c, std::path::Component::Normal(_))),
                "{key}"
            );
        }
    }
}
