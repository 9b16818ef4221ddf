//! The S3 dialect: what S3 spells its own way ([`SPEC`]), and the one
//! place that signs (SigV4), sends and classifies every request, with
//! credentials from the AWS chain refreshed when the store says they
//! expired.

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use haul_core::{
    Capabilities, Checksum, ChecksumKind, CompletedPart, Error, Key, PartNumber, PayloadStream,
    PutOptions, PutOutcome, Result, UploadId,
};
use haul_http::error::ErrorContext;
use haul_http::send::{Prepared, header_map, send};
use haul_http::{ClientOptions, build_client};
use haul_s3_dialect::{
    Address, Addressing, Checksums, Dialect, Endpoint, Listing, Names, Spec, Verify, check_key,
};
use http::{HeaderMap, Method};
use sha2::{Digest, Sha256};

use crate::chunked::chunked;
use crate::config::S3Config;
use crate::creds::{Chain, Source, is_expired, may_be_expired_head};
use crate::sign::{EMPTY_SHA256, PayloadHash, Signer};
pub(crate) use haul_s3_dialect::{Body, Call};

/// The shared state of an [`S3Store`](crate::S3Store).
pub(crate) type Core = haul_s3_dialect::Core<S3>;

/// The `x-amz-checksum-*` header of each kind S3 knows, in the order a
/// request picks its one checksum header.
const CHECKSUM_HEADERS: [(ChecksumKind, &str); 4] = [
    (ChecksumKind::Crc32c, "x-amz-checksum-crc32c"),
    (ChecksumKind::Crc32, "x-amz-checksum-crc32"),
    (ChecksumKind::Crc64Nvme, "x-amz-checksum-crc64nvme"),
    (ChecksumKind::Sha1, "x-amz-checksum-sha1"),
];

/// How S3 differs from the dialect's other speakers.
pub(crate) const SPEC: Spec = Spec {
    name: "S3",
    scheme: "s3",
    prefix: "x-amz-",
    api: "S3's REST API",
    addressing: Addressing {
        default_endpoint: |region| format!("https://s3.{region}.amazonaws.com"),
        auto_path_style: true,
        refuse_bucket: |b| {
            (b.is_empty() || b.contains('/'))
                .then_some("bucket name must be non-empty and contain no '/'")
        },
        bucket_slash: false,
        copy_source_host: false,
        plus_is_space: true,
    },
    checksums: Checksums {
        native: ChecksumKind::Crc32c,
        headers: &CHECKSUM_HEADERS,
        decimal: false,
        verify: Verify::Service,
        complete_element: "ChecksumCRC32C",
    },
    listing: Listing::V2,
    names: Names {
        list: "ListObjectsV2",
        copy: "CopyObject",
        create_multipart: "CreateMultipartUpload",
        delete_many: "DeleteObjects",
    },
    // Parts may then carry their CRC32C (verified on arrival) or not (the
    // store computes it), and the object gets a whole-object CRC32C.
    multipart_headers: &[
        ("x-amz-checksum-algorithm", "CRC32C"),
        ("x-amz-checksum-type", "FULL_OBJECT"),
    ],
    head_headers: &[("x-amz-checksum-mode", "ENABLED")],
    copy_directive: None,
    explain_denied_head: false,
};

/// S3's capabilities, with the configured largest object: parts of at
/// least 5 MiB, no checksum listed as native (not every S3-compatible
/// service stores and reports CRC32C).
pub(crate) fn capabilities(cfg: &S3Config) -> Capabilities {
    Capabilities {
        // SSE-KMS and SSE-C objects have ETags that are not MD5s.
        etag_is_md5: !cfg.object.etag_not_md5(),
        // Parts go out as they are read, their CRC32C in an aws-chunked
        // trailer; signed payloads would need every chunk signed.
        streamed_parts: cfg.stream_parts && !cfg.signed_payload,
        // Single puts the same way (the config's `stream_parts` covers both).
        streamed_puts: cfg.stream_parts && !cfg.signed_payload,
        // A body whose CRC32C is known ahead goes plain, the sum a header:
        // no framing for the server to decode.
        sums_ahead: cfg.stream_parts && !cfg.signed_payload,
        // A whole GET asks for the checksums as HEAD does (`head_headers`)
        // and reads the same headers.
        whole_get_meta: true,
        ..haul_s3_dialect::base_capabilities(cfg.max_object_size_bytes)
    }
}

