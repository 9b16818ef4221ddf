//! A request id on every answer, as S3 sends: the `x-amz-request-id`
//! header, and `<RequestId>` in error documents (s3s writes none; clients
//! and conformance suites quote it in their error reports).

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http::HeaderValue;

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
    let len = out.len();
    *resp.body_mut() = s3s::Body::from(Bytes::from(out));
    if let Ok(v) = HeaderValue::from_str(&len.to_string()) {
        resp.headers_mut().insert(http::header::CONTENT_LENGTH, v);
    }
    resp
}
