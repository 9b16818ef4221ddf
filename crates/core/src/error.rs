use std::time::Duration;

/// A boxed error used as the cause inside [`Error`] variants.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// `Result` with haul's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every failure a store or the engine reports.
///
/// Each variant names the key it concerns (or the bucket/prefix, for listing
/// errors) so that a user reads one line and knows what to fix. Whether a
/// failure is worth retrying is decided once, where the response is parsed,
/// and read with [`Error::is_retryable`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The object (or bucket) does not exist.
    #[error("{key}: not found: {source}")]
    NotFound {
        /// The key concerned.
        key: String,
        /// What the store said.
        source: BoxError,
    },
    /// The multipart upload does not exist (completed, aborted or expired).
    #[error("{key}: multipart upload {upload_id} no longer exists")]
    NoSuchUpload {
        /// The key concerned.
        key: String,
        /// The upload that is gone.
        upload_id: String,
    },
    /// The object exists and the operation refuses to overwrite it.
    #[error("{key}: already exists: {source}")]
    AlreadyExists {
        /// The key concerned.
        key: String,
        /// What the store said.
        source: BoxError,
    },
    /// A precondition (If-Match, changed source) failed.
    #[error("{key}: precondition failed: {source}")]
    Precondition {
        /// The key concerned.
        key: String,
        /// What the store said.
        source: BoxError,
    },
    /// The credentials are valid but not allowed to do this.
    #[error("{key}: access denied: {source}")]
    PermissionDenied {
        /// The key concerned.
        key: String,
        /// What the store said.
        source: BoxError,
    },
    /// The credentials are missing, wrong, or the request signature is bad.
    #[error("{key}: not authenticated: {source}")]
    Unauthenticated {
        /// The key concerned.
        key: String,
        /// What the store said.
        source: BoxError,
    },
    /// The store cannot do this operation at all.
    #[error("{key}: {operation} is not supported by {store}")]
    NotSupported {
        /// The key concerned.
        key: String,
        /// The operation refused.
        operation: String,
        /// The store that refused it.
        store: String,
    },
    /// The request itself is wrong: bad key, bad range, part too small, limit exceeded.
    #[error("{key}: {message}")]
    InvalidInput {
        /// The key concerned.
        key: String,
        /// What is wrong with it.
        message: String,
    },
    /// The store asked us to slow down (HTTP 429, 503 SlowDown).
    #[error("{key}: rate limited by the store{}", fmt_after(*.retry_after))]
    RateLimited {
        /// The key concerned.
        key: String,
        /// How long the store asked us to wait, if it said.
        retry_after: Option<Duration>,
    },
    /// What arrived is not what left.
    #[error("{key}: integrity check failed: expected {expected}, got {actual}")]
    Integrity {
        /// The key concerned.
        key: String,
        /// The value computed from the source.
        expected: String,
        /// The value the destination reported or the bytes produced.
        actual: String,
    },
    /// A transient failure: connection reset, timeout, 5xx, truncated body.
    #[error("{key}: temporary failure: {source}")]
    Transient {
        /// The key concerned.
        key: String,
        /// The underlying failure.
        source: BoxError,
    },
    /// No answer, or no progress, within the request timeout: the endpoint
    /// is silent. Retryable, but each try costs a whole timeout, so callers
    /// retry it fewer times than other transient failures.
    #[error("{key}: no answer: {message}")]
    Timeout {
        /// The key concerned.
        key: String,
        /// What was waited for, and how long.
        message: String,
    },
    /// A local I/O failure (disk full, read-only file system, ...).
    #[error("{key}: {source}")]
    Io {
        /// The key or path concerned.
        key: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Any other provider error, with its code, kept as the provider said it.
    #[error("{key}: {code}: {message}")]
    Provider {
        /// The key concerned.
        key: String,
        /// The provider's error code (`InternalError`, `612`, ...).
        code: String,
        /// The provider's message.
        message: String,
        /// Whether a retry may succeed.
        retryable: bool,
    },
}

fn fmt_after(d: Option<Duration>) -> String {
    d.map(|d| format!(" (retry after {:.1}s)", d.as_secs_f64()))
        .unwrap_or_default()
}

