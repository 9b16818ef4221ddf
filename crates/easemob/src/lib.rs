//! haul-easemob: [`EasemobStore`], an [`ObjectStore`](haul_core::ObjectStore) for the chat files of
//! one Easemob (or Agora Chat) app, over its REST API (protocols §5).
//!
//! Easemob stores an uploaded file under a uuid it picks, with a share
//! secret when the upload was restricted; it keeps no name, and cannot
//! list, copy or delete files. So:
//!
//! * **Keys.** The key of a `put` names the upload to haul (journal,
//!   messages, the form's `filename`) and nothing else. The object's
//!   address is [`PutOutcome::location`], `uuid?share-secret=SECRET` (just
//!   `uuid` when the upload was not restricted): record it. `get` and
//!   `head` take that as the key — or a `.../chatfiles/uuid` URL with the
//!   same `?share-secret=`; a key this store uploaded in this process also
//!   reads back ([`EasemobStore::location`]).
//! * **Uploads** are `multipart/form-data` to `chatfiles`, with
//!   `restrict-access` unless [`EasemobConfig::restrict`] is off. Over
//!   10 MB is refused before a byte is sent.
//! * **Not idempotent.** Each upload gets a new uuid, so an upload goes out
//!   once, on a connection of its own. A refused one (429, a refused token)
//!   is retryable or retried; one whose answer is lost after it was sent
//!   is an [`Error::Provider`] with code
//!   [`OUTCOME_UNKNOWN`](haul_http::unrepeatable::OUTCOME_UNKNOWN),
//!   `retryable: false`, and [`Capabilities::idempotent_put`] is `false`.
//! * **Tokens.** App tokens come from the client credentials and are
//!   cached until shortly before they expire; a cached token the service
//!   refuses (401) is fetched again once. A ready token
//!   (`EASEMOB_APP_TOKEN`, e.g. Agora Chat's) is used as it is.
//! * **Reads.** Downloads send the share secret; ranges are not documented,
//!   so `ranged_get` is `false` (a range asked anyway is cut from the whole
//!   answer). `head` reads the answer's headers only.
//!   [`EasemobStore::thumbnail`] fetches a file's thumbnail.
//!
//! ```no_run
//! use haul_core::{Key, ObjectStoreExt};
//! use haul_easemob::{EasemobConfig, EasemobStore};
//!
//! # async fn demo() -> haul_core::Result<()> {
//! let store = EasemobStore::new(EasemobConfig::from_env()?)?;
//! let out = store.put_bytes(&Key::new("chat/a.jpg")?, "hi".into()).await?;
//! let at = out.location.expect("uuid?share-secret=..."); // record it
//! let back = store.get_bytes(&Key::new(at)?).await?;
//! # Ok(()) }
//! ```

mod config;
mod core;
mod error;
mod token;

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use haul_core::{
    Capabilities, CopyOptions, Error, GetOptions, GetResponse, Key, ListOptions, ListStream,
    ObjectMeta, Payload, PutOptions, PutOutcome, Result,
};

pub use config::{DEFAULT_HOST, EasemobConfig};

use crate::core::Core;

/// The largest file Easemob takes: 10 MB (of 2^20 bytes).
pub const MAX_UPLOAD_BYTES: u64 = 10 << 20;

/// A chat file's address: its uuid and, for a restricted upload, the
/// share secret downloads must present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRef {
    /// The uuid Easemob gave the file.
    pub uuid: String,
    /// The share secret, when the upload was restricted.
    pub share_secret: Option<String>,
}

