//! Object attributes as HTTP headers: `Content-Type`, `Content-Encoding`,
//! `Cache-Control`, `Content-Disposition` and user metadata under a
//! provider's prefix (`x-amz-meta-`, `x-cos-meta-`, `x-qn-meta-`), both
//! ways.
//!
//! Header values are ASCII, and servers trim the whitespace around them.
//! A value that would not survive the trip — anything outside printable
//! ASCII (`café`, a tab, a newline), leading or trailing whitespace, or a
//! value that itself looks like an encoded word — is sent as one RFC 2047
//! encoded word, `=?UTF-8?B?<base64 of the UTF-8 bytes>?=`, the form S3
//! itself uses to return non-ASCII metadata. Reading decodes encoded words
//! (`B` and `Q`, UTF-8, US-ASCII or ISO-8859-1), so every value comes back
//! exactly as it was given, and the same object read through another
//! provider's store carries the decoded text. Other tools see the encoded
//! word. Values that need no encoding are sent as they are.
//!
//! Metadata names are lowercased (HTTP header names are case-insensitive,
//! and providers lowercase them) and must be ASCII letters, digits, `-` or
//! `_`; any other name is refused with [`Error::InvalidInput`] before
//! anything is sent.
//!
//! ```
//! use haul_core::PutOptions;
//! use haul_http::attrs::{attributes_from_headers, decode_value, encode_value, object_headers};
//!
//! assert_eq!(encode_value("plain text"), "plain text");
//! assert_eq!(encode_value("café"), "=?UTF-8?B?Y2Fmw6k=?=");
//! assert_eq!(decode_value(b"=?UTF-8?B?Y2Fmw6k=?="), "café");
//!
//! let mut opts = PutOptions { content_type: Some("text/plain".into()), ..PutOptions::default() };
//! opts.metadata.insert("Origin".into(), "café".into());
//! let key = haul_core::Key::new("k").unwrap();
//! let headers = object_headers(&key, "x-amz-meta-", &opts).unwrap();
//! assert_eq!(headers[1], ("x-amz-meta-origin".to_owned(), "=?UTF-8?B?Y2Fmw6k=?=".to_owned()));
//!
//! let mut map = http::HeaderMap::new();
//! for (k, v) in &headers {
//!     map.insert(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
//! }
//! let attrs = attributes_from_headers(&map, "x-amz-meta-");
//! assert_eq!(attrs.content_type.as_deref(), Some("text/plain"));
//! assert_eq!(attrs.metadata["origin"], "café"); // the name lowercased
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use haul_core::{Attributes, Error, Key, PutOptions, Result};
use http::HeaderMap;

/// The standard headers an object keeps, with the attribute each fills.
const STANDARD: [&str; 4] = [
    "content-type",
    "content-encoding",
    "cache-control",
    "content-disposition",
];

/// Whether `value` must be encoded to survive as a header value.
fn needs_encoding(value: &str) -> bool {
    let printable = value.bytes().all(|b| (0x20..0x7f).contains(&b));
    let padded = value.starts_with(' ') || value.ends_with(' ');
    let looks_encoded = value.starts_with("=?") && value.ends_with("?=");
    !printable || padded || looks_encoded
}

/// `value` as a header value: unchanged when it is printable ASCII without
/// surrounding spaces, else one RFC 2047 encoded word (`=?UTF-8?B?...?=`).
#[must_use]
pub fn encode_value(value: &str) -> String {
    if needs_encoding(value) {
        format!("=?UTF-8?B?{}?=", B64.encode(value.as_bytes()))
    } else {
        value.to_owned()
    }
}

/// A header value as text: RFC 2047 encoded words (all of the value, one
/// or more separated by whitespace) decoded, anything else as it is (UTF-8,
/// or ISO-8859-1 when the bytes are not UTF-8). A value that only looks
/// like encoded words but does not decode is kept as it is.
#[must_use]
pub fn decode_value(raw: &[u8]) -> String {
    let text = match std::str::from_utf8(raw) {
        Ok(t) => t.to_owned(),
        Err(_) => raw.iter().map(|&b| char::from(b)).collect(),
    };
    let trimmed = text.trim();
    if !(trimmed.starts_with("=?") && trimmed.ends_with("?=")) {
        return text;
    }
    let mut out = String::new();
    for word in trimmed.split_ascii_whitespace() {
        match decode_word(word) {
            Some(w) => out.push_str(&w),
            None => return text,
        }
    }
    out
}

/// Decodes one encoded word `=?charset?B|Q?text?=`.
fn decode_word(word: &str) -> Option<String> {
    let inner = word.strip_prefix("=?")?.strip_suffix("?=")?;
    let mut parts = inner.splitn(3, '?');
    let (charset, encoding, text) = (parts.next()?, parts.next()?, parts.next()?);
    // RFC 2231 allows a language after '*': "UTF-8*en".
    let charset = charset.split('*').next()?.to_ascii_lowercase();
    let bytes = match encoding {
        "B" | "b" => B64.decode(text).ok()?,
        "Q" | "q" => decode_q(text)?,
        _ => return None,
    };
    match charset.as_str() {
        "utf-8" | "utf8" | "us-ascii" => String::from_utf8(bytes).ok(),
        "iso-8859-1" | "latin1" => Some(bytes.iter().map(|&b| char::from(b)).collect()),
        _ => None,
    }
}

/// The `Q` encoding: `_` is a space, `=XX` a byte, the rest as it is.
fn decode_q(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'_' => out.push(b' '),
            b'=' => {
                let hi = char::from(bytes.next()?).to_digit(16)?;
                let lo = char::from(bytes.next()?).to_digit(16)?;
                out.push((hi * 16 + lo) as u8);
            }
            b => out.push(b),
        }
    }
    Some(out)
}

