//! `put`, `copy` and `delete`: temp file, fsync, rename; prune on delete.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use haul_core::{
    Attributes, Checksum, ChecksumKind, CopyOptions, Error, Key, MultiHasher, Payload, PutOptions,
    PutOutcome, Result,
};

use crate::path::{Root, io_err};
use crate::read::{check_if_match, etag_of};
use crate::temp::TempFile;

/// How often a write re-creates its parent directories when a concurrent
/// delete pruned them between creation and use.
pub(crate) const PARENT_RETRIES: usize = 100;

/// Creates the parent directories of `key` and a temp file among them.
/// Returns the temp file and the object's final path.
pub(crate) fn temp_for(root: &Root, key: &Key) -> Result<(TempFile, PathBuf)> {
    let mut attempt = 0;
    loop {
        // A concurrent delete may prune a directory we just created.
        let (target, dir) = match root.prepare_parent(key) {
            Ok(found) => found,
            Err(Error::NotFound { .. }) if attempt < PARENT_RETRIES => {
                attempt += 1;
                continue;
            }
            Err(e) => return Err(e),
        };
        match TempFile::create_in(&dir) {
            Ok(tmp) => return Ok((tmp, target)),
            Err(e) if e.kind() == io::ErrorKind::NotFound && attempt < PARENT_RETRIES => {
                attempt += 1;
            }
            Err(e) => return Err(io_err(key.as_str(), e)),
        }
    }
}

/// Compares the checksums the caller sent with those computed on arrival.
pub(crate) fn verify(key: &Key, wanted: &[Checksum], got: &[Checksum]) -> Result<()> {
    for want in wanted {
        let actual = got.iter().find(|c| c.kind() == want.kind());
        if actual != Some(want) {
            return Err(Error::Integrity {
                key: key.to_string(),
                expected: want.to_string(),
                actual: actual.map_or_else(|| "nothing".to_owned(), ToString::to_string),
            });
        }
    }
    Ok(())
}

/// The modification time `metadata` records under [`Attributes::MTIME`]
/// (`secs.nanos`), which a written file takes instead of the time of the
/// write.
pub(crate) fn recorded_mtime(metadata: &BTreeMap<String, String>) -> Option<SystemTime> {
    let text = metadata.get(Attributes::MTIME)?;
    let mut attrs = Attributes::default();
    attrs
        .metadata
        .insert(Attributes::MTIME.to_owned(), text.clone());
    attrs.mtime()
}

/// `put`, on a blocking thread: the payload goes to a temp file beside the
/// target, hashed on the way. The checksums in `opts` and those the payload
/// carries are verified; on a mismatch the temp file is removed. The file
/// takes the modification time `opts.metadata` records, if any, before it
/// is renamed into place.
pub(crate) fn put(root: &Root, key: &Key, body: &Payload, opts: &PutOptions) -> Result<PutOutcome> {
    let k = key.as_str();
    let wanted: Vec<Checksum> = opts
        .checksums
        .iter()
        .chain(body.checksums())
        .cloned()
        .collect();
    let mut kinds: Vec<ChecksumKind> = wanted.iter().map(Checksum::kind).collect();
    kinds.push(ChecksumKind::Crc32c);
    let (mut tmp, target) = temp_for(root, key)?;
    let mut hasher = MultiHasher::new(&kinds);
    for piece in body.pieces() {
        hasher.update(piece);
        tmp.file.write_all(piece).map_err(|e| io_err(k, e))?;
    }
    commit_put(key, tmp, &target, (&wanted, hasher.finish()), opts)
}

/// Gives a written temp file the key's name once the checksums wanted
/// match those computed (`sums`), with the modification time `opts`
/// record.
fn commit_put(
    key: &Key,
    tmp: TempFile,
    target: &Path,
    (wanted, checksums): (&[Checksum], Vec<Checksum>),
    opts: &PutOptions,
) -> Result<PutOutcome> {
    let k = key.as_str();
    verify(key, wanted, &checksums)?;
    if let Some(t) = recorded_mtime(&opts.metadata) {
        tmp.file.set_modified(t).map_err(|e| io_err(k, e))?;
    }
    let meta = tmp.commit(target).map_err(|e| io_err(k, e))?;
    Ok(PutOutcome {
        etag: Some(etag_of(&meta)),
        checksums,
        version: None,
        ..PutOutcome::default()
    })
}

/// What a streamed body's writer receives: its chunks, then the checksums
/// its producer computed over them.
#[derive(Debug)]
pub(crate) enum Feed {
    /// The next bytes, in the pieces they came in.
    Chunks(Vec<bytes::Bytes>),
    /// The end of the body, with the producer's checksums.
    End(Vec<Checksum>),
}

