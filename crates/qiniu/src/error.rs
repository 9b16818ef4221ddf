//! Kodo's answers mapped onto [`haul_core::Error`] (protocols §1.11).
//!
//! Kodo puts its error code in the HTTP status (612, 614, 631, 701, ...) and
//! a JSON `{"error": "..."}` in the body, with the request id in `X-Reqid`.
//! Codes Kodo owns are mapped here; the plain HTTP ones (400, 404, 429,
//! 5xx, ...) go through haul-http's shared mapping, so retryability is
//! decided the same way for every provider.

use futures::StreamExt;
use haul_core::{BoxError, Error};
use haul_http::error::{ErrorBody, map_error};
use haul_http::{CredentialVars, ErrorContext};
use http::{HeaderMap, StatusCode};

/// The variables Qiniu users know their credentials by, named in
/// authentication errors. Kodo has no session tokens: its upload tokens are
/// minted from the secret key.
pub(crate) const VARS: CredentialVars = CredentialVars {
    key_id: "QINIU_ACCESS_KEY",
    secret: "QINIU_SECRET_KEY",
    token: "QINIU_SECRET_KEY",
    region: "QINIU_REGION",
};

/// Most bytes of an error body read.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// What an error answer said.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Answer {
    /// The HTTP status, which is Kodo's error code.
    pub(crate) status: u16,
    /// The `error` of the JSON body (or the body's text).
    pub(crate) message: String,
    /// The `X-Reqid` header.
    pub(crate) reqid: Option<String>,
}

impl Answer {
    /// Parses an error answer's body.
    pub(crate) fn parse(status: u16, headers: &HeaderMap, body: &[u8]) -> Self {
        let message = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| match v.get("error") {
                Some(serde_json::Value::String(s)) => Some(s.clone()),
                _ => None,
            })
            .unwrap_or_else(|| {
                String::from_utf8_lossy(&body[..body.len().min(512)])
                    .trim()
                    .to_owned()
            });
        let reqid = headers
            .get("x-reqid")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Self {
            status,
            message,
            reqid,
        }
    }

    /// `message (HTTP 612, X-Reqid r)`.
    fn describe(&self) -> String {
        let mut s = if self.message.is_empty() {
            format!("HTTP {}", self.status)
        } else {
            format!("{} (HTTP {}", self.message, self.status)
        };
        if !self.message.is_empty() {
            if let Some(r) = &self.reqid {
                s.push_str(", X-Reqid ");
                s.push_str(r);
            }
            s.push(')');
        }
        s
    }
}

/// Maps a Kodo error answer onto a haul error naming `ctx.key`.
pub(crate) fn map_answer(answer: &Answer, headers: &HeaderMap, ctx: &ErrorContext<'_>) -> Error {
    let key = ctx.key.to_owned();
    let what = answer.describe();
    let src = |s: String| -> BoxError { s.into() };
    let ak = ctx.access_key_id.unwrap_or("(none)");
    match answer.status {
        612 => match ctx.upload_id {
            Some(id) => Error::NoSuchUpload {
                key,
                upload_id: id.to_owned(),
            },
            None => Error::NotFound {
                key,
                source: src(what),
            },
        },
        701 => match ctx.upload_id {
            Some(id) => Error::NoSuchUpload {
                key,
                upload_id: id.to_owned(),
            },
            None => Error::InvalidInput {
                key,
                message: format!("upload context is bad or expired: {what}"),
            },
        },
        614 => Error::AlreadyExists {
            key,
            source: src(what),
        },
        631 => Error::NotFound {
            key,
            source: src(format!(
                "bucket {:?} does not exist ({what})",
                ctx.bucket.unwrap_or("?")
            )),
        },
        401 => Error::Unauthenticated {
            key,
            source: src(format!(
                "{what}; Kodo refused the token or signature of access key {ak}: check {} and {} (and this machine's clock)",
                ctx.vars.key_id, ctx.vars.secret
            )),
        },
        419 => Error::PermissionDenied {
            key,
            source: src(format!("{what}; the account of access key {ak} is frozen")),
        },
        406 => Error::Integrity {
            key,
            expected: "the checksum sent with the upload".to_owned(),
            actual: format!("what Kodo received ({what})"),
        },
        413 => Error::InvalidInput {
            key,
            message: format!("larger than the upload policy allows: {what}"),
        },
        579 => Error::Provider {
            key,
            code: "579".to_owned(),
            message: format!("the upload callback failed: {what}"),
            retryable: false,
        },
        608 => Error::Precondition {
            key,
            source: src(format!("the content changed: {what}")),
        },
        573 => Error::RateLimited {
            key,
            retry_after: haul_http::error::parse_retry_after(headers),
        },
        478 => Error::Transient {
            key,
            source: src(format!("mirror source failed: {what}")),
        },
        630 | 640 => Error::InvalidInput { key, message: what },
        status => {
            let body = ErrorBody {
                message: Some(what),
                ..ErrorBody::default()
            };
            match StatusCode::from_u16(status) {
                Ok(st) if st.is_success() => Error::Provider {
                    key,
                    code: status.to_string(),
                    message: answer.message.clone(),
                    retryable: false,
                },
                Ok(st) => map_error(st, headers, Some(&body), ctx),
                Err(_) => Error::Provider {
                    key,
                    code: status.to_string(),
                    message: answer.message.clone(),
                    retryable: false,
                },
            }
        }
    }
}

