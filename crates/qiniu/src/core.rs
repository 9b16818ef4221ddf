//! Calls to Kodo: one place builds, authorizes, sends and classifies every
//! request, and hashes upload bodies as they leave.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::StreamExt;
use haul_core::{Error, Key, Result};
use haul_http::ErrorContext;
use haul_http::redact::{trace_request, trace_response};
use haul_http::response::read_small;
use haul_http::send::stale_connection;
use haul_http::{ClientOptions, build_client, map_transport};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde::de::DeserializeOwned;

use crate::QiniuConfig;
use crate::auth::{Credentials, SignedRequest};
use crate::error::error_from_response;
use crate::policy::PutPolicy;
use crate::qetag::QetagHasher;

/// The Content-Type every management call sends and signs, as the SDKs do.
pub(crate) const FORM: &str = "application/x-www-form-urlencoded";

/// What the bytes of an upload body hashed to as they were sent.
pub(crate) struct Digests {
    /// qetag v1 of the bytes.
    pub(crate) qetag: QetagHasher,
    /// CRC-32 (IEEE) of the bytes.
    pub(crate) crc32: crc_fast::Digest,
}

impl Default for Digests {
    fn default() -> Self {
        Self {
            qetag: QetagHasher::default(),
            crc32: crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc32IsoHdlc),
        }
    }
}

impl std::fmt::Debug for Digests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Digests")
            .field("len", &self.qetag.len())
            .finish_non_exhaustive()
    }
}

/// Where a streamed body's digests accumulate; reset for every attempt.
pub(crate) type Tap = Arc<Mutex<Digests>>;

/// Takes the digests out of a tap.
pub(crate) fn take_digests(tap: &Tap) -> Digests {
    std::mem::take(&mut *tap.lock().unwrap_or_else(PoisonError::into_inner))
}

/// A request body.
#[derive(Debug, Clone, Default)]
pub(crate) enum Body {
    /// No body.
    #[default]
    Empty,
    /// A small body we wrote (JSON, a form).
    Bytes(Bytes),
    /// `head`, then the payload pieces (hashed into `tap` as they are
    /// sent), then `tail`: an upload, streamed without copying.
    Stream {
        head: Bytes,
        pieces: Vec<Bytes>,
        tail: Bytes,
        tap: Tap,
    },
    /// `head`, then a file's bytes as they are read (`len` of them, hashed
    /// into `tap` as they are sent), then `tail`. It goes out once: a
    /// second send finds the file taken and fails.
    Live {
        head: Bytes,
        file: LiveFile,
        len: u64,
        tail: Bytes,
        tap: Tap,
    },
}

/// A body's bytes still being read, taken by the one send.
#[derive(Clone)]
pub(crate) struct LiveFile(
    pub(crate) Arc<Mutex<Option<futures::stream::BoxStream<'static, Result<Bytes>>>>>,
);

impl std::fmt::Debug for LiveFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LiveFile")
    }
}

impl Body {
    fn len(&self) -> u64 {
        match self {
            Self::Empty => 0,
            Self::Bytes(b) => b.len() as u64,
            Self::Stream {
                head, pieces, tail, ..
            } => {
                (head.len() + tail.len()) as u64
                    + pieces.iter().map(|p| p.len() as u64).sum::<u64>()
            }
            Self::Live {
                head, len, tail, ..
            } => (head.len() + tail.len()) as u64 + len,
        }
    }

    /// The bytes a signature may cover (only small bodies are signed).
    fn signable(&self) -> &[u8] {
        match self {
            Self::Bytes(b) => b,
            _ => &[],
        }
    }
}

/// How a call is authorized.
#[derive(Debug, Clone)]
pub(crate) enum Auth {
    /// Not at all (public downloads, signed URLs).
    None,
    /// `Authorization: UpToken <token>` (resumable uploads).
    UpToken(String),
    /// `Authorization: Qiniu <AK>:<sign>` (management).
    Qiniu,
}

/// One call, before authorization.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub(crate) method: Method,
    pub(crate) url: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Body,
    pub(crate) auth: Auth,
}

impl Call {
    pub(crate) fn new(method: Method, url: String, auth: Auth) -> Self {
        Self {
            method,
            url,
            headers: Vec::new(),
            body: Body::Empty,
            auth,
        }
    }

    pub(crate) fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub(crate) fn body(mut self, body: Body) -> Self {
        self.body = body;
        self
    }

