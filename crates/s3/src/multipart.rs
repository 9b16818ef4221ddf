//! Multipart uploads: create, upload (and copy) parts, list, complete, abort.
//!
//! Uploads are created with `x-amz-checksum-algorithm: CRC32C` and
//! `x-amz-checksum-type: FULL_OBJECT`: a part may then carry its CRC32C (it
//! is verified on arrival) or not (the store computes it), and the completed
//! object has a whole-object CRC32C that compares with the source's. Parts
//! never carry any other `x-amz-checksum-*` header, which S3 would refuse as
//! a checksum type mismatch; `Content-MD5` is sent whenever the payload has it.

use std::time::SystemTime;

use bytes::Bytes;
use haul_core::checksum::combine_all;
use haul_core::{
    ByteRange, Checksum, ChecksumKind, CompletedPart, Error, Key, PartNumber, Payload, PutOptions,
    PutOutcome, Result, UploadId,
};
use haul_http::response::header;
use haul_http::xml::{self, parse_iso8601, unquote};
use http::Method;

use crate::addr::{check_key, decode_listed};
use crate::core::{Body, Call, Core};
use crate::writer::{add_checksum_headers, add_object_headers, outcome_from_headers};
use crate::xml::{CompleteResult, CopyResult, InitiateResult, ListPartsResult, ListUploadsResult};

/// A multipart upload that was started and neither completed nor aborted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingUpload {
    /// The key it will create.
    pub key: Key,
    /// Its id.
    pub upload_id: UploadId,
    /// When it was started, if the store says.
    pub initiated: Option<SystemTime>,
}

fn crc32c(text: Option<String>) -> Option<Checksum> {
    text.filter(|t| !t.contains('-'))
        .and_then(|t| Checksum::from_base64(ChecksumKind::Crc32c, &t).ok())
}

/// Orders listed parts and settles parts listed more than once.
fn merge_listed(mut out: Vec<(CompletedPart, Option<SystemTime>)>) -> Vec<CompletedPart> {
    // Some servers answer in directory order (s3s-fs), and some list a
    // re-uploaded part twice (SeaweedFS). Ascending, the newest copy
    // wins; copies with different ETags and the same time cannot be told
    // apart, so the part is left out and the engine uploads it again
    // rather than complete with bytes that may be the stale ones.
    out.sort_by_key(|a| (a.0.number, a.1));
    let mut parts: Vec<(CompletedPart, Option<SystemTime>, bool)> = Vec::with_capacity(out.len());
    for (p, at) in out {
        match parts.last_mut() {
            Some(last) if last.0.number == p.number => {
                if last.1 == at && last.0.etag != p.etag {
                    last.2 = true;
                } else {
                    *last = (p, at, false);
                }
            }
            _ => parts.push((p, at, false)),
        }
    }
    parts
        .into_iter()
        .filter_map(|(p, _, ambiguous)| {
            if ambiguous {
                tracing::debug!(target: "haul_s3", part = p.number.get(), "part listed twice with different ETags at the same time: left out");
            }
            (!ambiguous).then_some(p)
        })
        .collect()
}

impl Core {
    pub(crate) async fn create_multipart(&self, key: &Key, opts: PutOptions) -> Result<UploadId> {
        let call = Call::new(Method::POST, Some(key.as_str()))
            .query("uploads", "")
            .header("x-amz-checksum-algorithm", "CRC32C")
            .header("x-amz-checksum-type", "FULL_OBJECT");
        let call = add_object_headers(call, key, &opts)?;
        let (_, body) = self.send_small(call, &self.ctx(key.as_str())).await?;
        let res: InitiateResult = xml::parse(&body, key.as_str(), "CreateMultipartUpload")?;
        if res.upload_id.is_empty() {
            return Err(Error::transient(
                key.as_str(),
                "CreateMultipartUpload gave no UploadId",
            ));
        }
        Ok(UploadId(res.upload_id))
    }

