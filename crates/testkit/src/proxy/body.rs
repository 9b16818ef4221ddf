//! Answer bodies: small ones the proxy writes, and the server's, streamed
//! through and damaged on request; and request bodies, forwarded with one
//! byte flipped on request.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::{Body, Bytes, Frame, Incoming, SizeHint};
use tokio::time::Sleep;

use super::conn::ConnFlags;

/// The error type of [`ProxyBody`].
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What happens to a forwarded body once `at` bytes have been sent.
#[derive(Debug)]
pub(crate) enum Damage {
    /// Nothing.
    None,
    /// Stop there and have the connection closed once those bytes are out.
    Cut {
        /// Bytes sent before the cut.
        at: u64,
    },
    /// Pause there, then go on.
    Pause {
        /// Bytes sent before the pause.
        at: u64,
        /// How long.
        pause: Duration,
    },
}

/// An answer body.
pub(crate) enum ProxyBody {
    /// A body the proxy wrote whole (an error document).
    Full(Option<Bytes>),
    /// The server's body, streamed.
    Forward(Box<Forward>),
}

/// The server's body in flight.
pub(crate) struct Forward {
    inner: Incoming,
    damage: Damage,
    flags: Arc<ConnFlags>,
    /// Bytes handed to hyper so far.
    sent: u64,
    /// The part of a chunk held back at the damage point.
    held: Option<Bytes>,
    /// The running pause, once reached.
    sleep: Option<Pin<Box<Sleep>>>,
    /// The pause is over (or there was none).
    resumed: bool,
}

impl ProxyBody {
    /// A body of `bytes`.
    pub(crate) fn full(bytes: impl Into<Bytes>) -> Self {
        Self::Full(Some(bytes.into()))
    }

    /// The server's body, damaged as `damage` says.
    pub(crate) fn forward(inner: Incoming, damage: Damage, flags: Arc<ConnFlags>) -> Self {
        Self::Forward(Box::new(Forward {
            inner,
            damage,
            flags,
            sent: 0,
            held: None,
            sleep: None,
            resumed: false,
        }))
    }
}

impl Forward {
    /// Where the damage strikes, if anywhere.
    fn damage_at(&self) -> Option<u64> {
        match self.damage {
            Damage::None => None,
            Damage::Cut { at } | Damage::Pause { at, .. } => Some(at),
        }
    }

    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some(at) = self.damage_at()
            && self.sent >= at
        {
            match self.damage {
                Damage::Cut { .. } => {
                    // Everything before the cut has been handed over; the
                    // connection's writer fails its next flush, after those
                    // bytes are out. Never ends: hyper must not finish the body.
                    self.flags.cut();
                    return Poll::Pending;
                }
                Damage::Pause { pause, .. } if !self.resumed => {
                    let sleep = self
                        .sleep
                        .get_or_insert_with(|| Box::pin(tokio::time::sleep(pause)));
                    if sleep.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    self.resumed = true;
                }
                _ => {}
            }
        }
        if let Some(held) = self.held.take() {
            self.sent += held.len() as u64;
            return Poll::Ready(Some(Ok(Frame::data(held))));
        }
        let frame = match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(Some(Ok(f))) => f,
        };
        let mut data = match frame.into_data() {
            Ok(d) => d,
            Err(other) => return Poll::Ready(Some(Ok(other))),
        };
        if let Some(at) = self.damage_at()
            && self.sent < at
            && self.sent + data.len() as u64 > at
        {
            self.held = Some(data.split_off((at - self.sent) as usize));
        }
        self.sent += data.len() as u64;
        Poll::Ready(Some(Ok(Frame::data(data))))
    }
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            Self::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Self::Forward(f) => f.poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Full(bytes) => bytes.is_none(),
            Self::Forward(f) => {
                matches!(f.damage, Damage::None) && f.held.is_none() && f.inner.is_end_stream()
            }
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            // The server's length, which its Content-Length header repeats:
            // a cut body is announced whole.
            Self::Forward(f) if f.sent == 0 => f.inner.size_hint(),
            Self::Forward(_) => SizeHint::default(),
        }
    }
}

/// A request body on its way to the server, with the byte at `flip`
/// (counted from the start of the body as sent) inverted, if set.
pub(crate) struct Upload {
    inner: Incoming,
    flip: Option<u64>,
    /// Bytes forwarded so far.
    seen: u64,
}

impl Upload {
    /// `inner`, with the byte at offset `flip` inverted when set.
    pub(crate) fn new(inner: Incoming, flip: Option<u64>) -> Self {
        Self {
            inner,
            flip,
            seen: 0,
        }
    }
}

impl Body for Upload {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let frame = match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(f))) => f,
            other => return other,
        };
        let data = match frame.into_data() {
            Ok(d) => d,
            Err(other) => return Poll::Ready(Some(Ok(other))),
        };
        let start = this.seen;
        this.seen += data.len() as u64;
        match this.flip {
            Some(at) if (start..this.seen).contains(&at) => {
                let mut bytes = data.to_vec();
                bytes[(at - start) as usize] ^= 0xff;
                Poll::Ready(Some(Ok(Frame::data(Bytes::from(bytes)))))
            }
            _ => Poll::Ready(Some(Ok(Frame::data(data)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
