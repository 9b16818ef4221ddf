//! Signed calls: one place builds, signs, sends and classifies every request.

use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use haul_core::{Error, Payload, Result};
use haul_http::error::{
    ErrorContext, error_from_response, map_code, parse_xml_error, root_element,
};
use haul_http::redact::{trace_request, trace_response};
use haul_http::{ClientOptions, body_stream, build_client, map_transport};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use sha2::{Digest, Sha256};

use crate::S3Config;
use crate::addr::{Endpoint, check_key};
use crate::sign::{EMPTY_SHA256, PayloadHash, Signer};

/// Most bytes of a small (XML) answer read into memory.
const MAX_SMALL_BODY: usize = 16 << 20;

/// A request body.
#[derive(Debug, Clone, Default)]
pub(crate) enum Body {
    /// No body.
    #[default]
    Empty,
    /// A payload streamed from its pieces without copying.
    Payload(Payload),
    /// A small body we wrote (XML).
    Bytes(Bytes),
}

impl Body {
    fn sha256(&self) -> String {
        match self {
            Self::Empty => EMPTY_SHA256.to_owned(),
            Self::Bytes(b) => hex::encode(Sha256::digest(b)),
            Self::Payload(p) => {
                let mut h = Sha256::new();
                for piece in p.pieces() {
                    h.update(piece);
                }
                hex::encode(h.finalize())
            }
        }
    }
}

/// One S3 call, before signing.
#[derive(Debug, Clone)]
pub(crate) struct Call<'a> {
    pub(crate) method: Method,
    /// The object; `None` for bucket-level calls.
    pub(crate) key: Option<&'a str>,
    pub(crate) query: Vec<(&'static str, String)>,
    /// Lowercase header names and values; all are signed.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Body,
}

impl<'a> Call<'a> {
    /// A call of `method` on `key` (or the bucket).
    pub(crate) fn new(method: Method, key: Option<&'a str>) -> Self {
        Self {
            method,
            key,
            query: Vec::new(),
            headers: Vec::new(),
            body: Body::Empty,
        }
    }

    /// Adds a query parameter (an empty value is a bare name).
    pub(crate) fn query(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.query.push((name, value.into()));
        self
    }

    /// Adds a header.
    pub(crate) fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body.
    pub(crate) fn body(mut self, body: Body) -> Self {
        self.body = body;
        self
    }
}

/// The shared state of an [`S3Store`](crate::S3Store).
#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) cfg: S3Config,
    pub(crate) caps: haul_core::Capabilities,
    pub(crate) endpoint: Endpoint,
    signer: Signer,
    http: reqwest::Client,
    pub(crate) stall: Duration,
}

/// The HTTP client options for `cfg`: the pool sized to its concurrency.
fn client_options(cfg: &S3Config) -> ClientOptions {
    ClientOptions {
        concurrency: cfg.concurrency,
        stall_timeout: cfg.stall_timeout,
        ..ClientOptions::default()
    }
}

/// A pooled HTTP client for `cfg`, to share between the stores of one
/// endpoint.
pub(crate) fn client(cfg: &S3Config) -> Result<reqwest::Client> {
    build_client(&client_options(cfg))
}

impl Core {
    pub(crate) fn new(cfg: S3Config) -> Result<Self> {
        let endpoint = Endpoint::new(&cfg)?;
        let http = client(&cfg)?;
        Ok(Self::with_parts(cfg, endpoint, http))
    }

    /// A core for `cfg` that sends through `http` (a client from [`client`]).
    pub(crate) fn with_client(cfg: S3Config, http: reqwest::Client) -> Result<Self> {
        let endpoint = Endpoint::new(&cfg)?;
        Ok(Self::with_parts(cfg, endpoint, http))
    }

    /// A core for calls on the service rather than on a bucket
    /// (ListBuckets), sending through `http`; `cfg.bucket` is ignored.
    pub(crate) fn service(cfg: S3Config, http: reqwest::Client) -> Result<Self> {
        let endpoint = Endpoint::service(&cfg)?;
        Ok(Self::with_parts(cfg, endpoint, http))
    }

    fn with_parts(cfg: S3Config, endpoint: Endpoint, http: reqwest::Client) -> Self {
        let signer = Signer::s3(
            &cfg.access_key_id,
            &cfg.secret_access_key,
            cfg.session_token.as_deref(),
            &cfg.region,
        );
        Self {
            caps: crate::capabilities(&cfg),
            stall: client_options(&cfg).stall_timeout,
            cfg,
            endpoint,
            signer,
            http,
        }
    }

    /// An error context naming `key`, the bucket and the access key id.
    pub(crate) fn ctx<'a>(&'a self, key: &'a str) -> ErrorContext<'a> {
        ErrorContext::new(key)
            .bucket(&self.cfg.bucket)
            .access_key_id(&self.cfg.access_key_id)
    }

