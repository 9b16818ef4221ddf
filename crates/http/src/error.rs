//! Provider error bodies and their mapping onto [`haul_core::Error`].
//!
//! (Over 600 lines on purpose: every provider's error codes are mapped in
//! one table, so a code is classified, retryable or not, in one place.)
//!
//! Whether a failure is worth retrying is decided here, once: 5xx, 429 and
//! `SlowDown` are retryable (the latter two as [`Error::RateLimited`] with the
//! server's `Retry-After`), so are connection failures and timeouts; not
//! found, denied, bad input and integrity failures are not.

use std::time::{Duration, SystemTime};

use futures::StreamExt;
use haul_core::{BoxError, Error};
use http::{HeaderMap, StatusCode};
use serde::Deserialize;

pub use crate::credentials::CredentialVars;

/// Most bytes of an error body read; the rest is dropped.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// What a provider said in an error body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ErrorBody {
    /// The provider's error code (`NoSuchKey`, `SlowDown`, ...).
    #[serde(rename = "Code")]
    pub code: Option<String>,
    /// The human-readable message.
    #[serde(rename = "Message")]
    pub message: Option<String>,
    /// The request id, for support tickets.
    #[serde(rename = "RequestId")]
    pub request_id: Option<String>,
    /// The key the error concerns, where the provider says.
    #[serde(rename = "Key")]
    pub key: Option<String>,
    /// The bucket the error concerns, where the provider says.
    #[serde(rename = "BucketName")]
    pub bucket: Option<String>,
}

/// The name of the root element of an XML document, if it has one.
///
/// Skips the declaration, comments, and the whitespace S3 sends as
/// keep-alive before a slow `CompleteMultipartUpload` answer.
#[must_use]
pub fn root_element(body: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(body).ok()?;
    let mut rest = text;
    loop {
        let start = rest.find('<')?;
        rest = &rest[start + 1..];
        if rest.starts_with('?') || rest.starts_with('!') {
            continue;
        }
        let end = rest
            .find(|c: char| c == '>' || c == '/' || c.is_whitespace())
            .unwrap_or(rest.len());
        return Some(&rest[..end]);
    }
}

/// Parses an S3-style `<Error><Code/><Message/>...</Error>` body; `None` when
/// the body is not one.
#[must_use]
pub fn parse_xml_error(body: &[u8]) -> Option<ErrorBody> {
    if root_element(body)? != "Error" {
        return None;
    }
    let text = std::str::from_utf8(body).ok()?.trim_start();
    quick_xml::de::from_str::<ErrorBody>(text).ok()
}

/// Parses a JSON error body (`{"code": ..., "message": ...}` and the usual
/// spellings: `Code`, `error`, `error_code`, `msg`, `error_description`).
#[must_use]
pub fn parse_json_error(body: &[u8]) -> Option<ErrorBody> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let obj = v.as_object()?;
    let pick = |names: &[&str]| {
        names.iter().find_map(|n| match obj.get(*n)? {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
    };
    let out = ErrorBody {
        code: pick(&["code", "Code", "error_code", "errorCode", "error"]),
        message: pick(&[
            "message",
            "Message",
            "msg",
            "error_description",
            "errorMessage",
        ]),
        request_id: pick(&["request_id", "requestId", "RequestId"]),
        key: None,
        bucket: None,
    };
    (out.code.is_some() || out.message.is_some()).then_some(out)
}

/// What the failed request was about, for the error message.
#[derive(Debug, Clone, Copy, Default)]
pub struct ErrorContext<'a> {
    /// The key (or prefix) the request concerned.
    pub key: &'a str,
    /// The bucket, named in not-found messages.
    pub bucket: Option<&'a str>,
    /// A second bucket the request touched (the destination of a copy
    /// between buckets): a missing bucket, unless the provider names it, is
    /// then said to be one of the two.
    pub other_bucket: Option<&'a str>,
    /// The multipart upload, for [`Error::NoSuchUpload`].
    pub upload_id: Option<&'a str>,
    /// The access key id (not secret), named in authentication messages.
    pub access_key_id: Option<&'a str>,
    /// The credential variables authentication messages tell the user to check.
    pub vars: CredentialVars,
}

impl<'a> ErrorContext<'a> {
    /// A context naming only the key.
    #[must_use]
    pub fn new(key: &'a str) -> Self {
        Self {
            key,
            ..Self::default()
        }
    }

