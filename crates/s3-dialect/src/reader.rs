//! HeadObject and GetObject, and reading object metadata off headers.

use haul_core::{ByteRange, Error, GetOptions, GetResponse, Key, ObjectMeta, Result};
use haul_http::attrs::attributes_from_headers;
use haul_http::body_stream;
use haul_http::response::{answered_range, content_length, header};
use haul_http::send::Call;
use haul_http::xml::unquote;
use http::{HeaderMap, Method};

use crate::core::{Core, Dialect};
use crate::spec::Spec;

impl Spec {
    /// The prefix of user metadata headers: `<prefix>meta-`.
    #[must_use]
    pub fn meta_prefix(&self) -> String {
        format!("{}meta-", self.prefix)
    }

    /// The object version an answer names (`<prefix>version-id`, but not
    /// `null`).
    #[must_use]
    pub fn version(&self, h: &HeaderMap) -> Option<String> {
        header(h, &format!("{}version-id", self.prefix))
            .filter(|v| *v != "null")
            .map(str::to_owned)
    }

    /// Object metadata from a HEAD or GET answer, with the whole size
    /// given; the attributes are the standard headers and
    /// `<prefix>meta-*`, RFC 2047 encoded words decoded.
    #[must_use]
    pub fn meta_from_headers(&self, key: &Key, h: &HeaderMap, size: u64) -> ObjectMeta {
        ObjectMeta {
            key: key.clone(),
            size,
            last_modified: header(h, "last-modified")
                .and_then(|v| httpdate::parse_http_date(v).ok()),
            etag: header(h, "etag").map(unquote),
            checksums: self.checksums_from_headers(h),
            version: self.version(h),
            attrs: attributes_from_headers(h, &self.meta_prefix()),
        }
    }
}

impl<D: Dialect> Core<D> {
    /// HeadObject. Where the spec says so, a HEAD refused as denied is
    /// asked again as a one-byte GET, whose error body says why.
    pub async fn head(&self, key: &Key) -> Result<ObjectMeta> {
        let mut call = Call::new(Method::HEAD, Some(key.as_str()));
        for (name, value) in D::SPEC.head_headers {
            call = call.header(*name, *value);
        }
        match self.send(call, &self.ctx(key.as_str())).await {
            Ok(resp) => {
                let size = content_length(key.as_str(), resp.headers())?;
                Ok(D::SPEC.meta_from_headers(key, resp.headers(), size))
            }
            Err(Error::PermissionDenied { .. }) if D::SPEC.explain_denied_head => {
                let opts = GetOptions {
                    range: Some(ByteRange::at(0, 1)),
                    ..GetOptions::default()
                };
                Ok(self.get(key, opts).await?.meta)
            }
            Err(e) => Err(e),
        }
    }

    /// The GetObject call for `key` with `opts` (range, If-Match).
    pub fn get_call<'a>(key: &'a Key, opts: &GetOptions) -> Result<Call<'a>> {
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

    /// GetObject. A whole object's carries what a HEAD does (its
    /// checksums, where the spec asks for them), so its metadata is
    /// HEAD's.
    pub async fn get(&self, key: &Key, opts: GetOptions) -> Result<GetResponse> {
        let mut call = Self::get_call(key, &opts)?;
        if opts.range.is_none() {
            for (name, value) in D::SPEC.head_headers {
                call = call.header(*name, *value);
            }
        }
        let resp = self.send(call, &self.ctx(key.as_str())).await?;
        let h = resp.headers();
        let (range, size) = answered_range(key.as_str(), resp.status(), h)?;
        let mut meta = D::SPEC.meta_from_headers(key, h, size);
        if range.end - range.start != size {
            // Checksums in a ranged answer describe the range (S3) or the
            // whole object (COS): either way not the bytes at hand.
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
