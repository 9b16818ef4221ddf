//! haul-local: an [`ObjectStore`] over a directory of the local file system.
//!
//! [`LocalStore`] treats a directory as a bucket: the key `photos/2026/a.jpg`
//! is the file `<root>/photos/2026/a.jpg`.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> haul_core::Result<()> {
//! use haul_core::{Key, ObjectStoreExt};
//! use haul_local::LocalStore;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let store = LocalStore::new(dir.path().join("bucket"))?;
//! let key = Key::new("photos/2026/a b.jpg")?;
//! store.put_bytes(&key, "hello".into()).await?;
//! assert_eq!(&store.get_bytes(&key).await?[..], b"hello");
//! assert!(dir.path().join("bucket/photos/2026/a b.jpg").is_file());
//! assert_eq!(store.list_all("photos/").await?.len(), 1);
//! # Ok(())
//! # }
//! ```
//!
//! # Layout
//!
//! ```text
//! <root>/
//!   photos/2026/a b.jpg             the object "photos/2026/a b.jpg"
//!   photos/2026/.haul-tmp-<hex>     a write in progress (never listed)
//!   .haul-uploads/<upload id>/      one multipart upload in progress
//!     upload.json                   its key, start time and part size hint
//!     00001.part, 00002.part, …     without a hint: its parts, each with a
//!                                   size/checksums trailer
//!     data                          with a hint: its bytes, each part at its
//!                                   offset in the object
//!     00001.rec, 00002.rec, …       with a hint: each part's size/checksums
//!     00001.lock, …                 with a hint: held while a part is written
//! ```
//!
//! # Keys
//!
//! A key maps to a path segment by segment, with nothing decoded (`%2e%2e`
//! is a file literally named so). Keys that could escape the root or alias
//! another key are refused with [`Error::InvalidInput`]:
//! a leading `/`, empty segments (`a//b`, `a/`), `.` and `..` segments,
//! backslashes (on every platform), and segments over 255 bytes. Names
//! starting with `.haul-` or ending with `.haul-partial` are reserved for
//! haul's own files. A file system cannot hold both `a` and `a/b`; writing
//! the second is `InvalidInput`, and so is a key ending in `/` (an S3
//! "folder" marker), which has no file to be.
//!
//! Symlinks inside the root are followed only while they resolve inside
//! it: reading or writing through one that leaves the root is
//! `InvalidInput`, and deleting never unlinks through one. Listings never
//! follow symlinks and do not show them.
//!
//! # Writes
//!
//! Every write — `put`, `copy`, a part, a completed upload — goes to a temp
//! file `.haul-tmp-<random>` in the target's directory, is fsynced, renamed
//! over the target and the directory fsynced: readers see the old object or
//! the new one, never a mix, and a crash leaves at worst an unlisted temp
//! file. (A multipart upload with a part size hint writes its parts into
//! one staging file instead, which completing renames into place: see
//! below.) Checksums are verified while writing, on a mismatch
//! [`Error::Integrity`] and the temp file removed: those in [`PutOptions`]
//! and those a [`Payload`] carries, for `put`; those a payload carries, for
//! `upload_part`, unless it carries a CRC-32C (see below); those given to
//! `create_multipart`, for the completed object on `complete_multipart`.
//!
//! # Entity tags and metadata
//!
//! An object's `ETag` is `{size:x}-{mtime_nanos:x}-{inode:x}`, taken from `stat`:
//! cheap, and it changes whenever the file is rewritten or replaced. Contents are never hashed
//! for it, so it is not an MD5 (`etag_is_md5` is false), and `put`, `copy`
//! and `complete_multipart` report the same `ETag` `head` does.
//!
//! A directory has nowhere to keep Content-Type, the other HTTP headers or
//! user metadata (extended attributes are not portable), so none of them is
//! stored, `head` reports default [`Attributes`](haul_core::Attributes), and
//! [`Capabilities::metadata`] is false. One entry is honoured: the
//! modification time recorded under [`Attributes::MTIME`]
//! (`metadata["mtime"]`, `secs.nanos` since the epoch, rclone's convention)
//! given to `put` or `create_multipart`. The file takes it as its
//! modification time before it is renamed into place, so a download
//! restores the source's mtime and a later size-and-mtime comparison
//! matches. Such an object's `ETag` then follows the recorded time: two
//! writes of the same size with the same recorded mtime get the same
//! `ETag`.
//!
//! [`Attributes::MTIME`]: haul_core::Attributes::MTIME
//!
//! # Multipart uploads
//!
//! Parts arrive in any order, concurrently. Where each goes depends on
//! whether [`PutOptions::part_size_hint`] was given to `create_multipart`:
//!
//! - **With a hint** every part but the last is the hint's size, so part
//!   `n` starts at byte `(n - 1) * hint` of the object. Parts are written
//!   once, in place, into one sparse staging file; each part's size and
//!   checksums go to a small record, written by temp file and rename only
//!   after the part's bytes are synced, so a crash never leaves a half part
//!   that `list_parts` reports. Completing truncates the staging file to
//!   the object's size, fsyncs it and renames it into place (across file
//!   systems it is copied instead). The hint is a promise: a part larger
//!   than the hint, or a completion whose parts are not 1, 2, 3, … with
//!   every part but the last exactly the hint, is [`Error::InvalidInput`].
//!   Completing and aborting wait for the parts in flight (`flock`), which
//!   then find the upload gone.
//! - **Without one** parts may come in any sizes, so their offsets are
//!   unknown until completion. Each part is its own file in the upload's
//!   staging directory (written once, by temp file and rename). Completing
//!   checks the part list, then concatenates the parts with `io::copy`,
//!   which on Linux is `copy_file_range`: the bytes stay in the kernel, and
//!   file systems with shared extents may clone rather than copy.
//!
//! A part's checksums are those its payload carries when they include a
//! CRC-32C: the payload's producer computed them from these very buffers
//! (the engine does, in the pass that reads them), so the bytes are not
//! read again, and the other carried checksums are taken as given.
//! Otherwise one pass over the bytes, before any is written, computes the
//! CRC-32C and MD5 and checks every carried checksum. A part's checksum is
//! its CRC-32C; its `ETag` is the hex MD5 of its bytes when the MD5 is
//! known (carried, or computed), else `crc32c-<crc32c, 8 hex digits>-<size
//! in hex>`, which still changes when a part is re-sent with other bytes
//! (unless they have the same size and CRC-32C). The completed object
//! reports the combined CRC-32C. Because staging lives on disk, a new
//! `LocalStore` on the same root — in another process — carries an upload
//! on by its id. Uploads never expire: an abandoned one stays until it is
//! aborted.
//!
//! # Listing
//!
//! Keys come in ascending byte order, a page at a time, from a depth-first
//! walk that holds only the sorted entries of the directories on its current
//! path. Within a directory a subdirectory `d` sorts as `d/`, the prefix of
//! every key below it, which makes the walk order the key order (`a-b`
//! before `a/x`, though `a` sorts before `a-b` by name). Temp files, staging
//! areas, names that could not be keys (not UTF-8, backslashes) and symlinks
//! are skipped, and an empty directory is no common prefix.