/// The hex SHA-256 of a body, for a signed payload.
fn body_sha256(body: &Body) -> String {
    match body {
        Body::Empty => EMPTY_SHA256.to_owned(),
        Body::Bytes(b) => hex::encode(Sha256::digest(b)),
        Body::Payload(p) => {
            let mut h = Sha256::new();
            for piece in p.pieces() {
                h.update(piece);
            }
            hex::encode(h.finalize())
        }
        // Streamed bodies are never signed whole.
        Body::Stream(_) => "UNSIGNED-PAYLOAD".to_owned(),
    }
}

/// Whether `call`'s body is framed as aws-chunked.
fn is_chunked(call: &Call<'_>) -> bool {
    call.headers
        .iter()
        .any(|(k, v)| k == "content-encoding" && v == "aws-chunked")
}

/// `call` with `body`: plain, of known length, its CRC32C (and MD5) as
/// headers when they are known before its first byte (a range read twice
/// from a local file); else aws-chunked with the CRC32C trailing.
fn sums_ahead_or_chunked(call: Call<'_>, body: PayloadStream) -> Call<'_> {
    let Some(known) = body.known_sums().map(<[Checksum]>::to_vec) else {
        return chunked(call, body);
    };
    let Some(crc) = known.iter().find(|c| c.kind() == ChecksumKind::Crc32c) else {
        return chunked(call, body);
    };
    let mut call = call.header("x-amz-checksum-crc32c", crc.to_base64());
    if let Some(md5) = known.iter().find(|c| c.kind() == ChecksumKind::Md5) {
        call = call.header("content-md5", md5.to_base64());
    }
    let size = body.len();
    call.body(Body::Stream(haul_http::send::StreamBody::new(
        size,
        futures::StreamExt::boxed(body),
    )))
}

/// S3's part of a store: its configuration and credentials.
#[derive(Debug)]
pub(crate) struct S3 {
    pub(crate) cfg: S3Config,
    pub(crate) creds: Source,
}

/// The HTTP client options for `cfg`: the pool sized to its concurrency.
fn client_options(cfg: &S3Config) -> ClientOptions {
    ClientOptions {
        concurrency: cfg.concurrency,
        stall_timeout: cfg.stall_timeout,
        ..ClientOptions::default()
    }
}

/// A pooled HTTP client for `cfg`, to share between the stores of one
/// endpoint.
pub(crate) fn client(cfg: &S3Config) -> Result<reqwest::Client> {
    build_client(&client_options(cfg))
}

/// Where `cfg` says the bucket is.
fn address(cfg: &S3Config) -> Address<'_> {
    Address {
        endpoint: cfg.endpoint.as_deref(),
        region: &cfg.region,
        bucket: &cfg.bucket,
        force_path_style: cfg.force_path_style,
    }
}

/// `cfg`'s endpoint and addressing style.
pub(crate) fn endpoint(cfg: &S3Config) -> Result<Endpoint> {
    Endpoint::new(&SPEC, address(cfg))
}

/// A core for `cfg` with its own client.
pub(crate) fn new(cfg: S3Config) -> Result<Core> {
    let http = client(&cfg)?;
    with_client(cfg, http)
}

/// A core for `cfg` that sends through `http` (a client from [`client`]).
pub(crate) fn with_client(cfg: S3Config, http: reqwest::Client) -> Result<Core> {
    let endpoint = endpoint(&cfg)?;
    Ok(with_parts(cfg, endpoint, http))
}

