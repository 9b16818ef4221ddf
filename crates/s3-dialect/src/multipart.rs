//! Multipart uploads: create, upload (and copy) parts, list, complete,
//! abort, and list the uploads of a bucket.
//!
//! Where the service checks checksums (S3), uploads are created with the
//! spec's headers (`x-amz-checksum-algorithm: CRC32C`,
//! `x-amz-checksum-type: FULL_OBJECT`): a part may then carry its CRC32C
//! (verified on arrival) and the completion the whole object's. Where the
//! client checks (COS), every part's reported CRC-64 is compared with the
//! one computed while reading it, and the completed object's with the
//! parts' combined.

use std::time::SystemTime;

use bytes::Bytes;
use haul_core::checksum::combine_all;
use haul_core::{
    ByteRange, Checksum, ChecksumKind, CompletedPart, Error, Key, PartNumber, Payload, PutOptions,
    PutOutcome, Result, UploadId,
};
use haul_http::send::{Body, Call};
use haul_http::xml::{self, parse_iso8601, unquote};
use http::Method;

use crate::addr::{check_key, decode_listed};
use crate::core::{Core, Dialect};
use crate::spec::Verify;
use crate::sums::add_checksum_headers;
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

/// The whole-object checksum of `kind` of `parts`, when every part
/// carries one.
#[must_use]
pub fn combined_checksum(kind: ChecksumKind, parts: &[CompletedPart]) -> Option<Checksum> {
    let sums: Option<Vec<(&Checksum, u64)>> = parts
        .iter()
        .map(|p| {
            p.checksum
                .as_ref()
                .filter(|c| c.kind() == kind)
                .map(|c| (c, p.size))
        })
        .collect();
    combine_all(kind, sums?)
}

/// Orders listed parts and settles parts listed more than once.
#[must_use]
pub fn merge_listed(mut out: Vec<(CompletedPart, Option<SystemTime>)>) -> Vec<CompletedPart> {
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
                tracing::debug!(
                    part = p.number.get(),
                    "part listed twice with different ETags at the same time: left out"
                );
            }
            (!ambiguous).then_some(p)
        })
        .collect()
}

impl<D: Dialect> Core<D> {
    /// CreateMultipartUpload (COS: Initiate), with the spec's headers and
    /// the object's attributes.
    pub async fn create_multipart(&self, key: &Key, opts: PutOptions) -> Result<UploadId> {
        let mut call = Call::new(Method::POST, Some(key.as_str())).query("uploads", "");
        for (name, value) in D::SPEC.multipart_headers {
            call = call.header(*name, *value);
        }
        let call = Self::add_object_headers(call, key, &opts)?;
        let (_, body) = self.send_small(call, &self.ctx(key.as_str())).await?;
        let what = D::SPEC.names.create_multipart;
        let res: InitiateResult = xml::parse(&body, key.as_str(), what)?;
        if res.upload_id.is_empty() {
            return Err(Error::transient(
                key.as_str(),
                format!("{what} gave no UploadId"),
            ));
        }
        Ok(UploadId(res.upload_id))
    }

    /// UploadPart of a gathered body.
    pub async fn upload_part(
        &self,
        key: &Key,
        id: &UploadId,
        n: PartNumber,
        body: Payload,
    ) -> Result<CompletedPart> {
        let size = body.len();
        self.check_part_size(key, n, size)?;
        let native = D::SPEC.checksums.native;
        let sums: Vec<&Checksum> = body.checksums().iter().collect();
        let sent = body.checksum(native).cloned();
        let call = Call::new(Method::PUT, Some(key.as_str()))
            .query("partNumber", n.to_string())
            .query("uploadId", id.0.clone());
        let call = add_checksum_headers(&D::SPEC.checksums, call, &sums, Some(native));
        let call = call.body(Body::Payload(body));
        let resp = self
            .send(call, &self.ctx(key.as_str()).upload_id(&id.0))
            .await?;
        Self::acknowledged_part(key, n, size, resp.headers(), sent)
    }

