//! PutObject, CopyObject, DeleteObject and DeleteObjects.

use bytes::Bytes;
use haul_core::{
    Checksum, ChecksumKind, CopyOptions, Error, Key, Payload, PutOptions, PutOutcome, Result,
};
use haul_http::attrs::object_headers;
use haul_http::error::map_code;
use haul_http::response::header;
use haul_http::xml::{self, DeleteError, DeleteResult, unquote};
use http::{HeaderMap, Method};

use crate::core::{Body, Call, Core};
use crate::reader::{CHECKSUM_HEADERS, META_PREFIX, checksums_from_headers};
use crate::xml::CopyResult;

/// Adds `Content-MD5` and one `x-amz-checksum-*` header from the checksums
/// at hand: S3 accepts a single checksum header per request, so the first
/// of CRC32C, CRC32, CRC64NVME, SHA-1 wins. `only` limits the choice (a
/// multipart upload announced its algorithm at creation).
pub(crate) fn add_checksum_headers<'a>(
    mut call: Call<'a>,
    sums: &[&Checksum],
    only: Option<ChecksumKind>,
) -> Call<'a> {
    if let Some(md5) = sums.iter().find(|c| c.kind() == ChecksumKind::Md5) {
        call = call.header("content-md5", md5.to_base64());
    }
    let chosen = CHECKSUM_HEADERS.iter().find_map(|(kind, name)| {
        if only.is_some_and(|o| o != *kind) {
            return None;
        }
        sums.iter().find(|c| c.kind() == *kind).map(|c| (*name, c))
    });
    if let Some((name, c)) = chosen {
        call = call.header(name, c.to_base64());
    }
    call
}

/// Adds the object's attributes as headers: `Content-Type`,
/// `Content-Encoding`, `Cache-Control`, `Content-Disposition` and
/// `x-amz-meta-<name>` (names lowercased; values a header cannot carry as
/// they are go as RFC 2047 encoded words, see [`haul_http::attrs`]).
pub(crate) fn add_object_headers<'a>(
    mut call: Call<'a>,
    key: &Key,
    opts: &PutOptions,
) -> Result<Call<'a>> {
    for (name, value) in object_headers(key, META_PREFIX, opts)? {
        call = call.header(name, value);
    }
    Ok(call)
}

/// What a write answer says: ETag, checksums, version.
pub(crate) fn outcome_from_headers(h: &HeaderMap) -> PutOutcome {
    PutOutcome {
        etag: header(h, "etag").map(unquote),
        checksums: checksums_from_headers(h),
        version: header(h, "x-amz-version-id")
            .filter(|v| *v != "null")
            .map(str::to_owned),
        ..PutOutcome::default()
    }
}

impl Core {
    pub(crate) async fn put(
        &self,
        key: &Key,
        body: Payload,
        opts: PutOptions,
    ) -> Result<PutOutcome> {
        let max = self.caps.max_single_put_bytes;
        if body.len() > max {
            return Err(Error::invalid(
                key.as_str(),
                format!("{} bytes is more than one PUT takes ({max})", body.len()),
            ));
        }
        let sums: Vec<&Checksum> = opts.checksums.iter().chain(body.checksums()).collect();
        let call = Call::new(Method::PUT, Some(key.as_str()));
        let call = add_object_headers(call, key, &opts)?;
        let call = add_checksum_headers(call, &sums, None).body(Body::Payload(body));
        let resp = self.send(call, &self.ctx(key.as_str())).await?;
        Ok(outcome_from_headers(resp.headers()))
    }

    pub(crate) async fn copy(&self, src: &Key, dst: &Key, opts: CopyOptions) -> Result<PutOutcome> {
        self.copy_from(self, src, dst, opts).await
    }

