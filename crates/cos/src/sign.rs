//! The COS request signature (q-sign), written out step by step as
//! protocols.md §2.2 gives it:
//!
//! 1. `KeyTime = "<start>;<end>"` (Unix seconds), used as both
//!    `q-sign-time` and `q-key-time`;
//! 2. `SignKey = hex(HMAC-SHA1(SecretKey, KeyTime))` — the 40-character hex
//!    *string* is the key of the next HMAC;
//! 3. parameters and headers: `lower(UrlEncode(name)) "=" UrlEncode(value)`,
//!    sorted, joined with `&` (so `partNumber` is signed as `partnumber`);
//! 4. `HttpString = lower(method) \n decoded-path \n params \n headers \n`;
//! 5. `StringToSign = "sha1\n" KeyTime "\n" hex(SHA1(HttpString)) "\n"`;
//! 6. `Signature = hex(HMAC-SHA1(SignKey, StringToSign))`.

use sha1::{Digest as _, Sha1};

/// COS's `UrlEncode`: everything but unreserved characters, uppercase hex
/// (space is `%20`; `/`, `;`, `=` are encoded).
pub(crate) use haul_s3_dialect::encode as url_encode;

/// HMAC-SHA1 (RFC 2104) over SHA-1's 64-byte blocks.
pub(crate) fn hmac_sha1(key: &[u8], msg: &[u8]) -> [u8; 20] {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..20].copy_from_slice(&Sha1::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha1::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(msg);
    let inner = inner.finalize();
    let mut outer = Sha1::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner);
    outer.finalize().into()
}

/// Whether a header is signed: the ones the Go SDK signs, and every
/// `x-cos-*` and `x-ci-*` header.
pub(crate) fn is_signed_header(lower_name: &str) -> bool {
    const SIGNED: &[&str] = &[
        "host",
        "range",
        "content-type",
        "content-length",
        "content-md5",
        "content-disposition",
        "content-encoding",
        "cache-control",
        "expires",
        "expect",
        "transfer-encoding",
        "origin",
        "pic-operations",
    ];
    SIGNED.contains(&lower_name)
        || lower_name.starts_with("if-")
        || lower_name.starts_with("access-control-request-")
        || lower_name.starts_with("x-cos-")
        || lower_name.starts_with("x-ci-")
}

/// The validity window of a signature, Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KeyTime {
    pub(crate) start: u64,
    pub(crate) end: u64,
}

impl std::fmt::Display for KeyTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{};{}", self.start, self.end)
    }
}

/// `pairs` encoded, lowercased by name, sorted: the `k=v&...` string and
/// the `;`-joined name list.
fn canonical(pairs: &[(&str, &str)]) -> (String, String) {
    let mut enc: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (url_encode(k).to_lowercase(), url_encode(v)))
        .collect();
    enc.sort();
    let joined = enc
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let names = enc
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");
    (joined, names)
}

/// A computed signature and the lists that go with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Signed {
    pub(crate) key_time: KeyTime,
    pub(crate) header_list: String,
    pub(crate) param_list: String,
    pub(crate) signature: String,
}

impl Signed {
    /// The `q-sign-algorithm=sha1&q-ak=...&q-signature=...` pairs, as the
    /// Authorization header holds them.
    pub(crate) fn authorization(&self, secret_id: &str) -> String {
        format!(
            "q-sign-algorithm=sha1&q-ak={secret_id}&q-sign-time={kt}&q-key-time={kt}\
             &q-header-list={}&q-url-param-list={}&q-signature={}",
            self.header_list,
            self.param_list,
            self.signature,
            kt = self.key_time
        )
    }

    /// The same pairs as query parameters of a presigned URL (values
    /// encoded: `;` becomes `%3B`).
    pub(crate) fn query(&self, secret_id: &str) -> String {
        let kt = url_encode(&self.key_time.to_string());
        format!(
            "q-sign-algorithm=sha1&q-ak={}&q-sign-time={kt}&q-key-time={kt}\
             &q-header-list={}&q-url-param-list={}&q-signature={}",
            url_encode(secret_id),
            url_encode(&self.header_list),
            url_encode(&self.param_list),
            self.signature,
        )
    }
}

/// Signs one request. `path` is the decoded path (`/测试.jpg`), `params`
/// the decoded query pairs, `headers` the (name, value) pairs to sign.
pub(crate) fn sign(
    secret_key: &str,
    key_time: KeyTime,
    method: &str,
    path: &str,
    params: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> Signed {
    let kt = key_time.to_string();
    let sign_key = hex::encode(hmac_sha1(secret_key.as_bytes(), kt.as_bytes()));
    let (param_str, param_list) = canonical(params);
    let (header_str, header_list) = canonical(headers);
    let http_string = format!(
        "{}\n{path}\n{param_str}\n{header_str}\n",
        method.to_lowercase()
    );
    let string_to_sign = format!(
        "sha1\n{kt}\n{}\n",
        hex::encode(Sha1::digest(http_string.as_bytes()))
    );
    let signature = hex::encode(hmac_sha1(sign_key.as_bytes(), string_to_sign.as_bytes()));
    Signed {
        key_time,
        header_list,
        param_list,
        signature,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_rfc2202_vectors() {
        assert_eq!(
            hex::encode(hmac_sha1(&[0x0b; 20], b"Hi There")),
            "b617318655057264e28bc0b6fb378c8ef146be00"
        );
        assert_eq!(
            hex::encode(hmac_sha1(b"Jefe", b"what do ya want for nothing?")),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
        assert_eq!(
            hex::encode(hmac_sha1(
                &[0xaa; 80],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "aa4ae5e15272d00e95705637ce8a3b55ed402112"
        );
    }

    #[test]
    fn encoding() {
        assert_eq!(url_encode("a b/c;d=e~_.-"), "a%20b%2Fc%3Bd%3De~_.-");
        assert_eq!(url_encode("测"), "%E6%B5%8B");
        assert!(is_signed_header("x-cos-meta-a") && is_signed_header("if-match"));
        assert!(!is_signed_header("user-agent") && !is_signed_header("authorization"));
    }

    #[test]
    fn multipart_params_are_lowercased() {
        let (s, names) = canonical(&[("uploadId", "x y"), ("partNumber", "3")]);
        assert_eq!(s, "partnumber=3&uploadid=x%20y");
        assert_eq!(names, "partnumber;uploadid");
        let (s, names) = canonical(&[("uploads", "")]);
        assert_eq!((s.as_str(), names.as_str()), ("uploads=", "uploads"));
    }
}