    pub(crate) async fn upload_part(
        &self,
        key: &Key,
        id: &UploadId,
        n: PartNumber,
        body: Payload,
    ) -> Result<CompletedPart> {
        let size = body.len();
        self.check_part_size(key, n, size)?;
        let sums: Vec<&Checksum> = body.checksums().iter().collect();
        let sent = body.checksum(ChecksumKind::Crc32c).cloned();
        let call = Call::new(Method::PUT, Some(key.as_str()))
            .query("partNumber", n.to_string())
            .query("uploadId", id.0.clone());
        let call = add_checksum_headers(call, &sums, Some(ChecksumKind::Crc32c));
        let call = call.body(Body::Payload(body));
        let resp = self
            .send(call, &self.ctx(key.as_str()).upload_id(&id.0))
            .await?;
        Self::acknowledged_part(key, n, size, resp.headers(), sent)
    }

    /// Refuses a part over the store's part size limit.
    pub(crate) fn check_part_size(&self, key: &Key, n: PartNumber, size: u64) -> Result<()> {
        let max = self.caps.max_part_size_bytes;
        if size > max {
            return Err(Error::invalid(
                key.as_str(),
                format!("part {n} of {size} bytes is over the {max}-byte part limit"),
            ));
        }
        Ok(())
    }

    /// The part an `UploadPart` answer acknowledges: its ETag, and the
    /// CRC32C the store echoed (else the one `sent`).
    pub(crate) fn acknowledged_part(
        key: &Key,
        n: PartNumber,
        size: u64,
        h: &http::HeaderMap,
        sent: Option<Checksum>,
    ) -> Result<CompletedPart> {
        let etag = header(h, "etag").map(unquote).ok_or_else(|| {
            Error::transient(key.as_str(), format!("part {n} answer has no ETag"))
        })?;
        let echoed = crc32c(header(h, "x-amz-checksum-crc32c").map(str::to_owned));
        Ok(CompletedPart {
            number: n,
            etag,
            size,
            checksum: echoed.or(sent),
        })
    }

    pub(crate) async fn upload_part_copy(
        &self,
        src: &Key,
        range: ByteRange,
        dst: &Key,
        id: &UploadId,
        n: PartNumber,
    ) -> Result<CompletedPart> {
        self.upload_part_copy_from(self, src, range, dst, id, n)
            .await
    }

    /// UploadPartCopy of a range of `src` in `from`'s bucket (this one, or
    /// another bucket of the same endpoint and credentials) into an upload
    /// to `dst` in this bucket.
    pub(crate) async fn upload_part_copy_from(
        &self,
        from: &Core,
        src: &Key,
        range: ByteRange,
        dst: &Key,
        id: &UploadId,
        n: PartNumber,
    ) -> Result<CompletedPart> {
        check_key(src.as_str())?;
        // The copy range must be explicit (`bytes=first-last`): resolve it
        // against the source, and pin the source's ETag so a source replaced
        // between parts fails instead of mixing two versions.
        let meta = from.head(src).await?;
        let r = range.resolve(meta.size).ok_or_else(|| {
            Error::invalid(
                src.as_str(),
                format!(
                    "range {range:?} is past the end of the {}-byte source",
                    meta.size
                ),
            )
        })?;
        let mut call = Call::new(Method::PUT, Some(dst.as_str()))
            .query("partNumber", n.to_string())
            .query("uploadId", id.0.clone())
            .header("x-amz-copy-source", from.endpoint.copy_source(src.as_str()))
            .header(
                "x-amz-copy-source-range",
                format!("bytes={}-{}", r.start, r.end - 1),
            );
        if let Some(etag) = &meta.etag {
            call = call.header("x-amz-copy-source-if-match", format!("\"{etag}\""));
        }
        let (_, body) = self
            .send_small(
                call,
                &from
                    .ctx(src.as_str())
                    .or_bucket(&self.cfg.bucket)
                    .upload_id(&id.0),
            )
            .await?;
        let res: CopyResult = xml::parse(&body, dst.as_str(), "UploadPartCopy")?;
        let etag = res
            .etag
            .map(|e| unquote(&e))
            .ok_or_else(|| Error::transient(dst.as_str(), format!("part {n} copy gave no ETag")))?;
        Ok(CompletedPart {
            number: n,
            etag,
            size: r.end - r.start,
            checksum: crc32c(res.checksum_crc32c),
        })
    }

