//! An in-memory [`ObjectStore`] as strict as S3.

mod listing;
mod multipart;

use multipart::Upload;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream;
use haul_core::checksum::compute;
use haul_core::{
    Attributes, ByteRange, Capabilities, Checksum, ChecksumKind, CompletedPart, CopyOptions, Error,
    GetOptions, GetResponse, Key, ListOptions, ListStream, ObjectMeta, ObjectStore, PartNumber,
    Payload, PutOptions, PutOutcome, Result, UploadId,
};

/// Size of the chunks a `get` body is split into.
const BODY_CHUNK: usize = 64 * 1024;

/// An in-memory object store with every capability, as strict as S3.
///
/// * Single-put ETags are the hex MD5 of the body; multipart ETags are
///   `hex(MD5(part MD5s concatenated))-N`.
/// * Every object reports its CRC-32C in `head`, `list` and write outcomes;
///   `upload_part` returns the part's CRC-32C.
/// * Checksums in [`PutOptions::checksums`] are verified against the body
///   (`put`) or the assembled object (`complete_multipart`), and checksums a
///   [`Payload`] carries against its bytes (`put`, `upload_part`), as S3
///   checks `Content-MD5` and `x-amz-checksum-*`: a mismatch is
///   [`Error::Integrity`] and nothing is written.
/// * Content-Type, Content-Encoding, Cache-Control, Content-Disposition and
///   user metadata given to `put` or `create_multipart` are kept with the
///   object (see [`StoredObject`]), reported by `head`, `get` and `list`, and
///   copied by `copy`.
/// * Completing refuses parts that are not strictly ascending, missing, with
///   the wrong ETag, or (except the last) smaller than
///   [`Capabilities::min_part_size_bytes`]; unknown, completed and aborted
///   upload ids are [`Error::NoSuchUpload`].
/// * Capabilities switched off in [`MemoryStore::with_capabilities`] are
///   refused with [`Error::NotSupported`], and every limit in them is enforced,
///   so the engine's other routes can be tested.
///
/// Cloning is cheap and shares the objects.
#[derive(Clone)]
pub struct MemoryStore {
    caps: Capabilities,
    state: Arc<Mutex<State>>,
}

/// A snapshot of one stored object, with what `ObjectMeta` does not carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    /// The bytes.
    pub data: Bytes,
    /// The ETag, unquoted.
    pub etag: String,
    /// When it was written.
    pub last_modified: SystemTime,
    /// The Content-Type it was written with.
    pub content_type: Option<String>,
    /// The user metadata it was written with.
    pub metadata: BTreeMap<String, String>,
    /// The Content-Encoding it was written with.
    pub content_encoding: Option<String>,
    /// The Cache-Control it was written with.
    pub cache_control: Option<String>,
    /// The Content-Disposition it was written with.
    pub content_disposition: Option<String>,
}

impl StoredObject {
    /// Its attributes, as `head` reports them.
    #[must_use]
    pub fn attributes(&self) -> Attributes {
        Attributes {
            content_type: self.content_type.clone(),
            content_encoding: self.content_encoding.clone(),
            cache_control: self.cache_control.clone(),
            content_disposition: self.content_disposition.clone(),
            metadata: self.metadata.clone(),
        }
    }
}

#[derive(Default)]
struct State {
    objects: BTreeMap<String, Object>,
    uploads: HashMap<String, Upload>,
    next_upload: u64,
}

#[derive(Clone)]
struct Object {
    key: Key,
    stored: StoredObject,
    crc32c: Checksum,
}

impl Object {
    fn meta(&self) -> ObjectMeta {
        ObjectMeta {
            key: self.key.clone(),
            size: self.stored.data.len() as u64,
            last_modified: Some(self.stored.last_modified),
            etag: Some(self.stored.etag.clone()),
            checksums: vec![self.crc32c.clone()],
            version: None,
            attrs: self.stored.attributes(),
        }
    }
}

impl MemoryStore {
    /// An empty store with S3's limits (5 MiB minimum part) and every capability.
    #[must_use]
    pub fn new() -> Self {
        Self::with_capabilities(Self::default_capabilities())
    }

