//! Keys that a file system cannot hold as plain paths, stored anyway:
//! an object `a/b` beside objects under `a/b/` (S3 has no directories), and
//! a key ending in `/` that holds data.
//!
//! * `k/` is stored as the file `k/.haul-folder`;
//! * `k` is stored as the file `k/.haul-object` when `k` is (or becomes) a
//!   directory: writing `k/x` over an object `k` first moves the file `k`
//!   (and its side files) to `k/.haul-object`.
//!
//! Every request maps its keys here (after the hostile-key checks) before
//! the shim or s3s-fs uses them, and listings map stored paths back, so
//! clients only ever see their own keys. The two names are reserved: a
//! key with such a segment is refused.

use s3s::dto::CopySource;
use s3s::{S3Result, s3_error};

use super::Shim;
use crate::confine::check_key;
use crate::files::io_err;

/// The file an object is kept in when its key is also a directory.
pub(crate) const OBJECT_MARK: &str = ".haul-object";
/// The file an object whose key ends in `/` is kept in.
pub(crate) const FOLDER_MARK: &str = ".haul-folder";

/// The client's key a stored key stands for.
pub(crate) fn client_key(stored: &str) -> String {
    if stored == OBJECT_MARK || stored == FOLDER_MARK {
        return stored.to_owned(); // cannot happen: no empty keys
    }
    if let Some(k) = stored
        .strip_suffix(OBJECT_MARK)
        .and_then(|k| k.strip_suffix('/'))
    {
        return k.to_owned();
    }
    if let Some(k) = stored.strip_suffix(FOLDER_MARK) {
        return k.to_owned(); // keeps its '/'
    }
    stored.to_owned()
}

/// Refuses client keys using the reserved names, after the hostile-key
/// checks.
fn check_client_key(key: &str) -> S3Result<()> {
    check_key(key)?;
    if key.split('/').any(|s| s == OBJECT_MARK || s == FOLDER_MARK) {
        return Err(s3_error!(
            InvalidArgument,
            "Key {key:?} refused: {OBJECT_MARK:?} and {FOLDER_MARK:?} are reserved names here"
        ));
    }
    Ok(())
}

impl Shim {
    /// The key a client's `key` is stored under, checked (for reads).
    pub(super) fn stored(&self, bucket: &str, key: &str) -> S3Result<String> {
        check_client_key(key)?;
        let dir = self.layout.bucket_dir(bucket)?;
        let stored = match key.strip_suffix('/') {
            Some(k) => format!("{k}/{FOLDER_MARK}"),
            None if dir.join(key).is_dir() => format!("{key}/{OBJECT_MARK}"),
            None => key.to_owned(),
        };
        self.layout.object(bucket, &stored)?;
        Ok(stored)
    }

    /// The stored key to write a client's `key` to: objects at its
    /// ancestors (`a` and `a/b` for `a/b/c`) are moved into their
    /// directories first, so the path can be made.
    pub(super) async fn stored_for_write(&self, bucket: &str, key: &str) -> S3Result<String> {
        let stored = self.stored(bucket, key)?;
        let dir = self.layout.bucket_dir(bucket)?;
        let mut at = 0;
        while let Some(i) = stored[at..].find('/') {
            let parent = &stored[..at + i];
            at += i + 1;
            let path = dir.join(parent);
            if tokio::fs::symlink_metadata(&path)
                .await
                .is_ok_and(|m| !m.is_dir())
            {
                self.move_into_directory(bucket, parent).await?;
            }
        }
        Ok(stored)
    }

    /// Moves object `key` (a plain file) to `key/.haul-object`, side files too.
    async fn move_into_directory(&self, bucket: &str, key: &str) -> S3Result<()> {
        let file = self.layout.object(bucket, key)?;
        let inner = format!("{key}/{OBJECT_MARK}");
        let tmp = self.layout.tmp();
        tokio::fs::rename(&file, &tmp).await.map_err(io_err)?;
        tokio::fs::create_dir(&file).await.map_err(io_err)?;
        tokio::fs::rename(&tmp, file.join(OBJECT_MARK))
            .await
            .map_err(io_err)?;
        for (from, to) in [
            (
                self.layout.info(bucket, key),
                self.layout.info(bucket, &inner),
            ),
            (
                self.layout.meta(bucket, key, None),
                self.layout.meta(bucket, &inner, None),
            ),
            (
                self.layout.parts_of(bucket, key),
                self.layout.parts_of(bucket, &inner),
            ),
        ] {
            match tokio::fs::rename(&from, &to).await {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io_err(e)),
                _ => {}
            }
        }
        Ok(())
    }

    /// A copy source with its key mapped to the stored key.
    pub(super) fn stored_source(&self, src: &CopySource) -> S3Result<CopySource> {
        let CopySource::Bucket {
            bucket,
            key,
            version_id,
        } = src
        else {
            return Err(s3_error!(NotImplemented, "only bucket/key copy sources"));
        };
        Ok(CopySource::Bucket {
            bucket: bucket.clone(),
            key: self.stored(bucket, key)?.into(),
            version_id: version_id.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_back() {
        assert_eq!(client_key("a/b/.haul-object"), "a/b");
        assert_eq!(client_key("a/b/.haul-folder"), "a/b/");
        assert_eq!(client_key(".haul-folder"), ".haul-folder");
        assert_eq!(client_key("a/b"), "a/b");
        assert!(check_client_key("a/.haul-object/b").is_err());
        assert!(check_client_key("a/.haul-folder").is_err());
    }
}
