//! Request bodies that are read to their end even when the handler does not.
//!
//! s3s answers some requests before reading their body: an `UploadPart`
//! to an upload that no longer exists gets `NoSuchUpload` at once. hyper
//! then closes the connection with the rest of the body unread, and a
//! client still sending it sees "broken pipe" instead of the answer — on
//! loopback about one time in five for a 5 MiB part. Real S3 servers read
//! (or discard) the body and answer; so does this one: a body dropped
//! before its end is drained by a task of its own, which keeps the
//! connection reading until the client has sent everything and then
//! reads the answer.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;

/// An incoming body that drains itself when dropped unread.
pub(crate) struct Drained {
    inner: Option<Incoming>,
    /// The request said `Expect: 100-continue` and nothing was read yet:
    /// the client waits for `100 Continue` before it sends the body, and
    /// after a final answer it never does. Draining would then wait for a
    /// body that never comes and read the next request as its bytes (the
    /// next request on the connection got 400); such a body is dropped
    /// instead, and hyper closes the connection after the answer.
    awaiting_continue: bool,
}

impl Drained {
    /// Wraps `inner`; `expects_continue` when the request carried
    /// `Expect: 100-continue`.
    pub(crate) fn new(inner: Incoming, expects_continue: bool) -> Self {
        Self {
            inner: Some(inner),
            awaiting_continue: expects_continue,
        }
    }
}

impl Body for Drained {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        // Reading asks hyper for the body: it sends `100 Continue`.
        self.awaiting_continue = false;
        match self.inner.as_mut() {
            Some(body) => Pin::new(body).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), Body::size_hint)
    }
}

impl Drop for Drained {
    fn drop(&mut self) {
        let Some(mut body) = self.inner.take() else {
            return;
        };
        if body.is_end_stream() || self.awaiting_continue {
            return;
        }
        // Outside a runtime (never, in this server) the body is dropped
        // and hyper closes the connection as before.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move { while let Some(Ok(_)) = body.frame().await {} });
        }
    }
}
