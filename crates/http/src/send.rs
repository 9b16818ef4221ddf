//! Sending a signed request: the body, one attempt, and the single resend
//! on a fresh connection that a stale pooled connection deserves.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use haul_core::{Error, Payload, Result};
use http::{HeaderMap, HeaderName, HeaderValue, Method};

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
    /// A body produced while it is sent; it goes out once, never again.
    Stream(StreamBody),
}

/// A request body of a known length whose bytes are produced while it is
/// sent (a part read from its source as it goes out). Clones share the
/// one stream: the first send takes it, and a request whose body was taken
/// cannot be sent again (the caller starts over with a new body).
///
/// An error of the stream aborts the request, and [`send`] answers with
/// that error rather than the transport's.
#[derive(Clone)]
pub struct StreamBody {
    len: u64,
    stream: Arc<Mutex<Option<BoxStream<'static, Result<Bytes>>>>>,
    failed: Arc<Mutex<Option<Error>>>,
}

impl StreamBody {
    /// `len` bytes (the Content-Length) that `stream` yields.
    #[must_use]
    pub fn new(len: u64, stream: BoxStream<'static, Result<Bytes>>) -> Self {
        Self {
            len,
            stream: Arc::new(Mutex::new(Some(stream))),
            failed: Arc::default(),
        }
    }

    /// Its length in bytes.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether it has no bytes.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The stream, the first time; afterwards one that fails at once.
    pub(crate) fn take(&self) -> BoxStream<'static, std::io::Result<Bytes>> {
        let taken = self.stream.lock().ok().and_then(|mut s| s.take());
        let Some(stream) = taken else {
            let e = std::io::Error::other("the streamed body was already sent");
            return futures::stream::once(async move { Err(e) }).boxed();
        };
        let failed = Arc::clone(&self.failed);
        stream
            .map(move |item| {
                item.map_err(|e| {
                    let text = e.to_string();
                    if let Ok(mut slot) = failed.lock() {
                        slot.get_or_insert(e);
                    }
                    std::io::Error::other(text)
                })
            })
            .boxed()
    }

    /// The stream's own error, once it failed.
    pub(crate) fn failure(&self) -> Option<Error> {
        self.failed.lock().ok().and_then(|mut e| e.take())
    }
}

impl std::fmt::Debug for StreamBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamBody")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl Body {
    /// Its length in bytes.
    #[must_use]
    pub fn len(&self) -> u64 {
        match self {
            Self::Empty => 0,
            Self::Payload(p) => p.len(),
            Self::Bytes(b) => b.len() as u64,
            Self::Stream(s) => s.len,
        }
    }

    /// Whether it has no bytes.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One call of an XML object API (S3, COS), before signing.
#[derive(Debug, Clone)]
pub struct Call<'a> {
    /// The method.
    pub method: Method,
    /// The object; `None` for bucket-level calls.
    pub key: Option<&'a str>,
    /// Query parameters (an empty value is a bare name).
    pub query: Vec<(&'static str, String)>,
    /// Lowercase header names and values.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Body,
}

impl<'a> Call<'a> {
    /// A call of `method` on `key` (or the bucket).
    #[must_use]
    pub fn new(method: Method, key: Option<&'a str>) -> Self {
        Self {
            method,
            key,
            query: Vec::new(),
            headers: Vec::new(),
            body: Body::Empty,
        }
    }

    /// Adds a query parameter (an empty value is a bare name).
    #[must_use]
    pub fn query(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.query.push((name, value.into()));
        self
    }

    /// Adds a header.
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body.
    #[must_use]
    pub fn body(mut self, body: Body) -> Self {
        self.body = body;
        self
    }
}

