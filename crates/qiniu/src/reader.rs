//! stat (head) on the rs host and ranged GETs from the download domain.

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use haul_core::{
    Attributes, ByteRange, Checksum, ChecksumKind, Error, GetOptions, GetResponse, Key, ObjectMeta,
    Result,
};
use haul_http::attrs::{attributes_from_headers, decode_value};
use haul_http::body_stream;
use haul_http::response::{answered_range, header};
use haul_http::xml::unquote;
use http::Method;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;

use crate::auth::entry;
use crate::core::{Auth, Call, Core, unix_now};

/// What a URL path keeps unencoded: unreserved characters and `/`.
const PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// A `stat` answer (and a listed item: the same fields plus `key`).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Stat {
    #[serde(default)]
    pub(crate) key: Option<String>,
    pub(crate) fsize: u64,
    pub(crate) hash: String,
    #[serde(rename = "putTime", default)]
    pub(crate) put_time: Option<u64>,
    #[serde(default)]
    pub(crate) md5: Option<String>,
    #[serde(rename = "mimeType", default)]
    pub(crate) mime_type: Option<String>,
    /// User metadata; names with or without the `x-qn-meta-` prefix.
    #[serde(rename = "x-qn-meta", default)]
    pub(crate) x_qn_meta: Option<BTreeMap<String, String>>,
    /// Not documented for stat; read when Kodo sends it.
    #[serde(rename = "cacheControl", default)]
    pub(crate) cache_control: Option<String>,
    /// Not documented for stat; read when Kodo sends it.
    #[serde(rename = "contentEncoding", default)]
    pub(crate) content_encoding: Option<String>,
    /// Not documented for stat; read when Kodo sends it.
    #[serde(rename = "contentDisposition", default)]
    pub(crate) content_disposition: Option<String>,
}

/// The prefix of user metadata, in upload fields and download headers.
pub(crate) const META_PREFIX: &str = "x-qn-meta-";

impl Stat {
    /// The attributes this answer reports: `mimeType`, `x-qn-meta` (names
    /// lowercased, the prefix dropped where Kodo keeps it) and, when
    /// present, `cacheControl`, `contentEncoding`, `contentDisposition`;
    /// RFC 2047 encoded words decoded.
    fn attrs(&self) -> Attributes {
        let text = |v: &Option<String>| v.as_deref().map(|v| decode_value(v.as_bytes()));
        let metadata = self
            .x_qn_meta
            .iter()
            .flatten()
            .map(|(k, v)| {
                let lower = k.to_ascii_lowercase();
                let name = lower.strip_prefix(META_PREFIX).unwrap_or(&lower).to_owned();
                (name, decode_value(v.as_bytes()))
            })
            .collect();
        Attributes {
            content_type: text(&self.mime_type).filter(|t| !t.is_empty()),
            content_encoding: text(&self.content_encoding).filter(|t| !t.is_empty()),
            cache_control: text(&self.cache_control).filter(|t| !t.is_empty()),
            content_disposition: text(&self.content_disposition).filter(|t| !t.is_empty()),
            metadata,
        }
    }

    /// The metadata of `key` this answer describes: the qetag as ETag and,
    /// when it is a v1 one, as a checksum; the MD5 as a checksum when Kodo
    /// reports one; `putTime` (100 ns units) as the modification time, and
    /// the attributes.
    pub(crate) fn meta(&self, key: Key) -> ObjectMeta {
        let checksums = self
            .md5
            .as_deref()
            .filter(|m| m.len() == 32)
            .and_then(|m| Checksum::from_hex(ChecksumKind::Md5, m).ok())
            .into_iter()
            .chain(haul_core::qetag::parse(&self.hash))
            .collect();
        ObjectMeta {
            key,
            size: self.fsize,
            last_modified: self
                .put_time
                .map(|t| UNIX_EPOCH + Duration::from_nanos(t.saturating_mul(100))),
            etag: Some(self.hash.clone()),
            checksums,
            version: None,
            attrs: self.attrs(),
        }
    }
}

/// A key as a URL path (`/` kept, everything but unreserved characters
/// percent-encoded). Keys with a `.` or `..` segment are refused: URL
/// normalisation would change them in flight.
pub(crate) fn key_path(key: &Key) -> Result<String> {
    if key.as_str().split('/').any(|s| s == "." || s == "..") {
        return Err(Error::invalid(
            key.as_str(),
            "a key with a '.' or '..' path segment cannot be downloaded by URL",
        ));
    }
    Ok(utf8_percent_encode(key.as_str(), PATH).to_string())
}

impl Core {
    pub(crate) async fn head(&self, key: &Key) -> Result<ObjectMeta> {
        let path = format!("/stat/{}", entry(&self.cfg.bucket, Some(key.as_str())));
        let call = self.rs_call(Method::GET, &path, None);
        let (_, stat): (u16, Stat) = self.send_json(call, &self.ctx(key.as_str())).await?;
        Ok(stat.meta(key.clone()))
    }

