//! Signed calls: one place builds, signs, sends and classifies every request.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use haul_core::{Error, Result};
use haul_http::error::ErrorContext;
use haul_http::response::{check_embedded_error, read_small};
pub(crate) use haul_http::send::Call;
use haul_http::send::{Prepared, header_map, send};
use haul_http::{ClientOptions, build_client};
use http::{HeaderMap, Method};

use crate::CosConfig;
use crate::addr::{Endpoint, check_key};
use crate::config::COS_VARS;
use crate::sign::{KeyTime, is_signed_header, sign};

/// The shared state of a [`CosStore`](crate::CosStore).
#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) cfg: CosConfig,
    pub(crate) caps: haul_core::Capabilities,
    pub(crate) endpoint: Endpoint,
    http: reqwest::Client,
    pub(crate) stall: Duration,
}

/// COS answers an expired signature with `AccessDenied: Request has
/// expired`: that is an authentication failure with a clock to fix, not a
/// missing permission.
fn expired_signature(e: Error) -> Error {
    match e {
        Error::PermissionDenied { key, source } if source.to_string().contains("has expired") => {
            Error::Unauthenticated {
                key,
                source: format!(
                    "{source}; the store refused the signature as expired: \
                     check this machine's clock (and CosConfig::sign_validity)"
                )
                .into(),
            }
        }
        e => e,
    }
}

/// Seconds since the epoch (0 for a clock before 1970).
fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl Core {
    pub(crate) fn new(cfg: CosConfig) -> Result<Self> {
        let endpoint = Endpoint::new(&cfg)?;
        let opts = ClientOptions {
            concurrency: cfg.concurrency,
            ..ClientOptions::default()
        };
        let http = build_client(&opts)?;
        Ok(Self {
            caps: crate::capabilities(&cfg),
            stall: opts.stall_timeout,
            cfg,
            endpoint,
            http,
        })
    }

    /// An error context naming `key`, the bucket, the SecretId and the COS
    /// variables.
    pub(crate) fn ctx<'a>(&'a self, key: &'a str) -> ErrorContext<'a> {
        ErrorContext::new(key)
            .bucket(&self.cfg.bucket)
            .access_key_id(&self.cfg.secret_id)
            .vars(COS_VARS)
    }

    /// The signature window for a request made at `time`: from a minute
    /// before (a server clock slightly behind ours still accepts it) to
    /// [`CosConfig::sign_validity`] after.
    pub(crate) fn key_time(&self, time: SystemTime) -> KeyTime {
        let now = unix(time);
        KeyTime {
            start: now.saturating_sub(60),
            end: now + self.cfg.sign_validity.as_secs().max(1),
        }
    }

    /// The URL and signed headers of `call` with the signature window `kt`.
    pub(crate) fn prepare(&self, call: &Call<'_>, kt: KeyTime) -> Result<Prepared> {
        let what = call.key.unwrap_or(&self.cfg.bucket);
        if let Some(k) = call.key {
            check_key(k)?;
        }
        let url = self.endpoint.url(call.key, &call.query);
        let mut headers: Vec<(String, String)> = call.headers.clone();
        headers.extend(self.cfg.write_headers(call));
        headers.push(("host".to_owned(), self.endpoint.host().to_owned()));
        if let Some(t) = &self.cfg.security_token {
            headers.push(("x-cos-security-token".to_owned(), t.clone()));
        }
        let params: Vec<(&str, &str)> = call.query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let signed_headers: Vec<(&str, &str)> = headers
            .iter()
            .filter(|(k, _)| is_signed_header(k))
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let signed = sign(
            &self.cfg.secret_key,
            kt,
            call.method.as_str(),
            &self.endpoint.signed_path(call.key),
            &params,
            &signed_headers,
        );
        headers.push((
            "authorization".to_owned(),
            signed.authorization(&self.cfg.secret_id),
        ));
        let map = header_map(what, &headers)?;
        Ok(Prepared {
            method: call.method.clone(),
            url,
            headers: map,
        })
    }

    /// Signs and sends `call`; any answer but 2xx is mapped to an error with
    /// `ctx`.
    pub(crate) async fn send(
        &self,
        call: Call<'_>,
        ctx: &ErrorContext<'_>,
    ) -> Result<reqwest::Response> {
        send(&self.http, &call.body, ctx, self.stall, || {
            self.prepare(&call, self.key_time(SystemTime::now()))
        })
        .await
        .map_err(expired_signature)
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

    /// A presigned URL for `method` on `key`, valid from `time` for
    /// `expires`. The host is signed; so is the security token.
    pub(crate) fn presign(
        &self,
        method: &Method,
        key: &str,
        expires: Duration,
        time: SystemTime,
    ) -> Result<String> {
        check_key(key)?;
        if expires.is_zero() {
            return Err(Error::invalid(
                key,
                "a presigned URL must be valid for some time",
            ));
        }
        let now = unix(time);
        let kt = KeyTime {
            start: now,
            end: now + expires.as_secs().max(1),
        };
        let signed = sign(
            &self.cfg.secret_key,
            kt,
            method.as_str(),
            &self.endpoint.signed_path(Some(key)),
            &[],
            &[("host", self.endpoint.host())],
        );
        let mut url = format!(
            "{}?{}",
            self.endpoint.url(Some(key), &[]),
            signed.query(&self.cfg.secret_id)
        );
        if let Some(t) = &self.cfg.security_token {
            url.push_str("&x-cos-security-token=");
            url.push_str(&crate::sign::url_encode(t));
        }
        Ok(url)
    }
}
