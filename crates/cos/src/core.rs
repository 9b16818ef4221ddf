//! The COS dialect: what COS spells its own way ([`SPEC`]: `x-cos-`
//! headers, the decimal CRC-64 it reports and we compare, GET Bucket with
//! markers, its names), and the one place that signs (q-sign) and sends
//! every request.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use haul_core::{Capabilities, ChecksumKind, Error, Result};
use haul_http::error::ErrorContext;
use haul_http::send::{Prepared, header_map, send};
use haul_http::{ClientOptions, build_client};
use haul_s3_dialect::{
    Address, Addressing, Checksums, Dialect, Endpoint, Listing, Names, Spec, Verify, check_key,
    dns_label,
};
use http::Method;

use crate::config::{COS_VARS, CosConfig};
use crate::sign::{KeyTime, is_signed_header, sign, url_encode};
pub(crate) use haul_s3_dialect::Call;

/// The shared state of a [`CosStore`](crate::CosStore).
pub(crate) type Core = haul_s3_dialect::Core<Cos>;

/// The header COS reports an object's or a part's CRC-64 in (decimal
/// CRC-64/XZ, protocols.md §2.4).
pub(crate) const CRC64_HEADER: &str = "x-cos-hash-crc64ecma";

/// How COS differs from S3.
pub(crate) const SPEC: Spec = Spec {
    name: "COS",
    scheme: "cos",
    prefix: "x-cos-",
    api: "COS's XML API",
    addressing: Addressing {
        default_endpoint: |region| format!("https://cos.{region}.myqcloud.com"),
        auto_path_style: false,
        refuse_bucket: |b| {
            // `examplebucket-1250000000`: a host label.
            (b.is_empty() || !dns_label(b)).then_some(
                "a COS bucket is named <name>-<appid>: lowercase letters, digits and '-'",
            )
        },
        bucket_slash: true,
        copy_source_host: true,
        // COS writes a space as `%20` and `+` as `%2B` (the Python SDK
        // decodes with `unquote`, which keeps a `+`).
        plus_is_space: false,
    },
    checksums: Checksums {
        native: ChecksumKind::Crc64Xz,
        headers: &[(ChecksumKind::Crc64Xz, CRC64_HEADER)],
        decimal: true,
        verify: Verify::Client,
        // COS takes no per-part checksum in the document.
        complete_element: "",
    },
    listing: Listing::Marker,
    names: Names {
        list: "GET Bucket",
        copy: "PUT Object copy",
        create_multipart: "InitiateMultipartUpload",
        delete_many: "DELETE Multiple Objects",
    },
    multipart_headers: &[],
    head_headers: &[],
    copy_directive: Some("Copy"),
    explain_denied_head: true,
};

/// COS's capabilities, with the configured largest object: S3's limits
/// but parts of at least 1 MiB, CRC-64 native, single PUTs streamed.
pub(crate) fn capabilities(cfg: &CosConfig) -> Capabilities {
    Capabilities {
        min_part_size_bytes: 1 << 20,
        streamed_puts: true,
        native_checksums: vec![ChecksumKind::Crc64Xz],
        ..haul_s3_dialect::base_capabilities(cfg.max_object_size_bytes)
    }
}

/// COS's part of a store: its configuration.
#[derive(Debug)]
pub(crate) struct Cos {
    pub(crate) cfg: CosConfig,
}

/// COS answers an expired signature with `AccessDenied: Request has
/// expired`: that is an authentication failure with a clock to fix, not a
/// missing permission.
fn expired_signature(e: Error) -> Error {
    match e {
        Error::PermissionDenied { key, source } if source.to_string().contains("has expired") => {
            Error::Unauthenticated {
                key,
                source: format!(
                    "{source}; the store refused the signature as expired: \
                     check this machine's clock (and CosConfig::sign_validity)"
                )
                .into(),
            }
        }
        e => e,
    }
}

/// Seconds since the epoch (0 for a clock before 1970).
fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// `cfg`'s endpoint and addressing style.
pub(crate) fn endpoint(cfg: &CosConfig) -> Result<Endpoint> {
    let address = Address {
        endpoint: cfg.endpoint.as_deref(),
        region: &cfg.region,
        bucket: &cfg.bucket,
        force_path_style: cfg.force_path_style,
    };
    Endpoint::new(&SPEC, address)
}

