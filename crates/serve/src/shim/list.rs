//! Listings: v1 and v2 with URL encoding, ETags and a leading-`/` prefix
//! handled as S3 does, and `ListObjectVersions` of an unversioned bucket
//! (each object once, as version `null`: clients empty buckets with it).

use s3s::dto::{
    CommonPrefix, ETag, EncodingType, ListObjectVersionsInput, ListObjectVersionsOutput,
    ListObjectsInput, ListObjectsOutput, ListObjectsV2Input, ListObjectsV2Output, Object,
    ObjectStorageClass, ObjectVersion, ObjectVersionStorageClass, Owner,
};
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::Shim;
use super::keys::client_key;
use super::walk::{page, walk};
use crate::files::io_err;

/// Largest file a listing hashes for its ETag when none is known yet
/// (larger ones, put in the directory by hand, are listed without one
/// until a GET or HEAD computes it).
const LIST_HASH_MAX: u64 = 64 << 20;

/// The one owner of everything here.
const OWNER: &str = "haul";
use crate::files::{Layout, md5_etag, sub, url_encode};

/// Whether `encoding-type=url` was asked for.
fn is_url(e: Option<&EncodingType>) -> bool {
    e.is_some_and(|e| e.as_str() == "url")
}

/// `s` URL-encoded when `encode`.
fn enc(encode: bool, s: Option<String>) -> Option<String> {
    if encode {
        s.as_deref().map(url_encode)
    } else {
        s
    }
}