    fn content_type(&self) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
            .map(|(_, v)| v.as_str())
    }
}

/// `YYYYMMDDTHHMMSSZ` (UTC) for `X-Qiniu-Date`.
pub(crate) fn qiniu_date(time: SystemTime) -> String {
    haul_core::time::compact(time)
}

/// Unix seconds now.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The shared state of a [`QiniuStore`](crate::QiniuStore).
#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) cfg: QiniuConfig,
    pub(crate) caps: haul_core::Capabilities,
    pub(crate) creds: Credentials,
    http: reqwest::Client,
    pub(crate) stall: Duration,
}

impl Core {
    pub(crate) fn new(cfg: QiniuConfig) -> Result<Self> {
        for (name, url) in [
            ("up", &cfg.up_url),
            ("rs", &cfg.rs_url),
            ("rsf", &cfg.rsf_url),
        ] {
            reqwest::Url::parse(url).map_err(|e| {
                Error::invalid(&cfg.bucket, format!("bad {name} host URL {url:?}: {e}"))
            })?;
        }
        let opts = ClientOptions {
            concurrency: cfg.concurrency,
            ..ClientOptions::default()
        };
        Ok(Self {
            caps: crate::capabilities(),
            creds: Credentials::new(&cfg.access_key, &cfg.secret_key),
            http: build_client(&opts)?,
            stall: opts.stall_timeout,
            cfg,
        })
    }

    /// An error context naming `key`, the bucket and the access key.
    pub(crate) fn ctx<'a>(&'a self, key: &'a str) -> ErrorContext<'a> {
        ErrorContext::new(key)
            .bucket(&self.cfg.bucket)
            .access_key_id(&self.cfg.access_key)
            .vars(crate::error::VARS)
    }

    /// A fresh upload token for `key` (overwriting allowed), valid for the
    /// configured lifetime from now: every upload request gets its own, so
    /// a long upload renews its token long before any deadline.
    pub(crate) fn up_token(&self, key: &Key) -> String {
        let deadline = unix_now() + self.cfg.token_lifetime.as_secs().max(1);
        let policy = PutPolicy::for_key(&self.cfg.bucket, key.as_str(), deadline);
        self.creds.upload_token(&policy)
    }