/// A core for `cfg`, with its own pooled client.
pub(crate) fn new(cfg: CosConfig) -> Result<Core> {
    let endpoint = endpoint(&cfg)?;
    let opts = ClientOptions {
        concurrency: cfg.concurrency,
        ..ClientOptions::default()
    };
    Ok(Core {
        caps: capabilities(&cfg),
        stall: opts.stall_timeout,
        http: build_client(&opts)?,
        dialect: Cos { cfg },
        endpoint,
    })
}

impl Cos {
    /// The signature window for a request made at `time`: from a minute
    /// before (a server clock slightly behind ours still accepts it) to
    /// [`CosConfig::sign_validity`] after.
    pub(crate) fn key_time(&self, time: SystemTime) -> KeyTime {
        let now = unix(time);
        KeyTime {
            start: now.saturating_sub(60),
            end: now + self.cfg.sign_validity.as_secs().max(1),
        }
    }

    /// The URL and signed headers of `call` to `endpoint` with the
    /// signature window `kt`.
    pub(crate) fn prepare(
        &self,
        endpoint: &Endpoint,
        call: &Call<'_>,
        kt: KeyTime,
    ) -> Result<Prepared> {
        let what = call.key.unwrap_or(&self.cfg.bucket);
        if let Some(k) = call.key {
            check_key(k, SPEC.api)?;
        }
        let url = endpoint.url(call.key, &call.query);
        let mut headers: Vec<(String, String)> = call.headers.clone();
        headers.extend(self.cfg.write_headers(call));
        headers.push(("host".to_owned(), endpoint.host().to_owned()));
        if let Some(t) = &self.cfg.security_token {
            headers.push(("x-cos-security-token".to_owned(), t.clone()));
        }
        let params: Vec<(&str, &str)> = call.query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let signed_headers: Vec<(&str, &str)> = headers
            .iter()
            .filter(|(k, _)| is_signed_header(k))
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let signed = sign(
            &self.cfg.secret_key,
            kt,
            call.method.as_str(),
            &endpoint.signed_path(call.key),
            &params,
            &signed_headers,
        );
        headers.push((
            "authorization".to_owned(),
            signed.authorization(&self.cfg.secret_id),
        ));
        let map = header_map(what, &headers)?;
        Ok(Prepared {
            method: call.method.clone(),
            url,
            headers: map,
        })
    }

    /// The signature window of a presigned URL made at `time`, valid for
    /// `expires` (at least a second); none for no time at all.
    pub(crate) fn presign_window(time: SystemTime, expires: Duration) -> Option<KeyTime> {
        let now = unix(time);
        (!expires.is_zero()).then(|| KeyTime {
            start: now,
            end: now + expires.as_secs().max(1),
        })
    }

    /// A presigned URL for `method` on `key` at `endpoint`, signed for the
    /// window `kt`. The host is signed; so is the security token.
    pub(crate) fn presign(
        &self,
        endpoint: &Endpoint,
        method: &Method,
        key: &str,
        kt: KeyTime,
    ) -> String {
        let signed = sign(
            &self.cfg.secret_key,
            kt,
            method.as_str(),
            &endpoint.signed_path(Some(key)),
            &[],
            &[("host", endpoint.host())],
        );
        let mut url = format!(
            "{}?{}",
            endpoint.url(Some(key), &[]),
            signed.query(&self.cfg.secret_id)
        );
        if let Some(t) = &self.cfg.security_token {
            url.push_str("&x-cos-security-token=");
            url.push_str(&url_encode(t));
        }
        url
    }
}

impl Dialect for Cos {
    const SPEC: Spec = SPEC;

    /// Names the SecretId and the COS variables.
    fn identify<'a>(&'a self, ctx: ErrorContext<'a>) -> ErrorContext<'a> {
        ctx.access_key_id(&self.cfg.secret_id).vars(COS_VARS)
    }

    /// Signs (afresh for a resend on a stale connection) and sends `call`;
    /// a signature refused as expired says to check the clock.
    async fn send(
        core: &Core,
        call: Call<'_>,
        ctx: &ErrorContext<'_>,
    ) -> Result<reqwest::Response> {
        send(&core.http, &call.body, ctx, core.stall, || {
            let kt = core.dialect.key_time(SystemTime::now());
            core.dialect.prepare(&core.endpoint, &call, kt)
        })
        .await
        .map_err(expired_signature)
    }
}

#[cfg(test)]
mod tests {
    use haul_core::Checksum;
    use http::HeaderMap;

    use super::*;

    fn cfg(endpoint: Option<&str>) -> CosConfig {
        let c = CosConfig::new("examplebucket-1250000000", "ap-guangzhou", "ID", "KEY");
        match endpoint {
            Some(e) => c.with_endpoint(e),
            None => c,
        }
    }

