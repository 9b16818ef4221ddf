//! [`Core`]: the shared state of a store, and the checks every write
//! makes; [`Dialect`]: what a service does its own way, as code.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use haul_core::{
    Capabilities, Checksum, CompletedPart, Error, Key, PartNumber, PayloadStream, PutOptions,
    PutOutcome, Result, UploadId,
};
use haul_http::error::ErrorContext;
use haul_http::response::{check_embedded_error, header, read_small};
use haul_http::send::Call;
use haul_http::xml::unquote;
use http::HeaderMap;

use crate::addr::Endpoint;
use crate::spec::{Spec, Verify};
use crate::sums::check_checksum;

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// The limits S3 and COS share: parts up to 5 GiB, at most 10,000 of
/// them, single PUTs and copies up to 5 GiB, 1000 keys per batch delete,
/// ranged GETs, ListParts and UploadPartCopy; parts of at least 5 MiB
/// (a dialect with smaller parts says so), objects up to `max_object`.
#[must_use]
pub fn base_capabilities(max_object: u64) -> Capabilities {
    Capabilities {
        multipart: true,
        min_part_size_bytes: 5 * MIB,
        max_part_size_bytes: 5 * GIB,
        max_parts: 10_000,
        max_single_put_bytes: 5 * GIB,
        max_object_size_bytes: max_object,
        server_side_copy: true,
        max_copy_bytes: 5 * GIB,
        part_copy: true,
        list_parts: true,
        list: true,
        ranged_get: true,
        native_checksums: Vec::new(),
        wants_content_md5: false,
        etag_is_md5: true,
        batch_delete_max: 1000,
        ..Capabilities::default()
    }
}

/// The shared state of a store over one bucket: its dialect (the
/// configuration and credentials), capabilities, addressing and HTTP
/// client. Every object call is a method of it.
#[derive(Debug)]
pub struct Core<D> {
    /// The dialect: configuration, credentials, signing.
    pub dialect: D,
    /// What the store can do.
    pub caps: Capabilities,
    /// Where requests go.
    pub endpoint: Endpoint,
    /// The pooled HTTP client.
    pub http: reqwest::Client,
    /// How long an answer may stall.
    pub stall: Duration,
}

impl<D: Dialect> Core<D> {
    /// The bucket.
    #[must_use]
    pub fn bucket(&self) -> &str {
        self.endpoint.bucket()
    }

    /// An error context naming `key`, the bucket and the credentials.
    #[must_use]
    pub fn ctx<'a>(&'a self, key: &'a str) -> ErrorContext<'a> {
        self.dialect
            .identify(ErrorContext::new(key).bucket(self.bucket()))
    }

    /// Signs and sends `call`; any answer but 2xx is an error with `ctx`.
    pub async fn send(&self, call: Call<'_>, ctx: &ErrorContext<'_>) -> Result<reqwest::Response> {
        D::send(self, call, ctx).await
    }

    /// Sends `call` and reads its (small) answer body, failing when the body
    /// is an `<Error>` document even though the status was 200.
    pub async fn send_small(
        &self,
        call: Call<'_>,
        ctx: &ErrorContext<'_>,
    ) -> Result<(HeaderMap, Bytes)> {
        let resp = self.send(call, ctx).await?;
        let headers = resp.headers().clone();
        let body = read_small(resp, ctx.key, self.stall).await?;
        check_embedded_error(&body, ctx)?;
        Ok((headers, body))
    }

    /// `<prefix><name>`: one of the service's own headers.
    pub(crate) fn own(name: &str) -> String {
        format!("{}{name}", D::SPEC.prefix)
    }

    /// Refuses a single PUT over the store's limit.
    pub fn check_put_size(&self, key: &Key, size: u64) -> Result<()> {
        let max = self.caps.max_single_put_bytes;
        if size > max {
            return Err(Error::invalid(
                key.as_str(),
                format!("{size} bytes is more than one PUT takes ({max})"),
            ));
        }
        Ok(())
    }

