//! `GetObjectAttributes` (s3s-fs has none): size, ETag, storage class,
//! the checksums stored with the object, and — for an object completed
//! from parts here — its parts, paginated as S3 does. The part sizes are
//! kept in a side file written at completion and removed when the object
//! is replaced or deleted.

use s3s::dto::{
    Checksum, ETag, GetObjectAttributesInput, GetObjectAttributesOutput, GetObjectAttributesParts,
    ObjectPart, StorageClass,
};
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::Shim;
use crate::files::io_err;

impl Shim {
    /// Writes the sizes of the parts object `key` was completed from.
    pub(super) async fn record_parts(&self, bucket: &str, key: &str, sizes: &[u64]) {
        let path = self.layout.parts_of(bucket, key);
        let _ = tokio::fs::write(path, serde_json::json!(sizes).to_string()).await;
    }

    /// The sizes of the parts object `key` was completed from, if it was.
    async fn part_sizes(&self, bucket: &str, key: &str) -> Option<Vec<u64>> {
        let text = tokio::fs::read(self.layout.parts_of(bucket, key))
            .await
            .ok()?;
        serde_json::from_slice(&text).ok()
    }

    /// Where part `n` of the object at `path` lies — (first byte, size,
    /// the number of parts of an object completed from parts) — for a
    /// `GET`/`HEAD ?partNumber=`. An object not completed here (or changed
    /// by hand since) has one part, itself.
    pub(super) async fn part_range(
        &self,
        (bucket, stored): (&str, &str),
        n: i32,
        path: &std::path::Path,
    ) -> S3Result<(u64, u64, Option<i32>)> {
        let len = match tokio::fs::metadata(path).await {
            Ok(m) if m.is_file() => m.len(),
            _ => return Err(s3_error!(NoSuchKey, "The specified key does not exist.")),
        };
        let sizes = self
            .part_sizes(bucket, stored)
            .await
            .filter(|s| s.iter().sum::<u64>() == len);
        let count = sizes.as_ref().and_then(|s| i32::try_from(s.len()).ok());
        let sizes = sizes.unwrap_or_else(|| vec![len]);
        let index = usize::try_from(n)
            .ok()
            .and_then(|n| n.checked_sub(1))
            .filter(|&i| i < sizes.len())
            .ok_or_else(|| s3_error!(InvalidPart, "The requested partnumber is not satisfiable"))?;
        let first = sizes[..index].iter().sum();
        Ok((first, sizes[index], count))
    }

    /// `GetObjectAttributes`.
    pub(super) async fn object_attributes(
        &self,
        req: S3Request<GetObjectAttributesInput>,
    ) -> S3Result<S3Response<GetObjectAttributesOutput>> {
        let i = &req.input;
        let path = self.layout.object(&i.bucket, &i.key)?;
        if !self.layout.bucket_dir(&i.bucket)?.is_dir() {
            return Err(s3_error!(NoSuchBucket));
        }
        let meta = match tokio::fs::metadata(&path).await {
            Ok(m) if m.is_file() => m,
            _ => return Err(s3_error!(NoSuchKey, "The specified key does not exist.")),
        };
        // One header value may list several, comma-separated (s3s does
        // not split them).
        let wants = |a: &str| {
            i.object_attributes
                .iter()
                .flat_map(|x| x.as_str().split(','))
                .any(|x| x.trim() == a)
        };
        let etag = self.etag_of(&req, &i.bucket, &i.key).await?;
        let mut out = GetObjectAttributesOutput {
            last_modified: meta.modified().ok().map(Into::into),
            ..GetObjectAttributesOutput::default()
        };
        if wants("ETag") {
            // Unquoted here, as S3 sends it.
            out.e_tag = Some(ETag::Strong(etag.value().to_owned()));
        }
        if wants("ObjectSize") {
            out.object_size = i64::try_from(meta.len()).ok();
        }
        if wants("StorageClass") {
            out.storage_class = Some(StorageClass::from_static(StorageClass::STANDARD));
        }
        if wants("Checksum") {
            let info: serde_json::Map<String, serde_json::Value> =
                match tokio::fs::read(self.layout.info(&i.bucket, &i.key)).await {
                    Ok(text) => serde_json::from_slice(&text).unwrap_or_default(),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => serde_json::Map::new(),
                    Err(e) => return Err(io_err(e)),
                };
            let get = |k: &str| info.get(k).and_then(|v| v.as_str()).map(str::to_owned);
            let sums = Checksum {
                checksum_crc32: get("checksum_crc32"),
                checksum_crc32c: get("checksum_crc32c"),
                checksum_crc64nvme: get("checksum_crc64nvme"),
                checksum_sha1: get("checksum_sha1"),
                checksum_sha256: get("checksum_sha256"),
                ..Checksum::default()
            };
            if sums != Checksum::default() {
                out.checksum = Some(sums);
            }
        }
        if wants("ObjectParts")
            && let Some(sizes) = self.part_sizes(&i.bucket, &i.key).await
        {
            let marker = i.part_number_marker.unwrap_or(0);
            let max = i.max_parts.unwrap_or(1000).clamp(1, 1000);
            let after: Vec<(i32, u64)> = (1..)
                .zip(sizes.iter().copied())
                .filter(|&(n, _)| n > marker)
                .collect();
            let max_len = usize::try_from(max).unwrap_or(1000);
            let truncated = after.len() > max_len;
            let shown = &after[..after.len().min(max_len)];
            out.object_parts = Some(GetObjectAttributesParts {
                total_parts_count: i32::try_from(sizes.len()).ok(),
                part_number_marker: Some(marker),
                next_part_number_marker: shown.last().map(|p| p.0),
                max_parts: Some(max),
                is_truncated: Some(truncated),
                parts: Some(
                    shown
                        .iter()
                        .map(|&(n, size)| ObjectPart {
                            part_number: Some(n),
                            size: i64::try_from(size).ok(),
                            ..ObjectPart::default()
                        })
                        .collect(),
                ),
            });
        }
        let mut resp = S3Response::new(out);
        resp.headers.insert(
            crate::request_id::UNQUOTE_ETAG,
            http::HeaderValue::from_static("1"),
        );
        Ok(resp)
    }
}
