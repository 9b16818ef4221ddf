//! haul-http: the HTTP plumbing every HTTP provider of haul shares.
//!
//! * [`client`] — one pooled [`reqwest::Client`] per store, sized to the
//!   store's concurrency, with keep-alive, `TCP_NODELAY` and timeouts.
//! * [`body`] — a response body as a stream of [`bytes::Bytes`] that fails
//!   with a retryable error when it stalls or ends short, never buffering.
//! * [`error`] — provider error bodies (S3-style XML `<Error>`, JSON) and the
//!   mapping of HTTP answers onto [`haul_core::Error`], retryability included.
//! * [`redact`] — request tracing that never prints a secret.
//! * [`send`] — request bodies and sending with one resend on a stale
//!   pooled connection; [`response`] — header values, ranges, small bodies
//!   and `<Error>` documents inside an HTTP 200; [`xml`] — parsing answers,
//!   escaping request documents, ETags and ISO 8601 times.
//! * [`form`] — `multipart/form-data` around a payload, urlencoded pairs;
//!   [`fetch`] — ranged reads of plain download URLs; [`unrepeatable`] —
//!   uploads that must not be sent twice, and the "sent, answer unknown"
//!   error; [`locations`] — the addresses a store's uploads were given;
//!   [`size`] — sizes in messages, refusing an upload over a limit.
//! * [`attrs`] — object attributes (Content-Type, Cache-Control …, user
//!   metadata under a provider's prefix) as request headers and back, with
//!   RFC 2047 for values a header cannot carry as they are.
//! * [`delegate_object_store!`] — the `ObjectStore` impl of a store whose
//!   methods all live on its shared core.
//!
//! ```
//! use haul_http::error::{map_error, parse_xml_error, ErrorContext};
//! use http::{HeaderMap, StatusCode};
//!
//! let body = parse_xml_error(b"<Error><Code>NoSuchKey</Code><Message>gone</Message></Error>");
//! let ctx = ErrorContext::new("photos/a b.jpg");
//! let err = map_error(StatusCode::NOT_FOUND, &HeaderMap::new(), body.as_ref(), &ctx);
//! assert!(matches!(err, haul_core::Error::NotFound { .. }));
//! assert!(!err.is_retryable());
//! assert_eq!(haul_http::redact::redact_url("https://h/k?X-Amz-Signature=abc"), "https://h/k?X-Amz-Signature=REDACTED");
//! ```

pub mod attrs;
pub mod body;
pub mod client;
pub mod credentials;
pub mod delegate;
pub mod error;
pub mod fetch;
pub mod form;
pub mod locations;
pub mod redact;
pub mod response;
pub mod send;
pub mod size;
pub mod unrepeatable;
pub mod xml;

pub use body::body_stream;
pub use client::{ClientOptions, build_client, request_timeout, set_request_timeout};
pub use error::{
    CredentialVars, ErrorBody, ErrorContext, error_from_response, map_error, map_transport,
};
