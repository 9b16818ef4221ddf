//! Locations on the command line: local paths, `s3://bucket/key` and
//! `REMOTE:bucket/key`, and the stores behind them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use haul_core::ObjectStore;
use haul_local::LocalStore;

use crate::error::CliError;
use crate::settings::ConfigFile;

/// Where a command reads or writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Location {
    /// A local file or directory.
    Local(PathBuf),
    /// A bucket and key (or prefix) of a store named by `store`, which is
    /// `s3` for `s3://` or a remote's name.
    Bucket {
        /// `s3` or the remote's name.
        store: String,
        /// The bucket.
        bucket: String,
        /// The key or prefix; may be empty.
        key: String,
    },
}

/// Whether `name` can name a remote: letters, digits, `-` and `_`. One
/// letter is a name like any other (there are no drive letters here).
fn is_remote_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl Location {
    /// Parses a location. `NAME:…` is a remote when the config file defines
    /// `NAME` (whatever exists on disk), else a local path when that path
    /// exists, else an unknown remote.
    pub(crate) fn parse(text: &str, config: &ConfigFile) -> Result<Self, CliError> {
        if let Some((scheme, rest)) = text.split_once("://") {
            if !crate::providers::SCHEMES.contains(&scheme) {
                return Err(CliError::usage(format!(
                    "{text}: unknown scheme {scheme}:// (haul knows {}, REMOTE: and local paths)",
                    crate::providers::SCHEMES
                        .map(|s| format!("{s}://"))
                        .join(", ")
                )));
            }
            let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() || bucket.contains(char::is_whitespace) {
                return Err(CliError::usage(format!(
                    "{text}: malformed URL: expected {scheme}://BUCKET/KEY"
                )));
            }
            return Ok(Self::Bucket {
                store: scheme.into(),
                bucket: bucket.into(),
                key: key.into(),
            });
        }
        if let Some((name, rest)) = text.split_once(':')
            && is_remote_name(name)
            && (config.remotes.contains_key(name) || !Path::new(text).exists())
        {
            if !config.remotes.contains_key(name) {
                return Err(CliError::usage(format!(
                    "{text}: unknown remote {name:?} (define [remotes.{name}] in the config file)"
                )));
            }
            let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(CliError::usage(format!(
                    "{text}: malformed location: expected {name}:BUCKET/KEY"
                )));
            }
            return Ok(Self::Bucket {
                store: name.into(),
                bucket: bucket.into(),
                key: key.into(),
            });
        }
        Ok(Self::Local(PathBuf::from(text)))
    }

    /// The last path segment (for naming a copied file).
    pub(crate) fn basename(&self) -> Option<String> {
        match self {
            Self::Local(p) => p.file_name().map(|n| n.to_string_lossy().into_owned()),
            Self::Bucket { key, .. } => key
                .rsplit('/')
                .next()
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        }
    }
}

/// Opens a local directory as a store, creating it if needed; `follow`:
/// symbolic links are listed and read as what they point to (a source,
/// like `aws s3 cp`), else listed as skipped.
pub(crate) fn open_local(root: &Path, follow: bool) -> Result<Arc<dyn ObjectStore>, CliError> {
    let abs = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
    LocalStore::new(&abs)
        .map(|s| {
            let s = if follow { s.following_symlinks() } else { s };
            crate::layers::layered(Arc::new(s))
        })
        .map_err(|e| CliError::usage(format!("{}: cannot use as a directory: {e}", abs.display())))
}

pub(crate) use crate::providers::Opened;

/// Opens the store behind a bucket location.
pub(crate) fn open_bucket(
    store: &str,
    bucket: &str,
    config: &ConfigFile,
) -> Result<Opened, CliError> {
    let opened = crate::providers::open(store, bucket, config)?;
    Ok(Opened {
        store: crate::layers::layered(opened.store),
        ..opened
    })
}

/// Reopens a store from its journaled id (see [`Opened::id`]).
pub(crate) fn reopen(id: &str, config: &ConfigFile) -> Result<Arc<dyn ObjectStore>, CliError> {
    let bucket_store = if let Some((scheme, bucket)) = id.split_once("://") {
        Some((scheme, bucket))
    } else {
        id.split_once(':').filter(|(name, _)| is_remote_name(name))
    };
    match bucket_store {
        Some((store, bucket)) => Ok(open_bucket(store, bucket, config)?.store),
        // A resumed job's links were settled while planning: its files are
        // read through the links they were listed by.
        None => open_local(Path::new(id), true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> ConfigFile {
        let mut c = ConfigFile::default();
        c.remotes
            .insert("backup".into(), crate::settings::Remote::default());
        c.remotes
            .insert("z".into(), crate::settings::Remote::default());
        c
    }

    #[test]
    fn parses() {
        let c = cfg();
        assert_eq!(
            Location::parse("s3://b/k/x y", &c).unwrap(),
            Location::Bucket {
                store: "s3".into(),
                bucket: "b".into(),
                key: "k/x y".into()
            }
        );
        assert!(matches!(
            Location::parse("backup:b/p/", &c).unwrap(),
            Location::Bucket { ref store, .. } if store == "backup"
        ));
        // A one-letter remote is a remote like any other.
        assert!(matches!(
            Location::parse("z:b/k", &c).unwrap(),
            Location::Bucket { ref store, ref bucket, ref key } if store == "z" && bucket == "b" && key == "k"
        ));
        assert_eq!(
            Location::parse("./data", &c).unwrap(),
            Location::Local("./data".into())
        );
        let e = Location::parse("gs://b/k", &c).unwrap_err();
        assert!(e.to_string().contains("unknown scheme"), "{e}");
        let e = Location::parse("s3:///k", &c).unwrap_err();
        assert!(e.to_string().contains("malformed URL"), "{e}");
        let e = Location::parse("nosuch:b/k", &c).unwrap_err();
        assert!(e.to_string().contains("unknown remote"), "{e}");
        let e = Location::parse("q:b/k", &c).unwrap_err();
        assert!(e.to_string().contains("unknown remote"), "{e}");
        assert_eq!(
            Location::parse("s3://b/dir/f.txt", &c)
                .unwrap()
                .basename()
                .as_deref(),
            Some("f.txt")
        );
    }
}