/// `put_stream`, on a blocking thread: the chunks from `rx` are hashed and
/// written to a temp file as they come. The file takes the key's name only
/// when the body ended whole (`len` bytes) and the checksums asked for, and
/// those its producer computed, match the bytes written.
pub(crate) fn put_fed(
    root: &Root,
    key: &Key,
    (len, carried_kinds): (u64, &[ChecksumKind]),
    opts: &PutOptions,
    rx: &mut tokio::sync::mpsc::Receiver<Feed>,
) -> Result<PutOutcome> {
    let k = key.as_str();
    let mut wanted = opts.checksums.clone();
    let mut kinds: Vec<ChecksumKind> = wanted.iter().map(Checksum::kind).collect();
    kinds.extend_from_slice(carried_kinds);
    kinds.push(ChecksumKind::Crc32c);
    kinds.sort_unstable();
    kinds.dedup();
    let (mut tmp, target) = temp_for(root, key)?;
    let mut hasher = MultiHasher::new(&kinds);
    let mut written = 0u64;
    loop {
        match rx.blocking_recv() {
            Some(Feed::Chunks(pieces)) => {
                for piece in pieces {
                    hasher.update(&piece);
                    written += piece.len() as u64;
                    tmp.file.write_all(&piece).map_err(|e| io_err(k, e))?;
                }
            }
            Some(Feed::End(carried)) => {
                wanted.extend(carried);
                break;
            }
            // The sender's own error says why; the temp file goes.
            None => {
                return Err(Error::transient(
                    k,
                    format!("the body stopped after {written} of {len} bytes"),
                ));
            }
        }
    }
    if written != len {
        return Err(Error::transient(
            k,
            format!("the body held {written} bytes, not {len}"),
        ));
    }
    commit_put(key, tmp, &target, (&wanted, hasher.finish()), opts)
}

/// `copy`, on a blocking thread: a kernel-side copy (`copy_file_range`
/// where the platform has it) into a temp file beside `dst`, then a rename.
pub(crate) fn copy(root: &Root, src: &Key, dst: &Key, opts: &CopyOptions) -> Result<PutOutcome> {
    let (mut from, meta) = root.open_object(src)?;
    check_if_match(src, &meta, opts.if_match.as_deref())?;
    let (mut tmp, target) = temp_for(root, dst)?;
    let copied = io::copy(&mut from, &mut tmp.file).map_err(|e| io_err(dst.as_str(), e))?;
    if copied != meta.len() {
        return Err(Error::transient(
            src.as_str(),
            format!(
                "source changed while being copied: {copied} bytes copied, {} expected",
                meta.len()
            ),
        ));
    }
    let meta = tmp.commit(&target).map_err(|e| io_err(dst.as_str(), e))?;
    Ok(PutOutcome {
        etag: Some(etag_of(&meta)),
        checksums: Vec::new(),
        version: None,
        ..PutOutcome::default()
    })
}

/// `delete`, on a blocking thread. A missing key (or one naming a directory
/// of other objects) succeeds; emptied parent directories are removed up to
/// the root.
pub(crate) fn delete(root: &Root, key: &Key) -> Result<()> {
    let k = key.as_str();
    let path = root.object_path(key)?;
    let Some(parent) = path.parent() else {
        return Ok(());
    };
    // Never unlink through a symlinked directory that leaves the root.
    match root.check_inside(k, parent) {
        Ok(_) => {}
        Err(Error::NotFound { .. }) => return Ok(()),
        Err(e) => return Err(e),
    }
    match fs::symlink_metadata(&path) {
        Ok(m) if m.is_dir() => return Ok(()),
        Ok(_) => {}
        Err(e) if is_missing(&e) => return Ok(()),
        Err(e) => return Err(io_err(k, e)),
    }
    match fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if is_missing(&e) => return Ok(()),
        Err(e) => return Err(io_err(k, e)),
    }
    prune_empty_dirs(root.path(), parent);
    Ok(())
}

fn is_missing(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

/// Removes `dir` and its ancestors while they are empty, stopping at `root`.
/// Best effort: a directory that is not empty (or is a symlink) stays.
fn prune_empty_dirs(root: &Path, mut dir: &Path) {
    while dir != root && dir.starts_with(root) {
        if fs::remove_dir(dir).is_err() {
            return;
        }
        match dir.parent() {
            Some(parent) => dir = parent,
            None => return,
        }
    }
}
