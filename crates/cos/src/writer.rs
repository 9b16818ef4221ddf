//! PUT Object, PUT Object copy, DELETE Object and DELETE Multiple Objects.

use futures::StreamExt;
use haul_core::{
    Checksum, ChecksumKind, CopyOptions, Error, Key, Payload, PayloadStream, PutOptions,
    PutOutcome, Result,
};
use haul_http::attrs::object_headers;
use haul_http::error::map_code;
use haul_http::response::header;
use haul_http::send::{Body, StreamBody};
use haul_http::xml::{DeleteBatch, DeleteError, DeleteResult, parse, unquote};
use http::{HeaderMap, Method};

use crate::addr::check_key;
use crate::core::{Call, Core};
use crate::reader::{META_PREFIX, check_crc64, crc64_from, parse_crc64};
use crate::xml::CopyResult;

/// Most keys in one DELETE Multiple Objects request.
pub(crate) const BATCH_DELETE_MAX: usize = 1000;

/// The first checksum of `kind` among `sums`.
pub(crate) fn find<'a>(sums: &[&'a Checksum], kind: ChecksumKind) -> Option<&'a Checksum> {
    sums.iter().copied().find(|c| c.kind() == kind)
}

/// Adds the object's attributes as headers: `Content-Type`,
/// `Content-Encoding`, `Cache-Control`, `Content-Disposition` and
/// `x-cos-meta-<name>` (names lowercased; values a header cannot carry as
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

/// What a write answer says: ETag, CRC-64, version.
pub(crate) fn outcome_from_headers(h: &HeaderMap) -> PutOutcome {
    PutOutcome {
        etag: header(h, "etag").map(unquote),
        checksums: crc64_from(h).into_iter().collect(),
        version: header(h, "x-cos-version-id")
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
        let crc = find(&sums, ChecksumKind::Crc64Xz).cloned();
        let mut call = Call::new(Method::PUT, Some(key.as_str()));
        if let Some(md5) = find(&sums, ChecksumKind::Md5) {
            call = call.header("content-md5", md5.to_base64());
        }
        let call = add_object_headers(call, key, &opts)?.body(Body::Payload(body));
        let resp = self.send(call, &self.ctx(key.as_str())).await?;
        let out = outcome_from_headers(resp.headers());
        if let Err(e) = check_crc64(key.as_str(), crc.as_ref(), out.checksums.first()) {
            // What COS stored is not what we read: never leave it visible.
            let _ = self.delete(key).await;
            return Err(e);
        }
        Ok(out)
    }

    /// `put_stream`: one PUT of a known length sent as it is read. The
    /// CRC-64 COS answers with is compared with the one computed on the way
    /// (a mismatch deletes the object, as `put` does). A `Content-MD5`
    /// must go before the body, so a body asked to carry one is gathered
    /// and sent by `put`.
    pub(crate) async fn put_stream(
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
        let max = self.caps.max_single_put_bytes;
        if size > max {
            return Err(Error::invalid(
                key.as_str(),
                format!("{size} bytes is more than one PUT takes ({max})"),
            ));
        }
        let asked = asked(ChecksumKind::Crc64Xz);
        let sums = body.sums();
        let call = Call::new(Method::PUT, Some(key.as_str()));
        let call = add_object_headers(call, key, &opts)?
            .body(Body::Stream(StreamBody::new(size, body.boxed())));
        let resp = self.send(call, &self.ctx(key.as_str())).await?;
        let out = outcome_from_headers(resp.headers());
        let read = sums
            .get()
            .and_then(|s| s.iter().find(|c| c.kind() == ChecksumKind::Crc64Xz))
            .cloned();
        for sent in [asked, read].into_iter().flatten() {
            if let Err(e) = check_crc64(key.as_str(), Some(&sent), out.checksums.first()) {
                let _ = self.delete(key).await;
                return Err(e);
            }
        }
        Ok(out)
    }

    /// PUT Object copy of `src` to `dst` within the bucket; the source's
    /// Content-Type, other headers and user metadata are copied with it
    /// (`x-cos-metadata-directive: Copy`).
    pub(crate) async fn copy(&self, src: &Key, dst: &Key, opts: CopyOptions) -> Result<PutOutcome> {
        check_key(src.as_str())?;
        let mut call = Call::new(Method::PUT, Some(dst.as_str()))
            .header("x-cos-copy-source", self.endpoint.copy_source(src.as_str()))
            .header("x-cos-metadata-directive", "Copy");
        if let Some(etag) = &opts.if_match {
            call = call.header(
                "x-cos-copy-source-if-match",
                format!("\"{}\"", unquote(etag)),
            );
        }
        // Errors mostly concern the source (missing, changed): name it.
        let (h, body) = self.send_small(call, &self.ctx(src.as_str())).await?;
        let res: CopyResult = parse(&body, dst.as_str(), "PUT Object copy")?;
        let mut out = outcome_from_headers(&h);
        if let Some(e) = res.etag {
            out.etag = Some(unquote(&e));
        }
        if out.checksums.is_empty()
            && let Some(c) = res.crc64.as_deref().and_then(parse_crc64)
        {
            out.checksums.push(c);
        }
        Ok(out)
    }

    pub(crate) async fn delete(&self, key: &Key) -> Result<()> {
        let call = Call::new(Method::DELETE, Some(key.as_str()));
        match self.send(call, &self.ctx(key.as_str())).await {
            Ok(_) => Ok(()),
            // COS answers 204 for a missing key; be lenient with NoSuchKey.
            Err(Error::NotFound { source, .. }) if source.to_string().starts_with("NoSuchKey") => {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    pub(crate) async fn delete_many(&self, keys: &[Key]) -> Result<Vec<Result<()>>> {
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(BATCH_DELETE_MAX) {
            out.extend(self.delete_batch(chunk).await?);
        }
        Ok(out)
    }

    /// One DELETE Multiple Objects call of at most 1000 keys, with the
    /// Content-MD5 COS requires. Keys XML cannot carry are deleted one by one.
    async fn delete_batch(&self, keys: &[Key]) -> Result<Vec<Result<()>>> {
        let batch = DeleteBatch::new(keys, |k| check_key(k).is_ok());
        let mut answer = DeleteResult::default();
        if let Some((doc, md5)) = batch.document() {
            let call = Call::new(Method::POST, None)
                .query("delete", "")
                .header("content-md5", md5)
                .header("content-type", "application/xml")
                .body(Body::Bytes(doc));
            let bucket = self.cfg.bucket.clone();
            let (_, body) = self.send_small(call, &self.ctx(&bucket)).await?;
            answer = parse(&body, &bucket, "DELETE Multiple Objects")?;
        }
        let refused = |k: &Key, e: &DeleteError| {
            map_code(None, &e.code, &e.message, None, &self.ctx(k.as_str()))
        };
        Ok(batch.outcomes(&answer, refused, |k| self.delete(k)).await)
    }
}