mod list;
mod multipart;
mod path;
mod read;
mod temp;
mod write;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;
use haul_core::{
    ByteRange, Capabilities, ChecksumKind, CompletedPart, CopyOptions, Error, GetOptions,
    GetResponse, Key, ListOptions, ListStream, ObjectMeta, ObjectStore, PartNumber, Payload,
    PayloadStream, PutOptions, PutOutcome, Result, UploadId,
};

use crate::path::Root;
use crate::write::Feed;

/// Batches of a streamed part queued for its writer. Two keep the writer
/// busy; four held more memory and were no faster (a 1 GiB download,
/// 16 parts in flight: peak RSS 59–69 MiB against 52–59 from SeaweedFS,
/// equal wall time from Garage and SeaweedFS).
const FEED_DEPTH: usize = 2;

/// Bytes gathered (as the body's own buffers, not copied) before they go
/// to the writer: one wake-up of the writer thread per batch rather than
/// per network read (tens of KiB), which halved the system time of
/// downloads. A part holds at most `FEED_DEPTH + 1` batches, about 768 KiB
/// (more while a batch shares a network buffer with the next).
const FEED_BATCH: usize = 256 << 10;

/// Hands `body`'s chunks to a blocking writer in batches of about
/// [`FEED_BATCH`] bytes, then its checksums. Ends early (without error)
/// when the writer stopped; the writer's error says why.
async fn feed(mut body: PayloadStream, tx: tokio::sync::mpsc::Sender<Feed>) -> Result<()> {
    let (mut batch, mut held) = (Vec::new(), 0);
    loop {
        let chunk = body.next().await.transpose()?;
        let end = chunk.is_none();
        if let Some(c) = chunk {
            held += c.len();
            batch.push(c);
        }
        if (end && !batch.is_empty()) || held >= FEED_BATCH {
            held = 0;
            if tx
                .send(Feed::Chunks(std::mem::take(&mut batch)))
                .await
                .is_err()
            {
                return Ok(());
            }
        }
        if end {
            break;
        }
    }
    let sums = body.checksums().unwrap_or_default().to_vec();
    let _ = tx.send(Feed::End(sums)).await;
    Ok(())
}

