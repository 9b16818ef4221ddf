//! Form upload (put), and rs copy, move and delete.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::StreamExt;
use haul_core::{
    Checksum, ChecksumKind, CopyOptions, Error, Key, Payload, PutOptions, PutOutcome, Result,
};
use haul_http::attrs::{encode_value, metadata_name};
use haul_http::form::FileBody;
use http::Method;
use serde::Deserialize;

use crate::auth::entry;
use crate::core::{Auth, Body, Call, Core, Digests, LiveFile, take_digests};
use crate::reader::META_PREFIX;

/// The answer to a form upload or a completed multipart upload (the
/// default `returnBody`).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct PutAnswer {
    pub(crate) hash: String,
}

/// The attributes of `opts` as Kodo's upload fields, names and values:
/// `x-qn-meta-<name>` for each metadata entry (names lowercased, ASCII
/// letters, digits, `-` and `_`, else [`Error::InvalidInput`]), then
/// `cacheControl`, `contentEncoding` and `contentDisposition` where set.
/// Values go through [`encode_value`]: a value that is not printable ASCII
/// becomes an RFC 2047 encoded word, decoded again when read back.
pub(crate) fn attribute_fields(key: &Key, opts: &PutOptions) -> Result<Vec<(String, String)>> {
    let mut out = Vec::with_capacity(opts.metadata.len() + 3);
    for (name, value) in &opts.metadata {
        let name = metadata_name(key, name)?;
        out.push((format!("{META_PREFIX}{name}"), encode_value(value)));
    }
    let http = [
        ("cacheControl", &opts.cache_control),
        ("contentEncoding", &opts.content_encoding),
        ("contentDisposition", &opts.content_disposition),
    ];
    for (name, value) in http {
        if let Some(v) = value {
            out.push((name.to_owned(), encode_value(v)));
        }
    }
    Ok(out)
}