impl Shim {
    /// A v2 listing from the bucket's directory; keys are left stored
    /// (for `add_etags`) and mapped to clients' keys by the caller.
    async fn list_dir(&self, i: &ListObjectsV2Input) -> S3Result<S3Response<ListObjectsV2Output>> {
        let root = self.layout.root.clone();
        let dir = self.layout.bucket_dir(&i.bucket)?;
        let prefix = i.prefix.clone().unwrap_or_default();
        let p = prefix.clone();
        let entries = tokio::task::spawn_blocking(move || walk(&root, &dir, &p))
            .await
            .map_err(|e| s3_error!(InternalError, "listing task failed: {e}"))?
            .map_err(io_err)?;
        let start = match (i.continuation_token.as_deref(), i.start_after.as_deref()) {
            (Some(c), Some(s)) => Some(c.max(s)),
            (c, s) => c.or(s),
        };
        let max = usize::try_from(i.max_keys.unwrap_or(1000).clamp(0, 1000)).unwrap_or(1000);
        let page = page(entries, &prefix, i.delimiter.as_deref(), start, max);
        let count = page.objects.len() + page.prefixes.len();
        let contents: Vec<Object> = page
            .objects
            .into_iter()
            .map(|e| Object {
                key: Some(e.stored),
                size: i64::try_from(e.size).ok(),
                last_modified: Some(e.modified.into()),
                ..Object::default()
            })
            .collect();
        let prefixes: Vec<CommonPrefix> = page
            .prefixes
            .into_iter()
            .map(|p| CommonPrefix { prefix: Some(p) })
            .collect();
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(i.bucket.clone()),
            prefix: i.prefix.clone(),
            delimiter: i.delimiter.clone(),
            max_keys: i.max_keys.or(Some(1000)),
            key_count: i32::try_from(count).ok(),
            is_truncated: Some(page.truncated),
            next_continuation_token: page.last.filter(|_| page.truncated),
            continuation_token: i.continuation_token.clone(),
            start_after: i.start_after.clone(),
            encoding_type: i.encoding_type.clone(),
            contents: (!contents.is_empty()).then_some(contents),
            common_prefixes: (!prefixes.is_empty()).then_some(prefixes),
            ..ListObjectsV2Output::default()
        }))
    }

    /// The ETag of each listed object (s3s-fs lists none), by stored key.
    async fn add_etags(&self, bucket: &str, objects: Option<&mut Vec<Object>>) -> S3Result<()> {
        for o in objects.into_iter().flatten() {
            let Some(key) = o.key.as_deref() else {
                continue;
            };
            let known = self
                .layout
                .remember_etag_upto(bucket, key, LIST_HASH_MAX)
                .await?;
            let small = o.size.is_some_and(|n| n.unsigned_abs() <= LIST_HASH_MAX);
            let etag = match known {
                Some(e) => Some(e),
                None if small && Layout::is_long(bucket, key) => {
                    let path = self.layout.object(bucket, key)?;
                    Some(md5_etag(&path).await?.0.value().to_owned())
                }
                None => None,
            };
            o.e_tag = etag.map(ETag::Strong);
        }
        Ok(())
    }

    /// `ListObjectsV2`, keys URL-encoded on request.
    pub(super) async fn list_v2(
        &self,
        mut req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        // An empty delimiter is no delimiter (s3s-fs splits on "").
        if req.input.delimiter.as_deref() == Some("") {
            req.input.delimiter = None;
        }
        let owner = req.input.fetch_owner.unwrap_or(false);
        let bucket = req.input.bucket.clone();
        if !self.layout.bucket_dir(&bucket)?.is_dir() {
            return Err(s3_error!(NoSuchBucket));
        }
        let encode = is_url(req.input.encoding_type.as_ref());
        // No key starts with '/' (they are refused); s3s-fs would strip it.
        let mut resp = if req
            .input
            .prefix
            .as_deref()
            .is_some_and(|p| p.starts_with('/'))
        {
            let i = &req.input;
            S3Response::new(ListObjectsV2Output {
                name: Some(bucket.clone()),
                prefix: i.prefix.clone(),
                delimiter: i.delimiter.clone(),
                max_keys: Some(i.max_keys.unwrap_or(1000)),
                key_count: Some(0),
                is_truncated: Some(false),
                start_after: i.start_after.clone(),
                continuation_token: i.continuation_token.clone(),
                encoding_type: i.encoding_type.clone(),
                ..ListObjectsV2Output::default()
            })
        } else {
            self.list_dir(&req.input).await?
        };
        self.add_etags(&bucket, resp.output.contents.as_mut())
            .await?;
        for o in resp.output.contents.iter_mut().flatten() {
            o.key = o.key.as_deref().map(client_key);
        }
        for o in resp.output.contents.iter_mut().flatten() {
            o.storage_class = Some(ObjectStorageClass::from_static(
                ObjectStorageClass::STANDARD,
            ));
            if owner {
                o.owner = Some(Owner {
                    display_name: Some(OWNER.to_owned()),
                    id: Some(OWNER.to_owned()),
                });
            }
        }
        if encode {
            let out = &mut resp.output;
            for o in out.contents.iter_mut().flatten() {
                o.key = enc(true, o.key.take());
            }
            for p in out.common_prefixes.iter_mut().flatten() {
                p.prefix = enc(true, p.prefix.take());
            }
            out.prefix = enc(true, out.prefix.take());
            out.start_after = enc(true, out.start_after.take());
            out.delimiter = enc(true, out.delimiter.take());
        }
        Ok(resp)
    }

    /// `ListObjects` (v1): `Marker` echoed, `NextMarker` when truncated,
    /// keys URL-encoded on request (s3s-fs echoes the encoding type only).
    pub(super) async fn list_v1(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        let i = &req.input;
        let encode = is_url(i.encoding_type.as_ref());
        let v2 = ListObjectsV2Input {
            bucket: i.bucket.clone(),
            delimiter: i.delimiter.clone(),
            max_keys: i.max_keys,
            prefix: i.prefix.clone(),
            start_after: i.marker.clone(),
            fetch_owner: Some(true),
            ..ListObjectsV2Input::default()
        };
        let out = self.list_v2(sub(&req, v2)).await?.output;
        let truncated = out.is_truncated.unwrap_or(false);
        let last_key = out
            .contents
            .iter()
            .flatten()
            .filter_map(|o| o.key.clone())
            .max();
        let last_prefix = out
            .common_prefixes
            .iter()
            .flatten()
            .filter_map(|p| p.prefix.clone())
            .max();
        let next = if truncated {
            last_key.max(last_prefix)
        } else {
            None
        };
        let mut contents = out.contents;
        let mut prefixes = out.common_prefixes;
        for o in contents.iter_mut().flatten() {
            o.key = enc(encode, o.key.take());
        }
        for p in prefixes.iter_mut().flatten() {
            p.prefix = enc(encode, p.prefix.take());
        }
        let i = req.input;
        Ok(S3Response::new(ListObjectsOutput {
            name: Some(i.bucket),
            // v1 sends Prefix as given even with encoding (botocore does
            // not decode it there).
            prefix: i.prefix,
            delimiter: enc(encode, i.delimiter.filter(|d| !d.is_empty())),
            marker: enc(encode, Some(i.marker.unwrap_or_default())),
            next_marker: enc(encode, next),
            max_keys: out.max_keys,
            is_truncated: Some(truncated),
            encoding_type: i.encoding_type,
            contents,
            common_prefixes: prefixes,
            ..ListObjectsOutput::default()
        }))
    }

    /// `ListObjectVersions` of an unversioned bucket: each object once,
    /// as the latest version `null`.
    pub(super) async fn list_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        let i = &req.input;
        let encode = is_url(i.encoding_type.as_ref());
        let v2 = ListObjectsV2Input {
            bucket: i.bucket.clone(),
            delimiter: i.delimiter.clone(),
            max_keys: i.max_keys,
            prefix: i.prefix.clone(),
            start_after: i.key_marker.clone(),
            ..ListObjectsV2Input::default()
        };
        let out = self.list_v2(sub(&req, v2)).await?.output;
        let truncated = out.is_truncated.unwrap_or(false);
        let versions: Vec<ObjectVersion> = out
            .contents
            .into_iter()
            .flatten()
            .map(|o| ObjectVersion {
                key: o.key,
                e_tag: o.e_tag,
                size: o.size,
                last_modified: o.last_modified,
                is_latest: Some(true),
                version_id: Some("null".to_owned()),
                storage_class: Some(ObjectVersionStorageClass::from_static(
                    ObjectVersionStorageClass::STANDARD,
                )),
                ..ObjectVersion::default()
            })
            .collect();
        let last_key = versions.iter().filter_map(|v| v.key.clone()).max();
        let last_prefix = out
            .common_prefixes
            .iter()
            .flatten()
            .filter_map(|p| p.prefix.clone())
            .max();
        let next = if truncated {
            last_key.max(last_prefix)
        } else {
            None
        };
        let mut versions = versions;
        let mut prefixes = out.common_prefixes;
        for v in &mut versions {
            v.key = enc(encode, v.key.take());
        }
        for p in prefixes.iter_mut().flatten() {
            p.prefix = enc(encode, p.prefix.take());
        }
        let i = req.input;
        Ok(S3Response::new(ListObjectVersionsOutput {
            name: Some(i.bucket),
            prefix: enc(encode, i.prefix),
            delimiter: enc(encode, i.delimiter),
            key_marker: enc(encode, i.key_marker),
            version_id_marker: i.version_id_marker,
            next_version_id_marker: next.as_ref().map(|_| "null".to_owned()),
            next_key_marker: enc(encode, next),
            max_keys: out.max_keys,
            is_truncated: Some(truncated),
            encoding_type: i.encoding_type,
            versions: Some(versions),
            common_prefixes: prefixes,
            ..ListObjectVersionsOutput::default()
        }))
    }
}
