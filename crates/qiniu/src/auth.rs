//! Qiniu credentials and every signature Kodo checks: upload tokens,
//! QBox (v1) and Qiniu (v2) management signatures, private download URLs.
//!
//! All of them are HMAC-SHA1 with the secret key, rendered in URL-safe
//! base64 with its `=` padding kept (protocols §1.2–§1.5).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE;
use sha1::{Digest as _, Sha1};

use crate::policy::PutPolicy;

/// URL-safe base64 (`-` and `_`) with `=` padding, as Kodo wants it.
#[must_use]
pub fn urlsafe_b64(data: impl AsRef<[u8]>) -> String {
    URL_SAFE.encode(data)
}

/// Decodes URL-safe base64, padded or not.
#[must_use]
pub fn urlsafe_b64_decode(text: &str) -> Option<Vec<u8>> {
    let t = text.trim_end_matches('=');
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(t)
        .ok()
}

/// The `EncodedEntryURI` of `bucket` and `key`: `urlsafe_b64("bucket:key")`,
/// or `urlsafe_b64("bucket")` when there is no key at all.
#[must_use]
pub fn entry(bucket: &str, key: Option<&str>) -> String {
    match key {
        Some(k) => urlsafe_b64(format!("{bucket}:{k}")),
        None => urlsafe_b64(bucket),
    }
}

/// HMAC-SHA1 (RFC 2104) of `msg` under `key`.
#[must_use]
pub fn hmac_sha1(key: &[u8], msg: &[u8]) -> [u8; 20] {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..20].copy_from_slice(&Sha1::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let ipad: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
    let opad: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
    let inner = Sha1::new().chain_update(&ipad).chain_update(msg).finalize();
    Sha1::new()
        .chain_update(&opad)
        .chain_update(inner)
        .finalize()
        .into()
}

/// Header names (canonical form) that take part in a Qiniu v2 signature:
/// strictly longer than `X-Qiniu-` and starting with it, any case.
#[must_use]
pub fn is_signed_qiniu_header(name: &str) -> bool {
    const PREFIX: &str = "x-qiniu-";
    name.len() > PREFIX.len() && name[..PREFIX.len()].eq_ignore_ascii_case(PREFIX)
}

/// A header name in MIME canonical form (`x-qIniu-aAa` → `X-Qiniu-Aaa`).
#[must_use]
pub fn canonical_header_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = true;
    for c in name.chars() {
        if upper {
            out.push(c.to_ascii_uppercase());
        } else {
            out.push(c.to_ascii_lowercase());
        }
        upper = c == '-';
    }
    out
}

/// Whether a Qiniu v2 signature covers a body of this Content-Type: form
/// and JSON bodies are signed; octet streams and the rest are not.
#[must_use]
pub fn signs_body(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|ct| {
        let ct = ct.split(';').next().unwrap_or("").trim();
        ct.eq_ignore_ascii_case("application/x-www-form-urlencoded")
            || ct.eq_ignore_ascii_case("application/json")
    })
}

/// What a Qiniu (v2) management signature covers.
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    /// `GET`, `POST`, ...
    pub method: &'a str,
    /// The path with its raw query (`/stat/...`, `/list?bucket=b`).
    pub path_and_query: &'a str,
    /// The `Host` header as sent (with `:port` when there is one).
    pub host: &'a str,
    /// The Content-Type, when the request has one.
    pub content_type: Option<&'a str>,
    /// Every header of the request; the `X-Qiniu-*` ones are signed.
    pub headers: &'a [(&'a str, &'a str)],
    /// The body; signed only when [`signs_body`] says so.
    pub body: &'a [u8],
}

/// The Qiniu (v2) signing string of `req` (protocols §1.4).
#[must_use]
pub fn qiniu_signing_string(req: &SignedRequest<'_>) -> Vec<u8> {
    let mut s = format!(
        "{} {}\nHost: {}\n",
        req.method, req.path_and_query, req.host
    );
    if let Some(ct) = req.content_type {
        s.push_str("Content-Type: ");
        s.push_str(ct);
        s.push('\n');
    }
    let mut signed: Vec<(String, &str)> = req
        .headers
        .iter()
        .filter(|(n, _)| is_signed_qiniu_header(n))
        .map(|(n, v)| (canonical_header_name(n), *v))
        .collect();
    signed.sort();
    for (n, v) in signed {
        s.push_str(&n);
        s.push_str(": ");
        s.push_str(v);
        s.push('\n');
    }
    s.push('\n');
    let mut out = s.into_bytes();
    if signs_body(req.content_type) {
        out.extend_from_slice(req.body);
    }
    out
}