    /// An empty store with every capability and the given minimum part size,
    /// so multipart tests stay small.
    #[must_use]
    pub fn with_min_part_size(bytes: u64) -> Self {
        Self::with_capabilities(Capabilities {
            min_part_size_bytes: bytes,
            ..Self::default_capabilities()
        })
    }

    /// An empty store that claims, enforces and refuses exactly `caps`.
    #[must_use]
    pub fn with_capabilities(caps: Capabilities) -> Self {
        Self {
            caps,
            state: Arc::default(),
        }
    }

    /// What [`MemoryStore::new`] claims: S3's limits, every feature, CRC-32C
    /// reported natively, MD5 single-put ETags.
    #[must_use]
    pub fn default_capabilities() -> Capabilities {
        Capabilities {
            native_checksums: vec![ChecksumKind::Crc32c],
            etag_is_md5: true,
            ..Capabilities::default()
        }
    }

    /// The stored object at `key`, if any.
    #[must_use]
    pub fn object(&self, key: &Key) -> Option<StoredObject> {
        self.lock()
            .objects
            .get(key.as_str())
            .map(|o| o.stored.clone())
    }

    /// Every key, in ascending order.
    #[must_use]
    pub fn keys(&self) -> Vec<Key> {
        self.lock()
            .objects
            .values()
            .map(|o| o.key.clone())
            .collect()
    }

    /// Multipart uploads neither completed nor aborted, sorted by key then id.
    #[must_use]
    pub fn pending_uploads(&self) -> Vec<(Key, UploadId)> {
        let mut v: Vec<_> = self
            .lock()
            .uploads
            .iter()
            .map(|(id, u)| (u.key.clone(), UploadId(id.clone())))
            .collect();
        v.sort_by(|a, b| (a.0.as_str(), &a.1.0).cmp(&(b.0.as_str(), &b.1.0)));
        v
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn unsupported(&self, key: &str, operation: &str) -> Error {
        Error::NotSupported {
            key: key.to_owned(),
            operation: operation.to_owned(),
            store: self.to_string(),
        }
    }

    fn require(&self, on: bool, key: &Key, operation: &str) -> Result<()> {
        if on {
            Ok(())
        } else {
            Err(self.unsupported(key.as_str(), operation))
        }
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.lock();
        f.debug_struct("MemoryStore")
            .field("objects", &st.objects.len())
            .field("uploads", &st.uploads.len())
            .field("min_part_size_bytes", &self.caps.min_part_size_bytes)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("memory://")
    }
}

fn new_object(key: &Key, data: Bytes, etag: String, crc32c: Checksum, opts: &PutOptions) -> Object {
    Object {
        key: key.clone(),
        stored: StoredObject {
            data,
            etag,
            last_modified: SystemTime::now(),
            content_type: opts.content_type.clone(),
            metadata: opts.metadata.clone(),
            content_encoding: opts.content_encoding.clone(),
            cache_control: opts.cache_control.clone(),
            content_disposition: opts.content_disposition.clone(),
        },
        crc32c,
    }
}

fn not_found(key: &Key) -> Error {
    Error::not_found(key.as_str(), "NoSuchKey")
}

fn no_such_upload(key: &Key, id: &UploadId) -> Error {
    Error::NoSuchUpload {
        key: key.as_str().to_owned(),
        upload_id: id.0.clone(),
    }
}

fn upload_mut<'a>(st: &'a mut State, key: &Key, id: &UploadId) -> Result<&'a mut Upload> {
    match st.uploads.get_mut(&id.0) {
        Some(u) if u.key == *key => Ok(u),
        _ => Err(no_such_upload(key, id)),
    }
}

/// Checks `data` against every checksum the caller sent.
fn verify(key: &Key, data: &[u8], checksums: &[Checksum]) -> Result<()> {
    for expected in checksums {
        let actual = compute(expected.kind(), data);
        if actual != *expected {
            return Err(Error::Integrity {
                key: key.as_str().to_owned(),
                expected: expected.to_string(),
                actual: actual.to_string(),
            });
        }
    }
    Ok(())
}

