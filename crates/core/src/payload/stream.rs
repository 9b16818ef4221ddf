//! [`PayloadStream`]: a part's bytes handed to the store while they are read.

use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use futures::stream::{BoxStream, Stream, StreamExt};

use super::Payload;
use crate::{Checksum, ChecksumKind, Error, MultiHasher, Result};

/// A part body that is read while it is sent: `len` bytes arriving in
/// chunks, hashed in the same pass.
///
/// The stream yields the chunks as the source delivers them. A source that
/// fails, or ends before (or runs past) `len` bytes, yields an error and
/// then ends: a store must not keep a part whose body ended in an error.
/// Once the last chunk has been taken, the checksums of every byte are
/// known, through [`PayloadStream::checksums`] or the [`StreamSums`]
/// handle the producer kept ([`PayloadStream::sums`]).
pub struct PayloadStream {
    key: String,
    len: u64,
    seen: u64,
    inner: BoxStream<'static, Result<Bytes>>,
    /// The last chunk, held while the source is asked for its end.
    last: Option<Bytes>,
    kinds: Vec<ChecksumKind>,
    hasher: Option<MultiHasher>,
    sums: StreamSums,
    /// The checksums were known before the first byte.
    known: bool,
}

/// The checksums of a [`PayloadStream`]'s bytes, set when its last chunk
/// has been taken. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct StreamSums(Arc<OnceLock<Vec<Checksum>>>);

impl StreamSums {
    /// The checksums, once the whole body has been read.
    #[must_use]
    pub fn get(&self) -> Option<&[Checksum]> {
        self.0.get().map(Vec::as_slice)
    }
}

impl PayloadStream {
    /// The `len` bytes of `key` that `inner` yields, hashed with `kinds` as
    /// they pass.
    #[must_use]
    pub fn new(
        key: &str,
        len: u64,
        kinds: &[ChecksumKind],
        inner: BoxStream<'static, Result<Bytes>>,
    ) -> Self {
        Self {
            key: key.to_owned(),
            len,
            seen: 0,
            inner,
            last: None,
            kinds: kinds.to_vec(),
            hasher: Some(MultiHasher::new(kinds)),
            sums: StreamSums::default(),
            known: false,
        }
    }

    /// The body with its checksums known before its first byte: the same
    /// bytes, read again from a source that can be read twice cheaply (a
    /// local file's range), hashed by an earlier pass. A store can then
    /// send the sums ahead of the body (as headers); the bytes are not
    /// hashed again, so a source changed between the two passes is caught
    /// by the store's check of the sums sent ahead.
    #[must_use]
    pub fn with_known_sums(mut self, sums: Vec<Checksum>) -> Self {
        self.kinds = sums.iter().map(Checksum::kind).collect();
        self.hasher = Some(MultiHasher::new(&[]));
        let _ = self.sums.0.set(sums);
        self.known = true;
        self
    }

    /// The checksums known before the first byte
    /// ([`with_known_sums`](Self::with_known_sums)), if they were.
    #[must_use]
    pub fn known_sums(&self) -> Option<&[Checksum]> {
        if self.known { self.sums.get() } else { None }
    }

    /// The key of the object the bytes come from (for error messages).
    #[must_use]
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The number of bytes the body holds.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the body holds no bytes.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The kinds of checksum computed on the way.
    #[must_use]
    pub fn kinds(&self) -> &[ChecksumKind] {
        &self.kinds
    }

    /// A handle to the checksums, to read after the store took the body.
    #[must_use]
    pub fn sums(&self) -> StreamSums {
        self.sums.clone()
    }

    /// The checksums, once the whole body has been read.
    #[must_use]
    pub fn checksums(&self) -> Option<&[Checksum]> {
        self.sums.get()
    }

    /// Reads the whole body into a [`Payload`] carrying its checksums.
    ///
    /// # Errors
    /// The source's error, or `Transient` when it delivered a different
    /// number of bytes than promised.
    pub async fn collect(mut self) -> Result<Payload> {
        let mut payload = Payload::new();
        while let Some(chunk) = self.next().await {
            payload.push(chunk?);
        }
        let sums = self.checksums().map(<[Checksum]>::to_vec);
        Ok(payload.with_checksums(sums.unwrap_or_default()))
    }

    fn fail(&mut self, message: String) -> Poll<Option<Result<Bytes>>> {
        self.hasher = None;
        Poll::Ready(Some(Err(Error::transient(self.key.as_str(), message))))
    }
}

impl Stream for PayloadStream {
    type Item = Result<Bytes>;