/// The last path segment of `key`, safe inside a quoted `filename`.
pub(crate) fn file_name(key: &Key) -> String {
    let last = key.as_str().rsplit('/').next().unwrap_or_default();
    let name: String = last
        .chars()
        .map(|c| {
            if c == '"' || c == '\\' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    if name.is_empty() {
        "file".to_owned()
    } else {
        name
    }
}

/// The `multipart/form-data` framing of a form upload: everything before
/// the file's bytes, and everything after.
struct Form {
    boundary: String,
    head: String,
}

impl Form {
    fn new(avoid: &[&str]) -> Self {
        loop {
            let boundary = format!("haul-qiniu-{:032x}", rand::random::<u128>());
            if !avoid.iter().any(|s| s.contains(&boundary)) {
                return Self {
                    boundary,
                    head: String::new(),
                };
            }
        }
    }

    fn field(&mut self, name: &str, value: &str) {
        let _ = write!(
            self.head,
            "--{}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n",
            self.boundary
        );
    }

    /// Opens the `file` field; returns (head, tail, content type).
    fn finish(mut self, file_name: &str, content_type: &str) -> (Bytes, Bytes, String) {
        let _ = write!(
            self.head,
            "--{}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: {content_type}\r\n\r\n",
            self.boundary
        );
        let tail = format!("\r\n--{}--\r\n", self.boundary);
        let ct = format!("multipart/form-data; boundary={}", self.boundary);
        (Bytes::from(self.head), Bytes::from(tail), ct)
    }
}

/// The CRC-32 (IEEE) of `body`: the one it carries, else computed.
fn crc32_of(body: &Payload, opts: &PutOptions) -> u32 {
    let carried = opts
        .checksums
        .iter()
        .chain(body.checksums())
        .find(|c| c.kind() == ChecksumKind::Crc32)
        .and_then(Checksum::crc_value);
    carried.map_or_else(
        || {
            let mut h = crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc32IsoHdlc);
            for p in body.pieces() {
                h.update(p);
            }
            h.finalize() as u32
        },
        |v| v as u32,
    )
}

/// Fails with `Integrity` unless Kodo's hash is the qetag of what was sent.
pub(crate) fn check_hash(key: &Key, sent: Digests, answered: &str) -> Result<()> {
    let ours = sent.qetag.finish();
    if ours == answered {
        Ok(())
    } else {
        Err(Error::Integrity {
            key: key.to_string(),
            expected: format!("qetag {ours}"),
            actual: format!("qetag {answered}"),
        })
    }
}

impl Core {
    /// Form upload: one `multipart/form-data` POST to the up host with the
    /// upload token, the key, the `crc32` Kodo checks (406 on mismatch) and
    /// the file last; the answer's `hash` is compared with the qetag of the
    /// bytes as they were sent. A file still being read goes out as it is
    /// read, without the `crc32` field (not known before the last byte):
    /// the qetag comparison is its check.
    pub(crate) async fn put(
        &self,
        key: &Key,
        body: FileBody,
        opts: PutOptions,
    ) -> Result<PutOutcome> {
        let max = self.caps.max_single_put_bytes;
        if body.len() > max {
            return Err(Error::invalid(
                key.as_str(),
                format!(
                    "{} bytes is more than one form upload takes ({max})",
                    body.len()
                ),
            ));
        }
        let fields = attribute_fields(key, &opts)?;
        let crc = match &body {
            FileBody::Payload(p) => Some(crc32_of(p, &opts)),
            FileBody::Stream(_) => None,
        };
        let token = self.up_token(key);
        let values: Vec<&str> = std::iter::once(key.as_str())
            .chain(fields.iter().map(|(_, v)| v.as_str()))
            .collect();
        let mut form = Form::new(&values);
        form.field("token", &token);
        form.field("key", key.as_str());
        if let Some(crc) = crc {
            form.field("crc32", &crc.to_string());
        }
        for (name, value) in &fields {
            form.field(name, value);
        }
        // Kodo takes the mime type from the file part's Content-Type.
        let ct = opts
            .content_type
            .as_deref()
            .map_or_else(|| "application/octet-stream".to_owned(), encode_value);
        let (head, tail, form_type) = form.finish(&file_name(key), &ct);
        let tap = Arc::new(Mutex::new(Digests::default()));
        let call = Call::new(Method::POST, format!("{}/", self.cfg.up_url), Auth::None)
            .header("content-type", form_type)
            .body(match body {
                FileBody::Payload(p) => Body::Stream {
                    head,
                    pieces: p.pieces().to_vec(),
                    tail,
                    tap: Arc::clone(&tap),
                },
                FileBody::Stream(s) => Body::Live {
                    head,
                    len: s.len(),
                    file: LiveFile(Arc::new(Mutex::new(Some(s.boxed())))),
                    tail,
                    tap: Arc::clone(&tap),
                },
            });
        let (_, answer): (u16, PutAnswer) = self.send_json(call, &self.ctx(key.as_str())).await?;
        let sent = take_digests(&tap);
        // The CRC-32 of the bytes as they were sent, for a streamed file:
        // Kodo's hash matched their qetag, so they are the bytes it stored.
        let crc = crc.unwrap_or_else(|| sent.crc32.finalize() as u32);
        check_hash(key, sent, &answer.hash)?;
        Ok(PutOutcome {
            etag: Some(answer.hash),
            // Kodo checked this CRC-32 against the bytes it received (or,
            // streamed, the qetag above covered them).
            checksums: vec![Checksum::from_crc(ChecksumKind::Crc32, u64::from(crc))],
            version: None,
            ..PutOutcome::default()
        })
    }

    pub(crate) async fn copy(&self, src: &Key, dst: &Key, opts: CopyOptions) -> Result<PutOutcome> {
        let mut etag = None;
        if let Some(want) = &opts.if_match {
            // rs/copy has no condition: the source's hash is checked first.
            let meta = self.head(src).await?;
            let want = want.trim_matches('"');
            if meta.etag.as_deref() != Some(want) {
                return Err(Error::Precondition {
                    key: src.to_string(),
                    source: format!(
                        "hash is {}, not {want}",
                        meta.etag.as_deref().unwrap_or("(none)")
                    )
                    .into(),
                });
            }
            etag = meta.etag;
        }
        self.rs_two_keys("copy", src, dst, true).await?;
        Ok(PutOutcome {
            etag,
            ..PutOutcome::default()
        })
    }

    /// `rs/<op>/<src>/<dst>/force/<force>` (copy or move, within the bucket).
    pub(crate) async fn rs_two_keys(
        &self,
        op: &str,
        src: &Key,
        dst: &Key,
        force: bool,
    ) -> Result<()> {
        let bucket = &self.cfg.bucket;
        let path = format!(
            "/{op}/{}/{}/force/{force}",
            entry(bucket, Some(src.as_str())),
            entry(bucket, Some(dst.as_str()))
        );
        let call = self.rs_call(Method::POST, &path, None);
        let ctx = self.ctx(src.as_str());
        match self.send_json::<serde_json::Value>(call, &ctx).await {
            // 614 concerns the destination: name it.
            Err(Error::AlreadyExists { source, .. }) => Err(Error::AlreadyExists {
                key: dst.to_string(),
                source,
            }),
            r => r.map(drop),
        }
    }

    pub(crate) async fn delete(&self, key: &Key) -> Result<()> {
        let path = format!("/delete/{}", entry(&self.cfg.bucket, Some(key.as_str())));
        let call = self.rs_call(Method::POST, &path, None);
        match self
            .send_json::<serde_json::Value>(call, &self.ctx(key.as_str()))
            .await
        {
            Ok(_) => Ok(()),
            // 612: already gone, which is what deleting asks for. A missing
            // bucket (631) stays an error.
            Err(Error::NotFound { source, .. }) if source.to_string().contains("HTTP 612") => {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        let k = |s: &str| Key::new(s).unwrap();
        assert_eq!(file_name(&k("dir/a \"b\".txt")), "a _b_.txt");
        assert_eq!(file_name(&k("dir/")), "file");
        assert_eq!(file_name(&k("x\r\ny")), "x__y");
    }

    #[test]
    fn form_framing() {
        let mut f = Form::new(&["k"]);
        let b = f.boundary.clone();
        f.field("token", "t");
        let (head, tail, ct) = f.finish("k", "text/plain");
        let head = String::from_utf8(head.to_vec()).unwrap();
        assert!(head.starts_with(&format!(
            "--{b}\r\nContent-Disposition: form-data; name=\"token\"\r\n\r\nt\r\n"
        )));
        assert!(head.ends_with("Content-Type: text/plain\r\n\r\n"));
        assert_eq!(&tail[..], format!("\r\n--{b}--\r\n").as_bytes());
        assert_eq!(ct, format!("multipart/form-data; boundary={b}"));
    }
}