    /// Refuses a part over the store's part size limit.
    pub fn check_part_size(&self, key: &Key, n: PartNumber, size: u64) -> Result<()> {
        let max = self.caps.max_part_size_bytes;
        if size > max {
            return Err(Error::invalid(
                key.as_str(),
                format!("part {n} of {size} bytes is over the {max}-byte part limit"),
            ));
        }
        Ok(())
    }

    /// The part an `UploadPart` answer acknowledges: its ETag, and the
    /// native checksum the store reported (else the one `sent`), compared
    /// with the one sent where the client checks.
    pub fn acknowledged_part(
        key: &Key,
        n: PartNumber,
        size: u64,
        h: &HeaderMap,
        sent: Option<Checksum>,
    ) -> Result<CompletedPart> {
        let etag = header(h, "etag").map(unquote).ok_or_else(|| {
            Error::transient(key.as_str(), format!("part {n} answer has no ETag"))
        })?;
        let sums = &D::SPEC.checksums;
        let reported = sums.native_from(h);
        if sums.verify == Verify::Client {
            check_checksum(
                sums,
                &format!("{key} (part {n})"),
                sent.as_ref(),
                reported.as_ref(),
            )?;
        }
        Ok(CompletedPart {
            number: n,
            etag,
            size,
            checksum: reported.or(sent),
        })
    }

    /// Where the client checks: fails with [`Error::Integrity`], and
    /// deletes the object so the wrong bytes are never visible, when the
    /// native checksum `out` reports differs from the one `sent`.
    pub async fn verify_stored(
        &self,
        key: &Key,
        sent: Option<&Checksum>,
        out: &PutOutcome,
    ) -> Result<()> {
        let sums = &D::SPEC.checksums;
        if sums.verify == Verify::Service {
            return Ok(());
        }
        let reported = out.checksums.iter().find(|c| c.kind() == sums.native);
        if let Err(e) = check_checksum(sums, key.as_str(), sent, reported) {
            // What the store kept is not what we read: never leave it visible.
            let _ = self.delete(key).await;
            return Err(e);
        }
        Ok(())
    }

    /// Writes `name://bucket`, the store's `Display`.
    pub fn fmt_name(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", D::SPEC.scheme, self.bucket())
    }

    /// Writes the store's `Debug` as a struct named `name`: its
    /// configuration `cfg` (whose `Debug` hides the secrets) and the style.
    pub fn fmt_store(
        &self,
        name: &str,
        cfg: &dyn fmt::Debug,
        f: &mut fmt::Formatter<'_>,
    ) -> fmt::Result {
        f.debug_struct(name)
            .field("config", cfg)
            .field("path_style", &self.endpoint.path_style())
            .finish_non_exhaustive()
    }
}

/// What a service does its own way, as code: signing and sending, the
/// credentials errors name, and bodies that stream in.
pub trait Dialect: Sized + Send + Sync + fmt::Debug + 'static {
    /// The service's data.
    const SPEC: Spec;

    /// `ctx` with the credentials (key id, variables) errors should name.
    fn identify<'a>(&'a self, ctx: ErrorContext<'a>) -> ErrorContext<'a>;

    /// Signs and sends `call`; any answer but 2xx is an error with `ctx`.
    fn send(
        core: &Core<Self>,
        call: Call<'_>,
        ctx: &ErrorContext<'_>,
    ) -> impl Future<Output = Result<reqwest::Response>> + Send;

    /// One PUT of a body read as it is sent; by default sent as it is,
    /// its length known ([`Core::put_streamed`]).
    fn put_stream(
        core: &Core<Self>,
        key: &Key,
        body: PayloadStream,
        opts: PutOptions,
    ) -> impl Future<Output = Result<PutOutcome>> + Send {
        core.put_streamed(key, body, opts)
    }

    /// One part of a body read as it is sent; by default gathered first
    /// and sent by [`Core::upload_part`].
    fn upload_part_stream(
        core: &Core<Self>,
        key: &Key,
        id: &UploadId,
        n: PartNumber,
        body: PayloadStream,
    ) -> impl Future<Output = Result<CompletedPart>> + Send {
        async move { core.upload_part(key, id, n, body.collect().await?).await }
    }
}
