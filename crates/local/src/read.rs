//! `head` and `get`: metadata from `stat`, bodies by positional reads.

use std::fs::{File, Metadata};
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use haul_core::{Error, GetOptions, GetResponse, Key, ObjectMeta, Result};

use crate::blocking;
use crate::path::{Root, io_err};

/// Bytes per read when writing parts; a body is never read whole into memory.
pub(crate) const CHUNK: usize = 1 << 20;

/// Bytes per body chunk of a `get`. Smaller than [`CHUNK`]: every part in
/// flight holds a few chunks at once, and glibc keeps freed buffers of a
/// size it has seen freed in the arena of the thread that freed them, so
/// with 1 MiB chunks a 16-part upload held ~4 MiB per part (peak RSS 77–94
/// MiB for 1 GiB, `examples/part_memory.rs`); 256 KiB chunks hold a quarter.
pub(crate) const GET_CHUNK: usize = 256 << 10;

/// The `ETag` of a file: `{size:x}-{mtime_nanos:x}-{inode:x}`, cheap and
/// changing whenever the file is rewritten or replaced (a file renamed over
/// another keeps its own inode). Contents are never hashed for it; the
/// checksums haul records of a file are keyed by it.
pub(crate) fn etag_of(meta: &Metadata) -> String {
    use std::os::unix::fs::MetadataExt as _;
    let nanos = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    format!("{:x}-{nanos:x}-{:x}", meta.len(), meta.ino())
}

/// An object's metadata from its file's metadata.
pub(crate) fn object_meta(key: Key, meta: &Metadata) -> ObjectMeta {
    ObjectMeta {
        size: meta.len(),
        last_modified: meta.modified().ok(),
        etag: Some(etag_of(meta)),
        checksums: Vec::new(),
        version: None,
        key,
        attrs: haul_core::Attributes::default(),
    }
}

/// Fails with `Precondition` unless the file's `ETag` is `want`.
pub(crate) fn check_if_match(key: &Key, meta: &Metadata, want: Option<&str>) -> Result<()> {
    match want {
        Some(want) if want.trim_matches('"') != etag_of(meta) => Err(Error::Precondition {
            key: key.to_string(),
            source: format!("if-match {want:?} failed: the ETag is {:?}", etag_of(meta)).into(),
        }),
        _ => Ok(()),
    }
}

/// `head`, on a blocking thread.
pub(crate) fn head(root: &Root, key: &Key) -> Result<ObjectMeta> {
    Ok(object_meta(key.clone(), &root.stat_object(key)?))
}

/// Reads up to `len` bytes at `pos`, fewer only at end of file.
pub(crate) fn read_full_at(file: &File, pos: u64, len: usize) -> io::Result<Bytes> {
    let mut buf = BytesMut::zeroed(len);
    let mut filled = 0;
    while filled < len {
        match file.read_at(&mut buf[filled..], pos + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(filled);
    Ok(buf.freeze())
}

/// The next chunk of `pos..end`: at most [`GET_CHUNK`] bytes, fewer only
/// at end of file (none for an empty range).
fn read_chunk(file: &File, pos: u64, end: u64, name: &str) -> Result<Bytes> {
    let want = (end - pos).min(GET_CHUNK as u64) as usize;
    read_full_at(file, pos, want).map_err(|e| io_err(name, e))
}

/// `get`: opens, checks and reads the first chunk on one blocking thread,
/// then streams the rest of the range in [`GET_CHUNK`]-sized positional
/// reads, each on a blocking thread. A small file is so read in one trip to
/// the blocking pool, not two.
pub(crate) async fn get(root: Arc<Root>, key: &Key, opts: GetOptions) -> Result<GetResponse> {
    let k = key.clone();
    let (file, meta, range, first) = blocking(key.as_str(), move || {
        let (file, meta) = root.open_object(&k)?;
        check_if_match(&k, &meta, opts.if_match.as_deref())?;
        let size = meta.len();
        let range = match opts.range {
            None => 0..size,
            Some(r) => r.resolve(size).ok_or_else(|| {
                Error::invalid(
                    k.as_str(),
                    format!("range {r:?} is not satisfiable for a {size}-byte object"),
                )
            })?,
        };
        let first = read_chunk(&file, range.start, range.end, k.as_str())?;
        Ok((file, meta, range, first))
    })
    .await?;
    let file = Arc::new(file);
    let name: Arc<str> = key.as_str().into();
    let state = (file, range.start, range.end, name, Some(first));
    let body = futures::stream::try_unfold(state, |(file, pos, end, name, first)| async move {
        if pos >= end {
            return Ok(None);
        }
        let chunk = if let Some(chunk) = first {
            chunk
        } else {
            let f = Arc::clone(&file);
            let n = Arc::clone(&name);
            blocking(&name, move || read_chunk(&f, pos, end, &n)).await?
        };
        if chunk.is_empty() {
            return Err(Error::transient(
                &*name,
                format!("file shrank while being read: ended at byte {pos} of {end}"),
            ));
        }
        let next = pos + chunk.len() as u64;
        Ok(Some((chunk, (file, next, end, name, None))))
    })
    .boxed();
    Ok(GetResponse {
        meta: object_meta(key.clone(), &meta),
        range,
        body,
    })
}