    fn check_key(key: &str) -> Result<()> {
        haul_s3_dialect::check_key(key, SPEC.api)
    }

    fn decode_listed(s: &str) -> Result<String> {
        haul_s3_dialect::decode_listed(s, SPEC.addressing.plus_is_space)
    }

    fn parse_crc64(text: &str) -> Option<Checksum> {
        SPEC.checksums.parse(ChecksumKind::Crc64Xz, text)
    }

    fn crc64_from(h: &HeaderMap) -> Option<Checksum> {
        SPEC.checksums.native_from(h)
    }

    fn check_crc64(what: &str, ours: Option<&Checksum>, theirs: Option<&Checksum>) -> Result<()> {
        haul_s3_dialect::check_checksum(&SPEC.checksums, what, ours, theirs)
    }

    #[test]
    fn virtual_hosted_by_default() {
        let e = endpoint(&cfg(None)).expect("endpoint");
        assert!(!e.path_style());
        assert_eq!(
            e.host(),
            "examplebucket-1250000000.cos.ap-guangzhou.myqcloud.com"
        );
        assert_eq!(
            e.url(Some("测试/a b+c.jpg"), &[("uploads", String::new())]),
            "https://examplebucket-1250000000.cos.ap-guangzhou.myqcloud.com/\
             %E6%B5%8B%E8%AF%95/a%20b%2Bc.jpg?uploads"
        );
        assert_eq!(e.signed_path(Some("测试/a b+c.jpg")), "/测试/a b+c.jpg");
        assert_eq!(e.signed_path(None), "/");
        assert_eq!(
            e.url(None, &[("prefix", "a/b".into())]),
            "https://examplebucket-1250000000.cos.ap-guangzhou.myqcloud.com/?prefix=a%2Fb"
        );
        assert_eq!(
            e.copy_source("d/a b"),
            "examplebucket-1250000000.cos.ap-guangzhou.myqcloud.com/d/a%20b"
        );
    }

    #[test]
    fn path_style_with_an_endpoint() {
        let e = endpoint(&cfg(Some("http://127.0.0.1:9000"))).expect("endpoint");
        assert!(e.path_style());
        assert_eq!(e.host(), "127.0.0.1:9000");
        assert_eq!(
            e.url(Some("k 1"), &[("partNumber", "1".into())]),
            "http://127.0.0.1:9000/examplebucket-1250000000/k%201?partNumber=1"
        );
        assert_eq!(e.signed_path(Some("k 1")), "/examplebucket-1250000000/k 1");
        assert_eq!(e.signed_path(None), "/examplebucket-1250000000/");
        assert_eq!(
            e.copy_source("k"),
            "127.0.0.1:9000/examplebucket-1250000000/k"
        );
        let e = endpoint(&cfg(Some("https://cos.example/base/"))).expect("base");
        assert_eq!(
            e.url(Some("k"), &[]),
            "https://cos.example/base/examplebucket-1250000000/k"
        );
        assert_eq!(e.signed_path(Some("k")), "/base/examplebucket-1250000000/k");
    }

    #[test]
    fn refusals() {
        assert!(endpoint(&cfg(Some("ftp://x"))).is_err());
        assert!(endpoint(&cfg(Some("not a url"))).is_err());
        let mut c = cfg(None);
        c.bucket = "Bad_Bucket".into();
        assert!(endpoint(&c).is_err());
        assert!(check_key("a/../b").is_err() && check_key("./a").is_err());
        assert!(check_key("a/..b/.c").is_ok());
        assert_eq!(decode_listed("a%20b+c%2B").expect("decode"), "a b+c+");
    }

    #[test]
    fn crc64_headers() {
        let mut h = HeaderMap::new();
        h.insert(CRC64_HEADER, "11051210869376104954".parse().expect("hv"));
        let c = crc64_from(&h).expect("crc");
        assert_eq!(c.crc_value(), Some(0x995D_C9BB_DF19_39FA));
        let other = parse_crc64("1").expect("crc");
        assert!(check_crc64("k", Some(&c), Some(&c)).is_ok());
        assert!(check_crc64("k", Some(&c), None).is_ok());
        let e = check_crc64("k (part 2)", Some(&c), Some(&other)).expect_err("mismatch");
        assert!(matches!(e, Error::Integrity { .. }));
        assert!(e.to_string().contains("part 2"), "{e}");
        h.insert(CRC64_HEADER, "not a number".parse().expect("hv"));
        assert!(crc64_from(&h).is_none());
    }
}