impl FileRef {
    /// Parses `uuid`, `uuid?share-secret=S`, or a URL ending in
    /// `/chatfiles/uuid[?share-secret=S]`. The uuid is hex digits and
    /// dashes (8 to 64 of them).
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        let rest = text.rsplit_once("/chatfiles/").map_or(text, |(_, r)| r);
        let (uuid, query) = rest.split_once('?').unwrap_or((rest, ""));
        let ok = (8..=64).contains(&uuid.len())
            && uuid.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
        if !ok {
            return None;
        }
        let share_secret = query
            .split('&')
            .find_map(|p| p.strip_prefix("share-secret="))
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        Some(Self {
            uuid: uuid.to_owned(),
            share_secret,
        })
    }
}

impl fmt::Display for FileRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.share_secret {
            Some(s) => write!(f, "{}?share-secret={s}", self.uuid),
            None => f.write_str(&self.uuid),
        }
    }
}

/// What Easemob can do: single uploads up to 10 MB, whole reads by uuid.
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
        ranged_get: false,
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
        empty_objects: true,
        rereadable: false,
        sums_ahead: false,
        whole_get_meta: false,
    }
}

/// An [`ObjectStore`](haul_core::ObjectStore) over one Easemob app's chat files. Cheap to clone;
/// clones share the token cache.
#[derive(Clone)]
pub struct EasemobStore {
    core: Arc<Core>,
}

impl EasemobStore {
    /// A store for `cfg`'s app. Performs no I/O: the first call fetches
    /// the app token.
    pub fn new(cfg: EasemobConfig) -> Result<Self> {
        Ok(Self {
            core: Arc::new(Core::new(cfg)?),
        })
    }

    /// The configuration (its `Debug` hides the secret and the token).
    #[must_use]
    pub fn config(&self) -> &EasemobConfig {
        &self.core.cfg
    }

    /// The address (`uuid?share-secret=...`) of this store's last upload of
    /// `key` (the newest 65,536 are remembered), or `key`'s own when it is
    /// one.
    #[must_use]
    pub fn location(&self, key: &Key) -> Option<String> {
        self.core.resolve(key).ok().map(|f| f.to_string())
    }

    /// The thumbnail Easemob made of the file `key` names (images of at
    /// most 10 KB are their own thumbnail).
    pub async fn thumbnail(&self, key: &Key) -> Result<Bytes> {
        self.core
            .get(key, GetOptions::default(), true)
            .await?
            .bytes()
            .await
    }

    fn unsupported(&self, key: &Key, operation: &str) -> Error {
        Error::not_supported(key.as_str(), operation, self)
    }
}

impl fmt::Debug for EasemobStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EasemobStore")
            .field("config", &self.core.cfg)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for EasemobStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "easemob://{}#{}", self.core.cfg.org, self.core.cfg.app)
    }
}

haul_http::single_put_store!(EasemobStore {
    fn capabilities(&self) -> &Capabilities {
        &self.core.caps
    }

    async fn head(&self, key: &Key) -> Result<ObjectMeta> {
        self.core.head(key).await
    }

    async fn get(&self, key: &Key, opts: GetOptions) -> Result<GetResponse> {
        self.core.get(key, opts, false).await
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
        Err(self.unsupported(key, "delete (chat files expire on the service's schedule)"))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_refs() {
        let f =
            FileRef::parse("5fd74830-5711-11e9-8cd7-0bd8b6a8e0b0?share-secret=X9dXXXX7Yc").unwrap();
        assert_eq!(f.uuid, "5fd74830-5711-11e9-8cd7-0bd8b6a8e0b0");
        assert_eq!(f.share_secret.as_deref(), Some("X9dXXXX7Yc"));
        assert_eq!(
            f.to_string(),
            "5fd74830-5711-11e9-8cd7-0bd8b6a8e0b0?share-secret=X9dXXXX7Yc"
        );
        let u = FileRef::parse("https://a1.easemob.com/o/a/chatfiles/5fd74830-5711").unwrap();
        assert_eq!((u.uuid.as_str(), u.share_secret), ("5fd74830-5711", None));
        assert!(FileRef::parse("photos/a.jpg").is_none());
        assert!(FileRef::parse("abc").is_none());
    }
}
