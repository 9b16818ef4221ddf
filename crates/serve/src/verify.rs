//! Request bodies checked against the checksums their sender declared, in
//! headers or in an `aws-chunked` trailer, before s3s-fs publishes them.
//!
//! s3s-fs writes a body to a temporary file and renames it into place only
//! when the body ends without error. [`Verified`] hashes the body as it
//! passes and, at its end, compares: on a mismatch it fails the stream
//! instead of ending it, so s3s-fs discards the temporary file and the
//! object or part that was there stays, as on S3. The shim then answers
//! `BadDigest`.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::Stream;
use haul_core::{Checksum, ChecksumKind, MultiHasher};
use s3s::dto::StreamingBlob;
use s3s::{S3Error, S3Request, S3Result, TrailingHeaders, s3_error};

/// The checksums a request declared: values sent as headers, and the kind
/// an `x-amz-trailer` header promises at the end of the body.
#[derive(Debug, Default)]
pub(super) struct Declared {
    headers: Vec<(ChecksumKind, String)>,
    trailer: Option<(ChecksumKind, TrailingHeaders)>,
}

/// The header (and trailer) name S3 gives each kind's value.
fn header_name(kind: ChecksumKind) -> Option<&'static str> {
    Some(match kind {
        ChecksumKind::Md5 => "content-md5",
        ChecksumKind::Crc32 => "x-amz-checksum-crc32",
        ChecksumKind::Crc32c => "x-amz-checksum-crc32c",
        ChecksumKind::Crc64Nvme => "x-amz-checksum-crc64nvme",
        ChecksumKind::Sha1 => "x-amz-checksum-sha1",
        ChecksumKind::Crc64Xz | ChecksumKind::Qetag => return None,
    })
}

/// Kinds S3 takes in a header or a trailer.
const KINDS: [ChecksumKind; 5] = [
    ChecksumKind::Md5,
    ChecksumKind::Crc32,
    ChecksumKind::Crc32c,
    ChecksumKind::Crc64Nvme,
    ChecksumKind::Sha1,
];

impl Declared {
    /// What `req` declared, read from its headers.
    pub(super) fn of<T>(req: &S3Request<T>) -> Self {
        let text = |name: &str| req.headers.get(name).and_then(|v| v.to_str().ok());
        let headers = KINDS
            .into_iter()
            .filter_map(|k| Some((k, text(header_name(k)?)?.trim().to_owned())))
            .collect();
        let trailer = text("x-amz-trailer").and_then(|t| {
            let kind = KINDS
                .into_iter()
                .find(|&k| header_name(k).is_some_and(|n| t.trim().eq_ignore_ascii_case(n)))?;
            Some((kind, req.trailing_headers.clone()?))
        });
        Self { headers, trailer }
    }

    /// Whether nothing was declared.
    pub(super) fn is_empty(&self) -> bool {
        self.headers.is_empty() && self.trailer.is_none()
    }

    /// Every kind declared.
    fn kinds(&self) -> Vec<ChecksumKind> {
        let mut kinds: Vec<_> = self.headers.iter().map(|(k, _)| *k).collect();
        kinds.extend(self.trailer.as_ref().map(|(k, _)| *k));
        kinds
    }

    /// The first declared kind whose value differs from `sums` (a promised
    /// trailer that never came counts as differing).
    fn mismatch(&self, sums: &[Checksum]) -> Option<ChecksumKind> {
        let ours = |kind| {
            sums.iter()
                .find(|c| c.kind() == kind)
                .map(Checksum::to_base64)
        };
        let trailer = self.trailer.as_ref().map(|(kind, handle)| {
            let name = header_name(*kind).unwrap_or_default();
            let value = handle
                .read(|h| h.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned))
                .flatten();
            (*kind, value.unwrap_or_default())
        });
        self.headers
            .iter()
            .cloned()
            .chain(trailer)
            .find(|(kind, value)| ours(*kind).as_deref() != Some(value.as_str()))
            .map(|(kind, _)| kind)
    }

    /// Wraps `body` so that it fails at its end unless it matches; the
    /// returned verdict says which kind did not, once the body is done.
    pub(super) fn verify(self, body: StreamingBlob) -> (StreamingBlob, Verdict) {
        let verdict = Verdict::default();
        let hasher = MultiHasher::new(&self.kinds());
        let stream = Verified {
            inner: body,
            hasher: Some(hasher),
            declared: self,
            verdict: verdict.clone(),
        };
        (StreamingBlob::wrap(stream), verdict)
    }
}

/// What [`Verified`] found, readable after the body has been consumed.
#[derive(Debug, Clone, Default)]
pub(super) struct Verdict(Arc<Mutex<Option<Outcome>>>);

