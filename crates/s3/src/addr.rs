//! Addressing: the endpoint, virtual-hosted or path style, and the S3 URI
//! encoding of keys and query values.

use std::net::IpAddr;

use haul_core::{Error, Result};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::S3Config;

/// Everything but RFC 3986 unreserved characters (`A-Za-z0-9-._~`) is encoded.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes one path segment or query value the way S3 expects
/// (uppercase hex, space as `%20`, `+` as `%2B`).
pub(crate) fn encode(s: &str) -> String {
    utf8_percent_encode(s, UNRESERVED).to_string()
}

/// Encodes a key for a URL path: each `/`-separated segment encoded, the
/// separators kept.
pub(crate) fn encode_key(key: &str) -> String {
    key.split('/').map(encode).collect::<Vec<_>>().join("/")
}

/// Decodes a value S3 URL-encoded in a listing (`encoding-type=url`): `%XX`
/// escapes, and `+` for a space as form encoding has it.
pub(crate) fn decode_listed(s: &str) -> Result<String> {
    let plus = s.replace('+', " ");
    percent_encoding::percent_decode_str(&plus)
        .decode_utf8()
        .map(std::borrow::Cow::into_owned)
        .map_err(|e| Error::invalid(s, format!("listed key is not UTF-8 once decoded: {e}")))
}

/// Where requests go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// `http` or `https`.
    scheme: String,
    /// `host[:port]` of the service.
    authority: String,
    /// A base path the service lives under, without a trailing `/`.
    base_path: String,
    /// The bucket.
    bucket: String,
    /// Whether the bucket goes in the path.
    pub(crate) path_style: bool,
}

impl Endpoint {
    /// Resolves the configuration's endpoint and addressing style.
    pub(crate) fn new(cfg: &S3Config) -> Result<Self> {
        let raw = cfg
            .endpoint
            .clone()
            .unwrap_or_else(|| format!("https://s3.{}.amazonaws.com", cfg.region));
        let url = reqwest::Url::parse(&raw).map_err(|e| {
            Error::invalid(
                &cfg.bucket,
                format!("bad S3 endpoint {raw:?}: {e} (want scheme://host[:port])"),
            )
        })?;
        let host = url.host_str().ok_or_else(|| {
            Error::invalid(&cfg.bucket, format!("S3 endpoint {raw:?} has no host"))
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::invalid(
                &cfg.bucket,
                format!("S3 endpoint {raw:?} is not http or https"),
            ));
        }
        if cfg.bucket.is_empty() || cfg.bucket.contains('/') {
            return Err(Error::invalid(
                &cfg.bucket,
                "bucket name must be non-empty and contain no '/'",
            ));
        }
        let authority = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_owned(),
        };
        let bare_host = host.trim_start_matches('[').trim_end_matches(']');
        let is_ip = bare_host.parse::<IpAddr>().is_ok();
        let is_local = bare_host.eq_ignore_ascii_case("localhost");
        let dns_bucket = cfg
            .bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !cfg.bucket.starts_with('-')
            && !cfg.bucket.ends_with('-');
        Ok(Self {
            scheme: url.scheme().to_owned(),
            authority,
            base_path: url.path().trim_end_matches('/').to_owned(),
            bucket: cfg.bucket.clone(),
            path_style: cfg.force_path_style || is_ip || is_local || !dns_bucket,
        })
    }

    /// The URL of `key` (or of the bucket, for `None`) with `query`
    /// (name, value) pairs; an empty value is written as a bare name
    /// (`?uploads`).
    pub(crate) fn url(&self, key: Option<&str>, query: &[(&str, String)]) -> String {
        let mut url = if self.path_style {
            format!(
                "{}://{}{}/{}",
                self.scheme,
                self.authority,
                self.base_path,
                encode(&self.bucket)
            )
        } else {
            format!(
                "{}://{}.{}{}",
                self.scheme, self.bucket, self.authority, self.base_path
            )
        };
        match key {
            Some(k) => {
                url.push('/');
                url.push_str(&encode_key(k));
            }
            None if !self.path_style => url.push('/'),
            None => {}
        }
        for (i, (name, value)) in query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(&encode(name));
            if !value.is_empty() {
                url.push('=');
                url.push_str(&encode(value));
            }
        }
        url
    }

    /// The endpoint of the service itself, for calls on no bucket
    /// (ListBuckets): requests go to `scheme://host[:port][/base]/`.
    pub(crate) fn service(cfg: &S3Config) -> Result<Self> {
        let probe = S3Config {
            bucket: "bucket".to_owned(),
            ..cfg.clone()
        };
        Ok(Self {
            bucket: String::new(),
            path_style: true,
            ..Self::new(&probe)?
        })
    }

    /// The `x-amz-copy-source` value for `key` in this bucket.
    pub(crate) fn copy_source(&self, key: &str) -> String {
        format!("/{}/{}", encode(&self.bucket), encode_key(key))
    }
}

