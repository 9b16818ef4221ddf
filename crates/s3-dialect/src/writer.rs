//! PutObject, CopyObject, DeleteObject and DeleteObjects.

use futures::StreamExt;
use haul_core::{
    Checksum, ChecksumKind, CopyOptions, Error, Key, Payload, PayloadStream, PutOptions,
    PutOutcome, Result,
};
use haul_http::attrs::object_headers;
use haul_http::error::map_code;
use haul_http::response::header;
use haul_http::send::{Body, Call, StreamBody};
use haul_http::xml::{self, DeleteBatch, DeleteError, DeleteResult, unquote};
use http::{HeaderMap, Method};

use crate::addr::check_key;
use crate::core::{Core, Dialect};
use crate::sums::add_checksum_headers;
use crate::xml::CopyResult;

impl<D: Dialect> Core<D> {
    /// Adds the object's attributes as headers: `Content-Type`,
    /// `Content-Encoding`, `Cache-Control`, `Content-Disposition` and
    /// `<prefix>meta-<name>` (names lowercased; values a header cannot
    /// carry as they are go as RFC 2047 encoded words, see
    /// [`haul_http::attrs`]).
    pub fn add_object_headers<'a>(
        mut call: Call<'a>,
        key: &Key,
        opts: &PutOptions,
    ) -> Result<Call<'a>> {
        for (name, value) in object_headers(key, &D::SPEC.meta_prefix(), opts)? {
            call = call.header(name, value);
        }
        Ok(call)
    }

    /// What a write answer says: ETag, checksums, version.
    #[must_use]
    pub fn outcome_from_headers(h: &HeaderMap) -> PutOutcome {
        PutOutcome {
            etag: header(h, "etag").map(unquote),
            checksums: D::SPEC.checksums_from_headers(h),
            version: D::SPEC.version(h),
            ..PutOutcome::default()
        }
    }

    /// PutObject of a gathered body, with `Content-MD5` when the body has
    /// an MD5 and its checksum where the service checks it; where the
    /// client checks, a mismatched object is deleted.
    pub async fn put(&self, key: &Key, body: Payload, opts: PutOptions) -> Result<PutOutcome> {
        self.check_put_size(key, body.len())?;
        let sums: Vec<&Checksum> = opts.checksums.iter().chain(body.checksums()).collect();
        let sent = D::SPEC.checksums.native_of(&sums).cloned();
        let call = Call::new(Method::PUT, Some(key.as_str()));
        let call = Self::add_object_headers(call, key, &opts)?;
        let call =
            add_checksum_headers(&D::SPEC.checksums, call, &sums, None).body(Body::Payload(body));
        let resp = self.send(call, &self.ctx(key.as_str())).await?;
        let out = Self::outcome_from_headers(resp.headers());
        self.verify_stored(key, sent.as_ref(), &out).await?;
        Ok(out)
    }

    /// One PUT of a known length sent as it is read, as it is (what a
    /// dialect does unless it says otherwise). Where the client checks,
    /// the checksum the answer reports is compared with the one asked for
    /// and the one computed on the way (a mismatch deletes the object, as
    /// [`put`](Self::put) does). A `Content-MD5` must go before the body,
    /// so a body asked to carry one is gathered and sent by `put`.
    pub async fn put_streamed(
        &self,
        key: &Key,
        body: PayloadStream,
        opts: PutOptions,
    ) -> Result<PutOutcome> {
        let asked = |kind| opts.checksums.iter().find(|c| c.kind() == kind).cloned();
        let md5 = body.kinds().contains(&ChecksumKind::Md5) || asked(ChecksumKind::Md5).is_some();
        if md5 {
            return self.put(key, body.collect().await?, opts).await;
        }
        let size = body.len();
        self.check_put_size(key, size)?;
        let native = D::SPEC.checksums.native;
        let asked = asked(native);
        let sums = body.sums();
        let call = Call::new(Method::PUT, Some(key.as_str()));
        let call = Self::add_object_headers(call, key, &opts)?
            .body(Body::Stream(StreamBody::new(size, body.boxed())));
        let resp = self.send(call, &self.ctx(key.as_str())).await?;
        let out = Self::outcome_from_headers(resp.headers());
        let read = sums
            .get()
            .and_then(|s| s.iter().find(|c| c.kind() == native))
            .cloned();
        for sent in [asked, read].into_iter().flatten() {
            self.verify_stored(key, Some(&sent), &out).await?;
        }
        Ok(out)
    }

    /// A copy of `src` to `dst` within the bucket.
    pub async fn copy(&self, src: &Key, dst: &Key, opts: CopyOptions) -> Result<PutOutcome> {
        self.copy_from(self, src, dst, opts).await
    }

    /// CopyObject of `src` in `from`'s bucket (this one, or another bucket
    /// of the same endpoint and credentials) to `dst` in this bucket. The
    /// source's Content-Type, other headers and user metadata go with it
    /// (S3's default directive, `COPY`; COS is told so).
    pub async fn copy_from(
        &self,
        from: &Core<D>,
        src: &Key,
        dst: &Key,
        opts: CopyOptions,
    ) -> Result<PutOutcome> {
        check_key(src.as_str(), D::SPEC.api)?;
        let mut call = Call::new(Method::PUT, Some(dst.as_str())).header(
            Self::own("copy-source"),
            from.endpoint.copy_source(src.as_str()),
        );
        if let Some(directive) = D::SPEC.copy_directive {
            call = call.header(Self::own("metadata-directive"), directive);
        }
        if let Some(etag) = &opts.if_match {
            call = call.header(
                Self::own("copy-source-if-match"),
                format!("\"{}\"", unquote(etag)),
            );
        }
        // Errors mostly concern the source (missing, changed): name it and
        // its bucket.
        let ctx = from.ctx(src.as_str()).or_bucket(self.bucket());
        let (h, body) = self.send_small(call, &ctx).await?;
        let res: CopyResult = xml::parse(&body, dst.as_str(), D::SPEC.names.copy)?;
        let mut out = Self::outcome_from_headers(&h);
        if let Some(e) = &res.etag {
            out.etag = Some(unquote(e));
        }
        if out.checksums.is_empty()
            && let Some(c) = res.native(&D::SPEC.checksums)
        {
            out.checksums.push(c);
        }
        Ok(out)
    }

    /// DeleteObject; a key already gone is fine.
    pub async fn delete(&self, key: &Key) -> Result<()> {
        let call = Call::new(Method::DELETE, Some(key.as_str()));
        match self.send(call, &self.ctx(key.as_str())).await {
            Ok(_) => Ok(()),
            // S3 and COS answer 204 for a missing key; some compatibles
            // say NoSuchKey.
            Err(Error::NotFound { source, .. }) if source.to_string().starts_with("NoSuchKey") => {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// DeleteObjects, in batches of the store's limit.
    pub async fn delete_many(&self, keys: &[Key]) -> Result<Vec<Result<()>>> {
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(self.caps.batch_delete_max.max(1)) {
            out.extend(self.delete_batch(chunk).await?);
        }
        Ok(out)
    }

    /// One DeleteObjects call, with the Content-MD5 the services require.
    /// Keys XML cannot carry are deleted one by one.
    async fn delete_batch(&self, keys: &[Key]) -> Result<Vec<Result<()>>> {
        let batch = DeleteBatch::new(keys, |k| check_key(k, D::SPEC.api).is_ok());
        let mut answer = DeleteResult::default();
        if let Some((doc, md5)) = batch.document() {
            let call = Call::new(Method::POST, None)
                .query("delete", "")
                .header("content-md5", md5)
                .header("content-type", "application/xml")
                .body(Body::Bytes(doc));
            let bucket = self.bucket();
            let (_, body) = self.send_small(call, &self.ctx(bucket)).await?;
            answer = xml::parse(&body, bucket, D::SPEC.names.delete_many)?;
        }
        let refused = |k: &Key, e: &DeleteError| {
            map_code(None, &e.code, &e.message, None, &self.ctx(k.as_str()))
        };
        Ok(batch.outcomes(&answer, refused, |k| self.delete(k)).await)
    }
}
