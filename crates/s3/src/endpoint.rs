//! [`S3Endpoint`]: every bucket of one endpoint, keys `"<bucket>/<key>"`.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt, stream};
use haul_core::{
    ByteRange, Capabilities, CompletedPart, CopyOptions, Error, GetOptions, GetResponse, Key,
    ListEntry, ListOptions, ListStream, ObjectMeta, ObjectStore, PartNumber, Payload,
    PayloadStream, PutOptions, PutOutcome, Result, UploadId,
};

use crate::config::S3Config;
use crate::store::S3Store;

/// An [`ObjectStore`] over every bucket of one S3 endpoint and set of
/// credentials. A key is `"<bucket>/<key>"`: the first `/`-separated segment
/// names the bucket, the rest is the object key within it.
///
/// Because both sides of a copy between buckets are then one store,
/// [`copy`](ObjectStore::copy) and
/// [`upload_part_copy`](ObjectStore::upload_part_copy) work across buckets
/// server-side (`x-amz-copy-source: /<bucket>/<key>`): the bytes never pass
/// through the client.
///
/// Each call goes to an [`S3Store`] for its bucket, made on first use from
/// the template configuration and kept for the life of the endpoint; all of
/// them share one pooled HTTP client. Listing needs a bucket: a prefix is
/// `"<bucket>/"` or `"<bucket>/<prefix>"`; the buckets themselves are
/// listed, created and deleted by [`S3Endpoint::list_buckets`],
/// [`S3Endpoint::create_bucket`] and [`S3Endpoint::delete_bucket`]. Errors
/// name the key as given, bucket included.
///
/// ```no_run
/// use haul_core::{CopyOptions, Key, ObjectStore};
/// use haul_s3::{S3Config, S3Endpoint};
///
/// # async fn demo() -> haul_core::Result<()> {
/// let s3 = S3Endpoint::new(S3Config::from_env("")?)?;
/// let (src, dst) = (Key::new("photos/a b.jpg")?, Key::new("backup/2026/a b.jpg")?);
/// s3.copy(&src, &dst, CopyOptions::default()).await?; // CopyObject, photos → backup
/// # Ok(()) }
/// ```
pub struct S3Endpoint {
    template: S3Config,
    caps: Capabilities,
    http: reqwest::Client,
    stores: Mutex<HashMap<String, Arc<S3Store>>>,
}

impl S3Endpoint {
    /// An endpoint with `template`'s endpoint, region, credentials and
    /// settings; its `bucket` is ignored (each key names its own). Performs
    /// no I/O, but refuses an endpoint URL that cannot work.
    pub fn new(template: S3Config) -> Result<Self> {
        // Resolve the addressing once with a stand-in bucket, so a bad
        // endpoint fails here rather than on every call.
        let probe = S3Config {
            bucket: "bucket".to_owned(),
            ..template.clone()
        };
        crate::core::endpoint(&probe)
            .map_err(|e| rekey(e, |_| Some(display_name(&template).to_owned())))?;
        Ok(Self {
            caps: crate::core::capabilities(&template),
            http: crate::core::client(&template)?,
            stores: Mutex::new(HashMap::new()),
            template,
        })
    }

    /// The template configuration (its `Debug` hides the secrets).
    #[must_use]
    pub fn config(&self) -> &S3Config {
        &self.template
    }

    /// The store for bucket `name`, the one this endpoint's calls on
    /// `"<name>/..."` keys use (made now if it was not yet). Performs no I/O.
    pub fn bucket(&self, name: &str) -> Result<Arc<S3Store>> {
        let mut stores = self.stores.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(store) = stores.get(name) {
            return Ok(Arc::clone(store));
        }
        let cfg = S3Config {
            bucket: name.to_owned(),
            ..self.template.clone()
        };
        let store = Arc::new(S3Store::with_client(cfg, self.http.clone())?);
        stores.insert(name.to_owned(), Arc::clone(&store));
        Ok(store)
    }

    /// The pooled HTTP client every bucket's store shares.
    pub(crate) fn http(&self) -> reqwest::Client {
        self.http.clone()
    }

    /// The store of `key`'s bucket and the key within it.
    fn locate(&self, key: &Key) -> Result<(Arc<S3Store>, Key)> {
        let (bucket, inner) = split(key)?;
        Ok((self.bucket(bucket)?, inner))
    }
}