/// A core for calls on the service rather than on a bucket (ListBuckets),
/// sending through `http`; `cfg.bucket` is ignored.
pub(crate) fn service(cfg: S3Config, http: reqwest::Client) -> Result<Core> {
    let endpoint = Endpoint::service(&SPEC, address(&cfg))?;
    Ok(with_parts(cfg, endpoint, http))
}

fn with_parts(cfg: S3Config, endpoint: Endpoint, http: reqwest::Client) -> Core {
    let creds = if cfg.anonymous {
        Source::Anonymous
    } else if cfg.access_key_id.is_empty() {
        Source::Chain(Chain::shared(cfg.profile.as_deref(), &cfg.region))
    } else {
        Source::Static(aws_credential_types::Credentials::new(
            &cfg.access_key_id,
            &cfg.secret_access_key,
            cfg.session_token.clone(),
            None,
            "haul",
        ))
    };
    Core {
        caps: capabilities(&cfg),
        stall: client_options(&cfg).stall_timeout,
        dialect: S3 { cfg, creds },
        endpoint,
        http,
    }
}

impl S3 {
    /// The URL and signed headers of `call` to `endpoint` at `time`,
    /// signed with `creds` (`None`: unsigned).
    pub(crate) fn prepare(
        &self,
        endpoint: &Endpoint,
        call: &Call<'_>,
        creds: Option<&aws_credential_types::Credentials>,
        time: SystemTime,
    ) -> Result<(String, HeaderMap)> {
        if let Some(k) = call.key {
            check_key(k, SPEC.api)?;
        }
        let url = endpoint.url(call.key, &call.query);
        let payload = match &call.body {
            Body::Stream(_) if is_chunked(call) => PayloadHash::StreamingTrailer,
            Body::Stream(_) => PayloadHash::Unsigned,
            body if self.cfg.signed_payload => PayloadHash::Sha256(body_sha256(body)),
            _ => PayloadHash::Unsigned,
        };
        let extra = self.cfg.object.headers_for(call);
        let headers: Cow<'_, [(String, String)]> = if extra.is_empty() {
            Cow::Borrowed(&call.headers)
        } else {
            Cow::Owned(call.headers.iter().cloned().chain(extra).collect())
        };
        let signed = match creds {
            Some(c) => Signer::s3_with(c.clone(), &self.cfg.region).sign_headers(
                call.method.as_str(),
                &url,
                &headers,
                &payload,
                time,
            )?,
            None => Vec::new(),
        };
        let what = call.key.unwrap_or(&self.cfg.bucket);
        let map = header_map(what, headers.iter().chain(&signed))?;
        Ok((url, map))
    }

    /// `key` at `endpoint` presigned for `method` at `time`, valid for
    /// `expires`.
    pub(crate) fn presign(
        &self,
        endpoint: &Endpoint,
        method: &Method,
        key: &str,
        expires: Duration,
        time: SystemTime,
    ) -> Result<String> {
        check_key(key, SPEC.api)?;
        if expires > Duration::from_hours(168) || expires.is_zero() {
            return Err(Error::invalid(
                key,
                "a presigned URL expires after 1 second to 7 days",
            ));
        }
        let url = endpoint.url(Some(key), &[]);
        let creds = self.creds.cached().ok_or_else(|| {
            Error::invalid(
                key,
                "no credentials to presign with: unsigned access, or none fetched yet",
            )
        })?;
        Signer::s3_with(creds, &self.cfg.region).presign(method.as_str(), &url, expires, time)
    }
}

impl Dialect for S3 {
    const SPEC: Spec = SPEC;

    /// Names the access key id, or where the credentials come from.
    fn identify<'a>(&'a self, ctx: ErrorContext<'a>) -> ErrorContext<'a> {
        let ak = match &self.creds {
            Source::Static(_) => self.cfg.access_key_id.as_str(),
            Source::Anonymous => "(none: unsigned requests)",
            Source::Chain(_) => "(from the AWS credential chain)",
        };
        ctx.access_key_id(ak)
    }

