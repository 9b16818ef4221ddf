//! What the emulator verifies, written from protocols §1.3–§1.5 and §1.10
//! on its own (it shares no code with haul-qiniu, so a bug on one side is
//! not mirrored on the other): HMAC-SHA1, URL-safe base64, upload tokens,
//! QBox and Qiniu (v2) signatures, private download URLs, and qetag.

use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use serde::Deserialize;
use sha1::{Digest as _, Sha1};

use super::wire::{Reply, Req};

/// URL-safe base64 with padding.
pub(crate) fn b64(data: impl AsRef<[u8]>) -> String {
    URL_SAFE.encode(data)
}

/// URL-safe base64, padded or not.
pub(crate) fn unb64(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok()
}

/// HMAC-SHA1 (RFC 2104).
pub(crate) fn hmac_sha1(key: &[u8], msg: &[u8]) -> [u8; 20] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..20].copy_from_slice(&Sha1::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha1::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(msg);
    let mut outer = Sha1::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// `urlsafe_b64(HMAC-SHA1(sk, data))`.
pub(crate) fn sign(sk: &str, data: &[u8]) -> String {
    b64(hmac_sha1(sk.as_bytes(), data))
}

/// The fields of a put policy the emulator enforces.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct Policy {
    pub(crate) scope: String,
    pub(crate) deadline: u64,
    pub(crate) insert_only: Option<u8>,
    pub(crate) is_prefixal_scope: Option<u8>,
    pub(crate) return_body: Option<String>,
    pub(crate) save_key: Option<String>,
    pub(crate) force_save_key: Option<bool>,
    pub(crate) fsize_limit: Option<u64>,
    pub(crate) fsize_min: Option<u64>,
    pub(crate) end_user: Option<String>,
}

impl Policy {
    /// The bucket of the scope.
    pub(crate) fn bucket(&self) -> &str {
        self.scope.split_once(':').map_or(&self.scope, |(b, _)| b)
    }

    /// The key (or prefix) of the scope, when it names one.
    pub(crate) fn scope_key(&self) -> Option<&str> {
        self.scope.split_once(':').map(|(_, k)| k)
    }

    /// Whether the scope allows writing `key`.
    pub(crate) fn allows(&self, key: &str) -> bool {
        match self.scope_key() {
            None => true,
            Some(p) if self.is_prefixal_scope.unwrap_or(0) != 0 => key.starts_with(p),
            Some(k) => k == key,
        }
    }

    /// Whether an existing object blocks the write: always under
    /// `insertOnly`, and under a bucket-only scope unless the content is
    /// identical (protocols §8).
    pub(crate) fn refuses_overwrite(&self, old_hash: &str, new_hash: &str) -> bool {
        self.insert_only.unwrap_or(0) != 0 || (self.scope_key().is_none() && old_hash != new_hash)
    }
}

fn unauthorized(msg: &str) -> Reply {
    Reply::error(401, msg)
}

/// Verifies an upload token (`AK:sign:encodedPolicy`, the HMAC over the
/// third segment as received) and decodes its policy.
pub(crate) fn verify_up_token(ak: &str, sk: &str, token: &str) -> Result<Policy, Reply> {
    let mut parts = token.splitn(3, ':');
    let (Some(a), Some(sig), Some(encoded)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(unauthorized("bad token"));
    };
    if a != ak {
        return Err(unauthorized("bad token: unknown access key"));
    }
    if sig != sign(sk, encoded.as_bytes()) {
        return Err(unauthorized("bad token: signature mismatch"));
    }
    let json = unb64(encoded).ok_or_else(|| unauthorized("bad token: policy is not base64"))?;
    let policy: Policy = serde_json::from_slice(&json)
        .map_err(|e| unauthorized(&format!("bad token: policy is not JSON: {e}")))?;
    if policy.scope.is_empty() || policy.deadline == 0 {
        return Err(unauthorized("bad token: scope and deadline are required"));
    }
    Ok(policy)
}

/// The upload token of a request: `Authorization: UpToken <token>`.
pub(crate) fn up_token_header(req: &Req) -> Option<&str> {
    req.header("authorization")?.strip_prefix("UpToken ")
}

/// A header name in MIME canonical form.
fn canonical(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = true;
    for c in name.chars() {
        out.push(if upper {
            c.to_ascii_uppercase()
        } else {
            c.to_ascii_lowercase()
        });
        upper = c == '-';
    }
    out
}

/// The Qiniu (v2) signing strings a request may have been signed with:
/// the body included as python does (any Content-Type but an octet
/// stream) or as Go does (form and JSON only).
fn qiniu_strings(req: &Req) -> Vec<Vec<u8>> {
    let mut s = format!(
        "{} {}\nHost: {}\n",
        req.method,
        req.path_and_query(),
        req.header("host").unwrap_or_default()
    );
    let ct = req.header("content-type");
    if let Some(ct) = ct {
        let _ = writeln!(s, "Content-Type: {ct}");
    }
    let mut signed: Vec<(String, &str)> = req
        .headers
        .iter()
        .filter(|(n, _)| n.len() > "x-qiniu-".len() && n.starts_with("x-qiniu-"))
        .map(|(n, v)| (canonical(n), v.as_str()))
        .collect();
    signed.sort();
    for (n, v) in signed {
        let _ = writeln!(s, "{n}: {v}");
    }
    s.push('\n');
    let bare = s.clone().into_bytes();
    let mut with_body = s.into_bytes();
    with_body.extend_from_slice(&req.body);
    let essence = |c: &str| {
        c.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    };
    match ct.map(essence).as_deref() {
        None | Some("application/octet-stream") => vec![bare],
        Some("application/x-www-form-urlencoded" | "application/json") => vec![with_body],
        Some(_) => vec![with_body, bare],
    }
}

