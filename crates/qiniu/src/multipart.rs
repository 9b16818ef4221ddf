//! Resumable upload v2: initiate, upload parts, list parts, complete, abort
//! (protocols §1.8, with the hex `Content-MD5` of §8).
//!
//! Every call carries an upload token minted for it. Parts are hashed as
//! they are sent: the `etag` Kodo answers is the part's qetag and is
//! compared with ours, and on completion the object's `hash` is compared
//! with the qetag (v2) the part etags add up to. The attributes given at
//! creation (content type, metadata, Cache-Control, Content-Encoding,
//! Content-Disposition) travel inside the upload id (after a `#`, which
//! never occurs in Kodo's ids), so another process can complete the upload
//! with them: Kodo takes them on the complete call.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use haul_core::{
    Checksum, ChecksumKind, CompletedPart, Error, Key, PartNumber, Payload, PutOptions, PutOutcome,
    Result, UploadId,
};
use haul_http::attrs::encode_value;
use http::Method;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Serialize};

use crate::auth::{urlsafe_b64, urlsafe_b64_decode};
use crate::core::{Auth, Body, Call, Core, Digests, take_digests};
use crate::qetag::qetag_of_parts;
use crate::writer::{PutAnswer, attribute_fields, check_hash, file_name};

/// What a path segment keeps unencoded: unreserved characters.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// What `create_multipart` was asked to store, kept in the upload id, as
/// the complete call sends it (values already encoded).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Pending {
    #[serde(rename = "mimeType", default, skip_serializing_if = "Option::is_none")]
    mime_type: Option<String>,
    /// `x-qn-meta-<name>` to value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    metadata: BTreeMap<String, String>,
    #[serde(
        rename = "cacheControl",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    cache_control: Option<String>,
    #[serde(
        rename = "contentEncoding",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    content_encoding: Option<String>,
    #[serde(
        rename = "contentDisposition",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    content_disposition: Option<String>,
}

impl Pending {
    /// The attributes of `opts`, checked and encoded as a form upload
    /// sends them ([`attribute_fields`]).
    fn of(key: &Key, opts: &PutOptions) -> Result<Self> {
        let mut pending = Self {
            mime_type: opts.content_type.as_deref().map(encode_value),
            ..Self::default()
        };
        for (name, value) in attribute_fields(key, opts)? {
            match name.as_str() {
                "cacheControl" => pending.cache_control = Some(value),
                "contentEncoding" => pending.content_encoding = Some(value),
                "contentDisposition" => pending.content_disposition = Some(value),
                _ => {
                    pending.metadata.insert(name, value);
                }
            }
        }
        Ok(pending)
    }
}

/// Splits our upload id into Kodo's id and what creation asked for.
fn split_id(id: &UploadId) -> (&str, Pending) {
    match id.0.split_once('#') {
        Some((server, extra)) => {
            let pending = urlsafe_b64_decode(extra)
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_default();
            (server, pending)
        }
        None => (&id.0, Pending::default()),
    }
}

#[derive(Debug, Deserialize)]
struct InitAnswer {
    #[serde(rename = "uploadId")]
    upload_id: String,
}

#[derive(Debug, Deserialize)]
struct PartAnswer {
    etag: String,
    #[serde(default)]
    md5: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ListedPart {
    size: u64,
    etag: String,
    #[serde(rename = "partNumber")]
    part_number: u32,
}

#[derive(Debug, Deserialize)]
struct ListAnswer {
    #[serde(rename = "partNumberMarker", default)]
    marker: u32,
    #[serde(default)]
    parts: Vec<ListedPart>,
}

#[derive(Debug, Serialize)]
struct CompleteBody<'a> {
    parts: Vec<CompletePart<'a>>,
    fname: String,
    #[serde(rename = "mimeType")]
    mime_type: Option<String>,
    metadata: Option<BTreeMap<String, String>>,
    #[serde(rename = "customVars")]
    custom_vars: Option<BTreeMap<String, String>>,
    #[serde(rename = "cacheControl", skip_serializing_if = "Option::is_none")]
    cache_control: Option<String>,
    #[serde(rename = "contentEncoding", skip_serializing_if = "Option::is_none")]
    content_encoding: Option<String>,
    #[serde(rename = "contentDisposition", skip_serializing_if = "Option::is_none")]
    content_disposition: Option<String>,
}