impl Error {
    /// Whether retrying the same request may succeed.
    ///
    /// Transient failures and rate limits are retryable; so are I/O errors that
    /// are interruptions or timeouts, and provider errors the provider marked
    /// as such. Everything else — not found, denied, integrity, bad input — is
    /// permanent: retrying would only repeat it.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Transient { .. } | Self::RateLimited { .. } | Self::Timeout { .. } => true,
            Self::Io { source, .. } => matches!(
                source.kind(),
                std::io::ErrorKind::Interrupted
                    | std::io::ErrorKind::TimedOut
                    | std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::UnexpectedEof
            ),
            Self::Provider { retryable, .. } => *retryable,
            _ => false,
        }
    }

    /// Whether the endpoint stayed silent past the request timeout.
    #[must_use]
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Timeout { .. })
    }

    /// A timeout: nothing came back within the limit.
    pub fn timeout(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Timeout {
            key: key.into(),
            message: message.into(),
        }
    }

    /// Whether a non-idempotent upload was sent and its answer lost: it may
    /// or may not have arrived (a provider error with code `OutcomeUnknown`).
    #[must_use]
    pub fn is_outcome_unknown(&self) -> bool {
        matches!(self, Self::Provider { code, .. } if code == "OutcomeUnknown")
    }

    /// How long the store asked us to wait before retrying, if it said.
    #[must_use]
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The key (or path) the error concerns.
    #[must_use]
    pub fn key(&self) -> &str {
        match self {
            Self::NotFound { key, .. }
            | Self::NoSuchUpload { key, .. }
            | Self::AlreadyExists { key, .. }
            | Self::Precondition { key, .. }
            | Self::PermissionDenied { key, .. }
            | Self::Unauthenticated { key, .. }
            | Self::NotSupported { key, .. }
            | Self::InvalidInput { key, .. }
            | Self::RateLimited { key, .. }
            | Self::Integrity { key, .. }
            | Self::Transient { key, .. }
            | Self::Timeout { key, .. }
            | Self::Io { key, .. }
            | Self::Provider { key, .. } => key,
        }
    }

    /// A not-found error with a plain message.
    pub fn not_found(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self::NotFound {
            key: key.into(),
            source: message.into().into(),
        }
    }

    /// A transient error with a plain message.
    pub fn transient(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Transient {
            key: key.into(),
            source: message.into().into(),
        }
    }

    /// `operation` is not something `store` can do at all.
    pub fn not_supported(
        key: impl Into<String>,
        operation: impl Into<String>,
        store: &dyn std::fmt::Display,
    ) -> Self {
        Self::NotSupported {
            key: key.into(),
            operation: operation.into(),
            store: store.to_string(),
        }
    }

    /// An invalid-input error.
    pub fn invalid(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidInput {
            key: key.into(),
            message: message.into(),
        }
    }

    /// Maps a local I/O error onto the matching variant.
    pub fn io(key: impl Into<String>, err: std::io::Error) -> Self {
        let key = key.into();
        match err.kind() {
            std::io::ErrorKind::NotFound => Self::NotFound {
                key,
                source: Box::new(err),
            },
            std::io::ErrorKind::PermissionDenied => Self::PermissionDenied {
                key,
                source: Box::new(err),
            },
            _ => Self::Io { key, source: err },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        assert!(Error::transient("k", "503").is_retryable());
        assert!(
            Error::RateLimited {
                key: "k".into(),
                retry_after: Some(Duration::from_secs(2))
            }
            .is_retryable()
        );
        assert!(!Error::not_found("k", "no such key").is_retryable());
        assert!(!Error::invalid("k", "bad").is_retryable());
        let e = Error::io("k", std::io::Error::from(std::io::ErrorKind::NotFound));
        assert!(matches!(e, Error::NotFound { .. }));
    }

    #[test]
    fn one_line_names_the_key() {
        let e = Error::not_found("photos/a b.jpg", "NoSuchKey");
        assert_eq!(e.to_string(), "photos/a b.jpg: not found: NoSuchKey");
        let e = Error::RateLimited {
            key: "k".into(),
            retry_after: Some(Duration::from_millis(1500)),
        };
        assert_eq!(
            e.to_string(),
            "k: rate limited by the store (retry after 1.5s)"
        );
    }
}