    /// A part of a body read as it is sent, as the dialect sends it.
    pub async fn upload_part_stream(
        &self,
        key: &Key,
        id: &UploadId,
        n: PartNumber,
        body: haul_core::PayloadStream,
    ) -> Result<CompletedPart> {
        D::upload_part_stream(self, key, id, n, body).await
    }

    /// One PUT of a body read as it is sent, as the dialect sends it.
    pub async fn put_stream(
        &self,
        key: &Key,
        body: haul_core::PayloadStream,
        opts: PutOptions,
    ) -> Result<PutOutcome> {
        D::put_stream(self, key, body, opts).await
    }

    /// UploadPartCopy within the bucket.
    pub async fn upload_part_copy(
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
    pub async fn upload_part_copy_from(
        &self,
        from: &Core<D>,
        src: &Key,
        range: ByteRange,
        dst: &Key,
        id: &UploadId,
        n: PartNumber,
    ) -> Result<CompletedPart> {
        check_key(src.as_str(), D::SPEC.api)?;
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
            .header(
                Self::own("copy-source"),
                from.endpoint.copy_source(src.as_str()),
            )
            .header(
                Self::own("copy-source-range"),
                format!("bytes={}-{}", r.start, r.end - 1),
            );
        if let Some(etag) = &meta.etag {
            call = call.header(Self::own("copy-source-if-match"), format!("\"{etag}\""));
        }
        let ctx = from
            .ctx(src.as_str())
            .or_bucket(self.bucket())
            .upload_id(&id.0);
        let (h, body) = self.send_small(call, &ctx).await?;
        let res: CopyResult = xml::parse(&body, dst.as_str(), "UploadPartCopy")?;
        let etag =
            res.etag.as_deref().map(unquote).ok_or_else(|| {
                Error::transient(dst.as_str(), format!("part {n} copy gave no ETag"))
            })?;
        let sums = &D::SPEC.checksums;
        Ok(CompletedPart {
            number: n,
            etag,
            size: r.end - r.start,
            checksum: sums.native_from(&h).or_else(|| res.native(sums)),
        })
    }

    /// ListParts, every page; a part listed twice is settled by
    /// [`merge_listed`].
    pub async fn list_parts(&self, key: &Key, id: &UploadId) -> Result<Vec<CompletedPart>> {
        let sums = &D::SPEC.checksums;
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
                let checksum = p.native(sums);
                let part = CompletedPart {
                    number: PartNumber::new(p.part_number)
                        .map_err(|e| Error::transient(key.as_str(), e.to_string()))?,
                    etag: p.etag.as_deref().map(unquote).unwrap_or_default(),
                    size: p.size,
                    checksum,
                };
                let at = p.last_modified.as_deref().and_then(parse_iso8601);
                out.push((part, at));
            }
            match res.next_part_number_marker.or(last) {
                Some(m) if res.is_truncated && marker.is_none_or(|old| m > old) => marker = Some(m),
                _ => break,
            }
        }
        Ok(merge_listed(out))
    }

    /// CompleteMultipartUpload. Where the service checks, the parts'
    /// native checksums go in the document and the whole object's
    /// combined in a header; where the client checks, the object's
    /// reported checksum is compared with the combined one and a
    /// mismatched object deleted.
    pub async fn complete_multipart(
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
        let sums = &D::SPEC.checksums;
        let element = sums.complete_element;
        let listed = parts.iter().map(|p| {
            let sum = p
                .checksum
                .as_ref()
                .filter(|c| !element.is_empty() && c.kind() == sums.native)
                .map(Checksum::to_base64);
            (p.number.get(), p.etag.as_str(), sum)
        });
        let doc = xml::complete_body(listed, element);
        let mut call = Call::new(Method::POST, Some(key.as_str()))
            .query("uploadId", id.0.clone())
            .header("content-type", "application/xml");
        let whole = combined_checksum(sums.native, parts);
        if sums.verify == Verify::Service
            && let Some(whole) = &whole
        {
            // With every part's checksum known, the store checks the whole object.
            call = call
                .header(sums.native_header(), whole.to_base64())
                .header(Self::own("checksum-type"), "FULL_OBJECT");
        }
        let call = call.body(Body::Bytes(Bytes::from(doc)));
        let (h, body) = self
            .send_small(call, &self.ctx(key.as_str()).upload_id(&id.0))
            .await?;
        let res: CompleteResult = xml::parse(&body, key.as_str(), "CompleteMultipartUpload")?;
        let mut out = Self::outcome_from_headers(&h);
        if let Some(e) = &res.etag {
            out.etag = Some(unquote(e));
        }
        if sums.verify == Verify::Client {
            self.verify_stored(key, whole.as_ref(), &out).await?;
            return Ok(out);
        }
        let full = res
            .checksum_type
            .as_deref()
            .is_none_or(|t| t.eq_ignore_ascii_case("FULL_OBJECT"));
        out.checksums.clear();
        if full && let Some(c) = res.native(sums) {
            out.checksums.push(c);
        }
        Ok(out)
    }

    /// AbortMultipartUpload.
    pub async fn abort_multipart(&self, key: &Key, id: &UploadId) -> Result<()> {
        let call = Call::new(Method::DELETE, Some(key.as_str())).query("uploadId", id.0.clone());
        self.send(call, &self.ctx(key.as_str()).upload_id(&id.0))
            .await
            .map(drop)
    }

    /// ListMultipartUploads under `prefix`, every page. A service without
    /// it answers [`Error::NotSupported`].
    pub async fn list_uploads(&self, prefix: &str) -> Result<Vec<PendingUpload>> {
        let plus = D::SPEC.addressing.plus_is_space;
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
                self.bucket()
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
                            store: format!("{}://{}", D::SPEC.scheme, self.bucket()),
                        }
                    }
                    e => e,
                })?;
            let res: ListUploadsResult = xml::parse(&body, what, "ListMultipartUploads")?;
            let encoded = res
                .encoding_type
                .as_deref()
                .is_some_and(|e| e.eq_ignore_ascii_case("url"));
            let decode = |s: String| {
                if encoded {
                    decode_listed(&s, plus)
                } else {
                    Ok(s)
                }
            };
            for u in res.uploads {
                out.push(PendingUpload {
                    key: Key::new(decode(u.key)?)?,
                    upload_id: UploadId(u.upload_id),
                    initiated: u.initiated.as_deref().and_then(parse_iso8601),
                });
            }
            let next = match (
                res.is_truncated,
                res.next_key_marker,
                res.next_upload_id_marker,
            ) {
                (true, Some(k), Some(u)) => Some((decode(k)?, u)),
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
    use haul_core::checksum::compute;

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

    #[test]
    fn whole_object_crc64_from_parts() {
        let a = b"hello ".as_slice();
        let b = b"world".as_slice();
        let part = |n, data: &[u8], kind| CompletedPart {
            number: PartNumber::new(n).expect("n"),
            etag: "e".into(),
            size: data.len() as u64,
            checksum: Some(compute(kind, data)),
        };
        let combined_crc64 =
            |parts: &[CompletedPart]| combined_checksum(ChecksumKind::Crc64Xz, parts);
        let parts = [
            part(1, a, ChecksumKind::Crc64Xz),
            part(2, b, ChecksumKind::Crc64Xz),
        ];
        assert_eq!(
            combined_crc64(&parts),
            Some(compute(ChecksumKind::Crc64Xz, b"hello world"))
        );
        let mixed = [
            part(1, a, ChecksumKind::Crc64Xz),
            part(2, b, ChecksumKind::Crc32c),
        ];
        assert_eq!(combined_crc64(&mixed), None);
    }
}
