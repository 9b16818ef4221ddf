//! The one place a bucket name or key becomes a path: every request the
//! shim serves resolves its bucket and keys here before anything (the shim
//! or s3s-fs) opens a file.
//!
//! A key is refused — `InvalidArgument` naming it — when, joined under the
//! bucket's directory, it could name anything but a file inside it: a
//! leading `/` (`Path::join` would discard the root), an empty segment
//! (`a//b`), a `.` or `..` segment, a NUL byte. Keys arrive here already
//! percent-decoded by s3s, so `%2F..%2F` is refused as `/../`.
//!
//! A key that passes is then checked against the file system: the deepest
//! entry of its path that exists is canonicalized (following every
//! symlink on the way, the last component's too) and must lie inside the
//! bucket's directory under the canonical root. A symlink inside the root
//! pointing out of its bucket, or a dangling one, is `AccessDenied`. (A
//! symlink swapped in between this check and the open — by someone with
//! write access to the served directory — is not covered: such a user can
//! read the files anyway.)

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use s3s::{S3Result, s3_error};

/// Longest key S3 takes, in bytes.
const KEY_MAX: usize = 1024;

/// Refuses bucket names that are not a single plain directory name.
pub(super) fn check_bucket(name: &str) -> S3Result<()> {
    if name.is_empty()
        || name == "."
        || name == ".."
        || name.starts_with('.')
        || name.contains(['/', '\\', '\0'])
    {
        return Err(s3_error!(
            InvalidBucketName,
            "The specified bucket is not valid: {name:?}"
        ));
    }
    Ok(())
}

/// Refuses keys that could leave their bucket's directory (see the module
/// docs). A trailing `/` (a "folder" key) is allowed.
pub(super) fn check_key(key: &str) -> S3Result<()> {
    let refuse = |why: &str| {
        Err(s3_error!(
            InvalidArgument,
            "Key {key:?} refused: {why} (this server stores keys as file paths)"
        ))
    };
    if key.is_empty() {
        return refuse("empty key");
    }
    if key.len() > KEY_MAX {
        return Err(s3_error!(
            KeyTooLongError,
            "Your key is too long: {} bytes, at most {KEY_MAX}",
            key.len()
        ));
    }
    if key.contains('\0') {
        return refuse("it contains a NUL byte");
    }
    if key.starts_with('/') {
        return refuse("it starts with '/'");
    }
    let body = key.strip_suffix('/').unwrap_or(key);
    for seg in body.split('/') {
        match seg {
            "" => return refuse("it has an empty path segment ('//')"),
            "." | ".." => return refuse("it has a '.' or '..' path segment"),
            _ => {}
        }
    }
    Ok(())
}

/// Checks that `path`, a path under `bucket_dir` (itself the canonical
/// root joined with a checked bucket name), resolves inside `bucket_dir`
/// on the file system as it is now.
pub(super) fn check_fs(root: &Path, bucket_dir: &Path, path: &Path, shown: &str) -> S3Result<()> {
    let denied = || {
        s3_error!(
            AccessDenied,
            "{shown:?} resolves outside its bucket (a symbolic link in the served directory)"
        )
    };
    let mut probe = path;
    loop {
        match std::fs::symlink_metadata(probe) {
            Ok(_) => break,
            // Missing, or a file where a directory was expected: look at the parent.
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
                match probe.parent() {
                    Some(p) if p.starts_with(root) => probe = p,
                    _ => return Err(denied()),
                }
            }
            Err(e) => return Err(s3_error!(e, InternalError, "cannot look at {shown:?}")),
        }
    }
    if probe == root {
        return Ok(()); // no such bucket: the caller says so
    }
    // canonicalize follows every link, the last component's too; a
    // dangling link fails here and is refused.
    let real = std::fs::canonicalize(probe).map_err(|_| denied())?;
    if real.starts_with(bucket_dir) {
        Ok(())
    } else {
        Err(denied())
    }
}

/// The checked path of an object (or, with `key` empty, of the bucket).
pub(super) fn resolve(root: &Path, bucket: &str, key: &str) -> S3Result<PathBuf> {
    check_bucket(bucket)?;
    let bucket_dir = root.join(bucket);
    let path = if key.is_empty() {
        bucket_dir.clone()
    } else {
        check_key(key)?;
        bucket_dir.join(key)
    };
    let shown = if key.is_empty() { bucket } else { key };
    check_fs(root, &bucket_dir, &path, shown)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_escaping_keys() {
        for bad in [
            "/etc/passwd",
            "//etc/passwd",
            "a//b",
            "../x",
            "a/../../x",
            "a/./b",
            ".",
            "..",
            "a\0b",
            "",
            "a//",
        ] {
            assert!(check_key(bad).is_err(), "{bad:?} accepted");
        }
        for good in ["a", "a/b", "a/b/", "..a", "a..", "a/.b/c", "日本/x y"] {
            assert!(check_key(good).is_ok(), "{good:?} refused");
        }
        assert!(check_key(&"x".repeat(1025)).is_err());
        for bad in ["", ".", "..", "a/b", ".hidden", "a\0"] {
            assert!(check_bucket(bad).is_err(), "{bad:?} accepted");
        }
    }
}
