//! Sending a signed request: the body, one attempt, and the single resend
//! on a fresh connection that a stale pooled connection deserves.

use std::time::Instant;

use bytes::Bytes;
use haul_core::{Payload, Result};
use http::{HeaderMap, HeaderValue, Method};

use crate::error::{ErrorContext, error_from_response, map_transport};
use crate::redact::{trace_request, trace_response};

/// A request body.
#[derive(Debug, Clone, Default)]
pub enum Body {
    /// No body.
    #[default]
    Empty,
    /// A payload streamed from its pieces without copying.
    Payload(Payload),
    /// A small body we wrote (XML).
    Bytes(Bytes),
}

impl Body {
    /// Its length in bytes.
    #[must_use]
    pub fn len(&self) -> u64 {
        match self {
            Self::Empty => 0,
            Self::Payload(p) => p.len(),
            Self::Bytes(b) => b.len() as u64,
        }
    }

    /// Whether it has no bytes.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A request ready to go: signed headers and all.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The method.
    pub method: Method,
    /// The full URL, query included.
    pub url: String,
    /// Every header, signed ones included.
    pub headers: HeaderMap,
}

/// Sends a request built by `prepare` (called again for a resend, so it may
/// sign with a fresh time); any answer but 2xx is mapped to an error with
/// `ctx`.
///
/// An idempotent request (GET, HEAD, PUT, DELETE) that fails before any
/// answer because a pooled connection turned out closed — servers drop
/// idle keep-alive connections, and a connection whose last request was
/// refused before its body was read — is sent once more on a fresh
/// connection. Everything else is left to the engine's retry policy.
pub async fn send(
    http: &reqwest::Client,
    body: &Body,
    ctx: &ErrorContext<'_>,
    prepare: impl Fn() -> Result<Prepared>,
) -> Result<reqwest::Response> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let req = prepare()?;
        let idempotent = matches!(
            req.method,
            Method::GET | Method::HEAD | Method::PUT | Method::DELETE
        );
        match send_once(http, req, body).await {
            Ok(resp) if resp.status().is_success() => return Ok(resp),
            Ok(resp) => return Err(error_from_response(resp, ctx).await),
            Err(e) if idempotent && attempt == 1 && stale_connection(&e) => {
                tracing::debug!(target: "haul_http", error = %crate::redact::redact_text(&e.to_string()), "resending on a fresh connection");
            }
            Err(e) => return Err(map_transport(&e, ctx.key)),
        }
    }
}

/// One attempt, traced with secrets redacted.
async fn send_once(
    http: &reqwest::Client,
    req: Prepared,
    body: &Body,
) -> Result<reqwest::Response, reqwest::Error> {
    let Prepared {
        method,
        url,
        mut headers,
    } = req;
    trace_request(&method, &url, &headers);
    let body = match body {
        Body::Empty if matches!(method, Method::PUT | Method::POST) => {
            Some(reqwest::Body::from(Bytes::new()))
        }
        Body::Empty => None,
        Body::Bytes(b) => Some(reqwest::Body::from(b.clone())),
        Body::Payload(p) => {
            headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(p.len()));
            let pieces: Vec<Result<Bytes, std::io::Error>> =
                p.pieces().iter().cloned().map(Ok).collect();
            Some(reqwest::Body::wrap_stream(futures::stream::iter(pieces)))
        }
    };
    let mut builder = http.request(method.clone(), &url).headers(headers);
    if let Some(b) = body {
        builder = builder.body(b);
    }
    let started = Instant::now();
    let resp = builder.send().await;
    if let Ok(r) = &resp {
        trace_response(&method, &url, r.status(), started.elapsed());
    }
    resp
}

/// Whether a transport error looks like a pooled connection that the server
/// had already closed (reset, broken pipe, closed before the answer), as
/// opposed to a timeout or a refused connection.
#[must_use]
pub fn stale_connection(e: &reqwest::Error) -> bool {
    if e.is_timeout() || e.is_connect() || e.is_builder() {
        return false;
    }
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::UnexpectedEof
            );
        }
        if err
            .to_string()
            .contains("connection closed before message completed")
        {
            return true;
        }
        source = err.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_lengths() {
        assert!(Body::Empty.is_empty());
        assert_eq!(Body::Bytes(Bytes::from_static(b"abc")).len(), 3);
        let p: Payload = Bytes::from_static(b"hello").into();
        assert_eq!(Body::Payload(p).len(), 5);
    }
}