    /// The URL and signed headers of `call` at `time`.
    pub(crate) fn prepare(&self, call: &Call<'_>, time: SystemTime) -> Result<(String, HeaderMap)> {
        if let Some(k) = call.key {
            check_key(k)?;
        }
        let url = self.endpoint.url(call.key, &call.query);
        let payload = if self.cfg.signed_payload {
            PayloadHash::Sha256(call.body.sha256())
        } else {
            PayloadHash::Unsigned
        };
        let signed =
            self.signer
                .sign_headers(call.method.as_str(), &url, &call.headers, &payload, time)?;
        let what = call.key.unwrap_or(&self.cfg.bucket);
        let mut map = HeaderMap::with_capacity(call.headers.len() + signed.len() + 1);
        for (k, v) in call.headers.iter().chain(&signed) {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|e| Error::invalid(what, format!("bad header name {k:?}: {e}")))?;
            let value = HeaderValue::from_str(v)
                .map_err(|e| Error::invalid(what, format!("bad value for header {k}: {e}")))?;
            map.append(name, value);
        }
        Ok((url, map))
    }

    /// Signs and sends `call`; any answer but 2xx is mapped to an error with `ctx`.
    ///
    /// An idempotent request (GET, HEAD, PUT, DELETE) that fails before any
    /// answer because a pooled connection turned out closed — servers drop
    /// idle keep-alive connections, and a connection whose last request was
    /// refused before its body was read — is sent once more on a fresh
    /// connection. Everything else is left to the engine's retry policy.
    pub(crate) async fn send(
        &self,
        call: Call<'_>,
        ctx: &ErrorContext<'_>,
    ) -> Result<reqwest::Response> {
        let idempotent = matches!(
            call.method,
            Method::GET | Method::HEAD | Method::PUT | Method::DELETE
        );
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.send_once(&call).await? {
                Ok(resp) if resp.status().is_success() => return Ok(resp),
                Ok(resp) => return Err(error_from_response(resp, ctx).await),
                Err(e) if idempotent && attempt == 1 && stale_connection(&e) => {
                    tracing::debug!(target: "haul_s3", error = %e, "resending on a fresh connection");
                }
                Err(e) => return Err(map_transport(&e, ctx.key)),
            }
        }
    }

    /// One attempt: the outer error is ours (the request cannot be made),
    /// the inner one the transport's.
    async fn send_once(
        &self,
        call: &Call<'_>,
    ) -> Result<Result<reqwest::Response, reqwest::Error>> {
        let (url, mut headers) = self.prepare(call, SystemTime::now())?;
        trace_request(&call.method, &url, &headers);
        let body = match &call.body {
            Body::Empty if matches!(call.method, Method::PUT | Method::POST) => {
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
        let mut req = self
            .http
            .request(call.method.clone(), &url)
            .headers(headers);
        if let Some(b) = body {
            req = req.body(b);
        }
        let started = Instant::now();
        let resp = req.send().await;
        if let Ok(r) = &resp {
            trace_response(&call.method, &url, r.status(), started.elapsed());
        }
        Ok(resp)
    }

    /// Sends `call` and reads its (small) answer body, failing when the body
    /// is an `<Error>` document even though the status was 200.
    pub(crate) async fn send_small(
        &self,
        call: Call<'_>,
        ctx: &ErrorContext<'_>,
    ) -> Result<(HeaderMap, Bytes)> {
        let resp = self.send(call, ctx).await?;
        let headers = resp.headers().clone();
        let body = read_small(resp, ctx.key, self.stall).await?;
        check_embedded_error(&body, ctx)?;
        Ok((headers, body))
    }

    /// `url` presigned for `method` at `time`, valid for `expires`.
    pub(crate) fn presign(
        &self,
        method: &Method,
        key: &str,
        expires: Duration,
        time: SystemTime,
    ) -> Result<String> {
        check_key(key)?;
        if expires > Duration::from_hours(168) || expires.is_zero() {
            return Err(Error::invalid(
                key,
                "a presigned URL expires after 1 second to 7 days",
            ));
        }
        let url = self.endpoint.url(Some(key), &[]);
        self.signer.presign(method.as_str(), &url, expires, time)
    }
}

/// Whether a transport error looks like a pooled connection that the server
/// had already closed (reset, broken pipe, closed before the answer), as
/// opposed to a timeout or a refused connection.
fn stale_connection(e: &reqwest::Error) -> bool {
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
        let text = err.to_string();
        if text.contains("connection closed before message completed") {
            return true;
        }
        source = err.source();
    }
    false
}

/// Reads a small answer body whole (bounded, with the stall timeout).
async fn read_small(resp: reqwest::Response, key: &str, stall: Duration) -> Result<Bytes> {
    use futures::TryStreamExt;
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

/// An `<Error>` document in a 200 answer (Complete, CopyObject,
/// UploadPartCopy) is an error.
pub(crate) fn check_embedded_error(body: &[u8], ctx: &ErrorContext<'_>) -> Result<()> {
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
    fn error_inside_200_is_an_error() {
        let ctx = ErrorContext::new("big.bin").upload_id("u-1");
        let body =
            b"\n  \n<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InternalError</Code>\
<Message>We encountered an internal error. Please try again.</Message></Error>";
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
        let ok = b"<?xml version=\"1.0\"?><CompleteMultipartUploadResult><ETag>\"x-2\"</ETag></CompleteMultipartUploadResult>";
        assert!(check_embedded_error(ok, &ctx).is_ok());
        let ok = b"<CopyObjectResult><ETag>\"e\"</ETag></CopyObjectResult>";
        assert!(check_embedded_error(ok, &ctx).is_ok());
    }
}