/// The end of a verified body.
#[derive(Debug, Clone)]
enum Outcome {
    /// Every declared checksum matched; these are the body's.
    Matched(Vec<Checksum>),
    /// This kind did not.
    Mismatch(ChecksumKind),
}

impl Verdict {
    fn set(&self, outcome: Outcome) {
        if let Ok(mut g) = self.0.lock() {
            *g = Some(outcome);
        }
    }

    fn get(&self) -> Option<Outcome> {
        self.0.lock().ok().and_then(|g| g.clone())
    }

    /// The body's checksum of `kind` in base64, when it was declared and
    /// matched.
    pub(super) fn base64(&self, kind: ChecksumKind) -> Option<String> {
        match self.get()? {
            Outcome::Matched(sums) => sums
                .iter()
                .find(|c| c.kind() == kind)
                .map(Checksum::to_base64),
            Outcome::Mismatch(_) => None,
        }
    }

    /// `BadDigest`, as S3 words it, when a checksum did not match.
    pub(super) fn refusal(&self) -> Option<S3Error> {
        match self.get()? {
            Outcome::Matched(_) => None,
            Outcome::Mismatch(kind) => Some(s3_error!(
                BadDigest,
                "The {kind} you specified did not match the calculated checksum."
            )),
        }
    }
}

/// A body hashed as it passes and checked at its end.
struct Verified {
    inner: StreamingBlob,
    hasher: Option<MultiHasher>,
    declared: Declared,
    verdict: Verdict,
}

impl Stream for Verified {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(chunk))) => {
                if let Some(h) = this.hasher.as_mut() {
                    h.update(&chunk);
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(std::io::Error::other(e)))),
            Poll::Ready(None) => {
                // The trailer, if any, has been read with the last chunk.
                let Some(h) = this.hasher.take() else {
                    return Poll::Ready(None);
                };
                let sums = h.finish();
                match this.declared.mismatch(&sums) {
                    None => {
                        this.verdict.set(Outcome::Matched(sums));
                        Poll::Ready(None)
                    }
                    Some(kind) => {
                        this.verdict.set(Outcome::Mismatch(kind));
                        let msg = format!("{kind} mismatch");
                        Poll::Ready(Some(Err(std::io::Error::other(msg))))
                    }
                }
            }
        }
    }
}

/// Wraps the body of `req` (reached through `body`) so that it is checked
/// against the checksums the request declared, if it declared any.
pub(super) fn verify_body<T>(
    req: &mut S3Request<T>,
    body: impl FnOnce(&mut T) -> &mut Option<StreamingBlob>,
) -> S3Result<Option<Verdict>> {
    let declared = Declared::of(req);
    if declared.is_empty() {
        return Ok(None);
    }
    let slot = body(&mut req.input);
    let blob = slot.take().ok_or_else(|| s3_error!(IncompleteBody))?;
    let (blob, verdict) = declared.verify(blob);
    *slot = Some(blob);
    Ok(Some(verdict))
}

/// `BadDigest` when the body did not match what was declared (the write
/// then failed and nothing was replaced), else `result`.
pub(super) fn settle<T>(result: S3Result<T>, verdict: Option<&Verdict>) -> S3Result<T> {
    match verdict.and_then(Verdict::refusal) {
        Some(refused) => Err(refused),
        None => result,
    }
}

/// Fills an answer's checksum fields with the body's, as S3 reports the
/// checksums it verified.
macro_rules! report {
    ($verdict:expr, $out:expr) => {
        for (kind, field) in [
            (ChecksumKind::Crc32, &mut $out.checksum_crc32),
            (ChecksumKind::Crc32c, &mut $out.checksum_crc32c),
            (ChecksumKind::Crc64Nvme, &mut $out.checksum_crc64nvme),
            (ChecksumKind::Sha1, &mut $out.checksum_sha1),
        ] {
            if let Some(v) = $verdict.base64(kind) {
                *field = Some(v);
            }
        }
    };
}
pub(super) use report;

/// Refuses a `Content-MD5` header that is not the base64 of 16 bytes
/// (`InvalidDigest`, as S3 answers; a well-formed one that differs is
/// `BadDigest`, later).
pub(super) fn check_content_md5(headers: &http::HeaderMap) -> S3Result<()> {
    use base64::Engine as _;
    let Some(value) = headers.get("content-md5") else {
        return Ok(());
    };
    let decoded = value.to_str().ok().and_then(|v| {
        base64::engine::general_purpose::STANDARD
            .decode(v.trim())
            .ok()
    });
    match decoded {
        Some(d) if d.len() == 16 => Ok(()),
        _ => Err(s3_error!(
            InvalidDigest,
            "The Content-MD5 you specified is not valid."
        )),
    }
}