    /// CopyObject of `src` in `from`'s bucket (this one, or another bucket
    /// of the same endpoint and credentials) to `dst` in this bucket. No
    /// `x-amz-metadata-directive` is sent: S3's default, `COPY`, gives the
    /// copy the source's Content-Type, other headers and user metadata.
    pub(crate) async fn copy_from(
        &self,
        from: &Core,
        src: &Key,
        dst: &Key,
        opts: CopyOptions,
    ) -> Result<PutOutcome> {
        crate::addr::check_key(src.as_str())?;
        let mut call = Call::new(Method::PUT, Some(dst.as_str()))
            .header("x-amz-copy-source", from.endpoint.copy_source(src.as_str()));
        if let Some(etag) = &opts.if_match {
            call = call.header(
                "x-amz-copy-source-if-match",
                format!("\"{}\"", unquote(etag)),
            );
        }
        // Errors mostly concern the source (missing, changed): name it and
        // its bucket.
        let ctx = from.ctx(src.as_str()).or_bucket(&self.cfg.bucket);
        let (h, body) = self.send_small(call, &ctx).await?;
        let res: CopyResult = xml::parse(&body, dst.as_str(), "CopyObject")?;
        let mut out = outcome_from_headers(&h);
        if let Some(e) = res.etag {
            out.etag = Some(unquote(&e));
        }
        if out.checksums.is_empty()
            && let Some(c) = res.checksum_crc32c.filter(|c| !c.contains('-'))
            && let Ok(c) = Checksum::from_base64(ChecksumKind::Crc32c, &c)
        {
            out.checksums.push(c);
        }
        Ok(out)
    }

    pub(crate) async fn create_bucket(&self) -> Result<()> {
        let mut call = Call::new(Method::PUT, None);
        if self.cfg.region != "us-east-1" {
            let doc = format!(
                "<CreateBucketConfiguration><LocationConstraint>{}</LocationConstraint></CreateBucketConfiguration>",
                xml::escape(&self.cfg.region)
            );
            call = call.body(Body::Bytes(Bytes::from(doc)));
        }
        let bucket = self.cfg.bucket.clone();
        match self.send(call, &self.ctx(&bucket)).await {
            Err(Error::Provider { code, .. }) if code == "BucketAlreadyOwnedByYou" => Ok(()),
            r => r.map(drop),
        }
    }

    pub(crate) async fn delete(&self, key: &Key) -> Result<()> {
        let call = Call::new(Method::DELETE, Some(key.as_str()));
        match self.send(call, &self.ctx(key.as_str())).await {
            Ok(_) => Ok(()),
            // S3 answers 204 for a missing key; some compatibles say NoSuchKey.
            Err(Error::NotFound { source, .. }) if source.to_string().starts_with("NoSuchKey") => {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    pub(crate) async fn delete_many(&self, keys: &[Key]) -> Result<Vec<Result<()>>> {
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(1000) {
            out.extend(self.delete_batch(chunk).await?);
        }
        Ok(out)
    }

    /// One `DeleteObjects` call of at most 1000 keys. Keys XML cannot carry
    /// are deleted one by one.
    async fn delete_batch(&self, keys: &[Key]) -> Result<Vec<Result<()>>> {
        let batch = xml::DeleteBatch::new(keys, |k| crate::addr::check_key(k).is_ok());
        let mut answer = DeleteResult::default();
        if let Some((doc, md5)) = batch.document() {
            let call = Call::new(Method::POST, None)
                .query("delete", "")
                .header("content-md5", md5)
                .header("content-type", "application/xml")
                .body(Body::Bytes(doc));
            let bucket = self.cfg.bucket.clone();
            let (_, body) = self.send_small(call, &self.ctx(&bucket)).await?;
            answer = xml::parse(&body, &bucket, "DeleteObjects")?;
        }
        let refused = |k: &Key, e: &DeleteError| {
            map_code(None, &e.code, &e.message, None, &self.ctx(k.as_str()))
        };
        Ok(batch.outcomes(&answer, refused, |k| self.delete(k)).await)
    }
}
