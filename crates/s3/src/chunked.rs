//! Parts sent while they are read: `aws-chunked` bodies with the CRC32C in
//! a trailer (`STREAMING-UNSIGNED-PAYLOAD-TRAILER`).
//!
//! A part's checksum is known only once its last byte has been read, so a
//! part that streams from its source cannot carry `x-amz-checksum-crc32c`
//! as a header. AWS's answer, which its SDKs use by default, is the
//! `aws-chunked` content encoding: the bytes go in frames
//! (`<hex size>\r\n<bytes>\r\n`), a zero-size frame ends them, and the
//! checksum follows as a trailing header that the server verifies before it
//! keeps the part. Frames are [`FRAME`] bytes (the last one shorter), so the
//! encoded length — the request's `Content-Length` — is known before the
//! first byte is read. The frames are slices of the source's buffers: no
//! byte is copied.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use haul_core::{
    Checksum, ChecksumKind, CompletedPart, Error, Key, PartNumber, PayloadStream, PutOptions,
    PutOutcome, Result, UploadId,
};
use haul_http::send::StreamBody;
use http::Method;

use crate::core::{Body, Call, Core};

/// Bytes of data in every frame but the last: one local read chunk, so a
/// part read from a file goes out as one frame per read.
const FRAME: u64 = 1024 * 1024;

/// The trailing header that carries the part's checksum.
const TRAILER: &str = "x-amz-checksum-crc32c";

/// Length of the end of the body: the zero frame, the trailer line (a
/// CRC32C is 8 base64 characters) and the empty line.
const END_LEN: u64 = (3 + TRAILER.len() + 1 + 8 + 2 + 2) as u64;

/// Length of one frame of `n` data bytes.
fn frame_len(n: u64) -> u64 {
    format!("{n:x}").len() as u64 + 2 + n + 2
}

/// The encoded length of `len` bytes: full frames, the rest, the end.
pub(crate) fn encoded_len(len: u64) -> u64 {
    let rest = len % FRAME;
    (len / FRAME) * frame_len(FRAME) + if rest > 0 { frame_len(rest) } else { 0 } + END_LEN
}

/// The `aws-chunked` encoding of a [`PayloadStream`] that computes CRC32C.
struct Chunked {
    body: PayloadStream,
    /// Data bytes not yet framed.
    remaining: u64,
    /// Data bytes still to come in the frame being written.
    left: u64,
    /// Encoded pieces ready to go.
    out: VecDeque<Bytes>,
    ended: bool,
}

impl Chunked {
    fn new(body: PayloadStream) -> Self {
        Self {
            remaining: body.len(),
            body,
            left: 0,
            out: VecDeque::new(),
            ended: false,
        }
    }

    /// Frames `chunk`: a frame header where a frame starts, slices of the
    /// chunk, `\r\n` where a frame ends.
    fn frame(&mut self, mut chunk: Bytes) {
        while !chunk.is_empty() {
            if self.left == 0 {
                self.left = FRAME.min(self.remaining);
                self.out
                    .push_back(Bytes::from(format!("{:x}\r\n", self.left)));
            }
            let take = (chunk.len() as u64).min(self.left) as usize;
            self.out.push_back(chunk.split_to(take));
            self.left -= take as u64;
            self.remaining -= take as u64;
            if self.left == 0 {
                self.out.push_back(Bytes::from_static(b"\r\n"));
            }
        }
    }

    /// The end of the body, with the checksum the stream computed.
    fn end(&self) -> Result<Bytes> {
        let crc = self
            .body
            .checksums()
            .and_then(|s| s.iter().find(|c| c.kind() == ChecksumKind::Crc32c))
            .ok_or_else(|| {
                Error::transient(self.body.key(), "the part's body ended without its CRC32C")
            })?;
        Ok(Bytes::from(format!(
            "0\r\n{TRAILER}:{}\r\n\r\n",
            crc.to_base64()
        )))
    }
}

impl Stream for Chunked {
    type Item = Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes>>> {
        loop {
            if let Some(piece) = self.out.pop_front() {
                return Poll::Ready(Some(Ok(piece)));
            }
            if self.ended {
                return Poll::Ready(None);
            }
            match self.body.poll_next_unpin(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(chunk))) => self.frame(chunk),
                Poll::Ready(Some(Err(e))) => {
                    self.ended = true;
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(None) => {
                    self.ended = true;
                    let end = self.end();
                    match end {
                        Ok(end) => self.out.push_back(end),
                        Err(e) => return Poll::Ready(Some(Err(e))),
                    }
                }
            }
        }
    }
}

