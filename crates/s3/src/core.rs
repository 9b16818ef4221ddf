//! Signed calls: one place builds, signs, sends and classifies every request.

use std::borrow::Cow;
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
use crate::creds::{Chain, Source, is_expired, may_be_expired_head};
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
    pub(crate) creds: Source,
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
        let creds = if cfg.anonymous {
            Source::Anonymous
        } else if cfg.access_key_id.is_empty() {
            Source::Chain(Chain::shared(cfg.profile.as_deref(), &cfg.region))
        } else {
            Source::Static(aws_credential_types::Credentials::new(
                &cfg.access_key_id,
                &cfg.secret_access_key,
                cfg.session_token.clone(),
                None,
                "haul",
            ))
        };
        Self {
            caps: crate::capabilities(&cfg),
            stall: client_options(&cfg).stall_timeout,
            cfg,
            endpoint,
            creds,
            http,
        }
    }

    /// An error context naming `key`, the bucket and the access key id.
    pub(crate) fn ctx<'a>(&'a self, key: &'a str) -> ErrorContext<'a> {
        let ak = match &self.creds {
            Source::Static(_) => self.cfg.access_key_id.as_str(),
            Source::Anonymous => "(none: unsigned requests)",
            Source::Chain(_) => "(from the AWS credential chain)",
        };
        ErrorContext::new(key)
            .bucket(&self.cfg.bucket)
            .access_key_id(ak)
    }

    /// The URL and signed headers of `call` at `time`, signed with
    /// `creds` (`None`: unsigned).
    pub(crate) fn prepare(
        &self,
        call: &Call<'_>,
        creds: Option<&aws_credential_types::Credentials>,
        time: SystemTime,
    ) -> Result<(String, HeaderMap)> {
        if let Some(k) = call.key {
            check_key(k)?;
        }
        let url = self.endpoint.url(call.key, &call.query);
        let payload = match &call.body {
            Body::Stream(_) => PayloadHash::StreamingTrailer,
            body if self.cfg.signed_payload => PayloadHash::Sha256(body_sha256(body)),
            _ => PayloadHash::Unsigned,
        };
        let extra = self.cfg.object.headers_for(call);
        let headers: Cow<'_, [(String, String)]> = if extra.is_empty() {
            Cow::Borrowed(&call.headers)
        } else {
            Cow::Owned(call.headers.iter().cloned().chain(extra).collect())
        };
        let signed = match creds {
            Some(c) => Signer::s3_with(c.clone(), &self.cfg.region).sign_headers(
                call.method.as_str(),
                &url,
                &headers,
                &payload,
                time,
            )?,
            None => Vec::new(),
        };
        let what = call.key.unwrap_or(&self.cfg.bucket);
        let map = header_map(what, headers.iter().chain(&signed))?;
        Ok((url, map))
    }

    /// Signs and sends `call` (signed afresh for a resend on a stale
    /// connection); any answer but 2xx is mapped to an error with `ctx`.
    ///
    /// Credentials from the chain that the store refuses as expired are
    /// dropped and the call is signed with fresh ones and sent again (a
    /// HEAD refused with a bare 400 or 403, which is all S3 can say without
    /// a body, is taken as possibly that: one fetch and one resend); a
    /// streamed body, gone once sent, fails as retryable instead, so the
    /// caller's retry sends it again with the fresh ones.
    pub(crate) async fn send(
        &self,
        call: Call<'_>,
        ctx: &ErrorContext<'_>,
    ) -> Result<reqwest::Response> {
        let mut refreshed = false;
        loop {
            let creds = self.creds.current(ctx.key).await?;
            let sent = send(&self.http, &call.body, ctx, self.stall, || {
                let (url, headers) = self.prepare(&call, creds.as_ref(), SystemTime::now())?;
                Ok(Prepared {
                    method: call.method.clone(),
                    url,
                    headers,
                })
            })
            .await;
            match sent {
                Err(e)
                    if !refreshed
                        && (is_expired(&e)
                            || (call.method == Method::HEAD && may_be_expired_head(&e)))
                        && self.creds.invalidate(creds.as_ref()).await =>
                {
                    tracing::debug!(key = ctx.key, "credentials expired in flight; refreshing");
                    refreshed = true;
                    if matches!(call.body, Body::Stream(_)) {
                        return Err(Error::Transient {
                            key: ctx.key.to_owned(),
                            source: format!("credentials expired in flight ({e}); refreshed")
                                .into(),
                        });
                    }
                }
                other => return other,
            }
        }
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
        let creds = self.creds.cached().ok_or_else(|| {
            Error::invalid(
                key,
                "no credentials to presign with: unsigned access, or none fetched yet",
            )
        })?;
        Signer::s3_with(creds, &self.cfg.region).presign(method.as_str(), &url, expires, time)
    }
}
