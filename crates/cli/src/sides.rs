//! The two sides of a transfer: a location resolved into a store and key
//! prefix ([`source`], [`destination`]), whether they are one target, and
//! the journal every job writes to.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use haul_core::ObjectStore;
use haul_engine::Endpoint;
use haul_journal::Journal;

use crate::args::Global;
use crate::error::CliError;
use crate::location::{Location, open_bucket, open_local};
use crate::settings::ConfigFile;

/// Opens the journal the flags or environment name.
pub(crate) fn open_journal(g: &Global) -> Result<Arc<Journal>, CliError> {
    let path = match &g.journal {
        Some(p) => p.clone(),
        None => Journal::default_path()?,
    };
    Ok(Arc::new(Journal::open(path)?))
}

/// A store and prefix resolved from a location, for one side of a job.
pub(crate) struct Side {
    pub(crate) store: Arc<dyn ObjectStore>,
    pub(crate) prefix: String,
    pub(crate) id: String,
}

impl Side {
    pub(crate) fn endpoint(self) -> Endpoint {
        Endpoint::layered(self.store, self.prefix, self.id)
    }
}

fn dir_prefix(key: &str) -> String {
    if key.is_empty() || key.ends_with('/') {
        key.to_owned()
    } else {
        format!("{key}/")
    }
}

/// The source side: a single file/object, or a tree with `recursive`.
pub(crate) fn source(
    loc: &Location,
    recursive: bool,
    follow: bool,
    config: &ConfigFile,
) -> Result<(Side, bool), CliError> {
    match loc {
        Location::Local(path) => {
            let meta = std::fs::metadata(path).map_err(|e| {
                CliError::usage(format!("{}: cannot read source: {e}", path.display()))
            })?;
            if meta.is_dir() {
                if !recursive {
                    return Err(CliError::usage(format!(
                        "{}: is a directory (use -r to copy its contents)",
                        path.display()
                    )));
                }
                let root = std::path::absolute(path).unwrap_or_else(|_| path.clone());
                Ok((side_local(&root, String::new(), follow)?, false))
            } else {
                let root = parent_of(path);
                let name = loc
                    .basename()
                    .ok_or_else(|| CliError::usage(format!("{}: no file name", path.display())))?;
                Ok((side_local(&root, name, follow)?, true))
            }
        }
        Location::Bucket { store, bucket, key } => {
            let o = open_bucket(store, bucket, config)?;
            if recursive {
                Ok((
                    Side {
                        store: o.store,
                        prefix: format!("{}{}", o.base, dir_prefix(key)),
                        id: o.id,
                    },
                    false,
                ))
            } else if key.is_empty() || key.ends_with('/') {
                Err(CliError::usage(format!(
                    "{}: names a prefix, not an object (use -r)",
                    display(loc)
                )))
            } else {
                Ok((
                    Side {
                        store: o.store,
                        prefix: format!("{}{key}", o.base),
                        id: o.id,
                    },
                    true,
                ))
            }
        }
    }
}

fn parent_of(path: &Path) -> PathBuf {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    abs.parent()
        .map_or_else(|| PathBuf::from("/"), Path::to_path_buf)
}

fn side_local(root: &Path, prefix: String, follow: bool) -> Result<Side, CliError> {
    Ok(Side {
        store: open_local(root, follow)?,
        prefix,
        id: root.to_string_lossy().into_owned(),
    })
}

fn display(loc: &Location) -> String {
    match loc {
        Location::Local(p) => p.display().to_string(),
        Location::Bucket { store, bucket, key } if store == "s3" => format!("s3://{bucket}/{key}"),
        Location::Bucket { store, bucket, key } => format!("{store}:{bucket}/{key}"),
    }
}

/// The destination side: for a single source, the destination object (a
/// directory or prefix gets the source's name appended).
pub(crate) fn destination(
    loc: &Location,
    single: bool,
    src_name: Option<String>,
    config: &ConfigFile,
) -> Result<Side, CliError> {
    match loc {
        Location::Local(path) => {
            if !single {
                let root = std::path::absolute(path).unwrap_or_else(|_| path.clone());
                return side_local(&root, String::new(), false);
            }
            let as_dir = path.is_dir() || path.to_string_lossy().ends_with('/');
            let file = if as_dir {
                path.join(src_name.unwrap_or_default())
            } else {
                path.clone()
            };
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .ok_or_else(|| CliError::usage(format!("{}: no file name", path.display())))?;
            side_local(&parent_of(&file), name, false)
        }
        Location::Bucket { store, bucket, key } => {
            let o = open_bucket(store, bucket, config)?;
            let key = if single {
                if key.is_empty() || key.ends_with('/') {
                    format!("{key}{}", src_name.unwrap_or_default())
                } else {
                    key.clone()
                }
            } else {
                dir_prefix(key)
            };
            Ok(Side {
                store: o.store,
                prefix: format!("{}{key}", o.base),
                id: o.id,
            })
        }
    }
}

/// Source and destination in the same bucket share one store, so copies
/// between them run server-side.
pub(crate) fn share_store(src: &Side, dst: &mut Side) {
    if src.id == dst.id && !src.id.is_empty() {
        dst.store = Arc::clone(&src.store);
    }
}

/// Whether two resolved sides name the same object (`single`) or tree:
/// one file or directory on disk however it is spelled (same device and
/// inode), or the same key or prefix of the same bucket.
pub(crate) fn same_target(
    src: &Side,
    dst: &Side,
    single: bool,
    locs: (&Location, &Location),
) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    match locs {
        (Location::Local(_), Location::Local(_)) => {
            let path = |side: &Side| {
                if single {
                    Path::new(&side.id).join(&side.prefix)
                } else {
                    PathBuf::from(&side.id)
                }
            };
            match (std::fs::metadata(path(src)), std::fs::metadata(path(dst))) {
                (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
                _ => false,
            }
        }
        (Location::Bucket { .. }, Location::Bucket { .. }) => {
            src.id == dst.id && src.prefix == dst.prefix
        }
        _ => false,
    }
}
