//! Easemob's error answers mapped onto [`haul_core::Error`] (protocols §5):
//! the HTTP status carries the class, the JSON body
//! `{"error": ..., "error_description": ...}` the detail.

use futures::StreamExt;
use haul_core::Error;
use haul_http::error::parse_retry_after;

/// Most bytes of an error body read.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// What an error answer said.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    /// `error` (`auth_bad_access_token`, `reach_limit`, ...).
    pub(crate) error: String,
    /// `error_description`.
    pub(crate) description: String,
}

impl Answer {
    pub(crate) fn parse(status: u16, body: &[u8]) -> Self {
        let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        let text = |n: &str| v.get(n).and_then(|x| x.as_str()).unwrap_or("").to_owned();
        let mut description = text("error_description");
        if description.is_empty() && v.is_null() {
            String::from_utf8_lossy(&body[..body.len().min(200)])
                .trim()
                .clone_into(&mut description);
        }
        Self {
            status,
            error: text("error"),
            description,
        }
    }

    /// `error: description (HTTP 401)`, leaving out what is missing.
    fn describe(&self) -> String {
        let mut s = self.error.clone();
        if !self.description.is_empty() {
            if !s.is_empty() {
                s.push_str(": ");
            }
            s.push_str(&self.description);
        }
        if s.is_empty() {
            format!("HTTP {}", self.status)
        } else {
            format!("{s} (HTTP {})", self.status)
        }
    }
}

/// Who we are, for authentication messages.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Who<'a> {
    pub(crate) client_id: &'a str,
    pub(crate) app: &'a str,
}

/// Maps an Easemob error answer onto a haul error naming `key`.
pub(crate) fn map_answer(
    a: &Answer,
    retry_after: Option<std::time::Duration>,
    key: &str,
    who: Who<'_>,
) -> Error {
    let key = key.to_owned();
    let what = a.describe();
    match a.status {
        401 => Error::Unauthenticated {
            key,
            source: format!(
                "{what}; Easemob refused the app token of client id {:?} for {}: check EASEMOB_CLIENT_ID and EASEMOB_CLIENT_SECRET (or EASEMOB_APP_TOKEN)",
                who.client_id, who.app
            )
            .into(),
        },
        403 => Error::PermissionDenied {
            key,
            source: format!("{what}; a restricted file needs its share-secret").into(),
        },
        404 => Error::NotFound {
            key,
            source: what.into(),
        },
        413 => Error::InvalidInput {
            key,
            message: format!("larger than Easemob's 10 MB upload limit: {what}"),
        },
        429 => Error::RateLimited { key, retry_after },
        400 => Error::InvalidInput { key, message: what },
        408 | 500..=599 => Error::Transient {
            key,
            source: what.into(),
        },
        s => Error::Provider {
            key,
            code: if a.error.is_empty() { s.to_string() } else { a.error.clone() },
            message: what,
            retryable: false,
        },
    }
}

/// Reads (at most 64 KiB of) an error answer and maps it.
pub(crate) async fn error_from_response(resp: reqwest::Response, key: &str, who: Who<'_>) -> Error {
    let status = resp.status().as_u16();
    let retry_after = parse_retry_after(resp.headers());
    let mut body = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(Ok(chunk)) = stream.next().await {
        body.extend_from_slice(&chunk);
        if body.len() >= MAX_ERROR_BODY {
            body.truncate(MAX_ERROR_BODY);
            break;
        }
    }
    map_answer(&Answer::parse(status, &body), retry_after, key, who)
}

#[cfg(test)]
mod tests {
    use super::*;

    const WHO: Who<'static> = Who {
        client_id: "YXA6id",
        app: "org#app",
    };

    fn map(status: u16, body: &str) -> Error {
        map_answer(&Answer::parse(status, body.as_bytes()), None, "k", WHO)
    }

    #[test]
    fn statuses() {
        let e = map(
            401,
            r#"{"error":"auth_bad_access_token","error_description":"Unable to authenticate due to corrupt access token"}"#,
        );
        assert!(matches!(e, Error::Unauthenticated { .. }));
        let line = e.to_string();
        assert!(
            line.contains("auth_bad_access_token") && line.contains("EASEMOB_CLIENT_SECRET"),
            "{line}"
        );
        let e = map(429, r#"{"error":"reach_limit"}"#);
        assert!(matches!(e, Error::RateLimited { .. }) && e.is_retryable());
        assert!(matches!(
            map(413, "Request Entity Too Large"),
            Error::InvalidInput { .. }
        ));
        assert!(matches!(map(404, "{}"), Error::NotFound { .. }));
        assert!(matches!(map(403, "{}"), Error::PermissionDenied { .. }));
        assert!(map(502, "").is_retryable());
        assert!(!map(409, r#"{"error":"duplicate"}"#).is_retryable());
    }
}