    /// Names the bucket.
    #[must_use]
    pub fn bucket(mut self, bucket: &'a str) -> Self {
        self.bucket = Some(bucket);
        self
    }

    /// Names a second bucket the request touched (see
    /// [`other_bucket`](Self::other_bucket)); the same bucket again is ignored.
    #[must_use]
    pub fn or_bucket(mut self, bucket: &'a str) -> Self {
        self.other_bucket = Some(bucket);
        self
    }

    /// Names the multipart upload.
    #[must_use]
    pub fn upload_id(mut self, id: &'a str) -> Self {
        self.upload_id = Some(id);
        self
    }

    /// Names the access key id.
    #[must_use]
    pub fn access_key_id(mut self, ak: &'a str) -> Self {
        self.access_key_id = Some(ak);
        self
    }

    /// Sets the credential variables authentication messages name.
    #[must_use]
    pub fn vars(mut self, vars: CredentialVars) -> Self {
        self.vars = vars;
        self
    }
}

/// The wait a `Retry-After` header asks for: seconds or an HTTP date.
#[must_use]
pub fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(SystemTime::now()).unwrap_or_default())
}

/// Maps an HTTP error answer onto a haul error.
#[must_use]
pub fn map_error(
    status: StatusCode,
    headers: &HeaderMap,
    body: Option<&ErrorBody>,
    ctx: &ErrorContext<'_>,
) -> Error {
    let code = body.and_then(|b| b.code.as_deref()).unwrap_or("");
    let message = body.and_then(|b| b.message.as_deref()).unwrap_or("");
    // The provider knows which bucket it means better than we guess.
    let mut ctx = *ctx;
    if let Some(bucket) = body.and_then(|b| b.bucket.as_deref()) {
        ctx.bucket = Some(bucket);
        ctx.other_bucket = None;
    }
    map_code(
        Some(status),
        code,
        message,
        parse_retry_after(headers),
        &ctx,
    )
}

/// Maps a provider error code (from an error answer, or from an `<Error>`
/// inside an HTTP 200) onto a haul error; `status` is `None` for the latter.
#[must_use]
pub fn map_code(
    status: Option<StatusCode>,
    code: &str,
    message: &str,
    retry_after: Option<Duration>,
    ctx: &ErrorContext<'_>,
) -> Error {
    let key = ctx.key.to_owned();
    let what = describe(status, code, message);
    let src = |s: String| -> BoxError { s.into() };
    let ak = ctx.access_key_id.unwrap_or("(none)");
    let vars = ctx.vars;
    match code {
        "NoSuchKey" => Error::NotFound {
            key,
            source: src(what),
        },
        "NoSuchBucket" => Error::NotFound {
            key,
            source: src(match (ctx.bucket, ctx.other_bucket) {
                (Some(a), Some(b)) if a != b => {
                    format!("bucket {a:?} or bucket {b:?} does not exist ({what})")
                }
                (a, _) => format!("bucket {:?} does not exist ({what})", a.unwrap_or("?")),
            }),
        },
        "NoSuchUpload" => Error::NoSuchUpload {
            key,
            upload_id: ctx.upload_id.unwrap_or("?").to_owned(),
        },
        "AccessDenied" | "AllAccessDisabled" | "AccountProblem" => Error::PermissionDenied {
            key,
            source: src(format!("{what} (access key id {ak})")),
        },
        "SignatureDoesNotMatch" => Error::Unauthenticated {
            key,
            source: src(format!(
                "{what}; the store refused the signature: the secret key does not match access key id {ak}, check {}",
                vars.secret
            )),
        },
        "InvalidAccessKeyId" | "NotSignedUp" => Error::Unauthenticated {
            key,
            source: src(format!(
                "{what}; access key id {ak} is unknown to the store: check {}",
                vars.key_id
            )),
        },
        "InvalidToken" | "ExpiredToken" | "TokenRefreshRequired" => Error::Unauthenticated {
            key,
            source: src(format!(
                "{what}; the session token expired or is not valid: get fresh temporary credentials, check {}",
                vars.token
            )),
        },
        kms if kms.starts_with("KMS.") => Error::PermissionDenied {
            key,
            source: src(format!(
                "{what}; the KMS key was refused: check the key id (--sse-kms-key-id, or the bucket's default key), \
                 that the key is enabled, and that it allows kms:GenerateDataKey and kms:Decrypt to access key id {ak}"
            )),
        },
        "RequestTimeTooSkewed" => Error::Unauthenticated {
            key,
            source: src(format!(
                "{what}; clock skew: this machine's clock is more than 15 minutes off the store's, fix the system time"
            )),
        },
        "AuthorizationHeaderMalformed" | "AuthorizationQueryParametersError" => {
            Error::Unauthenticated {
                key,
                source: src(format!("{what}; check {} and the endpoint", vars.region)),
            }
        }
        "PreconditionFailed" => Error::Precondition {
            key,
            source: src(what),
        },
        "SlowDown"
        | "TooManyRequests"
        | "RequestLimitExceeded"
        | "Throttling"
        | "ThrottlingException"
        | "ServiceUnavailable" => Error::RateLimited { key, retry_after },
        "InternalError" | "RequestTimeout" | "OperationAborted" | "IncompleteBody" => {
            Error::Transient {
                key,
                source: src(what),
            }
        }
        "BadDigest" | "XAmzContentSHA256Mismatch" => Error::Integrity {
            key,
            expected: "the checksum sent with the request".to_owned(),
            actual: format!("what the store received ({what})"),
        },
        "EntityTooSmall"
        | "EntityTooLarge"
        | "InvalidPart"
        | "InvalidPartOrder"
        | "InvalidDigest"
        | "InvalidRange"
        | "InvalidArgument"
        | "InvalidRequest"
        | "MalformedXML"
        | "KeyTooLongError"
        | "InvalidBucketName"
        | "MetadataTooLarge"
        | "InvalidStorageClass"
        | "InvalidObjectState" => Error::InvalidInput { key, message: what },
        _ => map_status(status, code, message, what, retry_after, key),
    }
}

