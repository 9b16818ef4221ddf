//! haul-nos: [`NosStore`], an [`ObjectStore`](haul_core::ObjectStore) for files uploaded through
//! NetEase Yunxin's IM server API into NOS (protocols §4).
//!
//! Yunxin stores a file and answers with its URL; it keeps no name, cannot
//! list, copy or delete single files, and each upload gets a new URL. So:
//!
//! * **Keys.** The key of a `put` names the upload to haul (the journal,
//!   messages, the `filename` of a form upload) and nothing else. The
//!   object's address is the URL in [`PutOutcome::location`]: record it.
//!   `get` and `head` take that URL as the key (any `http://`/`https://`
//!   key is read as a URL); a key this store uploaded in this process also
//!   reads back, through [`NosStore::location`].
//! * **Uploads.** Bodies up to [`NosConfig::base64_max_bytes`] go base64 to
//!   `upload.action`, larger ones as a file to `fileUpload.action`, each
//!   request signed with a fresh `CheckSum`. Over 15 MB, or empty, is
//!   refused before a byte is sent.
//! * **Not idempotent.** A retry stores a second copy under a new URL, so
//!   an upload goes out once, on a connection of its own. Refused ones
//!   (code 416, rate limited) are retryable; an upload whose answer is
//!   lost after it was sent is an [`Error::Provider`] with code
//!   [`OUTCOME_UNKNOWN`](haul_http::unrepeatable::OUTCOME_UNKNOWN) and
//!   `retryable: false` — "sent, answer unknown" — and
//!   [`Capabilities::idempotent_put`] is `false`.
//! * **Reads.** Ranged GETs of the URL (a server ignoring `Range` is cut to
//!   the range); `head` is a one-byte GET.
//!
//! ```no_run
//! use haul_core::{Key, ObjectStoreExt};
//! use haul_nos::{NosConfig, NosStore};
//!
//! # async fn demo() -> haul_core::Result<()> {
//! let store = NosStore::new(NosConfig::from_env()?)?;
//! let out = store.put_bytes(&Key::new("photos/a.jpg")?, "hi".into()).await?;
//! let url = out.location.expect("NOS answers a URL"); // record it
//! let back = store.get_bytes(&Key::new(url)?).await?;
//! # Ok(()) }
//! ```

pub mod auth;
mod config;
mod core;
mod error;

use std::fmt;
use std::sync::Arc;

use haul_core::{
    Capabilities, CopyOptions, Error, GetOptions, GetResponse, Key, ListOptions, ListStream,
    ObjectMeta, Payload, PutOptions, PutOutcome, Result,
};

pub use config::{DEFAULT_API_URL, MAX_TAG_CHARS, MIN_EXPIRE_SECS, NosConfig, SG_API_URL};

use crate::core::Core;

/// The largest file NOS takes: 15 MB (of 2^20 bytes).
pub const MAX_UPLOAD_BYTES: u64 = 15 << 20;

/// What NOS can do: single uploads up to 15 MB, ranged reads by URL, and
/// nothing else.
fn capabilities() -> Capabilities {
    Capabilities {
        multipart: false,
        min_part_size_bytes: 1,
        max_part_size_bytes: MAX_UPLOAD_BYTES,
        max_parts: 1,
        max_single_put_bytes: MAX_UPLOAD_BYTES,
        max_object_size_bytes: MAX_UPLOAD_BYTES,
        server_side_copy: false,
        max_copy_bytes: 0,
        part_copy: false,
        list_parts: false,
        list: false,
        ranged_get: true,
        native_checksums: Vec::new(),
        wants_content_md5: false,
        etag_is_md5: false,
        batch_delete_max: 1,
        idempotent_put: false,
        // Nowhere to keep Content-Type or user metadata.
        metadata: false,
        streamed_parts: false,
        streamed_puts: true,
        delete: false,
        empty_objects: false,
        rereadable: false,
        sums_ahead: false,
        whole_get_meta: false,
    }
}

/// An [`ObjectStore`](haul_core::ObjectStore) over one Yunxin app's NOS uploads. Cheap to clone.
#[derive(Clone)]
pub struct NosStore {
    core: Arc<Core>,
}

impl NosStore {
    /// A store for `cfg`'s app. Performs no I/O; wrong credentials show up
    /// on the first upload. Fails when `cfg` holds a value Yunxin refuses.
    pub fn new(cfg: NosConfig) -> Result<Self> {
        Ok(Self {
            core: Arc::new(Core::new(cfg)?),
        })
    }

    /// The configuration (its `Debug` hides the app secret).
    #[must_use]
    pub fn config(&self) -> &NosConfig {
        &self.core.cfg
    }

    /// The URL this store's last upload of `key` was given (the newest
    /// 65,536 uploads are remembered), or `key` itself when it is a URL.
    #[must_use]
    pub fn location(&self, key: &Key) -> Option<String> {
        self.core.resolve(key).ok()
    }

    fn unsupported(&self, key: &Key, operation: &str) -> Error {
        Error::not_supported(key.as_str(), operation, self)
    }
}

impl fmt::Debug for NosStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NosStore")
            .field("config", &self.core.cfg)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for NosStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "nos://{}", self.core.cfg.app_key)
    }
}

haul_http::single_put_store!(NosStore {
    fn capabilities(&self) -> &Capabilities {
        &self.core.caps
    }

    async fn head(&self, key: &Key) -> Result<ObjectMeta> {
        self.core.head(key).await
    }

    async fn get(&self, key: &Key, opts: GetOptions) -> Result<GetResponse> {
        self.core.get(key, opts).await
    }

    async fn put(&self, key: &Key, body: Payload, opts: PutOptions) -> Result<PutOutcome> {
        self.core.put(key, body.into(), opts).await
    }

    async fn put_stream(
        &self,
        key: &Key,
        body: haul_core::PayloadStream,
        opts: PutOptions,
    ) -> Result<PutOutcome> {
        self.core.put(key, body.into(), opts).await
    }

    async fn copy(&self, _src: &Key, dst: &Key, _opts: CopyOptions) -> Result<PutOutcome> {
        Err(self.unsupported(dst, "copy"))
    }

    async fn delete(&self, key: &Key) -> Result<()> {
        Err(self.unsupported(
            key,
            "delete (Yunxin deletes only by time range and tag, through /job/nos/del.action)",
        ))
    }

    async fn delete_many(&self, keys: &[Key]) -> Result<Vec<Result<()>>> {
        Ok(keys
            .iter()
            .map(|k| Err(self.unsupported(k, "delete")))
            .collect())
    }

    fn list(&self, prefix: &str, _opts: ListOptions) -> ListStream {
        haul_core::unlistable(prefix, self)
    }
});