    /// The download URL of `key`: signed until `now + download_lifetime`
    /// when the bucket is private.
    pub(crate) fn download_url(&self, key: &Key, lifetime: Duration) -> Result<String> {
        let Some(base) = &self.cfg.download_url else {
            return Err(Error::invalid(
                key.as_str(),
                format!(
                    "no download domain is configured for bucket {:?}: set QINIU_DOWNLOAD_DOMAIN",
                    self.cfg.bucket
                ),
            ));
        };
        let url = format!("{base}/{}", key_path(key)?);
        if self.cfg.private {
            let deadline = unix_now() + lifetime.as_secs().max(1);
            Ok(self.creds.private_download_url(&url, deadline))
        } else {
            Ok(url)
        }
    }

    pub(crate) async fn get(&self, key: &Key, opts: GetOptions) -> Result<GetResponse> {
        let url = self.download_url(key, self.cfg.download_lifetime)?;
        let mut call = Call::new(Method::GET, url, Auth::None);
        if let Some(r) = opts.range {
            if matches!(r, ByteRange::Bounded { start, end } if start >= end)
                || matches!(r, ByteRange::Suffix(0))
            {
                return Err(Error::invalid(key.as_str(), format!("empty range {r:?}")));
            }
            call = call.header("range", r.to_http_header());
        }
        let resp = self.send(call, &self.ctx(key.as_str())).await?;
        let h = resp.headers();
        let (range, size) = answered_range(key.as_str(), resp.status(), h)?;
        let len = range.end - range.start;
        let etag = header(h, "etag").map(unquote);
        let meta = ObjectMeta {
            key: key.clone(),
            size,
            last_modified: header(h, "last-modified")
                .and_then(|v| httpdate::parse_http_date(v).ok()),
            // The whole object's qetag, also for a range of it.
            checksums: etag
                .as_deref()
                .and_then(haul_core::qetag::parse)
                .into_iter()
                .collect(),
            etag,
            version: None,
            // The download answer carries the object's headers: Content-Type,
            // Cache-Control, Content-Encoding, Content-Disposition and
            // `x-qn-meta-*`.
            attrs: attributes_from_headers(h, META_PREFIX),
        };
        // The download domain is not asked to honour If-Match (a CDN may
        // not): the ETag it answers with is compared here instead.
        if let Some(want) = &opts.if_match
            && meta.etag.as_deref() != Some(unquote(want).as_str())
        {
            return Err(Error::Precondition {
                key: key.to_string(),
                source: format!(
                    "ETag is {}, not {}",
                    meta.etag.as_deref().unwrap_or("(none)"),
                    unquote(want)
                )
                .into(),
            });
        }
        let body = body_stream(resp, key.as_str(), Some(len), self.stall);
        Ok(GetResponse { meta, range, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_paths() {
        let k = |s: &str| Key::new(s).unwrap();
        assert_eq!(
            key_path(&k("a b/c+d%e#f?g")).unwrap(),
            "a%20b/c%2Bd%25e%23f%3Fg"
        );
        assert_eq!(
            key_path(&k("日本/ü~x")).unwrap(),
            "%E6%97%A5%E6%9C%AC/%C3%BC~x"
        );
        assert!(key_path(&k("a/../b")).is_err());
        assert!(key_path(&k("./b")).is_err());
        assert!(key_path(&k("a/.../b")).is_ok());
    }

    #[test]
    fn stat_meta() {
        let s: Stat = serde_json::from_str(
            r#"{"fsize":5,"hash":"FpLiADEaVoALPkdb8tJEJyRTXoe_","mimeType":"text/plain","putTime":17000000000000000,"type":0,"md5":"5d41402abc4b2a76b9719d911017c592"}"#,
        )
        .unwrap();
        let m = s.meta(Key::new("k").unwrap());
        assert_eq!(m.size, 5);
        assert_eq!(m.etag.as_deref(), Some("FpLiADEaVoALPkdb8tJEJyRTXoe_"));
        assert_eq!(m.checksums[0].to_hex(), "5d41402abc4b2a76b9719d911017c592");
        assert_eq!(
            m.last_modified,
            Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        );
        assert_eq!(m.attrs.content_type.as_deref(), Some("text/plain"));
        assert!(m.attrs.metadata.is_empty());
    }

    #[test]
    fn stat_attributes() {
        let s: Stat = serde_json::from_str(
            r#"{"fsize":5,"hash":"h","mimeType":"text/csv","x-qn-meta":{"origin":"a b","x-qn-meta-City":"=?UTF-8?B?Y2Fmw6k=?="},"cacheControl":"no-cache"}"#,
        )
        .unwrap();
        let a = s.meta(Key::new("k").unwrap()).attrs;
        assert_eq!(a.content_type.as_deref(), Some("text/csv"));
        assert_eq!(a.cache_control.as_deref(), Some("no-cache"));
        assert_eq!(a.content_encoding, None);
        assert_eq!(
            a.metadata,
            [
                ("city".to_owned(), "café".to_owned()),
                ("origin".to_owned(), "a b".to_owned())
            ]
            .into()
        );
    }
}
