//! Temp files written next to their target and renamed into place.

use std::fs::{self, File, Metadata, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use crate::path::TMP_PREFIX;

/// A fresh temp-file name: `.haul-tmp-` and 128 random bits in hex.
///
/// The name does not embed the target's name, so a 255-byte key segment
/// still gets a temp file that fits `NAME_MAX`.
pub(crate) fn temp_name() -> String {
    format!("{TMP_PREFIX}{:032x}", rand::random::<u128>())
}

/// A temp file removed on drop unless [`commit`](Self::commit)ted.
#[derive(Debug)]
pub(crate) struct TempFile {
    path: PathBuf,
    dir: PathBuf,
    /// The open file, for writing.
    pub(crate) file: File,
    armed: bool,
}

impl TempFile {
    /// Creates a new, empty temp file in `dir`.
    pub(crate) fn create_in(dir: &Path) -> io::Result<Self> {
        let path = dir.join(temp_name());
        let file = OpenOptions::new()
            .write(true)
            .read(true)
            .create_new(true)
            .open(&path)?;
        Ok(Self {
            path,
            dir: dir.to_owned(),
            file,
            armed: true,
        })
    }

    /// Flushes the data to disk, renames the file over `target` and syncs
    /// the directory so the rename survives a crash. Returns the metadata
    /// of the file as committed.
    pub(crate) fn commit(mut self, target: &Path) -> io::Result<Metadata> {
        self.file.sync_all()?;
        let meta = self.file.metadata()?;
        fs::rename(&self.path, target)?;
        self.armed = false;
        sync_dir(&self.dir)?;
        Ok(meta)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.armed {
            // Best effort: a leftover temp file is skipped by listings anyway.
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Syncs a directory so that renames and unlinks inside it are durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}