/// `call` with `body` as its aws-chunked body, the CRC32C trailing.
fn chunked(call: Call<'_>, body: PayloadStream) -> Call<'_> {
    let size = body.len();
    let stream = Chunked::new(body).boxed();
    call.header("content-encoding", "aws-chunked")
        .header("x-amz-decoded-content-length", size.to_string())
        .header("x-amz-sdk-checksum-algorithm", "CRC32C")
        .header("x-amz-trailer", TRAILER)
        .body(Body::Stream(StreamBody::new(encoded_len(size), stream)))
}

/// `upload_part_stream`: sent as it is read, with the CRC32C trailing,
/// when the body computes a CRC32C and nothing that must go first (a
/// `Content-MD5`); gathered and sent by `upload_part` otherwise, and
/// always with signed payloads (which would need signed chunks).
pub(crate) async fn upload_part_stream(
    core: &Core,
    key: &Key,
    id: &UploadId,
    n: PartNumber,
    body: PayloadStream,
) -> Result<CompletedPart> {
    let kinds = body.kinds();
    if !core.caps.streamed_parts
        || !kinds.contains(&ChecksumKind::Crc32c)
        || kinds.contains(&ChecksumKind::Md5)
    {
        return core.upload_part(key, id, n, body.collect().await?).await;
    }
    let size = body.len();
    core.check_part_size(key, n, size)?;
    let sums = body.sums();
    let call = Call::new(Method::PUT, Some(key.as_str()))
        .query("partNumber", n.to_string())
        .query("uploadId", id.0.clone());
    let call = chunked(call, body);
    let resp = core
        .send(call, &core.ctx(key.as_str()).upload_id(&id.0))
        .await?;
    let sent = sums
        .get()
        .and_then(|s| s.iter().find(|c| c.kind() == ChecksumKind::Crc32c))
        .cloned();
    Core::acknowledged_part(key, n, size, resp.headers(), sent)
}

/// `put_stream`: one PUT sent as it is read, with the CRC32C trailing
/// (as [`upload_part_stream`]); gathered and sent by `put` when the body
/// computes no CRC32C or payloads are signed. A `Content-MD5` cannot go
/// before a body not yet read: an MD5 asked for is compared with the
/// answer's ETag instead (S3's ETag of a single unencrypted PUT is its
/// MD5).
pub(crate) async fn put_stream(
    core: &Core,
    key: &Key,
    body: PayloadStream,
    opts: PutOptions,
) -> Result<PutOutcome> {
    if !core.caps.streamed_puts || !body.kinds().contains(&ChecksumKind::Crc32c) {
        return core.put(key, body.collect().await?, opts).await;
    }
    let size = body.len();
    core.check_put_size(key, size)?;
    let sums = body.sums();
    let call = Call::new(Method::PUT, Some(key.as_str()));
    let call = chunked(Core::add_object_headers(call, key, &opts)?, body);
    let resp = core.send(call, &core.ctx(key.as_str())).await?;
    let out = Core::outcome_from_headers(resp.headers());
    let read = sums.get().unwrap_or_default();
    let sent = |kind| read.iter().find(|c: &&Checksum| c.kind() == kind);
    let told = out
        .checksums
        .iter()
        .find(|c| c.kind() == ChecksumKind::Crc32c)
        .map(Checksum::to_string);
    let etag = out
        .etag
        .as_deref()
        // With SSE-KMS or SSE-C the ETag is no MD5 (caps say so).
        .filter(|e| {
            core.caps.etag_is_md5 && e.len() == 32 && e.bytes().all(|b| b.is_ascii_hexdigit())
        })
        .map(|e| format!("md5:{}", e.to_ascii_lowercase()));
    for (ours, theirs) in [
        (sent(ChecksumKind::Crc32c).map(Checksum::to_string), told),
        (
            sent(ChecksumKind::Md5).map(|c| format!("md5:{}", c.to_hex())),
            etag,
        ),
    ] {
        if let (Some(ours), Some(theirs)) = (ours, theirs)
            && ours != theirs
        {
            return Err(Error::Integrity {
                key: key.to_string(),
                expected: ours,
                actual: theirs,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use haul_core::checksum::compute;

    fn encode(data: &'static [u8], pieces: &[usize]) -> Vec<u8> {
        let mut items = Vec::new();
        let mut at = 0;
        for &n in pieces {
            items.push(Ok(Bytes::from_static(&data[at..at + n])));
            at += n;
        }
        let body = PayloadStream::new(
            "k",
            data.len() as u64,
            &[ChecksumKind::Crc32c],
            futures::stream::iter(items).boxed(),
        );
        let mut out = Vec::new();
        let mut chunked = Chunked::new(body);
        while let Some(piece) = futures::executor::block_on(chunked.next()) {
            out.extend_from_slice(&piece.expect("piece"));
        }
        assert_eq!(out.len() as u64, encoded_len(data.len() as u64));
        out
    }

    #[test]
    fn small_bodies_are_one_frame_and_the_trailer() {
        let crc = compute(ChecksumKind::Crc32c, b"hello world").to_base64();
        let want = format!("b\r\nhello world\r\n0\r\nx-amz-checksum-crc32c:{crc}\r\n\r\n");
        assert_eq!(encode(b"hello world", &[1, 4, 6]), want.as_bytes());
        let empty = compute(ChecksumKind::Crc32c, b"").to_base64();
        let want = format!("0\r\nx-amz-checksum-crc32c:{empty}\r\n\r\n");
        assert_eq!(encode(b"", &[]), want.as_bytes());
    }

    #[test]
    fn frames_split_and_join_source_chunks() {
        let f = FRAME as usize;
        let len = 2 * f + 18_928;
        let data: &'static [u8] = Box::leak(vec![7u8; len].into_boxed_slice());
        let out = encode(data, &[1, f + 10, len - f - 11]);
        let head = format!("{f:x}\r\n");
        assert_eq!(&out[..head.len()], head.as_bytes());
        let second = head.len() + f + 2;
        let joint = format!("\r\n{f:x}\r\n");
        assert_eq!(&out[second - 2..second + head.len()], joint.as_bytes());
        let third = second + head.len() + f + 2;
        assert_eq!(&out[third..third + 6], b"49f0\r\n");
    }
}
