//! Multipart uploads: initiate, upload (and copy) parts, list, complete,
//! abort, and list the uploads of a bucket.
//!
//! Every part's `x-cos-hash-crc64ecma` is compared with the CRC-64 the
//! engine computed while reading it; completion combines the parts' CRC-64s
//! (when every part carries one) and compares the result with the whole
//! object's.

use std::time::SystemTime;

use bytes::Bytes;
use haul_core::checksum::combine_all;
use haul_core::{
    ByteRange, Checksum, ChecksumKind, CompletedPart, Error, Key, PartNumber, Payload,
    PayloadStream, PutOptions, PutOutcome, Result, UploadId,
};
use haul_http::response::header;
use haul_http::send::Body;
use haul_http::xml::{complete_body, parse, parse_iso8601, unquote};
use http::Method;

use crate::addr::{check_key, decode_listed};
use crate::core::{Call, Core};
use crate::reader::{check_crc64, crc64_from, parse_crc64};
use crate::writer::{add_object_headers, outcome_from_headers};
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

/// The whole-object CRC-64 of `parts`, when every part carries one.
fn combined_crc64(parts: &[CompletedPart]) -> Option<Checksum> {
    let crcs: Option<Vec<(&Checksum, u64)>> = parts
        .iter()
        .map(|p| {
            p.checksum
                .as_ref()
                .filter(|c| c.kind() == ChecksumKind::Crc64Xz)
                .map(|c| (c, p.size))
        })
        .collect();
    combine_all(ChecksumKind::Crc64Xz, crcs?)
}

impl Core {
    pub(crate) async fn create_multipart(&self, key: &Key, opts: PutOptions) -> Result<UploadId> {
        let call = Call::new(Method::POST, Some(key.as_str())).query("uploads", "");
        let call = add_object_headers(call, key, &opts)?;
        let (_, body) = self.send_small(call, &self.ctx(key.as_str())).await?;
        let res: InitiateResult = parse(&body, key.as_str(), "InitiateMultipartUpload")?;
        if res.upload_id.is_empty() {
            return Err(Error::transient(
                key.as_str(),
                "InitiateMultipartUpload gave no UploadId",
            ));
        }
        Ok(UploadId(res.upload_id))
    }

    /// `upload_part_stream`: COS parts carry their CRC64 and MD5 before the
    /// body, so a streamed part is gathered first.
    pub(crate) async fn upload_part_stream(
        &self,
        key: &Key,
        id: &UploadId,
        n: PartNumber,
        body: PayloadStream,
    ) -> Result<CompletedPart> {
        self.upload_part(key, id, n, body.collect().await?).await
    }

    pub(crate) async fn upload_part(
        &self,
        key: &Key,
        id: &UploadId,
        n: PartNumber,
        body: Payload,
    ) -> Result<CompletedPart> {
        let max = self.caps.max_part_size_bytes;
        if body.len() > max {
            return Err(Error::invalid(
                key.as_str(),
                format!(
                    "part {n} of {} bytes is over the {max}-byte part limit",
                    body.len()
                ),
            ));
        }
        let size = body.len();
        let sent = body.checksum(ChecksumKind::Crc64Xz).cloned();
        let mut call = Call::new(Method::PUT, Some(key.as_str()))
            .query("partNumber", n.to_string())
            .query("uploadId", id.0.clone());
        if let Some(md5) = body.checksum(ChecksumKind::Md5) {
            call = call.header("content-md5", md5.to_base64());
        }
        let call = call.body(Body::Payload(body));
        let resp = self
            .send(call, &self.ctx(key.as_str()).upload_id(&id.0))
            .await?;
        let h = resp.headers();
        let etag = header(h, "etag").map(unquote).ok_or_else(|| {
            Error::transient(key.as_str(), format!("part {n} answer has no ETag"))
        })?;
        let reported = crc64_from(h);
        check_crc64(
            &format!("{key} (part {n})"),
            sent.as_ref(),
            reported.as_ref(),
        )?;
        Ok(CompletedPart {
            number: n,
            etag,
            size,
            checksum: reported.or(sent),
        })
    }

