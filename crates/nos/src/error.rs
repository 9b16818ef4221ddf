//! Yunxin's answers mapped onto [`haul_core::Error`] (protocols §4).
//!
//! Yunxin answers HTTP 200 with the status in the body:
//! `{"code":200,"url":...}` or `{"code":414,"desc":"content is empty"}`.

use haul_core::Error;
use serde::Deserialize;

/// The answer to an upload.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Answer {
    /// Yunxin's status code (200 is success).
    pub(crate) code: i64,
    /// What went wrong.
    pub(crate) desc: Option<String>,
    /// The uploaded file's URL.
    pub(crate) url: Option<String>,
}

/// Maps a Yunxin error `code` (≠ 200) onto a haul error naming `key`;
/// `app_key` is named in authentication messages.
pub(crate) fn map_code(code: i64, desc: &str, key: &str, app_key: &str) -> Error {
    let key = key.to_owned();
    let what = if desc.is_empty() {
        format!("code {code}")
    } else {
        format!("{desc} (code {code})")
    };
    match code {
        302 => Error::Unauthenticated {
            key,
            source: format!(
                "{what}; Yunxin refused app key {app_key} and its CheckSum: check YUNXIN_APP_KEY and YUNXIN_APP_SECRET, and this machine's clock (CurTime must be within 5 minutes)"
            )
            .into(),
        },
        301 | 422 => Error::PermissionDenied {
            key,
            source: format!("{what}; app key {app_key} is banned or disabled").into(),
        },
        315 => Error::PermissionDenied {
            key,
            source: format!("{what}; this machine's IP address is not allowed for app key {app_key}").into(),
        },
        403 => Error::PermissionDenied {
            key,
            source: format!("{what}; app key {app_key} may not upload files").into(),
        },
        404 => Error::NotFound {
            key,
            source: what.into(),
        },
        405 | 414 | 419 => Error::InvalidInput {
            key,
            message: format!("NOS refused the upload: {what}"),
        },
        416 => Error::RateLimited {
            key,
            retry_after: None,
        },
        408 | 500 | 503 | 514 => Error::Transient {
            key,
            source: what.into(),
        },
        _ => Error::Provider {
            key,
            code: code.to_string(),
            message: desc.to_owned(),
            retryable: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        let e = map_code(302, "bad auth", "photo.jpg", "AK1");
        assert!(matches!(e, Error::Unauthenticated { .. }));
        let line = e.to_string();
        assert!(
            line.starts_with("photo.jpg: not authenticated: bad auth (code 302)"),
            "{line}"
        );
        assert!(
            line.contains("YUNXIN_APP_SECRET") && line.contains("AK1"),
            "{line}"
        );
        assert!(!line.contains('\n'));
        let e = map_code(416, "", "k", "AK1");
        assert!(matches!(e, Error::RateLimited { .. }) && e.is_retryable());
        let e = map_code(414, "content is empty", "k", "AK1");
        assert!(matches!(e, Error::InvalidInput { .. }) && !e.is_retryable());
        assert_eq!(
            e.to_string(),
            "k: NOS refused the upload: content is empty (code 414)"
        );
        let e = map_code(403, "no permission", "k", "AK1");
        assert!(matches!(e, Error::PermissionDenied { .. }));
        assert!(map_code(500, "", "k", "AK1").is_retryable());
        let e = map_code(417, "duplicate", "k", "AK1");
        assert!(matches!(e, Error::Provider { ref code, retryable: false, .. } if code == "417"));
    }
}
