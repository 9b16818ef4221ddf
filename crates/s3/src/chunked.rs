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
use haul_core::{ChecksumKind, Error, PayloadStream, Result};
use haul_http::send::StreamBody;

use haul_s3_dialect::{Body, Call};

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
pub(crate) fn chunked(call: Call<'_>, body: PayloadStream) -> Call<'_> {
    let size = body.len();
    let stream = Chunked::new(body).boxed();
    call.header("content-encoding", "aws-chunked")
        .header("x-amz-decoded-content-length", size.to_string())
        .header("x-amz-sdk-checksum-algorithm", "CRC32C")
        .header("x-amz-trailer", TRAILER)
        .body(Body::Stream(StreamBody::new(encoded_len(size), stream)))
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