#[derive(Debug, Serialize)]
struct CompletePart<'a> {
    #[serde(rename = "partNumber")]
    part_number: u32,
    etag: &'a str,
}

/// Whether `etag` has the shape of a v1 qetag (28 characters decoding to
/// 0x16 or 0x96 and a SHA-1).
fn is_qetag(etag: &str) -> bool {
    urlsafe_b64_decode(etag)
        .is_some_and(|raw| raw.len() == 21 && (raw[0] == 0x16 || raw[0] == 0x96))
}

impl Core {
    /// `<up>/buckets/<bucket>/objects/<EncodedObjectName>/uploads[/<id>[/<n>]]`.
    fn uploads_url(&self, key: &Key, id: Option<&str>, n: Option<PartNumber>) -> String {
        let mut url = format!(
            "{}/buckets/{}/objects/{}/uploads",
            self.cfg.up_url,
            self.cfg.bucket,
            urlsafe_b64(key.as_str())
        );
        if let Some(id) = id {
            url.push('/');
            url.push_str(&utf8_percent_encode(id, SEGMENT).to_string());
        }
        if let Some(n) = n {
            let _ = write!(url, "/{n}");
        }
        url
    }

    pub(crate) async fn create_multipart(&self, key: &Key, opts: PutOptions) -> Result<UploadId> {
        let pending = Pending::of(key, &opts)?;
        let url = self.uploads_url(key, None, None);
        let call = Call::new(Method::POST, url, Auth::UpToken(self.up_token(key)));
        let (_, answer): (u16, InitAnswer) = self.send_json(call, &self.ctx(key.as_str())).await?;
        if answer.upload_id.is_empty() || answer.upload_id.contains('#') {
            return Err(Error::transient(
                key.as_str(),
                format!("Kodo answered an unusable upload id {:?}", answer.upload_id),
            ));
        }
        if pending == Pending::default() {
            return Ok(UploadId(answer.upload_id));
        }
        let extra = urlsafe_b64(serde_json::to_vec(&pending).unwrap_or_default());
        Ok(UploadId(format!("{}#{extra}", answer.upload_id)))
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
        let (server_id, _) = split_id(id);
        let size = body.len();
        let sent_md5 = body.checksum(ChecksumKind::Md5).cloned();
        let sent_crc = body
            .checksum(ChecksumKind::Crc32)
            .and_then(Checksum::crc_value);
        let tap = Arc::new(Mutex::new(Digests::default()));
        let mut call = Call::new(
            Method::PUT,
            self.uploads_url(key, Some(server_id), Some(n)),
            Auth::UpToken(self.up_token(key)),
        )
        .header("content-type", "application/octet-stream");
        if let Some(md5) = &sent_md5 {
            // Kodo and its SDKs use the hex digest here, not RFC 1864 base64.
            call = call.header("content-md5", md5.to_hex());
        }
        let call = call.body(Body::Stream {
            head: bytes::Bytes::new(),
            pieces: body.pieces().to_vec(),
            tail: bytes::Bytes::new(),
            tap: Arc::clone(&tap),
        });
        let ctx = self.ctx(key.as_str()).upload_id(&id.0);
        let (_, answer): (u16, PartAnswer) = self.send_json(call, &ctx).await?;
        let digests = take_digests(&tap);
        let crc = digests.crc32.finalize() as u32;
        let where_ = format!("{key} (part {n})");
        if let Some(want) = sent_crc
            && want != u64::from(crc)
        {
            return Err(Error::Integrity {
                key: where_,
                expected: format!("crc32 {want:08x} carried by the part"),
                actual: format!("crc32 {crc:08x} of the bytes sent"),
            });
        }
        let answered_md5 = answer
            .md5
            .as_deref()
            .and_then(|m| Checksum::from_hex(ChecksumKind::Md5, m).ok());
        if let (Some(ours), Some(theirs)) = (&sent_md5, &answered_md5)
            && ours != theirs
        {
            return Err(Error::Integrity {
                key: where_,
                expected: ours.to_string(),
                actual: theirs.to_string(),
            });
        }
        if is_qetag(&answer.etag) {
            check_hash(key, digests, &answer.etag).map_err(|e| match e {
                Error::Integrity {
                    expected, actual, ..
                } => Error::Integrity {
                    key: where_.clone(),
                    expected,
                    actual,
                },
                e => e,
            })?;
        }
        Ok(CompletedPart {
            number: n,
            etag: answer.etag,
            size,
            checksum: answered_md5.or(sent_md5),
        })
    }