    /// Signs and sends `call` (signed afresh for a resend on a stale
    /// connection).
    ///
    /// Credentials from the chain that the store refuses as expired are
    /// dropped and the call is signed with fresh ones and sent again (a
    /// HEAD refused with a bare 400 or 403, which is all S3 can say without
    /// a body, is taken as possibly that: one fetch and one resend); a
    /// streamed body, gone once sent, fails as retryable instead, so the
    /// caller's retry sends it again with the fresh ones.
    async fn send(
        core: &Core,
        call: Call<'_>,
        ctx: &ErrorContext<'_>,
    ) -> Result<reqwest::Response> {
        let s3 = &core.dialect;
        let mut refreshed = false;
        loop {
            let creds = s3.creds.current(ctx.key).await?;
            let sent = send(&core.http, &call.body, ctx, core.stall, || {
                let (url, headers) =
                    s3.prepare(&core.endpoint, &call, creds.as_ref(), SystemTime::now())?;
                Ok(Prepared {
                    method: call.method.clone(),
                    url,
                    headers,
                })
            })
            .await;
            match sent {
                Err(e)
                    if !refreshed
                        && (is_expired(&e)
                            || (call.method == Method::HEAD && may_be_expired_head(&e)))
                        && s3.creds.invalidate(creds.as_ref()).await =>
                {
                    tracing::debug!(key = ctx.key, "credentials expired in flight; refreshing");
                    refreshed = true;
                    if matches!(call.body, Body::Stream(_)) {
                        return Err(Error::Transient {
                            key: ctx.key.to_owned(),
                            source: format!("credentials expired in flight ({e}); refreshed")
                                .into(),
                        });
                    }
                }
                other => return other,
            }
        }
    }

    /// `upload_part_stream`: sent as it is read, with the CRC32C trailing,
    /// when the body computes a CRC32C and nothing that must go first (a
    /// `Content-MD5`); gathered and sent by `upload_part` otherwise, and
    /// always with signed payloads (which would need signed chunks).
    async fn upload_part_stream(
        core: &Core,
        key: &Key,
        id: &UploadId,
        n: PartNumber,
        body: PayloadStream,
    ) -> Result<CompletedPart> {
        let kinds = body.kinds();
        let ahead = body
            .known_sums()
            .is_some_and(|s| s.iter().any(|c| c.kind() == ChecksumKind::Crc32c));
        if !core.caps.streamed_parts
            || (!ahead
                && (!kinds.contains(&ChecksumKind::Crc32c) || kinds.contains(&ChecksumKind::Md5)))
        {
            return core.upload_part(key, id, n, body.collect().await?).await;
        }
        let size = body.len();
        core.check_part_size(key, n, size)?;
        let sums = body.sums();
        let call = Call::new(Method::PUT, Some(key.as_str()))
            .query("partNumber", n.to_string())
            .query("uploadId", id.0.clone());
        let call = sums_ahead_or_chunked(call, body);
        let resp = core
            .send(call, &core.ctx(key.as_str()).upload_id(&id.0))
            .await?;
        let sent = sums
            .get()
            .and_then(|s| s.iter().find(|c| c.kind() == ChecksumKind::Crc32c))
            .cloned();
        Core::acknowledged_part(key, n, size, resp.headers(), sent)
    }

