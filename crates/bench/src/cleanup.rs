//! Removing what a benchmark wrote: every key under its unique prefix, and
//! every multipart upload it left unfinished.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use haul_core::{Key, ObjectStore, ObjectStoreExt, UploadId};

use crate::report::Cleanup;

/// Keys and unfinished uploads a benchmark wrote, for [`cleanup`].
#[derive(Debug, Clone, Default)]
pub(crate) struct Written(Arc<Mutex<Inner>>);

#[derive(Debug, Default)]
struct Inner {
    keys: BTreeSet<Key>,
    uploads: Vec<(Key, UploadId)>,
}

impl Written {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records a key before it is written (a write that fails may still land).
    pub(crate) fn add(&self, key: Key) {
        self.lock().keys.insert(key);
    }

    /// Records a started multipart upload.
    pub(crate) fn add_upload(&self, key: Key, id: UploadId) {
        self.lock().uploads.push((key, id));
    }

    /// Forgets a completed upload.
    pub(crate) fn upload_done(&self, key: &Key, id: &UploadId) {
        self.lock().uploads.retain(|(k, i)| !(k == key && i == id));
    }
}

/// Aborts unfinished uploads, then deletes every key under `prefix` (listed)
/// and every key recorded in `written` (in case listing fails or lags), in
/// batches. Never fails: what could not be removed is counted.
pub(crate) async fn cleanup(store: &dyn ObjectStore, prefix: &str, written: &Written) -> Cleanup {
    let (mut keys, uploads) = {
        let mut inner = written.lock();
        (
            std::mem::take(&mut inner.keys),
            std::mem::take(&mut inner.uploads),
        )
    };
    let mut out = Cleanup::default();
    for (key, id) in uploads {
        match store.abort_multipart(&key, &id).await {
            Ok(()) | Err(haul_core::Error::NoSuchUpload { .. }) => out.aborted_uploads += 1,
            Err(_) => out.errors += 1,
        }
    }
    if !prefix.is_empty() {
        match store.list_all(prefix).await {
            Ok(listed) => keys.extend(listed.into_iter().map(|m| m.key)),
            Err(_) => out.errors += 1,
        }
    }
    let keys: Vec<Key> = keys.into_iter().collect();
    let batch = store.capabilities().batch_delete_max.max(1);
    for chunk in keys.chunks(batch) {
        match store.delete_many(chunk).await {
            Ok(results) => {
                for r in results {
                    if r.is_ok() {
                        out.deleted += 1;
                    } else {
                        out.errors += 1;
                    }
                }
            }
            Err(_) => {
                for key in chunk {
                    match store.delete(key).await {
                        Ok(()) => out.deleted += 1,
                        Err(_) => out.errors += 1,
                    }
                }
            }
        }
    }
    out
}