/// Verifies a management request's `Authorization: Qiniu ...` (v2) or
/// `QBox ...` (v1) signature, and the `X-Qiniu-Date` it signs (within 15
/// minutes of `now`).
pub(crate) fn verify_mac(ak: &str, sk: &str, req: &Req, now: u64) -> Result<(), Reply> {
    let auth = req
        .header("authorization")
        .ok_or_else(|| unauthorized("bad token: no Authorization"))?;
    let (scheme, cred) = auth
        .split_once(' ')
        .ok_or_else(|| unauthorized("bad token"))?;
    let (a, sig) = cred
        .split_once(':')
        .ok_or_else(|| unauthorized("bad token"))?;
    if a != ak {
        return Err(unauthorized("bad token: unknown access key"));
    }
    let candidates = match scheme {
        "Qiniu" => qiniu_strings(req),
        "QBox" => {
            let mut s = format!("{}\n", req.path_and_query()).into_bytes();
            let form = req.header("content-type").is_some_and(|ct| {
                ct.split(';').next().is_some_and(|c| {
                    c.trim()
                        .eq_ignore_ascii_case("application/x-www-form-urlencoded")
                })
            });
            if form {
                s.extend_from_slice(&req.body);
            }
            vec![s]
        }
        _ => return Err(unauthorized("bad token: unknown scheme")),
    };
    if !candidates.iter().any(|s| sign(sk, s) == sig) {
        return Err(unauthorized("bad token: signature mismatch"));
    }
    if let Some(date) = req.header("x-qiniu-date") {
        let t = parse_date(date).ok_or_else(|| unauthorized("bad X-Qiniu-Date"))?;
        if t.abs_diff(now) > 15 * 60 {
            return Err(unauthorized("X-Qiniu-Date is more than 15 minutes off"));
        }
    }
    Ok(())
}

/// Parses `YYYYMMDDTHHMMSSZ` into Unix seconds.
fn parse_date(text: &str) -> Option<u64> {
    let t = haul_core::time::parse_compact(text)?;
    t.duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs())
}

/// Verifies a private download: the URL as signed is
/// `http://<Host><path>?...e=<deadline>`, followed by `&token=AK:sign`.
pub(crate) fn verify_private_url(ak: &str, sk: &str, req: &Req, now: u64) -> Result<(), Reply> {
    let query = req.query.as_deref().unwrap_or_default();
    let Some((signed_query, token)) = query.rsplit_once("&token=") else {
        return Err(unauthorized("download token not specified"));
    };
    let (a, sig) = token
        .split_once(':')
        .ok_or_else(|| unauthorized("bad download token"))?;
    let url = format!(
        "http://{}{}?{signed_query}",
        req.header("host").unwrap_or_default(),
        req.path
    );
    if a != ak || sig != sign(sk, url.as_bytes()) {
        return Err(unauthorized("bad download token: signature mismatch"));
    }
    let deadline = signed_query
        .split('&')
        .find_map(|p| p.strip_prefix("e="))
        .and_then(|e| e.parse::<u64>().ok())
        .ok_or_else(|| unauthorized("bad download token: no e="))?;
    if now > deadline {
        return Err(unauthorized("download token expired"));
    }
    Ok(())
}

/// The 21-byte v1 qetag digest of `data`.
pub(crate) fn qetag_raw(data: &[u8]) -> [u8; 21] {
    const BLOCK: usize = 4 << 20;
    let mut out = [0u8; 21];
    if data.len() <= BLOCK {
        out[0] = 0x16;
        out[1..].copy_from_slice(&Sha1::digest(data));
    } else {
        let mut h = Sha1::new();
        for block in data.chunks(BLOCK) {
            h.update(Sha1::digest(block));
        }
        out[0] = 0x96;
        out[1..].copy_from_slice(&h.finalize());
    }
    out
}

/// qetag v1 of `data`.
pub(crate) fn qetag(data: &[u8]) -> String {
    b64(qetag_raw(data))
}

/// qetag of an object made of `parts` in order (v2; v1 of the whole when
/// every part but the last is exactly 4 MiB).
pub(crate) fn qetag_v2(parts: &[&[u8]]) -> String {
    if parts.iter().rev().skip(1).all(|p| p.len() == 4 << 20) {
        return qetag(&parts.concat());
    }
    let mut h = Sha1::new();
    for p in parts {
        h.update(&qetag_raw(p)[1..]);
    }
    let mut out = vec![0x9e];
    out.extend_from_slice(&h.finalize());
    b64(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors() {
        assert_eq!(qetag(b"etag"), "FpLiADEaVoALPkdb8tJEJyRTXoe_");
        assert_eq!(qetag(b""), "Fto5o-5ea0sNMlW_75VgGJCv2AcJ");
        assert_eq!(
            qetag_v2(&[b"hello", b"world"]),
            "ns56DcSIfBFUENXjdhsJTIvl3Rcu"
        );
        assert_eq!(sign("sk", b"hello"), "NDN8cM0rwosxhHJ6QAcI7ialr0g=");
        assert_eq!(parse_date("20151230T170203Z"), Some(1_451_491_200 + 3_723));
        assert_eq!(canonical("x-qIniu-aAa"), "X-Qiniu-Aaa");
    }
}