/// Reads (at most 64 KiB of) an error answer and maps it.
pub(crate) async fn error_from_response(resp: reqwest::Response, ctx: &ErrorContext<'_>) -> Error {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let mut body = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(Ok(chunk)) = stream.next().await {
        body.extend_from_slice(&chunk);
        if body.len() >= MAX_ERROR_BODY {
            body.truncate(MAX_ERROR_BODY);
            break;
        }
    }
    let answer = Answer::parse(status, &headers, &body);
    map_answer(&answer, &headers, ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(status: u16, upload: bool) -> Error {
        let mut h = HeaderMap::new();
        h.insert("x-reqid", "req-1".parse().unwrap());
        let body = format!(r#"{{"error":"message for {status}"}}"#);
        let answer = Answer::parse(status, &h, body.as_bytes());
        let mut ctx = ErrorContext::new("dir/a b.txt")
            .bucket("photos")
            .access_key_id("AKVISIBLE")
            .vars(VARS);
        if upload {
            ctx = ctx.upload_id("u-1");
        }
        map_answer(&answer, &h, &ctx)
    }

    #[test]
    fn kodo_codes() {
        let e = map(612, false);
        assert!(
            matches!(e, Error::NotFound { .. }) && !e.is_retryable(),
            "{e:?}"
        );
        assert!(e.to_string().contains("dir/a b.txt"), "{e}");
        assert!(e.to_string().contains("req-1"), "{e}");
        assert!(
            matches!(map(612, true), Error::NoSuchUpload { ref upload_id, .. } if upload_id == "u-1")
        );
        assert!(matches!(map(701, true), Error::NoSuchUpload { .. }));
        assert!(matches!(map(701, false), Error::InvalidInput { .. }));
        assert!(matches!(map(614, false), Error::AlreadyExists { .. }));
        let e = map(631, false);
        assert!(matches!(e, Error::NotFound { .. }));
        assert!(e.to_string().contains("bucket \"photos\""), "{e}");
        let e = map(401, false);
        assert!(matches!(e, Error::Unauthenticated { .. }));
        assert!(e.to_string().contains("QINIU_SECRET_KEY"), "{e}");
        assert!(e.to_string().contains("AKVISIBLE"), "{e}");
        assert!(matches!(map(406, false), Error::Integrity { .. }));
        let e = map(579, false);
        assert!(matches!(e, Error::Provider { ref code, retryable: false, .. } if code == "579"));
        assert!(matches!(map(413, false), Error::InvalidInput { .. }));
        assert!(matches!(map(400, false), Error::InvalidInput { .. }));
        assert!(matches!(map(404, false), Error::NotFound { .. }));
        for status in [500, 502, 503, 504, 599, 573, 478] {
            assert!(map(status, false).is_retryable(), "{status} retries");
        }
        for status in [612, 614, 631, 401, 406, 579, 413, 400, 640] {
            assert!(
                !map(status, false).is_retryable(),
                "{status} does not retry"
            );
        }
    }

    #[test]
    fn plain_text_bodies() {
        let a = Answer::parse(502, &HeaderMap::new(), b"Bad Gateway\n");
        assert_eq!(a.message, "Bad Gateway");
        assert_eq!(a.describe(), "Bad Gateway (HTTP 502)");
        assert_eq!(
            Answer::parse(500, &HeaderMap::new(), b"").describe(),
            "HTTP 500"
        );
    }
}
