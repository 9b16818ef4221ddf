//! The documents the emulator writes and reads.

use std::time::SystemTime;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;

use super::route::CosError;

const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The XML declaration COS starts its documents with.
pub(crate) const DECL: &str = "<?xml version='1.0' encoding='utf-8' ?>\n";

/// Escapes text for an element.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out
}

/// A key or prefix as a listing carries it: URL-encoded (space `%20`,
/// `+` as `%2B`) with `encoding-type=url`, else escaped.
pub(crate) fn listed(s: &str, url: bool) -> String {
    if url {
        utf8_percent_encode(s, UNRESERVED).to_string()
    } else {
        esc(s)
    }
}

/// `<tag>text</tag>` with the text escaped.
pub(crate) fn el(tag: &str, text: &str) -> String {
    format!("<{tag}>{}</{tag}>", esc(text))
}

/// ISO 8601 UTC with milliseconds, as listings give times.
pub(crate) fn iso8601(t: SystemTime) -> String {
    haul_core::time::rfc3339_millis(t)
}

/// COS's `<Error>` document.
pub(crate) fn error_body(e: &CosError, resource: &str, request_id: &str) -> String {
    format!(
        "{DECL}<Error>{}{}{}{}{}</Error>",
        el("Code", &e.code),
        el("Message", &e.message),
        el("Resource", resource),
        el("RequestId", request_id),
        el("TraceId", "aGF1bC1jb3MtZW11bGF0b3I="),
    )
}

/// `true`/`false` as COS writes booleans (the Python SDK compares the text).
pub(crate) fn bool_text(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

/// The owner block listings carry.
pub(crate) fn owner(tag: &str) -> String {
    format!(
        "<{tag}><ID>qcs::cam::uin/100000000001:uin/100000000001</ID><DisplayName>100000000001</DisplayName></{tag}>"
    )
}

/// A `<CompleteMultipartUpload>` request.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub(crate) struct CompleteRequest {
    #[serde(rename = "Part")]
    pub(crate) parts: Vec<CompletePart>,
}

/// One part of a completion request.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub(crate) struct CompletePart {
    pub(crate) part_number: u32,
    #[serde(rename = "ETag")]
    pub(crate) etag: String,
}

/// A `<Delete>` request.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub(crate) struct DeleteRequest {
    pub(crate) quiet: Option<String>,
    #[serde(rename = "Object")]
    pub(crate) objects: Vec<DeleteObject>,
}

/// One key of a delete request.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub(crate) struct DeleteObject {
    pub(crate) key: String,
}

/// Parses a request document, or `MalformedXML`.
pub(crate) fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, CosError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| CosError::new(400, "MalformedXML", "the XML is not UTF-8"))?;
    quick_xml::de::from_str(text.trim_start()).map_err(|e| {
        CosError::new(
            400,
            "MalformedXML",
            format!("The XML you provided was not well-formed: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn times_and_text() {
        let t = UNIX_EPOCH + Duration::from_millis(1_709_164_800_500);
        assert_eq!(iso8601(t), "2024-02-29T00:00:00.500Z");
        assert_eq!(iso8601(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        assert_eq!(listed("a b+c/日", true), "a%20b%2Bc%2F%E6%97%A5");
        assert_eq!(listed("a&b", false), "a&amp;b");
        let r: CompleteRequest = parse(
            b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"e\"</ETag></Part></CompleteMultipartUpload>",
        )
        .expect("parse");
        assert_eq!(
            (r.parts[0].part_number, r.parts[0].etag.as_str()),
            (1, "\"e\"")
        );
        assert!(parse::<CompleteRequest>(b"<oops").is_err());
    }
}
