//! Addressing: the bucket's host (virtual-hosted) or the bucket in the path
//! (`ForcePathStyle`), the URL encoding of keys, and the path that is signed.

use haul_core::{Error, Result};

use crate::CosConfig;
use crate::sign::url_encode;

/// Encodes a key for a URL path: each `/`-separated segment encoded, the
/// separators kept.
pub(crate) fn encode_key(key: &str) -> String {
    key.split('/').map(url_encode).collect::<Vec<_>>().join("/")
}

/// Decodes a value COS URL-encoded in a listing (`encoding-type=url`).
/// Plain percent-decoding: COS writes a space as `%20` and `+` as `%2B`
/// (the Python SDK decodes with `unquote`, which keeps a `+`).
pub(crate) fn decode_listed(s: &str) -> Result<String> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map(std::borrow::Cow::into_owned)
        .map_err(|e| Error::invalid(s, format!("listed key is not UTF-8 once decoded: {e}")))
}

/// Refuses keys a URL cannot carry intact: a `.` or `..` segment would be
/// folded away by URL normalisation before the request leaves.
pub(crate) fn check_key(key: &str) -> Result<()> {
    if key.split('/').any(|s| s == "." || s == "..") {
        return Err(Error::invalid(
            key,
            "keys with a '.' or '..' path segment cannot be addressed over COS's XML API",
        ));
    }
    Ok(())
}

/// Whether `bucket` is a COS bucket name: letters, digits and `-`, not at
/// either end (`examplebucket-1250000000`).
fn valid_bucket(bucket: &str) -> bool {
    !bucket.is_empty()
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !bucket.starts_with('-')
        && !bucket.ends_with('-')
}

/// Where requests go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// `http` or `https`.
    scheme: String,
    /// The `Host` every request carries (and signs): `bucket.cos.region.myqcloud.com`,
    /// or the endpoint's `host[:port]` in path style.
    host: String,
    /// What comes before the key in the path, without a trailing `/`:
    /// `""`, `/<bucket>` or `/<base>/<bucket>` (decoded; bucket names and
    /// base paths need no encoding).
    prefix: String,
    /// Whether the bucket goes in the path.
    pub(crate) path_style: bool,
}

