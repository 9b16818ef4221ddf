//! Reading an object from a plain URL — a CDN link, a presigned or
//! service-issued download URL — with ranges, whether or not the server
//! honours them.
//!
//! [`get_url`] asks for the range; a server that ignores `Range` and sends
//! the whole object (200) has the bytes before the range skipped and those
//! after it dropped, so the caller always gets exactly the range.
//! [`probe_url`] learns an object's size and ETag with a one-byte ranged
//! GET, which works where `HEAD` is not allowed (service-signed URLs).

use std::ops::Range;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use haul_core::{ByteRange, Error, GetOptions, GetResponse, Key, ObjectMeta, Result};
use http::{HeaderMap, HeaderValue, Method, StatusCode};

use crate::body::body_stream;
use crate::error::{ErrorContext, error_from_response, map_transport};
use crate::redact::{trace_request, trace_response};
use crate::response::{answered_range, content_length, header, parse_content_range};
use crate::send::stale_connection;
use crate::xml::unquote;

/// A GET of `url` with `headers`, any status returned; sent once more on a
/// fresh connection when a pooled one turns out closed.
async fn get(
    http: &reqwest::Client,
    url: &str,
    headers: &HeaderMap,
    key: &str,
) -> Result<reqwest::Response> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        trace_request(&Method::GET, url, headers);
        let started = Instant::now();
        match http.get(url).headers(headers.clone()).send().await {
            Ok(resp) => {
                trace_response(&Method::GET, url, resp.status(), started.elapsed());
                return Ok(resp);
            }
            Err(e) if attempt == 1 && stale_connection(&e) => haul_core::resend::resent(),
            Err(e) => return Err(map_transport(&e, key)),
        }
    }
}

/// Metadata from an answer's headers, with the whole size given.
fn meta(key: &Key, h: &HeaderMap, size: u64) -> ObjectMeta {
    ObjectMeta {
        key: key.clone(),
        size,
        last_modified: header(h, "last-modified").and_then(|v| httpdate::parse_http_date(v).ok()),
        etag: header(h, "etag").map(unquote),
        checksums: Vec::new(),
        version: None,
        attrs: haul_core::Attributes::default(),
    }
}

/// Fails with `Precondition` unless the object's ETag is `want`.
fn check_if_match(key: &Key, want: Option<&String>, got: Option<&String>) -> Result<()> {
    match (want, got) {
        (Some(want), Some(got)) if unquote(want) == *got => Ok(()),
        (Some(want), got) => Err(Error::Precondition {
            key: key.to_string(),
            source: match got {
                Some(got) => format!("ETag is {got}, not {}", unquote(want)),
                None => format!("the object reports no ETag to match {}", unquote(want)),
            }
            .into(),
        }),
        (None, _) => Ok(()),
    }
}

/// Skips the first `skip` bytes of `body` and ends it after `take` more.
fn slice_stream(
    body: BoxStream<'static, Result<Bytes>>,
    skip: u64,
    take: u64,
) -> BoxStream<'static, Result<Bytes>> {
    futures::stream::unfold(
        (body, skip, take),
        |(mut body, mut skip, mut take)| async move {
            loop {
                if take == 0 {
                    return None;
                }
                match body.next().await? {
                    Err(e) => return Some((Err(e), (body, 0, 0))),
                    Ok(mut chunk) => {
                        let n = chunk.len() as u64;
                        if n <= skip {
                            skip -= n;
                            continue;
                        }
                        let mut chunk = chunk.split_off(skip as usize);
                        skip = 0;
                        if chunk.len() as u64 > take {
                            chunk.truncate(take as usize);
                        }
                        take -= chunk.len() as u64;
                        return Some((Ok(chunk), (body, skip, take)));
                    }
                }
            }
        },
    )
    .boxed()
}