    pub(crate) async fn list_parts(&self, key: &Key, id: &UploadId) -> Result<Vec<CompletedPart>> {
        // (part, modified): a re-uploaded part may be listed twice.
        let mut out: Vec<(CompletedPart, Option<SystemTime>)> = Vec::new();
        let mut marker: Option<u32> = None;
        loop {
            let mut call = Call::new(Method::GET, Some(key.as_str()))
                .query("uploadId", id.0.clone())
                .query("max-parts", "1000");
            if let Some(m) = marker {
                call = call.query("part-number-marker", m.to_string());
            }
            let (_, body) = self
                .send_small(call, &self.ctx(key.as_str()).upload_id(&id.0))
                .await?;
            let res: ListPartsResult = xml::parse(&body, key.as_str(), "ListParts")?;
            let last = res.parts.iter().map(|p| p.part_number).max();
            for p in res.parts {
                let part = CompletedPart {
                    number: PartNumber::new(p.part_number)
                        .map_err(|e| Error::transient(key.as_str(), e.to_string()))?,
                    etag: p.etag.as_deref().map(unquote).unwrap_or_default(),
                    size: p.size,
                    checksum: crc32c(p.checksum_crc32c),
                };
                let at = p.last_modified.as_deref().and_then(parse_iso8601);
                out.push((part, at));
            }
            let next = res.next_part_number_marker.or(last);
            match next {
                Some(m) if res.is_truncated && marker.is_none_or(|old| m > old) => marker = Some(m),
                _ => break,
            }
        }
        Ok(merge_listed(out))
    }

    pub(crate) async fn complete_multipart(
        &self,
        key: &Key,
        id: &UploadId,
        parts: &[CompletedPart],
    ) -> Result<PutOutcome> {
        if parts.is_empty() {
            return Err(Error::invalid(
                key.as_str(),
                "a multipart upload needs at least one part",
            ));
        }
        if parts.windows(2).any(|w| w[0].number >= w[1].number) {
            return Err(Error::invalid(
                key.as_str(),
                "parts must be listed in strictly ascending order (InvalidPartOrder)",
            ));
        }
        let listed: Vec<(u32, &str, Option<String>)> = parts
            .iter()
            .map(|p| {
                let crc = p
                    .checksum
                    .as_ref()
                    .filter(|c| c.kind() == ChecksumKind::Crc32c)
                    .map(Checksum::to_base64);
                (p.number.get(), p.etag.as_str(), crc)
            })
            .collect();
        let mut call = Call::new(Method::POST, Some(key.as_str()))
            .query("uploadId", id.0.clone())
            .header("content-type", "application/xml");
        // With every part's CRC32C known, the store checks the whole object.
        let crcs: Option<Vec<(&Checksum, u64)>> = parts
            .iter()
            .map(|p| {
                p.checksum
                    .as_ref()
                    .filter(|c| c.kind() == ChecksumKind::Crc32c)
                    .map(|c| (c, p.size))
            })
            .collect();
        if let Some(whole) = crcs.and_then(|c| combine_all(ChecksumKind::Crc32c, c)) {
            call = call
                .header("x-amz-checksum-crc32c", whole.to_base64())
                .header("x-amz-checksum-type", "FULL_OBJECT");
        }
        let call = call.body(Body::Bytes(Bytes::from(xml::complete_body(
            listed,
            "ChecksumCRC32C",
        ))));
        let (h, body) = self
            .send_small(call, &self.ctx(key.as_str()).upload_id(&id.0))
            .await?;
        let res: CompleteResult = xml::parse(&body, key.as_str(), "CompleteMultipartUpload")?;
        let mut out = outcome_from_headers(&h);
        if let Some(e) = res.etag {
            out.etag = Some(unquote(&e));
        }
        let full = res
            .checksum_type
            .as_deref()
            .is_none_or(|t| t.eq_ignore_ascii_case("FULL_OBJECT"));
        out.checksums.clear();
        if full && let Some(c) = crc32c(res.checksum_crc32c) {
            out.checksums.push(c);
        }
        Ok(out)
    }

