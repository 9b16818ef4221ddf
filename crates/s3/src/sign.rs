//! SigV4 through the `aws-sigv4` crate, configured for S3: the URI is
//! encoded once by us and never normalised, and `x-amz-content-sha256` is
//! always sent.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation,
    SigningSettings, UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use haul_core::{Error, Result};

use haul_s3_dialect::encode;

/// Hex SHA-256 of no bytes.
pub(crate) const EMPTY_SHA256: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Header or query (name, value) pairs.
type Pairs = Vec<(String, String)>;

/// What `x-amz-content-sha256` says about the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PayloadHash {
    /// `UNSIGNED-PAYLOAD`: integrity comes from checksum headers and TLS.
    Unsigned,
    /// The lowercase hex SHA-256 of the body.
    Sha256(String),
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: an `aws-chunked` body whose
    /// checksum comes in a trailer after the last chunk.
    StreamingTrailer,
}

/// Signs requests for one service and region with one identity.
#[derive(Clone)]
pub(crate) struct Signer {
    creds: Credentials,
    region: String,
    service: &'static str,
    /// S3 wants `x-amz-content-sha256` on every request.
    content_sha_header: bool,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("access_key_id", &self.creds.access_key_id())
            .field("region", &self.region)
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A signer for S3 with credentials from any source.
    pub(crate) fn s3_with(creds: Credentials, region: &str) -> Self {
        Self {
            creds,
            region: region.to_owned(),
            service: "s3",
            content_sha_header: true,
        }
    }

    /// A signer for any service (the generic official vectors use `service`).
    #[cfg(test)]
    pub(crate) fn new(
        ak: &str,
        sk: &str,
        token: Option<&str>,
        region: &str,
        service: &'static str,
        content_sha_header: bool,
    ) -> Self {
        Self {
            creds: Credentials::new(ak, sk, token.map(str::to_owned), None, "haul"),
            region: region.to_owned(),
            service,
            content_sha_header,
        }
    }

    fn settings(&self, location: SignatureLocation, expires: Option<Duration>) -> SigningSettings {
        let mut s = SigningSettings::default();
        s.percent_encoding_mode = PercentEncodingMode::Single;
        s.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        s.payload_checksum_kind =
            if self.content_sha_header && location == SignatureLocation::Headers {
                PayloadChecksumKind::XAmzSha256
            } else {
                PayloadChecksumKind::NoHeader
            };
        s.signature_location = location;
        s.expires_in = expires;
        s
    }

    fn run(
        &self,
        method: &str,
        url: &str,
        headers: &[(String, String)],
        payload: &PayloadHash,
        time: SystemTime,
        settings: SigningSettings,
    ) -> Result<(Pairs, Pairs)> {
        let fail = |e: &dyn std::fmt::Display| Error::invalid(url, format!("cannot sign: {e}"));
        let identity = self.creds.clone().into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(self.service)
            .time(time)
            .settings(settings)
            .build()
            .map_err(|e| fail(&e))?
            .into();
        let body = match payload {
            PayloadHash::Unsigned => SignableBody::UnsignedPayload,
            PayloadHash::Sha256(h) => SignableBody::Precomputed(h.clone()),
            PayloadHash::StreamingTrailer => SignableBody::StreamingUnsignedPayloadTrailer,
        };
        let req = SignableRequest::new(
            method,
            url,
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            body,
        )
        .map_err(|e| fail(&e))?;
        let (instructions, _sig) = sign(req, &params).map_err(|e| fail(&e))?.into_parts();
        let (hdrs, query) = instructions.into_parts();
        Ok((
            hdrs.into_iter()
                .map(|h| (h.name().to_owned(), h.value().to_owned()))
                .collect(),
            query
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.into_owned()))
                .collect(),
        ))
    }

    /// The headers to add (`authorization`, `x-amz-date`,
    /// `x-amz-content-sha256`, `x-amz-security-token`) to sign a request of
    /// `url` (already encoded) with `headers`.
    pub(crate) fn sign_headers(
        &self,
        method: &str,
        url: &str,
        headers: &[(String, String)],
        payload: &PayloadHash,
        time: SystemTime,
    ) -> Result<Vec<(String, String)>> {
        let settings = self.settings(SignatureLocation::Headers, None);
        Ok(self.run(method, url, headers, payload, time, settings)?.0)
    }

    /// `url` with the query parameters of a presigned request appended.
    pub(crate) fn presign(
        &self,
        method: &str,
        url: &str,
        expires: Duration,
        time: SystemTime,
    ) -> Result<String> {
        let settings = self.settings(SignatureLocation::QueryParams, Some(expires));
        let (_, params) = self.run(method, url, &[], &PayloadHash::Unsigned, time, settings)?;
        let mut out = url.to_owned();
        let mut sep = if url.contains('?') { '&' } else { '?' };
        for (k, v) in params {
            out.push(sep);
            out.push_str(&encode(&k));
            out.push('=');
            out.push_str(&encode(&v));
            sep = '&';
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2015-08-30T12:36:00Z, the time of the generic suite.
    fn t_2015() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_mins(24_015_636)
    }

    fn signature(headers: &[(String, String)]) -> String {
        let auth = &headers
            .iter()
            .find(|(k, _)| k == "authorization")
            .expect("authorization")
            .1;
        auth.rsplit("Signature=").next().expect("sig").to_owned()
    }

    #[test]
    fn get_vanilla() {
        let s = Signer::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            None,
            "us-east-1",
            "service",
            false,
        );
        let h = s
            .sign_headers(
                "GET",
                "https://example.amazonaws.com/",
                &[],
                &PayloadHash::Sha256(EMPTY_SHA256.into()),
                t_2015(),
            )
            .expect("sign");
        assert_eq!(
            signature(&h),
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
        let auth = &h
            .iter()
            .find(|(k, _)| k == "authorization")
            .expect("auth")
            .1;
        assert!(auth.starts_with(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, "
        ), "{auth}");
    }

    #[test]
    fn get_vanilla_query_order_key_case() {
        let s = Signer::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            None,
            "us-east-1",
            "service",
            false,
        );
        let h = s
            .sign_headers(
                "GET",
                "https://example.amazonaws.com/?Param2=value2&Param1=value1",
                &[],
                &PayloadHash::Sha256(EMPTY_SHA256.into()),
                t_2015(),
            )
            .expect("sign");
        assert_eq!(
            signature(&h),
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"
        );
    }
}