/// `headers` as a [`HeaderMap`]; a name or value HTTP cannot carry is an
/// invalid-input error naming `what` (the key or the bucket).
pub fn header_map<'h>(
    what: &str,
    headers: impl IntoIterator<Item = &'h (String, String)>,
) -> Result<HeaderMap> {
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        let name = HeaderName::from_bytes(k.as_bytes())
            .map_err(|e| Error::invalid(what, format!("bad header name {k:?}: {e}")))?;
        let value = HeaderValue::from_str(v)
            .map_err(|e| Error::invalid(what, format!("bad value for header {k}: {e}")))?;
        map.append(name, value);
    }
    Ok(map)
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
/// A watchdog fails the request as a retryable stall when no answer comes
/// within `stall`, or — for an uploaded payload — when the body makes no
/// progress for `stall` or no answer comes within [`answer_timeout`]`(stall)`
/// after it was sent: progress, not total time, is what is limited, so a
/// large part on a slow link never times out while its bytes flow.
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
    stall: Duration,
    prepare: impl Fn() -> Result<Prepared>,
) -> Result<reqwest::Response> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let req = prepare()?;
        // A streamed body is gone once sent: never resent here.
        let idempotent = matches!(
            req.method,
            Method::GET | Method::HEAD | Method::PUT | Method::DELETE
        ) && !matches!(body, Body::Stream(_));
        let progress = Progress::new(match body {
            Body::Payload(p) => !p.is_empty(),
            Body::Stream(s) => s.len > 0,
            Body::Empty | Body::Bytes(_) => false,
        });
        let outcome = tokio::select! {
            r = send_once(http, req, body, &progress) => r,
            stalled = progress.watch(stall) => {
                return Err(Error::timeout(ctx.key, stalled));
            }
        };
        match outcome {
            Ok(resp) if resp.status().is_success() => return Ok(resp),
            Ok(resp) => return Err(error_from_response(resp, ctx).await),
            Err(e) if idempotent && attempt == 1 && stale_connection(&e) => {
                haul_core::resend::resent();
                tracing::debug!(target: "haul_http", error = %crate::redact::redact_text(&e.to_string()), "resending on a fresh connection");
            }
            Err(e) => {
                let own = match body {
                    Body::Stream(s) => s.failure(),
                    _ => None,
                };
                return Err(own.unwrap_or_else(|| map_transport(&e, ctx.key)));
            }
        }
    }
}

/// How long an answer may take once the whole body was sent: servers may
/// work before answering (a large CompleteMultipartUpload), so two stall
/// periods (S3 itself starts the answer to a long completion at once and
/// keeps it alive with whitespace).
#[must_use]
pub fn answer_timeout(stall: Duration) -> Duration {
    stall * 2
}

/// Upload slices: the watchdog sees progress at least this often.
const SLICE: usize = 256 * 1024;

/// When the upload body last moved, and whether it is all sent.
#[derive(Clone)]
struct Progress {
    start: Instant,
    last_ms: Arc<AtomicU64>,
    done: Arc<AtomicBool>,
    upload: bool,
}

impl Progress {
    /// `upload`: a payload is streamed (else the request goes out at once).
    fn new(upload: bool) -> Self {
        Self {
            start: Instant::now(),
            last_ms: Arc::new(AtomicU64::new(0)),
            done: Arc::new(AtomicBool::new(!upload)),
            upload,
        }
    }

    fn tick(&self) {
        let ms = self.start.elapsed().as_millis() as u64;
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// The request body of `total` bytes from `stream`, ticking as each
    /// piece leaves. hyper stops polling once Content-Length bytes went
    /// out, so the last piece, not the end of the stream, marks it sent.
    fn body(
        &self,
        total: u64,
        stream: impl futures::Stream<Item = std::io::Result<Bytes>> + Send + 'static,
    ) -> reqwest::Body {
        let ticks = self.clone();
        let mut sent = 0u64;
        reqwest::Body::wrap_stream(stream.inspect(move |item| {
            if let Ok(b) = item {
                sent += b.len() as u64;
                ticks.tick();
                if sent >= total {
                    ticks.done.store(true, Ordering::Relaxed);
                }
            }
        }))
    }

    /// Resolves (with the reason) once the request stalled.
    async fn watch(&self, stall: Duration) -> String {
        let step = (stall / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
        loop {
            tokio::time::sleep(step).await;
            let idle = self
                .start
                .elapsed()
                .saturating_sub(Duration::from_millis(self.last_ms.load(Ordering::Relaxed)));
            if self.done.load(Ordering::Relaxed) {
                let limit = if self.upload {
                    answer_timeout(stall)
                } else {
                    stall
                };
                if idle > limit {
                    return format!(
                        "nothing came back {}s after the request was sent (the limit is --timeout {}s)",
                        idle.as_secs(),
                        stall.as_secs()
                    );
                }
            } else if idle > stall {
                return format!(
                    "the upload made no progress for {}s (the limit is --timeout {}s)",
                    idle.as_secs(),
                    stall.as_secs()
                );
            }
        }
    }
}

/// One attempt, traced with secrets redacted.
async fn send_once(
    http: &reqwest::Client,
    req: Prepared,
    body: &Body,
    progress: &Progress,
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
            // Sliced so the watchdog sees each 256 KiB leave; slices share
            // the payload's buffers.
            let mut slices: Vec<Bytes> = Vec::new();
            for piece in p.pieces() {
                let mut at = 0;
                while at < piece.len() {
                    let end = (at + SLICE).min(piece.len());
                    slices.push(piece.slice(at..end));
                    at = end;
                }
            }
            let stream = futures::stream::iter(slices).map(Ok::<Bytes, std::io::Error>);
            Some(progress.body(p.len(), stream))
        }
        Body::Stream(s) => {
            headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(s.len));
            Some(progress.body(s.len, s.take()))
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