/// The fallback when the code says nothing we know: decide by status.
fn map_status(
    status: Option<StatusCode>,
    code: &str,
    message: &str,
    what: String,
    retry_after: Option<Duration>,
    key: String,
) -> Error {
    let Some(status) = status else {
        return Error::Provider {
            key,
            code: code.to_owned(),
            message: message.to_owned(),
            retryable: false,
        };
    };
    match status.as_u16() {
        404 => Error::NotFound {
            key,
            source: what.into(),
        },
        412 => Error::Precondition {
            key,
            source: what.into(),
        },
        416 => Error::InvalidInput { key, message: what },
        401 => Error::Unauthenticated {
            key,
            source: what.into(),
        },
        403 => Error::PermissionDenied {
            key,
            source: what.into(),
        },
        429 | 503 => Error::RateLimited { key, retry_after },
        // 501: the operation does not exist there; retrying cannot help.
        501 => Error::Provider {
            key,
            code: if code.is_empty() {
                "NotImplemented".to_owned()
            } else {
                code.to_owned()
            },
            message: what,
            retryable: false,
        },
        408 | 500..=599 => Error::Transient {
            key,
            source: what.into(),
        },
        400 if code.is_empty() => Error::InvalidInput { key, message: what },
        _ => Error::Provider {
            key,
            code: if code.is_empty() {
                status.as_u16().to_string()
            } else {
                code.to_owned()
            },
            message: what,
            retryable: false,
        },
    }
}

/// `Code: message (HTTP 404)`, leaving out what is missing.
fn describe(status: Option<StatusCode>, code: &str, message: &str) -> String {
    let mut s = String::new();
    if !code.is_empty() {
        s.push_str(code);
    }
    if !message.is_empty() {
        if !s.is_empty() {
            s.push_str(": ");
        }
        s.push_str(message.trim());
    }
    if let Some(st) = status {
        if s.is_empty() {
            s = format!("HTTP {st}");
        } else {
            s = format!("{s} (HTTP {})", st.as_u16());
        }
    }
    if s.is_empty() {
        s.push_str("error without a code");
    }
    s
}

/// Maps a transport failure (connect, timeout, reset, broken body) onto a
/// retryable [`Error::Transient`] naming `key`; a request that could not even
/// be built is [`Error::InvalidInput`].
#[must_use]
pub fn map_transport(err: &reqwest::Error, key: &str) -> Error {
    let msg = transport_message(err);
    if err.is_builder() {
        Error::invalid(key, msg)
    } else if err.is_timeout() {
        Error::timeout(key, msg)
    } else {
        Error::transient(key, msg)
    }
}