    /// UploadPartCopy of a range of `src` (this bucket) into an upload to
    /// `dst`. The range is resolved against the source's size and the
    /// source's ETag is pinned, so a source replaced between parts fails
    /// instead of mixing two versions.
    pub(crate) async fn upload_part_copy(
        &self,
        src: &Key,
        range: ByteRange,
        dst: &Key,
        id: &UploadId,
        n: PartNumber,
    ) -> Result<CompletedPart> {
        check_key(src.as_str())?;
        let meta = self.head(src).await?;
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
            .header("x-cos-copy-source", self.endpoint.copy_source(src.as_str()))
            .header(
                "x-cos-copy-source-range",
                format!("bytes={}-{}", r.start, r.end - 1),
            );
        if let Some(etag) = &meta.etag {
            call = call.header("x-cos-copy-source-if-match", format!("\"{etag}\""));
        }
        let (h, body) = self
            .send_small(call, &self.ctx(src.as_str()).upload_id(&id.0))
            .await?;
        let res: CopyResult = parse(&body, dst.as_str(), "UploadPartCopy")?;
        let etag = res
            .etag
            .map(|e| unquote(&e))
            .ok_or_else(|| Error::transient(dst.as_str(), format!("part {n} copy gave no ETag")))?;
        Ok(CompletedPart {
            number: n,
            etag,
            size: r.end - r.start,
            checksum: crc64_from(&h).or_else(|| res.crc64.as_deref().and_then(parse_crc64)),
        })
    }

    pub(crate) async fn list_parts(&self, key: &Key, id: &UploadId) -> Result<Vec<CompletedPart>> {
        let mut out: Vec<CompletedPart> = Vec::new();
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
            let res: ListPartsResult = parse(&body, key.as_str(), "ListParts")?;
            let last = res.parts.iter().map(|p| p.part_number).max();
            for p in res.parts {
                out.push(CompletedPart {
                    number: PartNumber::new(p.part_number)
                        .map_err(|e| Error::transient(key.as_str(), e.to_string()))?,
                    etag: p.etag.as_deref().map(unquote).unwrap_or_default(),
                    size: p.size,
                    checksum: None,
                });
            }
            match res.next_part_number_marker.or(last) {
                Some(m) if res.is_truncated && marker.is_none_or(|old| m > old) => marker = Some(m),
                _ => break,
            }
        }
        out.sort_by_key(|p| p.number);
        out.dedup_by_key(|p| p.number);
        Ok(out)
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
        // COS takes no per-part checksum in the document: none is named.
        let doc = complete_body(
            parts
                .iter()
                .map(|p| (p.number.get(), p.etag.as_str(), None)),
            "",
        );
        let call = Call::new(Method::POST, Some(key.as_str()))
            .query("uploadId", id.0.clone())
            .header("content-type", "application/xml")
            .body(Body::Bytes(Bytes::from(doc)));
        let (h, body) = self
            .send_small(call, &self.ctx(key.as_str()).upload_id(&id.0))
            .await?;
        let res: CompleteResult = parse(&body, key.as_str(), "CompleteMultipartUpload")?;
        let mut out = outcome_from_headers(&h);
        if let Some(e) = res.etag {
            out.etag = Some(unquote(&e));
        }
        let expected = combined_crc64(parts);
        if let Err(e) = check_crc64(key.as_str(), expected.as_ref(), out.checksums.first()) {
            // The parts COS assembled are not the ones we sent: never leave
            // the object visible.
            let _ = self.delete(key).await;
            return Err(e);
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
            let (_, body) = self.send_small(call, &self.ctx(what)).await?;
            let res: ListUploadsResult = parse(&body, what, "ListMultipartUploads")?;
            let encoded = res
                .encoding_type
                .as_deref()
                .is_some_and(|e| e.eq_ignore_ascii_case("url"));
            let decode = |s: String| if encoded { decode_listed(&s) } else { Ok(s) };
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
