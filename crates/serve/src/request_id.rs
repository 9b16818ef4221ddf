//! Finishing touches on every answer, after s3s has written it: a request
//! id, as S3 sends — the `x-amz-request-id` header, and `<RequestId>` in
//! error documents (s3s writes none; clients and conformance suites quote
//! it in their error reports) — and an unquoted `<ETag>` where S3 sends
//! one unquoted (`GetObjectAttributes`; s3s always quotes it), asked for
//! by the shim with [`UNQUOTE_ETAG`].

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http::HeaderValue;

/// A header the shim sets on an answer whose `<ETag>` S3 sends unquoted;
/// removed here.
pub(crate) const UNQUOTE_ETAG: &str = "x-haul-unquote-etag";

/// Requests answered so far by this process.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh id: the process id and a counter, in hex (unique per server
/// process, as S3's are per request).
fn next_id() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{:08X}{n:08X}", std::process::id())
}

/// `resp` with a request id in its header and, for an error document,
/// in its body.
pub(crate) fn add(mut resp: http::Response<s3s::Body>) -> http::Response<s3s::Body> {
    let id = next_id();
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-amz-request-id", v);
    }
    if resp.headers_mut().remove(UNQUOTE_ETAG).is_some()
        && let Some(body) = resp.body().bytes()
    {
        let text = String::from_utf8_lossy(&body).replace("<ETag>&quot;", "<ETag>");
        let text = text
            .replace("<ETag>\"", "<ETag>")
            .replace("&quot;</ETag>", "</ETag>")
            .replace("\"</ETag>", "</ETag>");
        set_body(&mut resp, text.into_bytes());
    }
    if !resp.status().is_client_error() && !resp.status().is_server_error() {
        return resp;
    }
    let Some(body) = resp.body().bytes() else {
        return resp;
    };
    let Some(at) = body
        .windows(8)
        .rposition(|w| w == b"</Error>")
        .filter(|_| !body.windows(11).any(|w| w == b"<RequestId>"))
    else {
        return resp;
    };
    let mut out = Vec::with_capacity(body.len() + 48);
    out.extend_from_slice(&body[..at]);
    out.extend_from_slice(format!("<RequestId>{id}</RequestId>").as_bytes());
    out.extend_from_slice(&body[at..]);
    set_body(&mut resp, out);
    resp
}

/// Replaces the body of `resp` (and its length).
fn set_body(resp: &mut http::Response<s3s::Body>, body: Vec<u8>) {
    let len = body.len();
    *resp.body_mut() = s3s::Body::from(Bytes::from(body));
    if let Ok(v) = HeaderValue::from_str(&len.to_string()) {
        resp.headers_mut().insert(http::header::CONTENT_LENGTH, v);
    }
}
