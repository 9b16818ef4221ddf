//! Request tracing that never prints a secret.
//!
//! Headers that carry credentials (`Authorization`, `x-amz-security-token`,
//! cookies, provider tokens) and query parameters of presigned URLs
//! (`X-Amz-Signature`, `X-Amz-Credential`, `X-Amz-Security-Token`, and the
//! like) are replaced by `REDACTED` before anything reaches a log.

use std::fmt;
use std::time::Duration;

use http::{HeaderMap, Method, StatusCode};

/// What replaces a secret.
pub const REDACTED: &str = "REDACTED";

/// Header names (lowercase) whose values are secret.
const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "x-amz-security-token",
    "x-cos-security-token",
    "cookie",
    "set-cookie",
    "x-api-key",
    // NetEase Yunxin's request signature.
    "checksum",
    // Easemob's per-file download secret.
    "share-secret",
];

/// Query parameter names (compared case-insensitively) whose values are secret.
const SECRET_PARAMS: &[&str] = &[
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-security-token",
    "signature",
    "q-signature",
    "token",
    "access_token",
    "awsaccesskeyid",
    "share-secret",
    "secret",
    "client_secret",
    "sign",
    "cloudbase_access_token",
];

/// Whether a header's value must not be printed.
#[must_use]
pub fn is_secret_header(name: &str) -> bool {
    SECRET_HEADERS.iter().any(|s| s.eq_ignore_ascii_case(name))
}

/// Whether a query parameter's value must not be printed.
#[must_use]
pub fn is_secret_param(name: &str) -> bool {
    SECRET_PARAMS.iter().any(|s| s.eq_ignore_ascii_case(name))
}

/// The URL with the values of secret query parameters replaced.
#[must_use]
pub fn redact_url(url: &str) -> String {
    let Some((base, rest)) = url.split_once('?') else {
        return url.to_owned();
    };
    let (query, fragment) = match rest.split_once('#') {
        Some((q, f)) => (q, Some(f)),
        None => (rest, None),
    };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if is_secret_param(name) => format!("{name}={REDACTED}"),
            _ => pair.to_owned(),
        })
        .collect();
    let mut out = format!("{base}?{}", query.join("&"));
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

/// Free text (an error message that may quote a URL) with every URL's
/// secret parameters replaced.
#[must_use]
pub fn redact_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("http") {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        let end = tail
            .find(|c: char| c.is_whitespace() || c == ')' || c == '"' || c == '\'' || c == '>')
            .unwrap_or(tail.len());
        out.push_str(&redact_url(&tail[..end]));
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// Displays headers as `name: value; ...` with secret values replaced.
pub struct RedactedHeaders<'a>(pub &'a HeaderMap);

impl fmt::Display for RedactedHeaders<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (name, value) in self.0 {
            if !first {
                f.write_str("; ")?;
            }
            first = false;
            let v = if is_secret_header(name.as_str()) {
                REDACTED
            } else {
                value.to_str().unwrap_or("<binary>")
            };
            write!(f, "{name}: {v}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for RedactedHeaders<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Traces an outgoing request at debug level, secrets redacted.
pub fn trace_request(method: &Method, url: &str, headers: &HeaderMap) {
    tracing::debug!(
        target: "haul_http",
        %method,
        url = %redact_url(url),
        headers = %RedactedHeaders(headers),
        "request"
    );
}

/// Traces a response status at debug level, secrets redacted.
pub fn trace_response(method: &Method, url: &str, status: StatusCode, elapsed: Duration) {
    tracing::debug!(
        target: "haul_http",
        %method,
        url = %redact_url(url),
        status = status.as_u16(),
        elapsed_ms = elapsed.as_millis() as u64,
        "response"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_presigned_urls() {
        let url = "https://b.s3.amazonaws.com/k%20x?X-Amz-Algorithm=AWS4-HMAC-SHA256\
                   &X-Amz-Credential=AKIDEXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request\
                   &X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400\
                   &X-Amz-Security-Token=FQoGZXIvYXdzE&X-Amz-SignedHeaders=host\
                   &X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";
        let r = redact_url(url);
        for secret in ["AKIDEXAMPLE", "FQoGZXIvYXdzE", "aeeed9bb"] {
            assert!(!r.contains(secret), "{secret} leaked: {r}");
        }
        assert!(r.contains("X-Amz-Signature=REDACTED"));
        assert!(r.contains("X-Amz-Date=20130524T000000Z"), "{r}");
        assert!(r.starts_with("https://b.s3.amazonaws.com/k%20x?"));
        assert_eq!(redact_url("https://h/p"), "https://h/p");
        assert_eq!(
            redact_url("https://h/p?x-amz-signature=s#frag"),
            "https://h/p?x-amz-signature=REDACTED#frag"
        );
    }

    #[test]
    fn redacts_urls_in_text() {
        let t = "error sending request for url (https://h/k?uploadId=1&X-Amz-Signature=abc): reset";
        assert_eq!(
            redact_text(t),
            "error sending request for url (https://h/k?uploadId=1&X-Amz-Signature=REDACTED): reset"
        );
    }

    #[test]
    fn redacts_headers() {
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKID/x, Signature=deadbeef"
                .parse()
                .expect("hv"),
        );
        h.insert("x-amz-security-token", "tok".parse().expect("hv"));
        h.insert("x-amz-date", "20150830T123600Z".parse().expect("hv"));
        let s = RedactedHeaders(&h).to_string();
        assert!(!s.contains("deadbeef") && !s.contains("AKID") && !s.contains("tok;"));
        assert!(s.contains("authorization: REDACTED"), "{s}");
        assert!(s.contains("x-amz-security-token: REDACTED"), "{s}");
        assert!(s.contains("x-amz-date: 20150830T123600Z"), "{s}");
    }
}