/// Runs blocking file-system work off the async threads.
///
/// A panic in `f` is resumed here; a cancelled task is an I/O error on `key`.
pub(crate) async fn blocking<T, F>(key: &str, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(Error::Io {
            key: key.to_owned(),
            source: io::Error::other(format!("blocking task failed: {e}")),
        }),
    }
}

/// An [`ObjectStore`] rooted at a local directory.
///
/// Cloning is cheap and clones share the root. All file-system work runs on
/// tokio's blocking pool, so the store needs a tokio runtime. See the
/// [crate docs](crate) for the on-disk layout and the rules keys follow.
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: Arc<Root>,
    capabilities: Capabilities,
}

impl LocalStore {
    /// Opens a store rooted at `root`, creating the directory (and its
    /// parents) if it does not exist.
    ///
    /// The root is canonicalised (symlinks in it resolved) once, here; every
    /// key is checked against the canonical path. Fails when `root` exists
    /// but is not a directory, or cannot be created.
    pub fn new(root: impl Into<PathBuf>) -> Result<Self> {
        let given = root.into();
        let root = Root::open(&given).map_err(|e| Error::io(given.display().to_string(), e))?;
        Ok(Self {
            root: Arc::new(root),
            capabilities: Self::local_capabilities(),
        })
    }

    /// The same store, following symbolic links wherever they lead when
    /// listing and reading, as `aws s3 cp` does: a link to a file is listed
    /// and read as that file, a link to a directory is walked, under the
    /// link's own name; a link loop is skipped and reported. Writes never
    /// follow a link out of the root. Without this (the default, what
    /// `haul serve` wants) links that leave the root are refused and links
    /// are listed as skipped entries.
    #[must_use]
    pub fn following_symlinks(self) -> Self {
        let root = Arc::unwrap_or_clone(self.root).following_links();
        Self {
            root: Arc::new(root),
            ..self
        }
    }

    /// The canonical root directory.
    #[must_use]
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// The path of the file that holds `key`, after the key checks that
    /// every operation makes (the file need not exist).
    pub fn path_of(&self, key: &Key) -> Result<PathBuf> {
        self.root.object_path(key)
    }

    /// What a local disk can do: everything but keeping attributes (see
    /// the crate docs), with no part-size minimum and no size limits.
    #[must_use]
    pub fn local_capabilities() -> Capabilities {
        Capabilities {
            multipart: true,
            min_part_size_bytes: 1,
            max_part_size_bytes: u64::MAX,
            max_parts: PartNumber::MAX,
            max_single_put_bytes: u64::MAX,
            max_object_size_bytes: u64::MAX,
            server_side_copy: true,
            max_copy_bytes: u64::MAX,
            part_copy: true,
            list_parts: true,
            list: true,
            ranged_get: true,
            native_checksums: Vec::new(),
            wants_content_md5: false,
            etag_is_md5: false,
            batch_delete_max: 1000,
            // Only the recorded mtime is kept, as the file's own.
            metadata: false,
            // Parts are written chunk by chunk as they arrive.
            streamed_parts: true,
            streamed_puts: true,
            // A range read twice comes from the page cache the second time.
            rereadable: true,
            // `get` takes its metadata from the opened file, as `head` does.
            whole_get_meta: true,
            ..Capabilities::default()
        }
    }

    /// Runs `f` with the root on the blocking pool.
    async fn run<T, F>(&self, key: &Key, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Root) -> Result<T> + Send + 'static,
    {
        let root = Arc::clone(&self.root);
        blocking(key.as_str(), move || f(&root)).await
    }
}

impl fmt::Display for LocalStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "file://{}", self.root.path().display())
    }
}

#[async_trait]
impl ObjectStore for LocalStore {
    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    async fn head(&self, key: &Key) -> Result<ObjectMeta> {
        let k = key.clone();
        self.run(key, move |root| read::head(root, &k)).await
    }