    /// The chunk that completes the body is held back until the source has
    /// ended, so the checksums are known when the last byte is handed out:
    /// a consumer that stops at `len` bytes (an HTTP client sending a known
    /// length) still leaves them set.
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes>>> {
        if self.hasher.is_none() {
            return Poll::Ready(None);
        }
        match ready!(self.inner.poll_next_unpin(cx)) {
            Some(Ok(chunk)) if chunk.is_empty() => Poll::Ready(Some(Ok(chunk))),
            Some(Ok(chunk)) => {
                self.seen += chunk.len() as u64;
                if self.seen > self.len {
                    let (seen, len) = (self.seen, self.len);
                    return self.fail(format!("read {seen} bytes, more than the {len} expected"));
                }
                if let Some(h) = self.hasher.as_mut() {
                    h.update(&chunk);
                }
                if self.seen < self.len {
                    return Poll::Ready(Some(Ok(chunk)));
                }
                // The body is whole: ask the source for its end first.
                self.last = Some(chunk);
                self.poll_next(cx)
            }
            None if self.last.is_some() => {
                if let Some(h) = self.hasher.take() {
                    let _ = self.sums.0.set(h.finish());
                }
                // Ready(None) follows, as the hasher is gone.
                Poll::Ready(self.last.take().map(Ok))
            }
            Some(Err(e)) => {
                self.hasher = None;
                self.last = None;
                Poll::Ready(Some(Err(e)))
            }
            None if self.seen != self.len => {
                let (seen, len) = (self.seen, self.len);
                self.fail(format!("read {seen} of {len} bytes"))
            }
            None => {
                if let Some(h) = self.hasher.take() {
                    let _ = self.sums.0.set(h.finish());
                }
                Poll::Ready(None)
            }
        }
    }
}

impl fmt::Debug for PayloadStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PayloadStream")
            .field("key", &self.key)
            .field("len", &self.len)
            .field("seen", &self.seen)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checksum::compute;

    fn chunks(parts: &[&'static [u8]]) -> BoxStream<'static, Result<Bytes>> {
        let items: Vec<Result<Bytes>> = parts.iter().map(|p| Ok(Bytes::from_static(p))).collect();
        futures::stream::iter(items).boxed()
    }

    #[tokio::test]
    async fn hashes_what_passes_and_knows_the_sums_at_the_end() {
        let body = PayloadStream::new("k", 6, &[ChecksumKind::Crc32c], chunks(&[b"abc", b"def"]));
        let sums = body.sums();
        assert!(sums.get().is_none());
        let payload = body.collect().await.unwrap();
        assert_eq!(&payload.to_bytes()[..], b"abcdef");
        let want = [compute(ChecksumKind::Crc32c, b"abcdef")];
        assert_eq!(sums.get(), Some(&want[..]));
        assert_eq!(payload.checksums(), &want[..]);
    }

    #[tokio::test]
    async fn the_sums_are_known_when_the_last_byte_is_handed_out() {
        let mut body =
            PayloadStream::new("k", 6, &[ChecksumKind::Crc32c], chunks(&[b"abc", b"def"]));
        let sums = body.sums();
        assert_eq!(&body.next().await.unwrap().unwrap()[..], b"abc");
        assert!(sums.get().is_none());
        assert_eq!(&body.next().await.unwrap().unwrap()[..], b"def");
        // A consumer that stops at the promised length never polls the end.
        let want = [compute(ChecksumKind::Crc32c, b"abcdef")];
        assert_eq!(sums.get(), Some(&want[..]));
        assert!(body.next().await.is_none());
        // A source that has more after the promised length fails.
        let mut long = PayloadStream::new("k", 3, &[ChecksumKind::Crc32c], chunks(&[b"abc", b"d"]));
        let sums = long.sums();
        assert!(long.next().await.unwrap().is_err());
        assert!(sums.get().is_none());
    }

    #[tokio::test]
    async fn short_and_long_bodies_are_transient_errors_without_sums() {
        for (len, parts) in [
            (7, &[&b"abc"[..], b"def"][..]),
            (5, &[&b"abc"[..], b"def"][..]),
        ] {
            let body = PayloadStream::new("k", len, &[ChecksumKind::Crc32c], chunks(parts));
            let sums = body.sums();
            let err = body.collect().await.unwrap_err();
            assert!(matches!(err, Error::Transient { .. }), "{err}");
            assert!(err.to_string().contains("bytes"), "{err}");
            assert!(sums.get().is_none());
        }
    }

    #[tokio::test]
    async fn a_source_error_passes_through_and_ends_the_stream() {
        let items: Vec<Result<Bytes>> = vec![
            Ok(Bytes::from_static(b"ab")),
            Err(Error::transient("k", "reset")),
            Ok(Bytes::from_static(b"cd")),
        ];
        let mut body = PayloadStream::new("k", 4, &[], futures::stream::iter(items).boxed());
        assert!(body.next().await.unwrap().is_ok());
        assert!(body.next().await.unwrap().is_err());
        assert!(body.next().await.is_none());
        assert!(body.checksums().is_none());
    }
}
