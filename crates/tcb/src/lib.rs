//! haul-tcb: [`TcbStore`], an [`ObjectStore`](haul_core::ObjectStore) for the cloud storage of one
//! WeChat CloudBase (tcb) environment, over WeChat's HTTP API
//! (protocols §6).
//!
//! * **Keys** are paths in the environment's storage (`photos/a.jpg`);
//!   their file id is `cloud://<env>.<bucket>/<path>`, which is also
//!   accepted as a key and returned as [`PutOutcome::location`]. The
//!   bucket comes from [`TcbConfig::bucket`] (`TCB_BUCKET`) or the first
//!   upload's answer.
//! * **Uploads** take two steps: `uploadfile` hands out a COS form-POST
//!   ticket, then the file goes to COS as `multipart/form-data` with
//!   `key`, `Signature`, `x-cos-security-token`, `x-cos-meta-fileid` and
//!   `file` (204). Re-uploading a path replaces the file.
//! * **Not idempotent** (protocols §7): a lost answer to step 1 stored
//!   nothing and is retryable; a lost answer to step 2 is an
//!   [`Error::Provider`] with code
//!   [`OUTCOME_UNKNOWN`](haul_http::unrepeatable::OUTCOME_UNKNOWN),
//!   `retryable: false`, and [`Capabilities::idempotent_put`] is `false`.
//!   Sending it again replaces the same path, so re-sending on the user's
//!   word cannot leave a duplicate.
//! * **Reads**: `batchdownloadfile` gives a download URL (cached for half
//!   its `max_age`), read with ranged GETs; `head` is a one-byte GET.
//! * **Deletes**: `batchdeletefile`, [`MAX_BATCH`] files a call, each
//!   file's status its own result (a missing file counts as deleted).
//! * **Tokens**: the access token comes from `cgi-bin/token` and is cached;
//!   `errcode` 42001 (expired) or 40001/40014 (replaced) on a cached token
//!   fetches a new one once and sends the call again.
//! * There is no listing, copy or multipart in the HTTP API.
//!
//! ```no_run
//! use haul_core::{Key, ObjectStoreExt};
//! use haul_tcb::{TcbConfig, TcbStore};
//!
//! # async fn demo() -> haul_core::Result<()> {
//! let store = TcbStore::new(TcbConfig::from_env()?)?;
//! let k = Key::new("photos/a.jpg")?;
//! let out = store.put_bytes(&k, "hi".into()).await?;
//! println!("{:?}", out.location); // Some("cloud://env.bucket/photos/a.jpg")
//! assert_eq!(&store.get_bytes(&k).await?[..], b"hi");
//! # Ok(()) }
//! ```

mod config;
mod core;
mod error;

use std::fmt;
use std::sync::Arc;

use haul_core::{
    Capabilities, CopyOptions, Error, GetOptions, GetResponse, Key, ListOptions, ListStream,
    ObjectMeta, Payload, PutOptions, PutOutcome, Result,
};

pub use config::{DEFAULT_API_URL, TcbConfig};

use crate::core::Core;

/// The largest single upload: COS's POST Object limit, 5 GiB.
pub const MAX_UPLOAD_BYTES: u64 = 5 << 30;
/// The most files one `batchdownloadfile` or `batchdeletefile` call takes.
pub const MAX_BATCH: usize = 50;

/// What CloudBase's HTTP API can do.
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
        batch_delete_max: MAX_BATCH,
        idempotent_put: false,
        // Nowhere to keep Content-Type or user metadata.
        metadata: false,
        streamed_parts: false,
        streamed_puts: true,
        delete: true,
        empty_objects: true,
        rereadable: false,
        sums_ahead: false,
        whole_get_meta: false,
    }
}

/// An [`ObjectStore`](haul_core::ObjectStore) over one CloudBase environment's storage. Cheap to
/// clone; clones share the token.
#[derive(Clone)]
pub struct TcbStore {
    core: Arc<Core>,
}

impl TcbStore {
    /// A store for `cfg`'s environment. Performs no I/O.
    pub fn new(cfg: TcbConfig) -> Result<Self> {
        Ok(Self {
            core: Arc::new(Core::new(cfg)?),
        })
    }

    /// The configuration (its `Debug` hides the secret and the token).
    #[must_use]
    pub fn config(&self) -> &TcbConfig {
        &self.core.cfg
    }

    /// The `cloud://` file id of `key`, when the bucket is known.
    pub fn file_id(&self, key: &Key) -> Result<String> {
        self.core.file_id(key)
    }

    fn unsupported(&self, key: &Key, operation: &str) -> Error {
        Error::not_supported(key.as_str(), operation, self)
    }
}

impl fmt::Debug for TcbStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcbStore")
            .field("config", &self.core.cfg)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for TcbStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tcb://{}", self.core.cfg.env)
    }
}

haul_http::single_put_store!(TcbStore {
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
        let mut r = self.core.delete_many(std::slice::from_ref(key)).await?;
        r.pop().unwrap_or(Ok(()))
    }

    async fn delete_many(&self, keys: &[Key]) -> Result<Vec<Result<()>>> {
        self.core.delete_many(keys).await
    }

    fn list(&self, prefix: &str, _opts: ListOptions) -> ListStream {
        haul_core::unlistable(prefix, self)
    }
});