    async fn get(&self, key: &Key, opts: GetOptions) -> Result<GetResponse> {
        read::get(Arc::clone(&self.root), key, opts).await
    }

    async fn put(&self, key: &Key, body: Payload, opts: PutOptions) -> Result<PutOutcome> {
        let k = key.clone();
        self.run(key, move |root| write::put(root, &k, &body, &opts))
            .await
    }

    async fn put_stream(
        &self,
        key: &Key,
        body: PayloadStream,
        opts: PutOptions,
    ) -> Result<PutOutcome> {
        let (tx, mut rx) = tokio::sync::mpsc::channel(FEED_DEPTH);
        let (k, len, kinds) = (key.clone(), body.len(), body.kinds().to_vec());
        let write = self.run(key, move |root| {
            write::put_fed(root, &k, (len, &kinds), &opts, &mut rx)
        });
        let (stored, sent) = tokio::join!(write, feed(body, tx));
        // A body that failed is the cause; the writer only saw it stop.
        sent?;
        stored
    }

    async fn copy(&self, src: &Key, dst: &Key, opts: CopyOptions) -> Result<PutOutcome> {
        let (s, d) = (src.clone(), dst.clone());
        self.run(dst, move |root| write::copy(root, &s, &d, &opts))
            .await
    }

    async fn delete(&self, key: &Key) -> Result<()> {
        let k = key.clone();
        self.run(key, move |root| write::delete(root, &k)).await
    }

    async fn delete_many(&self, keys: &[Key]) -> Result<Vec<Result<()>>> {
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            out.push(self.delete(key).await);
        }
        Ok(out)
    }

    fn list(&self, prefix: &str, opts: ListOptions) -> ListStream {
        list::list(Arc::clone(&self.root), prefix, opts)
    }

    async fn create_multipart(&self, key: &Key, opts: PutOptions) -> Result<UploadId> {
        let k = key.clone();
        self.run(key, move |root| multipart::create(root, &k, &opts))
            .await
    }

    async fn upload_part(
        &self,
        key: &Key,
        id: &UploadId,
        n: PartNumber,
        body: Payload,
    ) -> Result<CompletedPart> {
        let (k, id) = (key.clone(), id.clone());
        self.run(key, move |root| {
            multipart::upload_part(root, &k, &id, n, &body)
        })
        .await
    }

    async fn upload_part_stream(
        &self,
        key: &Key,
        id: &UploadId,
        n: PartNumber,
        body: PayloadStream,
    ) -> Result<CompletedPart> {
        let (tx, rx) = tokio::sync::mpsc::channel(FEED_DEPTH);
        let trust = body.kinds().contains(&ChecksumKind::Crc32c);
        let (k, id, len) = (key.clone(), id.clone(), body.len());
        let write = self.run(key, move |root| {
            multipart::upload_part_fed(root, &k, &id, n, len, trust, rx)
        });
        let feed = feed(body, tx);
        let (stored, sent): (Result<CompletedPart>, Result<()>) = tokio::join!(write, feed);
        // A body that failed is the cause; the writer only saw it stop.
        sent?;
        stored
    }

    async fn upload_part_copy(
        &self,
        src: &Key,
        range: ByteRange,
        dst: &Key,
        id: &UploadId,
        n: PartNumber,
    ) -> Result<CompletedPart> {
        let (s, d, id) = (src.clone(), dst.clone(), id.clone());
        self.run(dst, move |root| {
            multipart::upload_part_copy(root, &s, range, &d, &id, n)
        })
        .await
    }

    async fn list_parts(&self, key: &Key, id: &UploadId) -> Result<Vec<CompletedPart>> {
        let (k, id) = (key.clone(), id.clone());
        self.run(key, move |root| multipart::list_parts(root, &k, &id))
            .await
    }

    async fn complete_multipart(
        &self,
        key: &Key,
        id: &UploadId,
        parts: &[CompletedPart],
    ) -> Result<PutOutcome> {
        let (k, id, parts) = (key.clone(), id.clone(), parts.to_vec());
        let min_part = self.capabilities.min_part_size_bytes;
        self.run(key, move |root| {
            multipart::complete(root, &k, &id, &parts, min_part)
        })
        .await
    }

    async fn abort_multipart(&self, key: &Key, id: &UploadId) -> Result<()> {
        let (k, id) = (key.clone(), id.clone());
        self.run(key, move |root| multipart::abort(root, &k, &id))
            .await
    }
}