/// Splits `"<bucket>/<key>"`, both parts non-empty.
fn split(key: &Key) -> Result<(&str, Key)> {
    match key.as_str().split_once('/') {
        Some((bucket, inner)) if !bucket.is_empty() && !inner.is_empty() => {
            Ok((bucket, Key::new(inner)?))
        }
        _ => Err(Error::invalid(
            key.as_str(),
            "a key of an S3 endpoint is \"<bucket>/<key>\": a bucket, a '/', and a non-empty key",
        )),
    }
}

/// The string an error of a per-bucket call names, mutable.
fn key_mut(e: &mut Error) -> Option<&mut String> {
    match e {
        Error::NotFound { key, .. }
        | Error::NoSuchUpload { key, .. }
        | Error::AlreadyExists { key, .. }
        | Error::Precondition { key, .. }
        | Error::PermissionDenied { key, .. }
        | Error::Unauthenticated { key, .. }
        | Error::NotSupported { key, .. }
        | Error::InvalidInput { key, .. }
        | Error::RateLimited { key, .. }
        | Error::Integrity { key, .. }
        | Error::Transient { key, .. }
        | Error::Io { key, .. }
        | Error::Provider { key, .. } => Some(key),
        _ => None,
    }
}

/// Renames what `e` names, where `rename` gives a new name for the old one.
fn rekey(mut e: Error, rename: impl FnOnce(&str) -> Option<String>) -> Error {
    if let Some(key) = key_mut(&mut e)
        && let Some(new) = rename(key)
    {
        *key = new;
    }
    e
}

/// Puts the endpoint's names on an error that names keys within a bucket:
/// each `(inner, outer)` pair maps a key as the bucket's store saw it to
/// the key as the caller gave it.
fn qualify(e: Error, names: &[(&str, &str)]) -> Error {
    rekey(e, |k| {
        names
            .iter()
            .find(|(inner, _)| *inner == k)
            .map(|(_, outer)| (*outer).to_owned())
    })
}

/// `Display` of an endpoint: its URL, or `s3://` for AWS.
fn display_name(cfg: &S3Config) -> &str {
    cfg.endpoint.as_deref().unwrap_or("s3://")
}

/// A listing that fails at once.
fn failed(e: Error) -> ListStream {
    stream::once(async move { Err(e) }).boxed()
}

impl fmt::Debug for S3Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Endpoint")
            .field("template", &self.template)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for S3Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(display_name(&self.template))
    }
}

#[async_trait]
impl ObjectStore for S3Endpoint {
    fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    async fn head(&self, key: &Key) -> Result<ObjectMeta> {
        let (store, inner) = self.locate(key)?;
        let mut meta = store
            .head(&inner)
            .await
            .map_err(|e| qualify(e, &[(inner.as_str(), key.as_str())]))?;
        meta.key = key.clone();
        Ok(meta)
    }

    async fn get(&self, key: &Key, opts: GetOptions) -> Result<GetResponse> {
        let (store, inner) = self.locate(key)?;
        let mut resp = store
            .get(&inner, opts)
            .await
            .map_err(|e| qualify(e, &[(inner.as_str(), key.as_str())]))?;
        resp.meta.key = key.clone();
        let outer = key.to_string();
        resp.body = resp
            .body
            .map_err(move |e| qualify(e, &[(inner.as_str(), outer.as_str())]))
            .boxed();
        Ok(resp)
    }

    async fn put(&self, key: &Key, body: Payload, opts: PutOptions) -> Result<PutOutcome> {
        let (store, inner) = self.locate(key)?;
        store
            .put(&inner, body, opts)
            .await
            .map_err(|e| qualify(e, &[(inner.as_str(), key.as_str())]))
    }

    async fn put_stream(
        &self,
        key: &Key,
        body: PayloadStream,
        opts: PutOptions,
    ) -> Result<PutOutcome> {
        let (store, inner) = self.locate(key)?;
        store
            .put_stream(&inner, body, opts)
            .await
            .map_err(|e| qualify(e, &[(inner.as_str(), key.as_str())]))
    }

