//! Signed calls: one place builds, signs, sends and classifies every request.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use haul_core::{Error, Result};
use haul_http::error::ErrorContext;
use haul_http::response::{check_embedded_error, read_small};
pub(crate) use haul_http::send::{Body, Call};
use haul_http::send::{Prepared, header_map, send};
use haul_http::{ClientOptions, build_client};
use http::{HeaderMap, Method};
use sha2::{Digest, Sha256};

use crate::S3Config;
use crate::addr::{Endpoint, check_key};
use crate::sign::{EMPTY_SHA256, PayloadHash, Signer};

/// The hex SHA-256 of a body, for a signed payload.
fn body_sha256(body: &Body) -> String {
    match body {
        Body::Empty => EMPTY_SHA256.to_owned(),
        Body::Bytes(b) => hex::encode(Sha256::digest(b)),
        Body::Payload(p) => {
            let mut h = Sha256::new();
            for piece in p.pieces() {
                h.update(piece);
            }
            hex::encode(h.finalize())
        }
        // Sent as `aws-chunked` with a trailer, never signed whole.
        Body::Stream(_) => "STREAMING-UNSIGNED-PAYLOAD-TRAILER".to_owned(),
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
        let payload = match &call.body {
            Body::Stream(_) => PayloadHash::StreamingTrailer,
            body if self.cfg.signed_payload => PayloadHash::Sha256(body_sha256(body)),
            _ => PayloadHash::Unsigned,
        };
        let signed =
            self.signer
                .sign_headers(call.method.as_str(), &url, &call.headers, &payload, time)?;
        let what = call.key.unwrap_or(&self.cfg.bucket);
        let map = header_map(what, call.headers.iter().chain(&signed))?;
        Ok((url, map))
    }

    /// Signs and sends `call` (signed afresh for a resend on a stale
    /// connection); any answer but 2xx is mapped to an error with `ctx`.
    pub(crate) async fn send(
        &self,
        call: Call<'_>,
        ctx: &ErrorContext<'_>,
    ) -> Result<reqwest::Response> {
        send(&self.http, &call.body, ctx, self.stall, || {
            let (url, headers) = self.prepare(&call, SystemTime::now())?;
            Ok(Prepared {
                method: call.method.clone(),
                url,
                headers,
            })
        })
        .await
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