    pub(crate) async fn abort_multipart(&self, key: &Key, id: &UploadId) -> Result<()> {
        let call = Call::new(Method::DELETE, Some(key.as_str())).query("uploadId", id.0.clone());
        self.send(call, &self.ctx(key.as_str()).upload_id(&id.0))
            .await
            .map(drop)
    }

    pub(crate) async fn list_uploads(&self, prefix: &str) -> Result<Vec<PendingUpload>> {
        let mut out = Vec::new();
        let mut markers: Option<(String, String)> = None;
        loop {
            let mut call = Call::new(Method::GET, None)
                .query("uploads", "")
                .query("encoding-type", "url")
                .query("prefix", prefix);
            if let Some((k, u)) = &markers {
                call = call
                    .query("key-marker", k.clone())
                    .query("upload-id-marker", u.clone());
            }
            let what = if prefix.is_empty() {
                &self.cfg.bucket
            } else {
                prefix
            };
            let (_, body) = self
                .send_small(call, &self.ctx(what))
                .await
                .map_err(|e| match e {
                    Error::Provider { code, .. } if code == "NotImplemented" => {
                        Error::NotSupported {
                            key: what.to_owned(),
                            operation: "ListMultipartUploads".to_owned(),
                            store: format!("s3://{}", self.cfg.bucket),
                        }
                    }
                    e => e,
                })?;
            let res: ListUploadsResult = xml::parse(&body, what, "ListMultipartUploads")?;
            let encoded = res
                .encoding_type
                .as_deref()
                .is_some_and(|e| e.eq_ignore_ascii_case("url"));
            for u in res.uploads {
                let name = if encoded {
                    decode_listed(&u.key)?
                } else {
                    u.key
                };
                out.push(PendingUpload {
                    key: Key::new(name)?,
                    upload_id: UploadId(u.upload_id),
                    initiated: u.initiated.as_deref().and_then(parse_iso8601),
                });
            }
            let next = match (
                res.is_truncated,
                res.next_key_marker,
                res.next_upload_id_marker,
            ) {
                (true, Some(k), Some(u)) => Some((if encoded { decode_listed(&k)? } else { k }, u)),
                _ => None,
            };
            match next {
                Some(m) if markers.as_ref() != Some(&m) => markers = Some(m),
                _ => break,
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(n: u32, etag: &str) -> CompletedPart {
        CompletedPart {
            number: PartNumber::new(n).expect("n"),
            etag: etag.to_owned(),
            size: 1,
            checksum: None,
        }
    }

    #[test]
    fn listed_parts_are_sorted_and_settled() {
        let t = |s| Some(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(s));
        let got = merge_listed(vec![
            (part(3, "c"), t(5)),
            (part(2, "new"), t(9)),
            (part(1, "a"), t(1)),
            (part(2, "old"), t(8)),
            (part(4, "x"), t(7)),
            (part(4, "y"), t(7)),
            (part(5, "same"), t(3)),
            (part(5, "same"), t(3)),
        ]);
        let names: Vec<(u32, &str)> = got
            .iter()
            .map(|p| (p.number.get(), p.etag.as_str()))
            .collect();
        assert_eq!(names, vec![(1, "a"), (2, "new"), (3, "c"), (5, "same")]);
    }
}