    async fn copy(&self, src: &Key, dst: &Key, opts: CopyOptions) -> Result<PutOutcome> {
        let (from, src_inner) = self.locate(src)?;
        let (to, dst_inner) = self.locate(dst)?;
        to.copy_from(&from, &src_inner, &dst_inner, opts)
            .await
            .map_err(|e| {
                qualify(
                    e,
                    &[
                        (src_inner.as_str(), src.as_str()),
                        (dst_inner.as_str(), dst.as_str()),
                    ],
                )
            })
    }

    async fn delete(&self, key: &Key) -> Result<()> {
        let (store, inner) = self.locate(key)?;
        store
            .delete(&inner)
            .await
            .map_err(|e| qualify(e, &[(inner.as_str(), key.as_str())]))
    }

    async fn delete_many(&self, keys: &[Key]) -> Result<Vec<Result<()>>> {
        // One batch per bucket (in order of first appearance); results go
        // back to the keys' places. A bad key fails alone.
        let mut out: Vec<Option<Result<()>>> = Vec::with_capacity(keys.len());
        let mut groups: Vec<(&str, Vec<usize>, Vec<Key>)> = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            match split(key) {
                Ok((bucket, inner)) => {
                    out.push(None);
                    match groups.iter_mut().find(|g| g.0 == bucket) {
                        Some(g) => {
                            g.1.push(i);
                            g.2.push(inner);
                        }
                        None => groups.push((bucket, vec![i], vec![inner])),
                    }
                }
                Err(e) => out.push(Some(Err(e))),
            }
        }
        for (bucket, places, inner) in groups {
            // A failed batch (a missing bucket, ...) names the bucket.
            let results = self.bucket(bucket)?.delete_many(&inner).await?;
            for ((i, k), r) in places.into_iter().zip(&inner).zip(results) {
                out[i] = Some(r.map_err(|e| qualify(e, &[(k.as_str(), keys[i].as_str())])));
            }
        }
        Ok(out
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                r.unwrap_or_else(|| {
                    Err(Error::transient(
                        keys[i].as_str(),
                        "the store gave no result for this key",
                    ))
                })
            })
            .collect())
    }

    fn list(&self, prefix: &str, mut opts: ListOptions) -> ListStream {
        let Some((bucket, inner)) = prefix.split_once('/').filter(|(b, _)| !b.is_empty()) else {
            return failed(Error::invalid(
                prefix,
                "an S3 endpoint lists within one bucket: the prefix must be \
                 \"<bucket>/\" or \"<bucket>/<prefix>\" (S3Endpoint::list_buckets lists buckets)",
            ));
        };
        let head = format!("{bucket}/");
        if let Some(after) = opts.start_after.take() {
            match after.strip_prefix(head.as_str()) {
                Some(rest) if !rest.is_empty() => opts.start_after = Some(rest.to_owned()),
                // Before every key of the bucket: no bound at all.
                Some(_) => {}
                None if after < head => {}
                // After every key of the bucket.
                None => return stream::empty().boxed(),
            }
        }
        let store = match self.bucket(bucket) {
            Ok(store) => store,
            Err(e) => return failed(e),
        };
        // The bucket's store names the bucket for an empty prefix, else a
        // prefix or a listed key: all of them get the bucket in front.
        let (bucket, outer, bare) = (bucket.to_owned(), prefix.to_owned(), inner.is_empty());
        store
            .list(inner, opts)
            .map(move |entry| match entry {
                Ok(ListEntry::Object(mut meta)) => {
                    let name = format!("{head}{}", meta.key);
                    meta.key = Key::new(name.clone()).map_err(|e| {
                        Error::invalid(name, format!("listed key is unusable with its bucket: {e}"))
                    })?;
                    Ok(ListEntry::Object(meta))
                }
                Ok(ListEntry::Prefix(p)) => Ok(ListEntry::Prefix(format!("{head}{p}"))),
                Ok(ListEntry::Unusable(mut u)) => {
                    u.name = format!("{head}{}", u.name);
                    Ok(ListEntry::Unusable(u))
                }
                Err(e) => Err(rekey(e, |k| {
                    Some(if bare && k == bucket {
                        outer.clone()
                    } else {
                        format!("{head}{k}")
                    })
                })),
            })
            .boxed()
    }

    async fn create_multipart(&self, key: &Key, opts: PutOptions) -> Result<UploadId> {
        let (store, inner) = self.locate(key)?;
        store
            .create_multipart(&inner, opts)
            .await
            .map_err(|e| qualify(e, &[(inner.as_str(), key.as_str())]))
    }

    async fn upload_part(
        &self,
        key: &Key,
        id: &UploadId,
        n: PartNumber,
        body: Payload,
    ) -> Result<CompletedPart> {
        let (store, inner) = self.locate(key)?;
        store
            .upload_part(&inner, id, n, body)
            .await
            .map_err(|e| qualify(e, &[(inner.as_str(), key.as_str())]))
    }

    async fn upload_part_stream(
        &self,
        key: &Key,
        id: &UploadId,
        n: PartNumber,
        body: PayloadStream,
    ) -> Result<CompletedPart> {
        let (store, inner) = self.locate(key)?;
        store
            .upload_part_stream(&inner, id, n, body)
            .await
            .map_err(|e| qualify(e, &[(inner.as_str(), key.as_str())]))
    }

    async fn upload_part_copy(
        &self,
        src: &Key,
        range: ByteRange,
        dst: &Key,
        id: &UploadId,
        n: PartNumber,
    ) -> Result<CompletedPart> {
        let (from, src_inner) = self.locate(src)?;
        let (to, dst_inner) = self.locate(dst)?;
        to.upload_part_copy_from(&from, &src_inner, range, &dst_inner, id, n)
            .await
            .map_err(|e| {
                qualify(
                    e,
                    &[
                        (src_inner.as_str(), src.as_str()),
                        (dst_inner.as_str(), dst.as_str()),
                    ],
                )
            })
    }

    async fn list_parts(&self, key: &Key, id: &UploadId) -> Result<Vec<CompletedPart>> {
        let (store, inner) = self.locate(key)?;
        store
            .list_parts(&inner, id)
            .await
            .map_err(|e| qualify(e, &[(inner.as_str(), key.as_str())]))
    }

    async fn complete_multipart(
        &self,
        key: &Key,
        id: &UploadId,
        parts: &[CompletedPart],
    ) -> Result<PutOutcome> {
        let (store, inner) = self.locate(key)?;
        store
            .complete_multipart(&inner, id, parts)
            .await
            .map_err(|e| qualify(e, &[(inner.as_str(), key.as_str())]))
    }

    async fn abort_multipart(&self, key: &Key, id: &UploadId) -> Result<()> {
        let (store, inner) = self.locate(key)?;
        store
            .abort_multipart(&inner, id)
            .await
            .map_err(|e| qualify(e, &[(inner.as_str(), key.as_str())]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> Key {
        Key::new(s).expect("key")
    }

    #[test]
    fn splits_bucket_and_key() {
        let k = key("b/dir/a b+c");
        let (bucket, inner) = split(&k).expect("split");
        assert_eq!((bucket, inner.as_str()), ("b", "dir/a b+c"));
        let k = key("b//lead");
        assert_eq!(split(&k).expect("split").1.as_str(), "/lead");
        for bad in ["nobucket", "/k", "b/", "/"] {
            let e = split(&key(bad)).expect_err(bad);
            assert!(matches!(e, Error::InvalidInput { .. }), "{bad}: {e:?}");
            assert_eq!(e.key(), bad);
        }
    }

    #[test]
    fn errors_are_renamed() {
        let e = qualify(
            Error::not_found("k", "NoSuchKey"),
            &[("x", "b/x"), ("k", "b/k")],
        );
        assert_eq!(e.to_string(), "b/k: not found: NoSuchKey");
        let e = qualify(Error::not_found("bucket", "gone"), &[("k", "b/k")]);
        assert_eq!(e.key(), "bucket", "names it did not choose are kept");
    }

    #[test]
    fn bad_endpoint_is_refused_naming_it() {
        let cfg = S3Config::new("", "us-east-1", "AK", "SK").with_endpoint("ftp://x");
        let e = S3Endpoint::new(cfg).expect_err("ftp");
        assert_eq!(e.key(), "ftp://x");
        let cfg = S3Config::new("", "us-east-1", "AK", "SK");
        let s3 = S3Endpoint::new(cfg).expect("aws");
        assert_eq!(s3.to_string(), "s3://");
        assert!(Arc::ptr_eq(
            &s3.bucket("a").expect("a"),
            &s3.bucket("a").expect("a again")
        ));
        assert!(s3.bucket("").is_err());
    }
}