impl Endpoint {
    /// Resolves the configuration's endpoint and addressing style.
    pub(crate) fn new(cfg: &CosConfig) -> Result<Self> {
        if !valid_bucket(&cfg.bucket) {
            return Err(Error::invalid(
                &cfg.bucket,
                "a COS bucket is named <name>-<appid>: lowercase letters, digits and '-'",
            ));
        }
        let raw = cfg
            .endpoint
            .clone()
            .unwrap_or_else(|| format!("https://cos.{}.myqcloud.com", cfg.region));
        let url = reqwest::Url::parse(&raw).map_err(|e| {
            Error::invalid(
                &cfg.bucket,
                format!("bad COS endpoint {raw:?}: {e} (want scheme://host[:port])"),
            )
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::invalid(
                &cfg.bucket,
                format!("COS endpoint {raw:?} is not http or https"),
            ));
        }
        let host = url.host_str().ok_or_else(|| {
            Error::invalid(&cfg.bucket, format!("COS endpoint {raw:?} has no host"))
        })?;
        let authority = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_owned(),
        };
        let base = percent_encoding::percent_decode_str(url.path().trim_end_matches('/'))
            .decode_utf8_lossy()
            .into_owned();
        let path_style = cfg.force_path_style;
        Ok(Self {
            scheme: url.scheme().to_owned(),
            host: if path_style {
                authority
            } else {
                format!("{}.{authority}", cfg.bucket)
            },
            prefix: if path_style {
                format!("{base}/{}", cfg.bucket)
            } else {
                base
            },
            path_style,
        })
    }

    /// The `Host` header value, signed as sent.
    pub(crate) fn host(&self) -> &str {
        &self.host
    }

    /// The decoded path of `key` (or of the bucket), as COS signs it.
    pub(crate) fn signed_path(&self, key: Option<&str>) -> String {
        format!("{}/{}", self.prefix, key.unwrap_or(""))
    }

    /// The URL of `key` (or of the bucket, for `None`) with `query`
    /// (name, value) pairs; an empty value is written as a bare name
    /// (`?uploads`).
    pub(crate) fn url(&self, key: Option<&str>, query: &[(&str, String)]) -> String {
        let prefix = self
            .prefix
            .split('/')
            .map(url_encode)
            .collect::<Vec<_>>()
            .join("/");
        let mut url = format!(
            "{}://{}{prefix}/{}",
            self.scheme,
            self.host,
            key.map(encode_key).unwrap_or_default()
        );
        for (i, (name, value)) in query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(&url_encode(name));
            if !value.is_empty() {
                url.push('=');
                url.push_str(&url_encode(value));
            }
        }
        url
    }

    /// The `x-cos-copy-source` value for `key` in this bucket: host and
    /// path without a scheme, the key encoded with `/` kept.
    pub(crate) fn copy_source(&self, key: &str) -> String {
        format!("{}{}/{}", self.host, self.prefix, encode_key(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(endpoint: Option<&str>) -> CosConfig {
        let c = CosConfig::new("examplebucket-1250000000", "ap-guangzhou", "ID", "KEY");
        match endpoint {
            Some(e) => c.with_endpoint(e),
            None => c,
        }
    }

    #[test]
    fn virtual_hosted_by_default() {
        let e = Endpoint::new(&cfg(None)).expect("endpoint");
        assert!(!e.path_style);
        assert_eq!(
            e.host(),
            "examplebucket-1250000000.cos.ap-guangzhou.myqcloud.com"
        );
        assert_eq!(
            e.url(Some("测试/a b+c.jpg"), &[("uploads", String::new())]),
            "https://examplebucket-1250000000.cos.ap-guangzhou.myqcloud.com/\
             %E6%B5%8B%E8%AF%95/a%20b%2Bc.jpg?uploads"
        );
        assert_eq!(e.signed_path(Some("测试/a b+c.jpg")), "/测试/a b+c.jpg");
        assert_eq!(e.signed_path(None), "/");
        assert_eq!(
            e.url(None, &[("prefix", "a/b".into())]),
            "https://examplebucket-1250000000.cos.ap-guangzhou.myqcloud.com/?prefix=a%2Fb"
        );
        assert_eq!(
            e.copy_source("d/a b"),
            "examplebucket-1250000000.cos.ap-guangzhou.myqcloud.com/d/a%20b"
        );
    }

    #[test]
    fn path_style_with_an_endpoint() {
        let e = Endpoint::new(&cfg(Some("http://127.0.0.1:9000"))).expect("endpoint");
        assert!(e.path_style);
        assert_eq!(e.host(), "127.0.0.1:9000");
        assert_eq!(
            e.url(Some("k 1"), &[("partNumber", "1".into())]),
            "http://127.0.0.1:9000/examplebucket-1250000000/k%201?partNumber=1"
        );
        assert_eq!(e.signed_path(Some("k 1")), "/examplebucket-1250000000/k 1");
        assert_eq!(e.signed_path(None), "/examplebucket-1250000000/");
        assert_eq!(
            e.copy_source("k"),
            "127.0.0.1:9000/examplebucket-1250000000/k"
        );
        let e = Endpoint::new(&cfg(Some("https://cos.example/base/"))).expect("base");
        assert_eq!(
            e.url(Some("k"), &[]),
            "https://cos.example/base/examplebucket-1250000000/k"
        );
        assert_eq!(e.signed_path(Some("k")), "/base/examplebucket-1250000000/k");
    }

    #[test]
    fn refusals() {
        assert!(Endpoint::new(&cfg(Some("ftp://x"))).is_err());
        assert!(Endpoint::new(&cfg(Some("not a url"))).is_err());
        let mut c = cfg(None);
        c.bucket = "Bad_Bucket".into();
        assert!(Endpoint::new(&c).is_err());
        assert!(check_key("a/../b").is_err() && check_key("./a").is_err());
        assert!(check_key("a/..b/.c").is_ok());
        assert_eq!(decode_listed("a%20b+c%2B").expect("decode"), "a b+c+");
    }
}