/// Refuses keys a URL cannot carry intact: a `.` or `..` segment would be
/// folded away by URL normalisation before the request leaves.
pub(crate) fn check_key(key: &str) -> Result<()> {
    if key.split('/').any(|s| s == "." || s == "..") {
        return Err(Error::invalid(
            key,
            "keys with a '.' or '..' path segment cannot be addressed over S3's REST API",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(endpoint: Option<&str>, bucket: &str) -> S3Config {
        let mut c = S3Config::new(bucket, "eu-west-1", "AK", "SK");
        c.endpoint = endpoint.map(str::to_owned);
        c
    }

    #[test]
    fn encodes_keys() {
        assert_eq!(encode_key("a b/c+d%e#f?g"), "a%20b/c%2Bd%25e%23f%3Fg");
        assert_eq!(encode_key("日/~x_y-z.txt"), "%E6%97%A5/~x_y-z.txt");
        assert_eq!(encode_key("/lead//double/"), "/lead//double/");
        assert_eq!(encode("a=b&c"), "a%3Db%26c");
        assert_eq!(decode_listed("a+b%2Bc%25%20d").expect("decode"), "a b+c% d");
        assert!(check_key("a/../b").is_err() && check_key("./a").is_err());
        assert!(check_key("a/..b/.c").is_ok());
    }

    #[test]
    fn addressing() {
        let e = Endpoint::new(&cfg(None, "photos")).expect("aws");
        assert!(!e.path_style);
        assert_eq!(
            e.url(Some("a b"), &[]),
            "https://photos.s3.eu-west-1.amazonaws.com/a%20b"
        );
        assert_eq!(
            e.url(
                None,
                &[("list-type", "2".into()), ("prefix", "x y/".into())]
            ),
            "https://photos.s3.eu-west-1.amazonaws.com/?list-type=2&prefix=x%20y%2F"
        );
        let e = Endpoint::new(&cfg(Some("http://127.0.0.1:9000"), "b")).expect("ip");
        assert!(e.path_style);
        assert_eq!(
            e.url(Some("k"), &[("uploads", String::new())]),
            "http://127.0.0.1:9000/b/k?uploads"
        );
        assert_eq!(e.url(None, &[]), "http://127.0.0.1:9000/b");
        assert_eq!(e.copy_source("d/a b"), "/b/d/a%20b");
        assert!(
            Endpoint::new(&cfg(Some("http://localhost:1/base/"), "b"))
                .expect("local")
                .url(Some("k"), &[])
                .ends_with("localhost:1/base/b/k")
        );
        assert!(
            Endpoint::new(&cfg(Some("http://[::1]:9"), "b"))
                .expect("v6")
                .path_style
        );
        assert!(
            Endpoint::new(&cfg(Some("https://minio.example"), "My_Bucket"))
                .expect("odd")
                .path_style
        );
        let mut forced = cfg(Some("https://minio.example"), "b");
        forced.force_path_style = true;
        assert!(Endpoint::new(&forced).expect("forced").path_style);
        assert_eq!(
            Endpoint::service(&cfg(None, ""))
                .expect("service")
                .url(None, &[]),
            "https://s3.eu-west-1.amazonaws.com/"
        );
        assert_eq!(
            Endpoint::service(&cfg(Some("http://127.0.0.1:9000/base/"), ""))
                .expect("service")
                .url(None, &[("continuation-token", "t".into())]),
            "http://127.0.0.1:9000/base/?continuation-token=t"
        );
        assert!(Endpoint::new(&cfg(Some("ftp://x"), "b")).is_err());
        assert!(Endpoint::new(&cfg(Some("not a url"), "b")).is_err());
    }
}
