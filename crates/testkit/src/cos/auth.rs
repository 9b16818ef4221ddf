//! q-sign verification, recomputed from the request as received
//! (protocols.md §2.2): an implementation independent of haul-cos's
//! signer, so the two check each other, and the official SDK checks both.

use std::time::{SystemTime, UNIX_EPOCH};

use haul_core::ChecksumKind;
use haul_core::checksum::compute;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::route::{CosError, Req};
use super::state::Shared;

/// Largest clock difference accepted, in seconds.
const MAX_SKEW_SECS: u64 = 15 * 60;

const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn url_encode(s: &str) -> String {
    utf8_percent_encode(s, UNRESERVED).to_string()
}

fn sha1(parts: &[&[u8]]) -> Vec<u8> {
    compute(ChecksumKind::Sha1, &parts.concat())
        .as_bytes()
        .to_vec()
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn hmac_sha1_hex(key: &[u8], msg: &[u8]) -> String {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        let d = sha1(&[key]);
        k[..d.len()].copy_from_slice(&d);
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let inner = sha1(&[&k.map(|b| b ^ 0x36), msg]);
    let outer = sha1(&[&k.map(|b| b ^ 0x5c), &inner]);
    hex(&outer)
}

/// The `q-*` fields of a signature.
#[derive(Debug, Default)]
struct Fields {
    algorithm: String,
    ak: String,
    sign_time: String,
    key_time: String,
    header_list: String,
    param_list: String,
    signature: String,
}

impl Fields {
    fn set(&mut self, name: &str, value: String) {
        match name {
            "q-sign-algorithm" => self.algorithm = value,
            "q-ak" => self.ak = value,
            "q-sign-time" => self.sign_time = value,
            "q-key-time" => self.key_time = value,
            "q-header-list" => self.header_list = value,
            "q-url-param-list" => self.param_list = value,
            "q-signature" => self.signature = value,
            _ => {}
        }
    }
}

fn denied(message: &str) -> CosError {
    CosError::new(403, "AccessDenied", message)
}

/// The signature fields from the Authorization header, or from the query
/// of a presigned URL.
fn fields(req: &Req) -> Result<(Fields, bool), CosError> {
    let mut f = Fields::default();
    if let Some(auth) = req.header("authorization") {
        for pair in auth.split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            f.set(k.trim(), v.to_owned());
        }
        return Ok((f, false));
    }
    if req.has("q-signature") {
        for (k, v) in &req.query {
            f.set(k, v.clone());
        }
        return Ok((f, true));
    }
    Err(denied("Access Denied."))
}

fn parse_window(s: &str) -> Option<(u64, u64)> {
    let (a, b) = s.split_once(';')?;
    Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
}

