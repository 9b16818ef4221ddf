//! Requests that must not be sent twice: uploads to stores that give every
//! upload a new address (a URL, a uuid), where a second send after a lost
//! answer stores a second copy.
//!
//! Such a request goes out once, on a fresh connection (so a failure is
//! never a stale pooled connection the server had already closed), and a
//! failure is classified by whether the server may have acted on it:
//!
//! * it never left (no connection, a request that could not be built):
//!   the usual retryable or invalid-input error;
//! * it left and the answer did not come back whole (reset, timeout,
//!   truncated or unreadable answer, `504 Gateway Timeout`): the store may
//!   hold the upload, so the error is [`Error::Provider`] with code
//!   [`OUTCOME_UNKNOWN`] and `retryable: false` — request-level retry
//!   leaves it alone, and the caller decides ("sent, answer unknown").

use std::time::{Duration, Instant};

use bytes::Bytes;
use haul_core::{Error, Result};
use http::{HeaderMap, Method, StatusCode};

use crate::client::ClientOptions;
use crate::error::map_transport;
use crate::redact::{redact_text, trace_request, trace_response};
use crate::response::read_small;
use crate::send::Body;

/// The [`Error::Provider`] code of an upload that was sent but whose answer
/// was lost: the store may or may not hold it.
pub const OUTCOME_UNKNOWN: &str = "OutcomeUnknown";

/// The error for an upload of `key` to `store` that was sent but whose
/// answer was lost (`cause` says how); not retryable.
#[must_use]
pub fn outcome_unknown(key: &str, store: &str, cause: &str) -> Error {
    Error::Provider {
        key: key.to_owned(),
        code: OUTCOME_UNKNOWN.to_owned(),
        message: format!(
            "sent to {store}, answer lost ({}); it may have been stored, and sending it again could store a second copy, so it was not re-sent",
            redact_text(cause)
        ),
        retryable: false,
    }
}

/// Whether `err` is an upload sent with its answer lost.
#[must_use]
pub fn is_outcome_unknown(err: &Error) -> bool {
    matches!(err, Error::Provider { code, .. } if code == OUTCOME_UNKNOWN)
}

/// A client for unrepeatable requests: as [`crate::build_client`], but
/// keeping no idle connection, so each request goes out on a connection
/// opened for it.
pub fn build_unrepeatable_client(opts: &ClientOptions) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .user_agent(opts.user_agent.clone())
        .pool_max_idle_per_host(0)
        .tcp_nodelay(true)
        .connect_timeout(opts.connect_timeout)
        .read_timeout(crate::client::backstop(opts.stall_timeout))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| Error::invalid("", format!("cannot build the HTTP client: {e}")))
}

/// Sends an unrepeatable request once and returns the answer, whatever its
/// status — except `504 Gateway Timeout`, which is [`OUTCOME_UNKNOWN`] (a
/// gateway gave up waiting; the service behind it may have stored the
/// upload). A failure before the request left is the usual retryable
/// error; one after is [`OUTCOME_UNKNOWN`].
pub async fn send_unrepeatable(
    http: &reqwest::Client,
    method: Method,
    url: &str,
    headers: HeaderMap,
    body: &Body,
    key: &str,
    store: &str,
) -> Result<reqwest::Response> {
    trace_request(&method, url, &headers);
    let mut headers = headers;
    let body = match body {
        Body::Empty => reqwest::Body::from(Bytes::new()),
        Body::Bytes(b) => reqwest::Body::from(b.clone()),
        Body::Payload(p) => {
            headers.insert(
                http::header::CONTENT_LENGTH,
                http::HeaderValue::from(p.len()),
            );
            let pieces: Vec<Result<Bytes, std::io::Error>> =
                p.pieces().iter().cloned().map(Ok).collect();
            reqwest::Body::wrap_stream(futures::stream::iter(pieces))
        }
        Body::Stream(s) => {
            headers.insert(
                http::header::CONTENT_LENGTH,
                http::HeaderValue::from(s.len()),
            );
            reqwest::Body::wrap_stream(s.take())
        }
    };
    let started = Instant::now();
    match http
        .request(method.clone(), url)
        .headers(headers)
        .body(body)
        .send()
        .await
    {
        Ok(resp) => {
            trace_response(&method, url, resp.status(), started.elapsed());
            if resp.status() == StatusCode::GATEWAY_TIMEOUT {
                return Err(outcome_unknown(key, store, "HTTP 504 Gateway Timeout"));
            }
            Ok(resp)
        }
        Err(e) if e.is_connect() || e.is_builder() => Err(map_transport(&e, key)),
        Err(e) => {
            let mut cause = if e.is_timeout() {
                "timed out".to_owned()
            } else {
                "connection broke".to_owned()
            };
            let mut source: Option<&dyn std::error::Error> = Some(&e);
            while let Some(err) = source {
                cause.push_str(": ");
                cause.push_str(&err.to_string());
                source = err.source();
            }
            Err(outcome_unknown(key, store, &cause))
        }
    }
}

/// Reads the (small) answer to an unrepeatable request; losing it midway
/// is [`OUTCOME_UNKNOWN`].
pub async fn read_answer(
    resp: reqwest::Response,
    key: &str,
    store: &str,
    stall: Duration,
) -> Result<Bytes> {
    read_small(resp, key, stall)
        .await
        .map_err(|e| outcome_unknown(key, store, &format!("reading the answer: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_outcomes_are_not_retryable() {
        let e = outcome_unknown("photo.jpg", "NOS", "reset at https://h/x?access_token=abc");
        assert!(!e.is_retryable());
        assert!(is_outcome_unknown(&e));
        let line = e.to_string();
        assert!(
            line.starts_with("photo.jpg: OutcomeUnknown: sent to NOS, answer lost"),
            "{line}"
        );
        assert!(!line.contains("abc"), "{line}");
        assert!(!is_outcome_unknown(&Error::transient("k", "x")));
    }

    #[test]
    fn builds() {
        build_unrepeatable_client(&ClientOptions::default()).expect("client");
    }
}