    /// The authorized URL and headers of `call` at `time`.
    fn prepare(&self, call: &Call, time: SystemTime) -> Result<(String, HeaderMap)> {
        let mut headers: Vec<(String, String)> = call.headers.clone();
        match &call.auth {
            Auth::None => {}
            Auth::UpToken(t) => headers.push(("authorization".into(), format!("UpToken {t}"))),
            Auth::Qiniu => {
                headers.push(("x-qiniu-date".into(), qiniu_date(time)));
                let url = reqwest::Url::parse(&call.url)
                    .map_err(|e| Error::invalid("", format!("bad URL: {e}")))?;
                let host = match url.port() {
                    Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
                    None => url.host_str().unwrap_or_default().to_owned(),
                };
                let path_and_query = match url.query() {
                    Some(q) => format!("{}?{q}", url.path()),
                    None => url.path().to_owned(),
                };
                let pairs: Vec<(&str, &str)> = headers
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str()))
                    .collect();
                let auth = self.creds.qiniu_authorization(&SignedRequest {
                    method: call.method.as_str(),
                    path_and_query: &path_and_query,
                    host: &host,
                    content_type: call.content_type(),
                    headers: &pairs,
                    body: call.body.signable(),
                });
                headers.push(("authorization".into(), auth));
            }
        }
        let mut map = HeaderMap::with_capacity(headers.len() + 1);
        for (k, v) in &headers {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|e| Error::invalid("", format!("bad header name {k:?}: {e}")))?;
            let value = HeaderValue::from_str(v)
                .map_err(|e| Error::invalid("", format!("bad value for header {k}: {e}")))?;
            map.append(name, value);
        }
        Ok((call.url.clone(), map))
    }

    /// Authorizes and sends `call`; any answer but 2xx is mapped to an error
    /// with `ctx`. An idempotent request that meets a pooled connection the
    /// server had already closed is sent once more on a fresh one; every
    /// other failure is left to the engine's retry policy.
    pub(crate) async fn send(
        &self,
        call: Call,
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
                    haul_core::resend::resent();
                    tracing::debug!(target: "haul_qiniu", error = %e, "resending on a fresh connection");
                }
                Err(e) => return Err(map_transport(&e, ctx.key)),
            }
        }
    }

    async fn send_once(&self, call: &Call) -> Result<Result<reqwest::Response, reqwest::Error>> {
        let (url, mut headers) = self.prepare(call, SystemTime::now())?;
        trace_request(&call.method, &url, &headers);
        let body = match &call.body {
            Body::Empty if matches!(call.method, Method::PUT | Method::POST) => {
                Some(reqwest::Body::from(Bytes::new()))
            }
            Body::Empty => None,
            Body::Bytes(b) => Some(reqwest::Body::from(b.clone())),
            Body::Stream {
                head,
                pieces,
                tail,
                tap,
            } => {
                headers.insert(
                    http::header::CONTENT_LENGTH,
                    HeaderValue::from(call.body.len()),
                );
                *tap.lock().unwrap_or_else(PoisonError::into_inner) = Digests::default();
                let tap = Arc::clone(tap);
                let items: Vec<(Bytes, bool)> = std::iter::once((head.clone(), false))
                    .chain(pieces.iter().map(|p| (p.clone(), true)))
                    .chain(std::iter::once((tail.clone(), false)))
                    .filter(|(b, _)| !b.is_empty())
                    .collect();
                let stream = futures::stream::iter(items).map(move |(b, hashed)| {
                    if hashed {
                        let mut d = tap.lock().unwrap_or_else(PoisonError::into_inner);
                        d.qetag.update(&b);
                        d.crc32.update(&b);
                    }
                    Ok::<Bytes, std::io::Error>(b)
                });
                Some(reqwest::Body::wrap_stream(stream))
            }
            Body::Live {
                head,
                file,
                tail,
                tap,
                ..
            } => {
                headers.insert(
                    http::header::CONTENT_LENGTH,
                    HeaderValue::from(call.body.len()),
                );
                let taken = file.0.lock().unwrap_or_else(PoisonError::into_inner).take();
                let Some(file) = taken else {
                    return Err(Error::transient(
                        "",
                        "the streamed body was already sent; it is read again from its source",
                    ));
                };
                *tap.lock().unwrap_or_else(PoisonError::into_inner) = Digests::default();
                let tap = Arc::clone(tap);
                let file = file.map(move |item| {
                    let b = item.map_err(|e| std::io::Error::other(e.to_string()))?;
                    let mut d = tap.lock().unwrap_or_else(PoisonError::into_inner);
                    d.qetag.update(&b);
                    d.crc32.update(&b);
                    Ok::<Bytes, std::io::Error>(b)
                });
                let (head, tail) = (head.clone(), tail.clone());
                let stream = futures::stream::once(async move { Ok(head) })
                    .chain(file)
                    .chain(futures::stream::once(async move { Ok(tail) }));
                Some(reqwest::Body::wrap_stream(stream))
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

    /// Sends `call` and parses its JSON answer (`null` or an empty body
    /// parse as `T::default()`-like values only if `T` accepts them).
    pub(crate) async fn send_json<T: DeserializeOwned>(
        &self,
        call: Call,
        ctx: &ErrorContext<'_>,
    ) -> Result<(u16, T)> {
        let resp = self.send(call, ctx).await?;
        let status = resp.status().as_u16();
        let body = read_small(resp, ctx.key, self.stall).await?;
        let text: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
            b"null"
        } else {
            &body
        };
        let parsed = serde_json::from_slice(text).map_err(|e| {
            Error::transient(
                ctx.key,
                format!(
                    "unreadable answer from Kodo ({e}): {}",
                    String::from_utf8_lossy(&body[..body.len().min(200)])
                ),
            )
        })?;
        Ok((status, parsed))
    }

    /// A management call on the rs host: `path` (already encoded),
    /// `Content-Type` form, signed with the Qiniu (v2) signature.
    pub(crate) fn rs_call(&self, method: Method, path: &str, form: Option<String>) -> Call {
        let mut call = Call::new(method, format!("{}{path}", self.cfg.rs_url), Auth::Qiniu)
            .header("content-type", FORM);
        if let Some(f) = form {
            call = call.body(Body::Bytes(Bytes::from(f)));
        }
        call
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(qiniu_date(UNIX_EPOCH), "19700101T000000Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_451_491_200 + 3_723);
        assert_eq!(qiniu_date(t), "20151230T170203Z");
        let leap = UNIX_EPOCH + Duration::from_hours(264_384);
        assert_eq!(qiniu_date(leap), "20000229T000000Z");
    }
}
