//! HeadObject and GetObject, and reading object metadata off headers.

use haul_core::{
    ByteRange, Checksum, ChecksumKind, Error, GetOptions, GetResponse, Key, ObjectMeta, Result,
};
use haul_http::attrs::attributes_from_headers;
use haul_http::body_stream;
use haul_http::response::{answered_range, content_length, header};
use haul_http::xml::unquote;
use http::{HeaderMap, Method};

use crate::core::{Call, Core};

/// The `x-amz-checksum-*` header of each kind S3 knows.
pub(crate) const CHECKSUM_HEADERS: [(ChecksumKind, &str); 4] = [
    (ChecksumKind::Crc32c, "x-amz-checksum-crc32c"),
    (ChecksumKind::Crc32, "x-amz-checksum-crc32"),
    (ChecksumKind::Crc64Nvme, "x-amz-checksum-crc64nvme"),
    (ChecksumKind::Sha1, "x-amz-checksum-sha1"),
];

/// The prefix of user metadata headers.
pub(crate) const META_PREFIX: &str = "x-amz-meta-";

/// Whole-object checksums in `x-amz-checksum-*` headers. Composite values
/// (`xxxx-N`, or `x-amz-checksum-type: COMPOSITE`) are checksums of part
/// checksums, not of the bytes, and are left out.
pub(crate) fn checksums_from_headers(h: &HeaderMap) -> Vec<Checksum> {
    if header(h, "x-amz-checksum-type").is_some_and(|t| t.eq_ignore_ascii_case("COMPOSITE")) {
        return Vec::new();
    }
    CHECKSUM_HEADERS
        .iter()
        .filter_map(|(kind, name)| {
            let v = header(h, name)?;
            if v.contains('-') {
                return None;
            }
            Checksum::from_base64(*kind, v).ok()
        })
        .collect()
}

/// Object metadata from a HEAD or GET answer, with the whole size given;
/// the attributes are the standard headers and `x-amz-meta-*`, RFC 2047
/// encoded words decoded.
pub(crate) fn meta_from_headers(key: &Key, h: &HeaderMap, size: u64) -> ObjectMeta {
    ObjectMeta {
        key: key.clone(),
        size,
        last_modified: header(h, "last-modified").and_then(|v| httpdate::parse_http_date(v).ok()),
        etag: header(h, "etag").map(unquote),
        checksums: checksums_from_headers(h),
        version: header(h, "x-amz-version-id")
            .filter(|v| *v != "null")
            .map(str::to_owned),
        attrs: attributes_from_headers(h, META_PREFIX),
    }
}

impl Core {
    pub(crate) async fn head(&self, key: &Key) -> Result<ObjectMeta> {
        let call =
            Call::new(Method::HEAD, Some(key.as_str())).header("x-amz-checksum-mode", "ENABLED");
        let resp = self.send(call, &self.ctx(key.as_str())).await?;
        let size = content_length(key.as_str(), resp.headers())?;
        Ok(meta_from_headers(key, resp.headers(), size))
    }

    /// The GetObject call for `key` with `opts` (range, If-Match).
    pub(crate) fn get_call<'a>(key: &'a Key, opts: &GetOptions) -> Result<Call<'a>> {
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
        Ok(call)
    }

    pub(crate) async fn get(&self, key: &Key, opts: GetOptions) -> Result<GetResponse> {
        let call = Self::get_call(key, &opts)?;
        let resp = self.send(call, &self.ctx(key.as_str())).await?;
        let h = resp.headers();
        let (range, size) = answered_range(key.as_str(), resp.status(), h)?;
        let mut meta = meta_from_headers(key, h, size);
        if range.end - range.start != size {
            // Checksums in a ranged answer describe the range, not the object.
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
    fn checksum_headers() {
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
