//! Reading answers: header values, lengths and ranges, small XML bodies,
//! and the `<Error>` documents some services send inside an HTTP 200.

use std::ops::Range;
use std::time::Duration;

use bytes::Bytes;
use futures::TryStreamExt;
use haul_core::{Error, Result};
use http::HeaderMap;

use crate::body::body_stream;
use crate::error::{ErrorContext, map_code, parse_xml_error, root_element};

/// Most bytes of a small (XML) answer read into memory.
pub const MAX_SMALL_BODY: usize = 16 << 20;

/// A header's value as text; `None` when absent or not visible ASCII.
#[must_use]
pub fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// The `Content-Length` of an answer; its absence is a retryable error
/// naming `key`.
pub fn content_length(key: &str, h: &HeaderMap) -> Result<u64> {
    header(h, "content-length")
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| Error::transient(key, "answer has no usable Content-Length"))
}

/// Parses `Content-Range: bytes a-b/total` into `a..b+1` and `total`.
#[must_use]
pub fn parse_content_range(v: &str) -> Option<(Range<u64>, u64)> {
    let rest = v.trim().strip_prefix("bytes")?.trim_start();
    let (span, total) = rest.split_once('/')?;
    let (a, b) = span.split_once('-')?;
    let (a, b): (u64, u64) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    let total: u64 = total.trim().parse().ok()?;
    (a <= b && b < total).then_some((a..b + 1, total))
}

/// The object range and whole size a GET answer holds: from
/// `Content-Range` for a 206, else the whole `Content-Length`. A 206 whose
/// `Content-Range` is missing, unparsable or disagrees with the length is
/// a retryable error naming `key`.
pub fn answered_range(
    key: &str,
    status: http::StatusCode,
    h: &HeaderMap,
) -> Result<(Range<u64>, u64)> {
    let len = content_length(key, h)?;
    if status != http::StatusCode::PARTIAL_CONTENT {
        return Ok((0..len, len));
    }
    let cr = header(h, "content-range")
        .ok_or_else(|| Error::transient(key, "206 answer without Content-Range"))?;
    let (range, total) = parse_content_range(cr)
        .ok_or_else(|| Error::transient(key, format!("unparsable Content-Range {cr:?}")))?;
    if range.end - range.start != len {
        return Err(Error::transient(
            key,
            format!("Content-Range {cr:?} disagrees with Content-Length {len}"),
        ));
    }
    Ok((range, total))
}

/// Reads a small answer body whole (at most [`MAX_SMALL_BODY`], with the
/// stall timeout).
pub async fn read_small(resp: reqwest::Response, key: &str, stall: Duration) -> Result<Bytes> {
    let mut stream = body_stream(resp, key, None, stall);
    let mut buf = Vec::new();
    while let Some(chunk) = stream.try_next().await? {
        buf.extend_from_slice(&chunk);
        if buf.len() > MAX_SMALL_BODY {
            return Err(Error::transient(key, "answer body is unreasonably large"));
        }
    }
    Ok(buf.into())
}

/// An `<Error>` document in a 200 answer (S3 and COS Complete, CopyObject,
/// UploadPartCopy) is an error, mapped with `ctx`.
pub fn check_embedded_error(body: &[u8], ctx: &ErrorContext<'_>) -> Result<()> {
    if root_element(body) == Some("Error") {
        let parsed = parse_xml_error(body).unwrap_or_default();
        return Err(map_code(
            None,
            parsed.code.as_deref().unwrap_or("InternalError"),
            parsed
                .message
                .as_deref()
                .unwrap_or("error inside an HTTP 200 answer"),
            None,
            ctx,
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges() {
        assert_eq!(parse_content_range("bytes 0-9/100"), Some((0..10, 100)));
        assert_eq!(parse_content_range("bytes 99-99/100"), Some((99..100, 100)));
        assert_eq!(parse_content_range("bytes */100"), None);
        assert_eq!(parse_content_range("bytes 5-2/100"), None);
        assert_eq!(parse_content_range("bytes 0-100/100"), None);
    }

    #[test]
    fn ranges_of_answers() {
        let mut h = HeaderMap::new();
        h.insert("content-length", "10".parse().expect("hv"));
        assert_eq!(
            answered_range("k", http::StatusCode::OK, &h).expect("whole"),
            (0..10, 10)
        );
        h.insert("content-range", "bytes 5-14/100".parse().expect("hv"));
        assert_eq!(
            answered_range("k", http::StatusCode::PARTIAL_CONTENT, &h).expect("part"),
            (5..15, 100)
        );
        h.insert("content-range", "bytes 5-15/100".parse().expect("hv"));
        let e = answered_range("k", http::StatusCode::PARTIAL_CONTENT, &h).expect_err("bad");
        assert!(e.is_retryable());
    }

    #[test]
    fn error_inside_200_is_an_error() {
        let ctx = ErrorContext::new("big.bin").upload_id("u-1");
        let body = b"\n  \n<?xml version=\"1.0\"?>\n<Error><Code>InternalError</Code>\
<Message>try again</Message></Error>";
        let e = check_embedded_error(body, &ctx).expect_err("an error");
        assert!(
            matches!(e, Error::Transient { .. }) && e.is_retryable(),
            "{e:?}"
        );
        assert!(e.to_string().contains("big.bin"), "{e}");
        let body = b"<Error><Code>InvalidPart</Code><Message>One or more parts could not be found</Message></Error>";
        let e = check_embedded_error(body, &ctx).expect_err("an error");
        assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
        let body = b"<Error><Code>NoSuchUpload</Code></Error>";
        assert!(matches!(
            check_embedded_error(body, &ctx),
            Err(Error::NoSuchUpload { ref upload_id, .. }) if upload_id == "u-1"
        ));
        let ok =
            b"<CompleteMultipartUploadResult><ETag>\"x-2\"</ETag></CompleteMultipartUploadResult>";
        assert!(check_embedded_error(ok, &ctx).is_ok());
        let ok = b"<CopyObjectResult><ETag>\"e\"</ETag></CopyObjectResult>";
        assert!(check_embedded_error(ok, &ctx).is_ok());
    }
}