/// `name` lowercased, or [`Error::InvalidInput`] naming `key` when it is not
/// ASCII letters, digits, `-` and `_`.
pub fn metadata_name(key: &Key, name: &str) -> Result<String> {
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(name.to_ascii_lowercase())
    } else {
        Err(Error::invalid(
            key.as_str(),
            format!("metadata name {name:?} must be ASCII letters, digits, '-' or '_'"),
        ))
    }
}

/// The headers that store `opts`' attributes with an object: the four
/// standard ones that are set, then `<prefix><name>` for each metadata
/// entry; names lowercased, values through [`encode_value`].
pub fn object_headers(key: &Key, prefix: &str, opts: &PutOptions) -> Result<Vec<(String, String)>> {
    let standard = [
        &opts.content_type,
        &opts.content_encoding,
        &opts.cache_control,
        &opts.content_disposition,
    ];
    let mut out = Vec::with_capacity(4 + opts.metadata.len());
    for (name, value) in STANDARD.iter().zip(standard) {
        if let Some(v) = value {
            out.push(((*name).to_owned(), encode_value(v)));
        }
    }
    for (name, value) in &opts.metadata {
        let name = metadata_name(key, name)?;
        out.push((format!("{prefix}{name}"), encode_value(value)));
    }
    Ok(out)
}

/// The attributes an answer's headers carry: the four standard headers and
/// every `<prefix><name>` header as metadata `name` (lowercase), values
/// through [`decode_value`].
#[must_use]
pub fn attributes_from_headers(h: &HeaderMap, prefix: &str) -> Attributes {
    let get = |name: &str| h.get(name).map(|v| decode_value(v.as_bytes()));
    let mut attrs = Attributes {
        content_type: get(STANDARD[0]),
        content_encoding: get(STANDARD[1]),
        cache_control: get(STANDARD[2]),
        content_disposition: get(STANDARD[3]),
        ..Attributes::default()
    };
    for (name, value) in h {
        if let Some(meta) = name.as_str().strip_prefix(prefix)
            && !meta.is_empty()
        {
            attrs
                .metadata
                .insert(meta.to_owned(), decode_value(value.as_bytes()));
        }
    }
    attrs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip() {
        for v in [
            "",
            "plain",
            "with spaces inside",
            "café",
            "日本語",
            " leading",
            "trailing ",
            "tab\there",
            "line\nbreak",
            "=?UTF-8?B?looks-encoded?=",
            "1700000000.123456789",
            "attachment; filename=\"a b.txt\"",
        ] {
            let enc = encode_value(v);
            assert!(
                enc.bytes().all(|b| (0x20..0x7f).contains(&b)),
                "{v:?} encodes to printable ASCII: {enc:?}"
            );
            assert_eq!(decode_value(enc.as_bytes()), v, "{v:?} via {enc:?}");
        }
        assert_eq!(encode_value("with spaces inside"), "with spaces inside");
    }

    #[test]
    fn decodes_what_others_send() {
        assert_eq!(
            decode_value(b"=?utf-8?q?caf=C3=A9_au_lait?="),
            "café au lait"
        );
        assert_eq!(
            decode_value(b"=?UTF-8?B?Y2Fm?= =?UTF-8?B?w6k=?="),
            "café",
            "whitespace between encoded words is dropped"
        );
        assert_eq!(decode_value(b"=?ISO-8859-1?Q?caf=E9?="), "café");
        assert_eq!(decode_value("café".as_bytes()), "café", "raw UTF-8");
        assert_eq!(decode_value(b"caf\xe9"), "café", "raw Latin-1");
        for kept in ["=?UTF-8?X?abc?=", "=?klingon?B?YWJj?=", "=? not a word ?="] {
            assert_eq!(decode_value(kept.as_bytes()), kept);
        }
    }

    #[test]
    fn headers_both_ways() {
        let key = Key::new("k").expect("key");
        let mut opts = PutOptions {
            content_type: Some("text/plain; charset=utf-8".into()),
            content_encoding: Some("gzip".into()),
            cache_control: Some("max-age=60".into()),
            content_disposition: Some("attachment; filename=\"café.txt\"".into()),
            ..PutOptions::default()
        };
        opts.metadata.insert("Mixed-Case_1".into(), "v a l".into());
        opts.metadata.insert("mtime".into(), "1700000000.5".into());
        let headers = object_headers(&key, "x-cos-meta-", &opts).expect("headers");
        let names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "content-type",
                "content-encoding",
                "cache-control",
                "content-disposition",
                "x-cos-meta-mixed-case_1",
                "x-cos-meta-mtime"
            ]
        );
        let mut map = HeaderMap::new();
        for (k, v) in &headers {
            map.insert(
                http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                v.parse().expect("value"),
            );
        }
        map.insert("x-amz-meta-other", "not ours".parse().expect("value"));
        let mut want = opts.attributes();
        want.metadata = [
            ("mixed-case_1".to_owned(), "v a l".to_owned()),
            ("mtime".to_owned(), "1700000000.5".to_owned()),
        ]
        .into();
        assert_eq!(attributes_from_headers(&map, "x-cos-meta-"), want);

        for bad in ["", "a b", "é", "a:b"] {
            let mut opts = PutOptions::default();
            opts.metadata.insert(bad.into(), "v".into());
            let e = object_headers(&key, "x-amz-meta-", &opts).expect_err(bad);
            assert!(matches!(e, Error::InvalidInput { .. }), "{bad:?}: {e:?}");
        }
    }
}
