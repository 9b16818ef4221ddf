//! CloudBase's `errcode`s mapped onto [`haul_core::Error`] (protocols §6).
//! Every API answer is HTTP 200 with `{"errcode", "errmsg", ...}`.

use haul_core::Error;

/// Whether `code` means the access token is expired or no longer valid,
/// so that a new one may succeed.
pub(crate) fn token_refused(code: i64) -> bool {
    matches!(code, 42001 | 40001 | 40014)
}

/// The per-file `status` of a file that does not exist.
pub(crate) fn is_missing(status: i64, errmsg: &str) -> bool {
    status == -503_003
        || errmsg.contains("NONEXIST")
        || errmsg.to_ascii_lowercase().contains("not exist")
}

/// Maps an `errcode` (≠ 0) onto a haul error naming `key`; `appid` is
/// named in authentication messages.
pub(crate) fn map_errcode(code: i64, errmsg: &str, key: &str, appid: &str) -> Error {
    let key = key.to_owned();
    let what = format!("{errmsg} (errcode {code})");
    match code {
        40013 | 40125 | 40001 | 40014 | 41001 | 42001 | 40164 => Error::Unauthenticated {
            key,
            source: format!("{what}; WeChat refused the credentials of appid {appid}: check TCB_APPID and TCB_APPSECRET (or TCB_ACCESS_TOKEN)").into(),
        },
        85088 => Error::PermissionDenied {
            key,
            source: format!("{what}; CloudBase is not enabled for appid {appid}").into(),
        },
        40097 | 40101 | 43002 | 44002 | 47001 => Error::InvalidInput {
            key,
            message: format!("CloudBase refused the request: {what}"),
        },
        45009 | 45011 => Error::RateLimited { key, retry_after: None },
        -1 | -1000 => Error::Transient { key, source: what.into() },
        _ => Error::Provider {
            key,
            code: code.to_string(),
            message: errmsg.to_owned(),
            retryable: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errcodes() {
        let e = map_errcode(40125, "invalid appsecret", "a.txt", "wx1");
        assert!(matches!(e, Error::Unauthenticated { .. }));
        assert!(
            e.to_string()
                .starts_with("a.txt: not authenticated: invalid appsecret (errcode 40125)"),
            "{e}"
        );
        assert!(e.to_string().contains("TCB_APPSECRET"));
        assert!(map_errcode(-1, "system error", "k", "wx").is_retryable());
        assert!(matches!(
            map_errcode(40097, "invalid args", "k", "wx"),
            Error::InvalidInput { .. }
        ));
        assert!(!map_errcode(12345, "?", "k", "wx").is_retryable());
        assert!(token_refused(42001) && !token_refused(40097));
        assert!(
            is_missing(-503_003, "")
                && is_missing(1, "STORAGE_FILE_NONEXIST")
                && !is_missing(1, "denied")
        );
    }
}
