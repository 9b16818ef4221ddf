//! HEAD Object and GET Object, object metadata off headers, and the CRC-64
//! that COS reports as `x-cos-hash-crc64ecma`.

use haul_core::{
    ByteRange, Checksum, ChecksumKind, Error, GetOptions, GetResponse, Key, ObjectMeta, Result,
};
use haul_http::attrs::attributes_from_headers;
use haul_http::body_stream;
use haul_http::response::{answered_range, content_length, header};
use haul_http::xml::unquote;
use http::{HeaderMap, Method};

use crate::core::{Call, Core};

/// The header COS reports an object's or a part's CRC-64 in (decimal
/// CRC-64/XZ, protocols.md §2.4).
pub(crate) const CRC64_HEADER: &str = "x-cos-hash-crc64ecma";

/// Parses a decimal CRC-64 as COS writes it.
pub(crate) fn parse_crc64(text: &str) -> Option<Checksum> {
    Checksum::from_decimal(ChecksumKind::Crc64Xz, text).ok()
}

/// The CRC-64 an answer reports, if any.
pub(crate) fn crc64_from(h: &HeaderMap) -> Option<Checksum> {
    header(h, CRC64_HEADER).and_then(parse_crc64)
}

/// Fails with [`Error::Integrity`] when the store reported a CRC-64 that
/// differs from the one computed while reading the bytes.
pub(crate) fn check_crc64(
    what: &str,
    computed: Option<&Checksum>,
    reported: Option<&Checksum>,
) -> Result<()> {
    match (computed, reported) {
        (Some(ours), Some(theirs)) if ours != theirs => Err(Error::Integrity {
            key: what.to_owned(),
            expected: format!("x-cos-hash-crc64ecma {}", ours.to_decimal()),
            actual: format!("x-cos-hash-crc64ecma {}", theirs.to_decimal()),
        }),
        _ => Ok(()),
    }
}

/// The prefix of user metadata headers.
pub(crate) const META_PREFIX: &str = "x-cos-meta-";

/// Object metadata from a HEAD or GET answer, with the whole size given;
/// the attributes are the standard headers and `x-cos-meta-*`, RFC 2047
/// encoded words decoded.
pub(crate) fn meta_from_headers(key: &Key, h: &HeaderMap, size: u64) -> ObjectMeta {
    ObjectMeta {
        key: key.clone(),
        size,
        last_modified: header(h, "last-modified").and_then(|v| httpdate::parse_http_date(v).ok()),
        etag: header(h, "etag").map(unquote),
        checksums: crc64_from(h).into_iter().collect(),
        version: header(h, "x-cos-version-id")
            .filter(|v| *v != "null")
            .map(str::to_owned),
        attrs: attributes_from_headers(h, META_PREFIX),
    }
}

impl Core {
    pub(crate) async fn head(&self, key: &Key) -> Result<ObjectMeta> {
        let call = Call::new(Method::HEAD, Some(key.as_str()));
        match self.send(call, &self.ctx(key.as_str())).await {
            Ok(resp) => {
                let size = content_length(key.as_str(), resp.headers())?;
                Ok(meta_from_headers(key, resp.headers(), size))
            }
            // A HEAD answer has no body to say why it was refused (a bad
            // signature, an expired one, a denied key): ask with a one-byte
            // GET, whose error body says.
            Err(Error::PermissionDenied { .. }) => {
                let opts = GetOptions {
                    range: Some(ByteRange::at(0, 1)),
                    ..GetOptions::default()
                };
                match self.get(key, opts).await {
                    Ok(resp) => Ok(resp.meta),
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    pub(crate) async fn get(&self, key: &Key, opts: GetOptions) -> Result<GetResponse> {
        let mut call = Call::new(Method::GET, Some(key.as_str()));
        if let Some(r) = opts.range {
            if matches!(r, ByteRange::Bounded { start, end } if start >= end)
                || matches!(r, ByteRange::Suffix(0))
            {
                return Err(Error::invalid(key.as_str(), format!("empty range {r:?}")));
            }
            call = call.header("range", r.to_http_header());
        }
        if let Some(etag) = &opts.if_match {
            call = call.header("if-match", format!("\"{}\"", unquote(etag)));
        }
        let resp = self.send(call, &self.ctx(key.as_str())).await?;
        let h = resp.headers();
        let (range, size) = answered_range(key.as_str(), resp.status(), h)?;
        let mut meta = meta_from_headers(key, h, size);
        if range.end - range.start != size {
            // The CRC in a ranged answer is the object's; keep it only for
            // a whole answer, where the caller can compare it with the bytes.
            meta.checksums.clear();
        }
        // A server that ignores If-Match must not hand us a changed object.
        if let (Some(want), Some(got)) = (&opts.if_match, &meta.etag)
            && unquote(want) != *got
        {
            return Err(Error::Precondition {
                key: key.to_string(),
                source: format!("ETag is {got}, not {}", unquote(want)).into(),
            });
        }
        let len = range.end - range.start;
        let body = body_stream(resp, key.as_str(), Some(len), self.stall);
        Ok(GetResponse { meta, range, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