    pub(crate) async fn list_parts(&self, key: &Key, id: &UploadId) -> Result<Vec<CompletedPart>> {
        let (server_id, _) = split_id(id);
        let ctx = self.ctx(key.as_str()).upload_id(&id.0);
        let mut out: BTreeMap<u32, CompletedPart> = BTreeMap::new();
        let mut marker = 0u32;
        loop {
            let mut url = format!(
                "{}?max-parts=1000",
                self.uploads_url(key, Some(server_id), None)
            );
            if marker > 0 {
                // The API spec's spelling.
                let _ = write!(url, "&part-number_marker={marker}");
            }
            let call = Call::new(Method::GET, url, Auth::UpToken(self.up_token(key)));
            let (_, page): (u16, ListAnswer) = self.send_json(call, &ctx).await?;
            for p in page.parts {
                let number = PartNumber::new(p.part_number)
                    .map_err(|e| Error::transient(key.as_str(), e.to_string()))?;
                out.insert(
                    p.part_number,
                    CompletedPart {
                        number,
                        etag: p.etag,
                        size: p.size,
                        checksum: None,
                    },
                );
            }
            if page.marker == 0 || page.marker <= marker {
                break;
            }
            marker = page.marker;
        }
        Ok(out.into_values().collect())
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
                "parts must be listed in strictly ascending order",
            ));
        }
        let (server_id, pending) = split_id(id);
        let body = CompleteBody {
            parts: parts
                .iter()
                .map(|p| CompletePart {
                    part_number: p.number.get(),
                    etag: &p.etag,
                })
                .collect(),
            fname: file_name(key),
            mime_type: pending.mime_type,
            metadata: Some(pending.metadata).filter(|m| !m.is_empty()),
            custom_vars: None,
            cache_control: pending.cache_control,
            content_encoding: pending.content_encoding,
            content_disposition: pending.content_disposition,
        };
        let json = serde_json::to_vec(&body).map_err(|e| {
            Error::invalid(key.as_str(), format!("cannot write the part list: {e}"))
        })?;
        let call = Call::new(
            Method::POST,
            self.uploads_url(key, Some(server_id), None),
            Auth::UpToken(self.up_token(key)),
        )
        .header("content-type", "application/json")
        .body(Body::Bytes(json.into()));
        let ctx = self.ctx(key.as_str()).upload_id(&id.0);
        let (_, answer): (u16, PutAnswer) = self.send_json(call, &ctx).await?;
        let sized: Vec<(u64, &str)> = parts.iter().map(|p| (p.size, p.etag.as_str())).collect();
        if let Some(want) = qetag_of_parts(&sized)
            && want != answer.hash
        {
            return Err(Error::Integrity {
                key: key.to_string(),
                expected: format!("qetag {want} of the parts"),
                actual: format!("qetag {}", answer.hash),
            });
        }
        Ok(PutOutcome {
            etag: Some(answer.hash),
            checksums: Vec::new(),
            version: None,
            ..PutOutcome::default()
        })
    }

    pub(crate) async fn abort_multipart(&self, key: &Key, id: &UploadId) -> Result<()> {
        let (server_id, _) = split_id(id);
        let call = Call::new(
            Method::DELETE,
            self.uploads_url(key, Some(server_id), None),
            Auth::UpToken(self.up_token(key)),
        );
        let ctx = self.ctx(key.as_str()).upload_id(&id.0);
        self.send_json::<serde_json::Value>(call, &ctx)
            .await
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_creation_options() {
        let pending = Pending {
            mime_type: Some("text/plain".into()),
            metadata: [("x-qn-meta-a".to_owned(), "b".to_owned())].into(),
            cache_control: Some("no-cache".into()),
            ..Pending::default()
        };
        let extra = urlsafe_b64(serde_json::to_vec(&pending).unwrap());
        let id = UploadId(format!("abc123#{extra}"));
        assert_eq!(split_id(&id), ("abc123", pending));
        assert_eq!(
            split_id(&UploadId("plain".into())),
            ("plain", Pending::default())
        );
        assert!(is_qetag("FpLiADEaVoALPkdb8tJEJyRTXoe_"));
        assert!(!is_qetag("d41d8cd98f00b204e9800998ecf8427e"));
    }
}