/// Reads `key`'s object (or `opts.range` of it) from `url`, sending
/// `headers` too. Errors are mapped with `ctx`; `stall` bounds the wait for
/// each chunk.
///
/// An empty range and a range past the end are `InvalidInput`; a failed
/// `if_match` (checked here too, for servers that ignore `If-Match`) is
/// `Precondition`; a body that ends short is a retryable error.
pub async fn get_url(
    http: &reqwest::Client,
    url: &str,
    headers: &HeaderMap,
    key: &Key,
    opts: &GetOptions,
    ctx: &ErrorContext<'_>,
    stall: Duration,
) -> Result<GetResponse> {
    let mut headers = headers.clone();
    if let Some(r) = opts.range {
        if matches!(r, ByteRange::Bounded { start, end } if start >= end)
            || matches!(r, ByteRange::Suffix(0))
        {
            return Err(Error::invalid(key.as_str(), format!("empty range {r:?}")));
        }
        let v = HeaderValue::from_str(&r.to_http_header())
            .map_err(|e| Error::invalid(key.as_str(), format!("bad range {r:?}: {e}")))?;
        headers.insert(http::header::RANGE, v);
    }
    if let Some(tag) = &opts.if_match
        && let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", unquote(tag)))
    {
        headers.insert(http::header::IF_MATCH, v);
    }
    let resp = get(http, url, &headers, key.as_str()).await?;
    if !resp.status().is_success() {
        return Err(error_from_response(resp, ctx).await);
    }
    let h = resp.headers().clone();
    let (answered, size) = answered_range(key.as_str(), resp.status(), &h)?;
    let m = meta(key, &h, size);
    check_if_match(key, opts.if_match.as_ref(), m.etag.as_ref())?;
    let whole = resp.status() != StatusCode::PARTIAL_CONTENT;
    let body = body_stream(
        resp,
        key.as_str(),
        Some(answered.end - answered.start),
        stall,
    );
    let (range, body): (Range<u64>, _) = match (opts.range, whole) {
        (Some(r), true) => {
            // The server ignored Range and sent everything: cut it here.
            let want = r.resolve(size).ok_or_else(|| {
                Error::invalid(
                    key.as_str(),
                    format!("range {r:?} is past the end of {size} bytes"),
                )
            })?;
            let body = slice_stream(body, want.start, want.end - want.start);
            (want, body)
        }
        _ => (answered, body),
    };
    Ok(GetResponse {
        meta: m,
        range,
        body,
    })
}

/// The size, ETag and modification time of the object at `url`, from a
/// GET of its first byte (`Range: bytes=0-0`): `206` gives the size in
/// `Content-Range`, a server ignoring ranges answers `200` with the whole
/// `Content-Length` (the body is not read), and an empty object answers
/// `416` (`bytes */0`).
pub async fn probe_url(
    http: &reqwest::Client,
    url: &str,
    headers: &HeaderMap,
    key: &Key,
    ctx: &ErrorContext<'_>,
) -> Result<ObjectMeta> {
    let mut headers = headers.clone();
    headers.insert(http::header::RANGE, HeaderValue::from_static("bytes=0-0"));
    let resp = get(http, url, &headers, key.as_str()).await?;
    let status = resp.status();
    let h = resp.headers().clone();
    if status == StatusCode::RANGE_NOT_SATISFIABLE {
        let size = header(&h, "content-range")
            .and_then(|v| v.trim().strip_prefix("bytes */"))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0);
        if size == 0 {
            return Ok(meta(key, &h, 0));
        }
        return Err(Error::transient(
            key.as_str(),
            format!("bytes=0-0 of a {size}-byte object was refused"),
        ));
    }
    if !status.is_success() {
        return Err(error_from_response(resp, ctx).await);
    }
    let size = if status == StatusCode::PARTIAL_CONTENT {
        header(&h, "content-range")
            .and_then(parse_content_range)
            .map(|(_, total)| total)
            .ok_or_else(|| {
                Error::transient(key.as_str(), "206 answer without a usable Content-Range")
            })?
    } else {
        content_length(key.as_str(), &h)?
    };
    drop(resp);
    Ok(meta(key, &h, size))
}

#[cfg(test)]
mod tests {
    use futures::TryStreamExt;

    use super::*;

    #[tokio::test]
    async fn slices_a_whole_answer() {
        let chunks: Vec<Result<Bytes>> = [&b"abc"[..], b"defg", b"hij"]
            .iter()
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let s = slice_stream(futures::stream::iter(chunks).boxed(), 2, 6);
        let got: Vec<Bytes> = s.try_collect().await.unwrap();
        assert_eq!(got.concat(), b"cdefgh");
    }

    #[test]
    fn if_match() {
        let k = Key::new("k").unwrap();
        let tag = "abc".to_owned();
        assert!(check_if_match(&k, Some(&"\"abc\"".to_owned()), Some(&tag)).is_ok());
        assert!(check_if_match(&k, None, None).is_ok());
        let e = check_if_match(&k, Some(&"x".to_owned()), None).unwrap_err();
        assert!(matches!(e, Error::Precondition { .. }), "{e:?}");
    }
}
