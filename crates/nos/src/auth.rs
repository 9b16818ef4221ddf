//! Yunxin's request authentication (protocols §4): every call carries
//! `AppKey`, a fresh `Nonce`, `CurTime` (Unix seconds) and
//! `CheckSum = lowercase_hex(SHA1(AppSecret + Nonce + CurTime))`.

use std::time::{SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderValue};
use sha1::{Digest as _, Sha1};

/// `lowercase_hex(SHA1(app_secret + nonce + cur_time))`, the `CheckSum`
/// header.
///
/// ```
/// // protocols.md §4's computed example.
/// assert_eq!(
///     haul_nos::auth::checksum("appsecret123", "4tgggergigwow323t23t", "1443592222"),
///     "a2c0431220f37f9cd21077a84f21dadfac08f34b"
/// );
/// ```
#[must_use]
pub fn checksum(app_secret: &str, nonce: &str, cur_time: &str) -> String {
    let mut h = Sha1::new();
    h.update(app_secret.as_bytes());
    h.update(nonce.as_bytes());
    h.update(cur_time.as_bytes());
    hex::encode(h.finalize())
}

/// A fresh nonce: 32 random lowercase hex digits (Yunxin allows 128).
#[must_use]
pub fn nonce() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Unix seconds now.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The four authentication headers for one request, with a fresh nonce and
/// the current time.
pub(crate) fn headers(app_key: &str, app_secret: &str) -> Result<HeaderMap, String> {
    let nonce = nonce();
    let now = unix_now().to_string();
    let sum = checksum(app_secret, &nonce, &now);
    let mut h = HeaderMap::with_capacity(5);
    let value = |v: &str| HeaderValue::from_str(v).map_err(|e| format!("bad header value: {e}"));
    h.insert("appkey", value(app_key)?);
    h.insert("nonce", value(&nonce)?);
    h.insert("curtime", value(&now)?);
    h.insert("checksum", value(&sum)?);
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols_vector() {
        assert_eq!(
            checksum("appsecret123", "4tgggergigwow323t23t", "1443592222"),
            "a2c0431220f37f9cd21077a84f21dadfac08f34b"
        );
    }

    #[test]
    fn fresh_nonce_each_request() {
        let a = headers("k", "s").unwrap();
        let b = headers("k", "s").unwrap();
        assert_ne!(a["nonce"], b["nonce"]);
        assert_eq!(a["nonce"].len(), 32);
        let sum = checksum(
            "s",
            a["nonce"].to_str().unwrap(),
            a["curtime"].to_str().unwrap(),
        );
        assert_eq!(a["checksum"].to_str().unwrap(), sum);
    }
}