fn check_if_match(key: &Key, etag: &str, if_match: Option<&String>) -> Result<()> {
    match if_match {
        Some(want) if want.trim_matches('"') != etag => Err(Error::Precondition {
            key: key.as_str().to_owned(),
            source: format!("ETag is {etag}, not {want}").into(),
        }),
        _ => Ok(()),
    }
}

fn body_stream(data: &Bytes) -> futures::stream::BoxStream<'static, Result<Bytes>> {
    let chunks: Vec<Result<Bytes>> = (0..data.len())
        .step_by(BODY_CHUNK)
        .map(|at| Ok(data.slice(at..(at + BODY_CHUNK).min(data.len()))))
        .collect();
    stream::iter(chunks).boxed()
}

#[async_trait]
impl ObjectStore for MemoryStore {
    fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    async fn head(&self, key: &Key) -> Result<ObjectMeta> {
        self.lock()
            .objects
            .get(key.as_str())
            .map(Object::meta)
            .ok_or_else(|| not_found(key))
    }

    async fn get(&self, key: &Key, opts: GetOptions) -> Result<GetResponse> {
        let obj = self.lock().objects.get(key.as_str()).cloned();
        let obj = obj.ok_or_else(|| not_found(key))?;
        check_if_match(key, &obj.stored.etag, opts.if_match.as_ref())?;
        let size = obj.stored.data.len() as u64;
        let range = match opts.range {
            None => 0..size,
            Some(_) if !self.caps.ranged_get => {
                return Err(self.unsupported(key.as_str(), "ranged get"));
            }
            Some(_) if size == 0 => 0..0,
            Some(r) => r.resolve(size).ok_or_else(|| {
                Error::invalid(
                    key.as_str(),
                    format!(
                        "InvalidRange: {} of a {size}-byte object",
                        r.to_http_header()
                    ),
                )
            })?,
        };
        let body = obj
            .stored
            .data
            .slice(range.start as usize..range.end as usize);
        Ok(GetResponse {
            meta: obj.meta(),
            range,
            body: body_stream(&body),
        })
    }

    async fn put(&self, key: &Key, body: Payload, opts: PutOptions) -> Result<PutOutcome> {
        if body.len() > self.caps.max_single_put_bytes {
            return Err(Error::invalid(
                key.as_str(),
                format!(
                    "EntityTooLarge: put of {} bytes is above the {} byte maximum",
                    body.len(),
                    self.caps.max_single_put_bytes
                ),
            ));
        }
        let data = body.to_bytes();
        verify(key, &data, &opts.checksums)?;
        verify(key, &data, body.checksums())?;
        let etag = compute(ChecksumKind::Md5, &data).to_hex();
        let crc32c = compute(ChecksumKind::Crc32c, &data);
        let obj = new_object(key, data, etag.clone(), crc32c.clone(), &opts);
        self.lock().objects.insert(key.as_str().to_owned(), obj);
        Ok(PutOutcome {
            etag: Some(etag),
            checksums: vec![crc32c],
            version: None,
            ..PutOutcome::default()
        })
    }

    async fn copy(&self, src: &Key, dst: &Key, opts: CopyOptions) -> Result<PutOutcome> {
        self.require(self.caps.server_side_copy, dst, "copy")?;
        let obj = self.lock().objects.get(src.as_str()).cloned();
        let obj = obj.ok_or_else(|| not_found(src))?;
        check_if_match(src, &obj.stored.etag, opts.if_match.as_ref())?;
        let size = obj.stored.data.len() as u64;
        if size > self.caps.max_copy_bytes {
            return Err(Error::invalid(
                src.as_str(),
                format!(
                    "InvalidRequest: source of {size} bytes is above the {} byte copy maximum",
                    self.caps.max_copy_bytes
                ),
            ));
        }
        let etag = compute(ChecksumKind::Md5, &obj.stored.data).to_hex();
        let copied = Object {
            key: dst.clone(),
            stored: StoredObject {
                etag: etag.clone(),
                last_modified: SystemTime::now(),
                ..obj.stored
            },
            crc32c: obj.crc32c,
        };
        let crc32c = copied.crc32c.clone();
        self.lock().objects.insert(dst.as_str().to_owned(), copied);
        Ok(PutOutcome {
            etag: Some(etag),
            checksums: vec![crc32c],
            version: None,
            ..PutOutcome::default()
        })
    }