    /// `put_stream`: one PUT sent as it is read, with the CRC32C trailing
    /// (as `upload_part_stream`); gathered and sent by `put` when the body
    /// computes no CRC32C or payloads are signed. A `Content-MD5` cannot go
    /// before a body not yet read: an MD5 asked for is compared with the
    /// answer's ETag instead (S3's ETag of a single unencrypted PUT is its
    /// MD5).
    async fn put_stream(
        core: &Core,
        key: &Key,
        body: PayloadStream,
        opts: PutOptions,
    ) -> Result<PutOutcome> {
        if !core.caps.streamed_puts || !body.kinds().contains(&ChecksumKind::Crc32c) {
            return core.put(key, body.collect().await?, opts).await;
        }
        let size = body.len();
        core.check_put_size(key, size)?;
        let sums = body.sums();
        let call = Call::new(Method::PUT, Some(key.as_str()));
        let call = sums_ahead_or_chunked(Core::add_object_headers(call, key, &opts)?, body);
        let resp = core.send(call, &core.ctx(key.as_str())).await?;
        let out = Core::outcome_from_headers(resp.headers());
        let read = sums.get().unwrap_or_default();
        let sent = |kind| read.iter().find(|c: &&Checksum| c.kind() == kind);
        let told = out
            .checksums
            .iter()
            .find(|c| c.kind() == ChecksumKind::Crc32c)
            .map(Checksum::to_string);
        let etag = out
            .etag
            .as_deref()
            // With SSE-KMS or SSE-C the ETag is no MD5 (caps say so).
            .filter(|e| {
                core.caps.etag_is_md5 && e.len() == 32 && e.bytes().all(|b| b.is_ascii_hexdigit())
            })
            .map(|e| format!("md5:{}", e.to_ascii_lowercase()));
        for (ours, theirs) in [
            (sent(ChecksumKind::Crc32c).map(Checksum::to_string), told),
            (
                sent(ChecksumKind::Md5).map(|c| format!("md5:{}", c.to_hex())),
                etag,
            ),
        ] {
            if let (Some(ours), Some(theirs)) = (ours, theirs)
                && ours != theirs
            {
                return Err(Error::Integrity {
                    key: key.to_string(),
                    expected: ours,
                    actual: theirs,
                });
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderMap;

    use super::*;

    #[test]
    fn a_body_with_its_sums_ahead_goes_plain_with_the_sum_as_a_header() {
        let bytes = bytes::Bytes::from_static(b"hello world");
        let body = || {
            let chunks = futures::stream::iter([Ok(bytes.clone())]);
            PayloadStream::new(
                "k",
                11,
                &[ChecksumKind::Crc32c],
                futures::StreamExt::boxed(chunks),
            )
        };
        let crc = haul_core::checksum::compute(ChecksumKind::Crc32c, &bytes);
        let header = |call: &Call<'_>, name: &str| {
            call.headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let ahead = sums_ahead_or_chunked(
            Call::new(Method::PUT, Some("k")),
            body().with_known_sums(vec![crc.clone()]),
        );
        assert_eq!(
            header(&ahead, "x-amz-checksum-crc32c"),
            Some(crc.to_base64())
        );
        assert!(!is_chunked(&ahead), "no framing");
        assert!(matches!(&ahead.body, Body::Stream(s) if s.len() == 11));
        let trailing = sums_ahead_or_chunked(Call::new(Method::PUT, Some("k")), body());
        assert!(is_chunked(&trailing), "sums known only at the end trail it");
        assert_eq!(header(&trailing, "x-amz-checksum-crc32c"), None);
    }

    fn cfg(endpoint: Option<&str>, bucket: &str) -> S3Config {
        let mut c = S3Config::new(bucket, "eu-west-1", "AK", "SK");
        c.endpoint = endpoint.map(str::to_owned);
        c
    }

    fn encode_key(key: &str) -> String {
        haul_s3_dialect::encode_key(key)
    }

    fn encode(s: &str) -> String {
        haul_s3_dialect::encode(s)
    }

    fn decode_listed(s: &str) -> Result<String> {
        haul_s3_dialect::decode_listed(s, SPEC.addressing.plus_is_space)
    }

    fn check_key(key: &str) -> Result<()> {
        haul_s3_dialect::check_key(key, SPEC.api)
    }

    fn service(cfg: &S3Config) -> Result<Endpoint> {
        Endpoint::service(&SPEC, address(cfg))
    }

    #[test]
    fn encodes_keys() {
        assert_eq!(encode_key("a b/c+d%e#f?g"), "a%20b/c%2Bd%25e%23f%3Fg");
        assert_eq!(encode_key("日/~x_y-z.txt"), "%E6%97%A5/~x_y-z.txt");
        assert_eq!(encode_key("/lead//double/"), "/lead//double/");
        assert_eq!(encode("a=b&c"), "a%3Db%26c");
        assert_eq!(decode_listed("a+b%2Bc%25%20d").expect("decode"), "a b+c% d");
        assert!(check_key("a/../b").is_err() && check_key("./a").is_err());
        assert!(check_key("a/..b/.c").is_ok());
    }

    #[test]
    fn addressing() {
        let e = endpoint(&cfg(None, "photos")).expect("aws");
        assert!(!e.path_style());
        assert_eq!(
            e.url(Some("a b"), &[]),
            "https://photos.s3.eu-west-1.amazonaws.com/a%20b"
        );
        assert_eq!(
            e.url(
                None,
                &[("list-type", "2".into()), ("prefix", "x y/".into())]
            ),
            "https://photos.s3.eu-west-1.amazonaws.com/?list-type=2&prefix=x%20y%2F"
        );
        let e = endpoint(&cfg(Some("http://127.0.0.1:9000"), "b")).expect("ip");
        assert!(e.path_style());
        assert_eq!(
            e.url(Some("k"), &[("uploads", String::new())]),
            "http://127.0.0.1:9000/b/k?uploads"
        );
        assert_eq!(e.url(None, &[]), "http://127.0.0.1:9000/b");
        assert_eq!(e.copy_source("d/a b"), "/b/d/a%20b");
        assert!(
            endpoint(&cfg(Some("http://localhost:1/base/"), "b"))
                .expect("local")
                .url(Some("k"), &[])
                .ends_with("localhost:1/base/b/k")
        );
        assert!(
            endpoint(&cfg(Some("http://[::1]:9"), "b"))
                .expect("v6")
                .path_style()
        );
        assert!(
            endpoint(&cfg(Some("https://minio.example"), "My_Bucket"))
                .expect("odd")
                .path_style()
        );
        let mut forced = cfg(Some("https://minio.example"), "b");
        forced.force_path_style = true;
        assert!(endpoint(&forced).expect("forced").path_style());
        assert_eq!(
            service(&cfg(None, "")).expect("service").url(None, &[]),
            "https://s3.eu-west-1.amazonaws.com/"
        );
        assert_eq!(
            service(&cfg(Some("http://127.0.0.1:9000/base/"), ""))
                .expect("service")
                .url(None, &[("continuation-token", "t".into())]),
            "http://127.0.0.1:9000/base/?continuation-token=t"
        );
        assert!(endpoint(&cfg(Some("ftp://x"), "b")).is_err());
        assert!(endpoint(&cfg(Some("not a url"), "b")).is_err());
    }

    #[test]
    fn checksum_headers() {
        let checksums_from_headers = |h: &HeaderMap| SPEC.checksums_from_headers(h);
        let mut h = HeaderMap::new();
        h.insert("x-amz-checksum-crc32c", "4waSgw==".parse().expect("hv"));
        h.insert("x-amz-checksum-crc32", "y/Q5Jg==".parse().expect("hv"));
        let got = checksums_from_headers(&h);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].crc_value(), Some(0xE306_9283));
        h.insert("x-amz-checksum-crc32c", "dYPmEQ==-2".parse().expect("hv"));
        assert_eq!(
            checksums_from_headers(&h).len(),
            1,
            "composite value skipped"
        );
        h.insert("x-amz-checksum-type", "COMPOSITE".parse().expect("hv"));
        assert!(checksums_from_headers(&h).is_empty());
    }
}