/// `lower(UrlEncode(k))=UrlEncode(v)` for each pair, sorted, `&`-joined.
fn canonical(mut pairs: Vec<(String, String)>) -> String {
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn expected_signature(
    secret_key: &str,
    f: &Fields,
    req: &Req,
    headers: Vec<(String, String)>,
) -> Result<String, CosError> {
    let mut params = Vec::new();
    for name in f.param_list.split(';').filter(|n| !n.is_empty()) {
        let (_, v) = req
            .query
            .iter()
            .find(|(k, _)| url_encode(k).to_lowercase() == name)
            .ok_or_else(|| mismatch(&format!("signed parameter {name:?} is not in the query")))?;
        params.push((name.to_owned(), url_encode(v)));
    }
    let http_string = format!(
        "{}\n{}\n{}\n{}\n",
        req.method.as_str().to_lowercase(),
        req.signed_path,
        canonical(params),
        canonical(headers)
    );
    let digest = hex(&sha1(&[http_string.as_bytes()]));
    let string_to_sign = format!("sha1\n{}\n{digest}\n", f.sign_time);
    let sign_key = hmac_sha1_hex(secret_key.as_bytes(), f.key_time.as_bytes());
    Ok(hmac_sha1_hex(
        sign_key.as_bytes(),
        string_to_sign.as_bytes(),
    ))
}

fn mismatch(detail: &str) -> CosError {
    CosError::new(
        403,
        "SignatureDoesNotMatch",
        format!("The Signature you specified is invalid: {detail}."),
    )
}

/// The signed headers' pairs; `host` either as received or without its
/// port (the SDK signs the host name alone while sending the port).
fn header_pairs(
    req: &Req,
    list: &str,
    strip_port: bool,
) -> Result<Vec<(String, String)>, CosError> {
    let mut out = Vec::new();
    for name in list.split(';').filter(|n| !n.is_empty()) {
        let value = if name == "host" {
            let h = req.host.as_str();
            if strip_port {
                h.rsplit_once(':').map_or(h, |(h, _)| h).to_owned()
            } else {
                h.to_owned()
            }
        } else {
            let v = req
                .headers
                .get(name)
                .ok_or_else(|| mismatch(&format!("signed header {name:?} was not sent")))?;
            String::from_utf8_lossy(v.as_bytes()).into_owned()
        };
        out.push((name.to_owned(), url_encode(&value)));
    }
    Ok(out)
}

/// Verifies `req`'s signature, credentials and times.
pub(crate) fn verify(shared: &Shared, req: &Req) -> Result<(), CosError> {
    let (f, presigned) = fields(req)?;
    if f.algorithm != "sha1" {
        return Err(denied("q-sign-algorithm must be sha1"));
    }
    let cred = shared.credential(&f.ak).ok_or_else(|| {
        CosError::new(
            403,
            "InvalidAccessKeyId",
            "The Access Key Id you provided does not exist in our records.",
        )
    })?;
    if let Some(token) = &cred.token {
        let sent = if presigned {
            req.q("x-cos-security-token")
        } else {
            req.header("x-cos-security-token")
        };
        if sent != Some(token.as_str()) {
            return Err(CosError::new(
                403,
                "InvalidToken",
                "The provided token is malformed or otherwise invalid.",
            ));
        }
    }
    let (start, end) = parse_window(&f.sign_time)
        .filter(|_| parse_window(&f.key_time).is_some())
        .ok_or_else(|| denied("q-sign-time and q-key-time must be <start>;<end>"))?;
    let now = shared
        .now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if start > now + MAX_SKEW_SECS {
        return Err(CosError::new(
            403,
            "RequestTimeTooSkewed",
            "The difference between the request time and the server's time is too large.",
        ));
    }
    if let Some(date) = req
        .header("date")
        .and_then(|d| httpdate::parse_http_date(d).ok())
    {
        let at = date
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if at.abs_diff(now) > MAX_SKEW_SECS {
            return Err(CosError::new(
                403,
                "RequestTimeTooSkewed",
                "The difference between the request time and the server's time is too large.",
            ));
        }
    }
    if end < now {
        return Err(denied("Request has expired"));
    }
    let signed_host = f.header_list.split(';').any(|n| n == "host");
    let exact = header_pairs(req, &f.header_list, false)?;
    if expected_signature(&cred.secret_key, &f, req, exact)? == f.signature {
        return Ok(());
    }
    if signed_host && req.host.contains(':') {
        let bare = header_pairs(req, &f.header_list, true)?;
        if expected_signature(&cred.secret_key, &f, req, bare)? == f.signature {
            return Ok(());
        }
    }
    Err(mismatch(
        "it does not match the one computed from the request",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_and_the_official_sign_key() {
        assert_eq!(
            hmac_sha1_hex(b"Jefe", b"what do ya want for nothing?"),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
        // protocols.md §2.2 vector 1.
        assert_eq!(
            hmac_sha1_hex(
                b"AKIDZfbOA78asKUYBcXFrJD0a1ICvR98JM",
                b"1480932292;1481012292"
            ),
            "95d110a8ead64cac52083100db75b7e3f369e72f"
        );
    }
}