    async fn delete(&self, key: &Key) -> Result<()> {
        self.lock().objects.remove(key.as_str());
        Ok(())
    }

    async fn delete_many(&self, keys: &[Key]) -> Result<Vec<Result<()>>> {
        if keys.len() > self.caps.batch_delete_max {
            return Err(Error::invalid(
                keys.first().map_or("", Key::as_str),
                format!(
                    "MalformedXML: {} keys in one batch delete, above the {} maximum",
                    keys.len(),
                    self.caps.batch_delete_max
                ),
            ));
        }
        let mut st = self.lock();
        Ok(keys
            .iter()
            .map(|k| {
                st.objects.remove(k.as_str());
                Ok(())
            })
            .collect())
    }

    fn list(&self, prefix: &str, opts: ListOptions) -> ListStream {
        if !self.caps.list {
            return stream::iter([Err(self.unsupported(prefix, "list"))]).boxed();
        }
        listing::list(Arc::clone(&self.state), prefix, opts)
    }

    async fn create_multipart(&self, key: &Key, opts: PutOptions) -> Result<UploadId> {
        self.require(self.caps.multipart, key, "multipart upload")?;
        let mut st = self.lock();
        st.next_upload += 1;
        let id = format!("mem-upload-{}", st.next_upload);
        st.uploads.insert(
            id.clone(),
            Upload {
                key: key.clone(),
                opts,
                parts: BTreeMap::new(),
            },
        );
        Ok(UploadId(id))
    }

    async fn upload_part(
        &self,
        key: &Key,
        id: &UploadId,
        n: PartNumber,
        body: Payload,
    ) -> Result<CompletedPart> {
        self.require(self.caps.multipart, key, "multipart upload")?;
        let data = body.to_bytes();
        verify(key, &data, body.checksums())?;
        self.store_part(key, id, n, data)
    }

    async fn upload_part_copy(
        &self,
        src: &Key,
        range: ByteRange,
        dst: &Key,
        id: &UploadId,
        n: PartNumber,
    ) -> Result<CompletedPart> {
        self.require(self.caps.part_copy, dst, "upload part copy")?;
        let obj = self.lock().objects.get(src.as_str()).cloned();
        let obj = obj.ok_or_else(|| not_found(src))?;
        let size = obj.stored.data.len() as u64;
        let past_end = matches!(range, ByteRange::Bounded { end, .. } if end > size);
        let resolved = range.resolve(size).filter(|_| !past_end).ok_or_else(|| {
            Error::invalid(
                src.as_str(),
                format!(
                    "InvalidRange: copy range {} of a {size}-byte source",
                    range.to_http_header()
                ),
            )
        })?;
        let data = obj
            .stored
            .data
            .slice(resolved.start as usize..resolved.end as usize);
        self.store_part(dst, id, n, data)
    }

    async fn list_parts(&self, key: &Key, id: &UploadId) -> Result<Vec<CompletedPart>> {
        self.require(self.caps.list_parts, key, "list parts")?;
        let mut st = self.lock();
        let upload = upload_mut(&mut st, key, id)?;
        Ok(upload.parts.iter().map(|(n, p)| p.completed(*n)).collect())
    }

    async fn complete_multipart(
        &self,
        key: &Key,
        id: &UploadId,
        parts: &[CompletedPart],
    ) -> Result<PutOutcome> {
        self.require(self.caps.multipart, key, "multipart upload")?;
        let mut st = self.lock();
        let obj = self.assemble(upload_mut(&mut st, key, id)?, key, parts)?;
        st.uploads.remove(&id.0);
        let outcome = PutOutcome {
            etag: Some(obj.stored.etag.clone()),
            checksums: vec![obj.crc32c.clone()],
            version: None,
            ..PutOutcome::default()
        };
        st.objects.insert(key.as_str().to_owned(), obj);
        Ok(outcome)
    }

    async fn abort_multipart(&self, key: &Key, id: &UploadId) -> Result<()> {
        self.require(self.caps.multipart, key, "multipart upload")?;
        let mut st = self.lock();
        upload_mut(&mut st, key, id)?;
        st.uploads.remove(&id.0);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
