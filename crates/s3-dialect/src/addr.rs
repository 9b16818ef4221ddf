//! Addressing: the endpoint, virtual-hosted or path style, and the URI
//! encoding of keys and query values.

use std::borrow::Cow;
use std::net::IpAddr;

use haul_core::{Error, Result};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use crate::spec::Spec;

/// Everything but RFC 3986 unreserved characters (`A-Za-z0-9-._~`) is encoded.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes one path segment or query value (uppercase hex, space
/// as `%20`, `+` as `%2B`, `/`, `;` and `=` encoded).
#[must_use]
pub fn encode(s: &str) -> String {
    utf8_percent_encode(s, UNRESERVED).to_string()
}

/// Encodes a key for a URL path: each `/`-separated segment encoded, the
/// separators kept.
#[must_use]
pub fn encode_key(key: &str) -> String {
    key.split('/').map(encode).collect::<Vec<_>>().join("/")
}

/// Decodes a value URL-encoded in a listing (`encoding-type=url`): `%XX`
/// escapes, and `+` for a space where `plus_is_space` (form encoding).
pub fn decode_listed(s: &str, plus_is_space: bool) -> Result<String> {
    let text = if plus_is_space {
        Cow::Owned(s.replace('+', " "))
    } else {
        Cow::Borrowed(s)
    };
    percent_decode_str(&text)
        .decode_utf8()
        .map(Cow::into_owned)
        .map_err(|e| Error::invalid(s, format!("listed key is not UTF-8 once decoded: {e}")))
}

/// Refuses keys a URL cannot carry intact: a `.` or `..` segment would be
/// folded away by URL normalisation before the request leaves. `api`
/// names the API in the message.
pub fn check_key(key: &str, api: &str) -> Result<()> {
    if key.split('/').any(|s| s == "." || s == "..") {
        return Err(Error::invalid(
            key,
            format!("keys with a '.' or '..' path segment cannot be addressed over {api}"),
        ));
    }
    Ok(())
}

/// Whether `bucket` can be a host label: lowercase letters, digits and
/// `-`, not at either end.
#[must_use]
pub fn dns_label(bucket: &str) -> bool {
    bucket
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !bucket.starts_with('-')
        && !bucket.ends_with('-')
}

/// What a configuration says about where a bucket is.
#[derive(Debug, Clone, Copy)]
pub struct Address<'a> {
    /// `scheme://host[:port][/base]`; `None`: the region's default.
    pub endpoint: Option<&'a str>,
    /// The region.
    pub region: &'a str,
    /// The bucket.
    pub bucket: &'a str,
    /// The bucket in the path whatever else holds.
    pub force_path_style: bool,
}

/// Where requests go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `http` or `https`.
    scheme: String,
    /// The `Host` of every request: `bucket.host[:port]` virtual-hosted,
    /// the endpoint's `host[:port]` in path style.
    host: String,
    /// A base path the service lives under, as the URL has it (encoded),
    /// without a trailing `/`.
    base: String,
    /// The bucket.
    bucket: String,
    /// Whether the bucket goes in the path.
    path_style: bool,
    /// The bucket's own URL ends in `/` in path style.
    bucket_slash: bool,
    /// Copy sources name the host.
    copy_source_host: bool,
}

impl Endpoint {
    /// Resolves `a`'s endpoint and addressing style by `spec`'s rules.
    pub fn new(spec: &Spec, a: Address<'_>) -> Result<Self> {
        let rules = &spec.addressing;
        let name = spec.name;
        let raw = a
            .endpoint
            .map_or_else(|| (rules.default_endpoint)(a.region), str::to_owned);
        let url = reqwest::Url::parse(&raw).map_err(|e| {
            Error::invalid(
                a.bucket,
                format!("bad {name} endpoint {raw:?}: {e} (want scheme://host[:port])"),
            )
        })?;
        let host = url.host_str().ok_or_else(|| {
            Error::invalid(a.bucket, format!("{name} endpoint {raw:?} has no host"))
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::invalid(
                a.bucket,
                format!("{name} endpoint {raw:?} is not http or https"),
            ));
        }
        if let Some(why) = (rules.refuse_bucket)(a.bucket) {
            return Err(Error::invalid(a.bucket, why));
        }
        let authority = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_owned(),
        };
        let bare_host = host.trim_start_matches('[').trim_end_matches(']');
        let odd = bare_host.parse::<IpAddr>().is_ok()
            || bare_host.eq_ignore_ascii_case("localhost")
            || !dns_label(a.bucket);
        let path_style = a.force_path_style || (rules.auto_path_style && odd);
        Ok(Self {
            scheme: url.scheme().to_owned(),
            host: if path_style {
                authority
            } else {
                format!("{}.{authority}", a.bucket)
            },
            base: url.path().trim_end_matches('/').to_owned(),
            bucket: a.bucket.to_owned(),
            path_style,
            bucket_slash: rules.bucket_slash,
            copy_source_host: rules.copy_source_host,
        })
    }

    /// The endpoint of the service itself, for calls on no bucket
    /// (ListBuckets): requests go to `scheme://host[:port][/base]/`.
    pub fn service(spec: &Spec, a: Address<'_>) -> Result<Self> {
        let probe = Address {
            bucket: "bucket",
            force_path_style: true,
            ..a
        };
        Ok(Self {
            bucket: String::new(),
            ..Self::new(spec, probe)?
        })
    }

    /// Whether the bucket goes in the path.
    #[must_use]
    pub fn path_style(&self) -> bool {
        self.path_style
    }

    /// The bucket.
    #[must_use]
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The `Host` header value, signed as sent.
    #[must_use]
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The base path, decoded.
    fn decoded_base(&self) -> Cow<'_, str> {
        percent_decode_str(&self.base).decode_utf8_lossy()
    }

    /// What comes before the key in the decoded path: the base, and the
    /// bucket in path style.
    fn decoded_prefix(&self) -> String {
        if self.path_style {
            format!("{}/{}", self.decoded_base(), self.bucket)
        } else {
            self.decoded_base().into_owned()
        }
    }

    /// The decoded path of `key` (or of the bucket), as q-sign signs it.
    #[must_use]
    pub fn signed_path(&self, key: Option<&str>) -> String {
        format!("{}/{}", self.decoded_prefix(), key.unwrap_or(""))
    }

    /// The URL of `key` (or of the bucket, for `None`) with `query`
    /// (name, value) pairs; an empty value is written as a bare name
    /// (`?uploads`).
    #[must_use]
    pub fn url(&self, key: Option<&str>, query: &[(&str, String)]) -> String {
        let mut url = format!("{}://{}{}", self.scheme, self.host, self.base);
        if self.path_style {
            url.push('/');
            url.push_str(&encode(&self.bucket));
        }
        match key {
            Some(k) => {
                url.push('/');
                url.push_str(&encode_key(k));
            }
            None if !self.path_style || self.bucket_slash => url.push('/'),
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

    /// The `<prefix>copy-source` value for `key` in this bucket:
    /// `/bucket/key`, or host and decoded path without a scheme.
    #[must_use]
    pub fn copy_source(&self, key: &str) -> String {
        if self.copy_source_host {
            format!("{}{}/{}", self.host, self.decoded_prefix(), encode_key(key))
        } else {
            format!("/{}/{}", encode(&self.bucket), encode_key(key))
        }
    }
}