/// What went wrong on the wire, then the error chain (secrets redacted).
fn transport_message(err: &reqwest::Error) -> String {
    let mut msg = if err.is_timeout() {
        "timed out".to_owned()
    } else if err.is_connect() {
        "cannot connect".to_owned()
    } else if err.is_body() || err.is_decode() {
        "connection broke while transferring the body".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source: Option<&dyn std::error::Error> = Some(err);
    while let Some(e) = source {
        msg.push_str(": ");
        msg.push_str(&crate::redact::redact_text(&e.to_string()));
        source = e.source();
    }
    msg
}

/// Reads (at most 64 KiB of) an error answer's body and maps it; an answer
/// whose body breaks off is a retryable [`Error::Transient`], whatever its
/// status, since the code that says what went wrong may be in the lost part.
pub async fn error_from_response(resp: reqwest::Response, ctx: &ErrorContext<'_>) -> Error {
    let status = resp.status();
    let headers = resp.headers().clone();
    let mut body = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            // The code is in the part that never came: a 404 cut short may
            // have been NoSuchUpload as well as NoSuchKey. Ask again.
            Err(e) => {
                let cut = transport_message(&e);
                return Error::transient(
                    ctx.key,
                    format!("the HTTP {status} error answer was cut short ({cut})"),
                );
            }
        };
        body.extend_from_slice(&chunk);
        if body.len() >= MAX_ERROR_BODY {
            body.truncate(MAX_ERROR_BODY);
            break;
        }
    }
    let parsed = parse_xml_error(&body).or_else(|| parse_json_error(&body));
    map_error(status, &headers, parsed.as_ref(), ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xml(code: &str) -> ErrorBody {
        let body = format!(
            "<?xml version=\"1.0\"?>\n<Error><Code>{code}</Code><Message>m</Message><RequestId>r</RequestId></Error>"
        );
        parse_xml_error(body.as_bytes()).expect("parses")
    }

    fn map(status: u16, code: &str) -> Error {
        let ctx = ErrorContext::new("dir/obj")
            .bucket("bkt")
            .upload_id("up-1")
            .access_key_id("AKIDTEST");
        let st = StatusCode::from_u16(status).expect("status");
        map_error(st, &HeaderMap::new(), Some(&xml(code)), &ctx)
    }

    #[test]
    fn parses_bodies() {
        let b = xml("NoSuchKey");
        assert_eq!(b.code.as_deref(), Some("NoSuchKey"));
        assert_eq!(b.message.as_deref(), Some("m"));
        assert_eq!(b.request_id.as_deref(), Some("r"));
        assert!(parse_xml_error(b"<ListBucketResult></ListBucketResult>").is_none());
        assert!(parse_xml_error(b"not xml").is_none());
        let j = parse_json_error(br#"{"error": "bad_token", "error_description": "expired"}"#)
            .expect("json");
        assert_eq!(j.code.as_deref(), Some("bad_token"));
        assert_eq!(j.message.as_deref(), Some("expired"));
        let j = parse_json_error(br#"{"code": 612, "message": "no such file"}"#).expect("json");
        assert_eq!(j.code.as_deref(), Some("612"));
        assert!(parse_json_error(b"[1]").is_none());
        assert_eq!(
            root_element(b"  \n<?xml version='1.0'?><!-- c --><Error/>"),
            Some("Error")
        );
    }

    #[test]
    fn maps_codes() {
        assert!(matches!(map(404, "NoSuchKey"), Error::NotFound { .. }));
        let e = map(404, "NoSuchBucket");
        assert!(matches!(e, Error::NotFound { .. }));
        assert!(e.to_string().contains("\"bkt\""), "{e}");
        let no_bucket = |body: &ErrorBody, ctx: &ErrorContext<'_>| {
            map_error(StatusCode::NOT_FOUND, &HeaderMap::new(), Some(body), ctx).to_string()
        };
        let two = ErrorContext::new("k").bucket("src").or_bucket("dst");
        let e = no_bucket(&xml("NoSuchBucket"), &two);
        assert!(e.contains("bucket \"src\" or bucket \"dst\""), "{e}");
        let named = ErrorBody {
            bucket: Some("dst".into()),
            ..xml("NoSuchBucket")
        };
        let e = no_bucket(&named, &two);
        assert!(e.contains("bucket \"dst\" does not"), "provider wins: {e}");
        let e = no_bucket(&xml("NoSuchBucket"), &two.or_bucket("src"));
        assert!(e.contains("bucket \"src\" does not"), "{e}");
        match map(404, "NoSuchUpload") {
            Error::NoSuchUpload { upload_id, key } => {
                assert_eq!(upload_id, "up-1");
                assert_eq!(key, "dir/obj");
            }
            e => panic!("{e:?}"),
        }
        assert!(matches!(
            map(403, "AccessDenied"),
            Error::PermissionDenied { .. }
        ));
        let e = map(403, "SignatureDoesNotMatch");
        assert!(matches!(e, Error::Unauthenticated { .. }));
        assert!(e.to_string().contains("AWS_SECRET_ACCESS_KEY"), "{e}");
        assert!(e.to_string().contains("AKIDTEST"), "{e}");
        assert!(!e.to_string().contains('\n'), "one line: {e}");
        let e = map(400, "KMS.NotFoundException");
        assert!(matches!(e, Error::PermissionDenied { .. }));
        assert!(e.to_string().contains("KMS key was refused"), "{e}");
        let e = map(403, "InvalidAccessKeyId");
        assert!(e.to_string().contains("AWS_ACCESS_KEY_ID"), "{e}");
        let e = map(403, "RequestTimeTooSkewed");
        assert!(matches!(e, Error::Unauthenticated { .. }));
        assert!(e.to_string().contains("clock skew"), "{e}");
        assert!(matches!(
            map(412, "PreconditionFailed"),
            Error::Precondition { .. }
        ));
        for code in [
            "EntityTooSmall",
            "InvalidPart",
            "InvalidPartOrder",
            "InvalidDigest",
            "InvalidRange",
        ] {
            let e = map(400, code);
            assert!(matches!(e, Error::InvalidInput { .. }), "{code}: {e:?}");
            assert!(!e.is_retryable());
        }
        assert!(matches!(map(400, "BadDigest"), Error::Integrity { .. }));
        let e = map(503, "SlowDown");
        assert!(matches!(e, Error::RateLimited { .. }) && e.is_retryable());
        let e = map(500, "InternalError");
        assert!(matches!(e, Error::Transient { .. }) && e.is_retryable());
        let e = map(502, "SomethingNew");
        assert!(e.is_retryable(), "unknown 5xx retries: {e:?}");
        let e = map(501, "NotImplemented");
        assert!(
            matches!(e, Error::Provider { ref code, retryable: false, .. } if code == "NotImplemented")
        );
        let e = map(409, "BucketNotEmpty");
        assert!(matches!(e, Error::Provider { ref code, .. } if code == "BucketNotEmpty"));
        assert!(!e.is_retryable());
        for e in [map(404, "NoSuchKey"), map(403, "AccessDenied")] {
            assert!(!e.is_retryable(), "{e:?}");
        }
    }

    #[test]
    fn maps_bare_statuses_and_retry_after() {
        let ctx = ErrorContext::new("k");
        let mut h = HeaderMap::new();
        h.insert(http::header::RETRY_AFTER, "7".parse().expect("hv"));
        let e = map_error(StatusCode::TOO_MANY_REQUESTS, &h, None, &ctx);
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
        let e = map_error(StatusCode::NOT_FOUND, &HeaderMap::new(), None, &ctx);
        assert!(matches!(e, Error::NotFound { .. }));
        assert_eq!(e.to_string(), "k: not found: HTTP 404 Not Found");
        let e = map_error(
            StatusCode::RANGE_NOT_SATISFIABLE,
            &HeaderMap::new(),
            None,
            &ctx,
        );
        assert!(matches!(e, Error::InvalidInput { .. }));
        let e = map_error(
            StatusCode::SERVICE_UNAVAILABLE,
            &HeaderMap::new(),
            None,
            &ctx,
        );
        assert!(matches!(e, Error::RateLimited { .. }));
        let e = map_error(StatusCode::BAD_GATEWAY, &HeaderMap::new(), None, &ctx);
        assert!(matches!(e, Error::Transient { .. }));
        let date = httpdate::fmt_http_date(SystemTime::now() + Duration::from_mins(2));
        h.insert(http::header::RETRY_AFTER, date.parse().expect("hv"));
        let wait = parse_retry_after(&h).expect("date");
        assert!(wait > Duration::from_secs(100) && wait <= Duration::from_mins(2));
    }

    #[test]
    fn error_inside_200_has_no_status() {
        let e = map_code(None, "WeirdThing", "x", None, &ErrorContext::new("k"));
        assert!(matches!(e, Error::Provider { .. }));
        let e = map_code(None, "InternalError", "x", None, &ErrorContext::new("k"));
        assert!(e.is_retryable());
    }
}