/// The QBox (v1) signing string: `path[?query]\n`, then the body when it
/// is a form.
#[must_use]
pub fn qbox_signing_string(
    path_and_query: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> Vec<u8> {
    let mut out = format!("{path_and_query}\n").into_bytes();
    let form = content_type.is_some_and(|ct| {
        ct.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .eq_ignore_ascii_case("application/x-www-form-urlencoded")
    });
    if form {
        out.extend_from_slice(body);
    }
    out
}

/// An access key and its secret key. `Debug` never prints the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    access_key: String,
    secret_key: String,
}

impl Credentials {
    /// Credentials from an access key and a secret key.
    pub fn new(access_key: impl Into<String>, secret_key: impl Into<String>) -> Self {
        Self {
            access_key: access_key.into(),
            secret_key: secret_key.into(),
        }
    }

    /// The access key (not secret; named in error messages).
    #[must_use]
    pub fn access_key(&self) -> &str {
        &self.access_key
    }

    /// The secret key.
    #[must_use]
    pub fn secret_key(&self) -> &str {
        &self.secret_key
    }

    /// `AK:urlsafe_b64(HMAC-SHA1(SK, data))`.
    #[must_use]
    pub fn sign(&self, data: &[u8]) -> String {
        let mac = hmac_sha1(self.secret_key.as_bytes(), data);
        format!("{}:{}", self.access_key, urlsafe_b64(mac))
    }

    /// `AK:sign:urlsafe_b64(data)`, the signature taken over the encoded
    /// data (`sign_with_data` of the SDKs).
    #[must_use]
    pub fn sign_with_data(&self, data: &[u8]) -> String {
        let encoded = urlsafe_b64(data);
        let mac = hmac_sha1(self.secret_key.as_bytes(), encoded.as_bytes());
        format!("{}:{}:{encoded}", self.access_key, urlsafe_b64(mac))
    }

    /// The upload token for `policy` (protocols §1.3).
    #[must_use]
    pub fn upload_token(&self, policy: &PutPolicy) -> String {
        self.sign_with_data(&policy.to_json())
    }

    /// The value of an `Authorization: QBox ...` header.
    #[must_use]
    pub fn qbox_authorization(
        &self,
        path_and_query: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> String {
        let s = qbox_signing_string(path_and_query, content_type, body);
        format!("QBox {}", self.sign(&s))
    }

    /// The value of an `Authorization: Qiniu ...` header for `req`.
    #[must_use]
    pub fn qiniu_authorization(&self, req: &SignedRequest<'_>) -> String {
        format!("Qiniu {}", self.sign(&qiniu_signing_string(req)))
    }

    /// `base_url` signed for download until `deadline` (Unix seconds):
    /// `base_url?e=<deadline>&token=AK:sign` (protocols §1.5). The base URL
    /// must already be percent-encoded: the signature covers it as written.
    #[must_use]
    pub fn private_download_url(&self, base_url: &str, deadline: u64) -> String {
        let sep = if base_url.contains('?') { '&' } else { '?' };
        let url = format!("{base_url}{sep}e={deadline}");
        let token = self.sign(url.as_bytes());
        format!("{url}&token={token}")
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key", &self.access_key)
            .field("secret_key", &"REDACTED")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_rfc2202_vectors() {
        // RFC 2202 test cases 1 and 6 (a key longer than the block).
        assert_eq!(
            hex::encode(hmac_sha1(&[0x0b; 20], b"Hi There")),
            "b617318655057264e28bc0b6fb378c8ef146be00"
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
    fn header_names() {
        assert_eq!(canonical_header_name("x-qIniu-aAa"), "X-Qiniu-Aaa");
        assert!(is_signed_qiniu_header("X-Qiniu-Date"));
        assert!(!is_signed_qiniu_header("x-Qiniu-"));
        assert!(!is_signed_qiniu_header("X-qIniu"));
        assert!(!is_signed_qiniu_header("Content-Type"));
    }

    #[test]
    fn debug_hides_the_secret() {
        let c = Credentials::new("AKVISIBLE", "very-secret");
        let d = format!("{c:?}");
        assert!(d.contains("AKVISIBLE") && !d.contains("very-secret"), "{d}");
    }
}
