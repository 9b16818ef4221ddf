//! The accept loop, one HTTP/1.1 connection per client socket, and what
//! happens to each request.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::{Body, Bytes, Incoming};
use hyper::header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HeaderName, RETRY_AFTER};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{HeaderMap, Method, Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::Shared;
use super::body::{Damage, ProxyBody, Upload};
use super::rules::ProxyFault;
use super::stats::{Answered, ProxyFaultKind};

/// What a fault decided about a client connection.
#[derive(Debug, Default)]
pub(crate) struct ConnFlags {
    /// Close with a TCP reset rather than a FIN.
    reset: AtomicBool,
    /// Fail the next flush: the bytes before a body cut are out.
    cut: AtomicBool,
}

impl ConnFlags {
    fn reset(&self) {
        self.reset.store(true, Ordering::SeqCst);
    }

    pub(crate) fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
    }
}

/// A client socket that can be reset on close, or closed once what was
/// written before a body cut has been flushed.
struct FaultIo {
    inner: TcpStream,
    flags: Arc<ConnFlags>,
}

impl AsyncRead for FaultIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for FaultIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    /// hyper flushes only once its buffer is written out; after a cut, that
    /// is the moment to fail the connection, which then closes.
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_flush(cx) {
            Poll::Ready(Ok(())) if this.flags.cut.load(Ordering::SeqCst) => {
                Poll::Ready(Err(io::Error::other("fault proxy: body cut short")))
            }
            other => other,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

impl Drop for FaultIo {
    fn drop(&mut self) {
        if self.flags.reset.load(Ordering::SeqCst) {
            // SO_LINGER 0: close() sends RST and discards unsent data.
            let _ = self.inner.set_zero_linger();
        }
    }
}

/// The service's error: hyper closes the connection without an answer.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("fault proxy: connection reset")
    }
}

impl std::error::Error for Dropped {}

/// What every connection task holds.
struct Ctx {
    shared: Arc<Shared>,
    client: Client<HttpConnector, Upload>,
    request_ids: AtomicU64,
    /// Requests being handled (until their answer's head is sent).
    in_flight: AtomicU64,
}

/// Counts one request in flight until dropped.
struct Flying<'a>(&'a AtomicU64);

impl Drop for Flying<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Accepts and serves connections until `stopped` fires.
pub(crate) async fn serve(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client = Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build(connector);
    let ctx = Arc::new(Ctx {
        shared,
        client,
        request_ids: AtomicU64::new(0),
        in_flight: AtomicU64::new(0),
    });
    loop {
        let socket = tokio::select! {
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(_) => continue,
            },
            _ = &mut stopped => break,
        };
        let _ = socket.set_nodelay(true);
        ctx.shared.counters.connection();
        let flags = Arc::new(ConnFlags::default());
        let io = TokioIo::new(FaultIo {
            inner: socket,
            flags: Arc::clone(&flags),
        });
        let ctx = Arc::clone(&ctx);
        let service = service_fn(move |req| handle(Arc::clone(&ctx), Arc::clone(&flags), req));
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(io, service)
                .await;
        });
    }
}

/// One request: decide, delay, break or forward.
async fn handle(
    ctx: Arc<Ctx>,
    flags: Arc<ConnFlags>,
    req: Request<Incoming>,
) -> Result<Response<ProxyBody>, Dropped> {
    let shared = &ctx.shared;
    let method = req.method().clone();
    let target = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    shared.counters.request(method.as_str(), &target);
    let flying = ctx.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    let _flying = Flying(&ctx.in_flight);
    let plan = shared
        .lock_rules()
        .decide(method.as_str(), &target, req.headers(), flying);
    if !plan.delay.is_zero() {
        shared.counters.injected(ProxyFaultKind::Delay);
        tokio::time::sleep(plan.delay).await;
    }
    let id = ctx.request_ids.fetch_add(1, Ordering::Relaxed) + 1;
    match plan.fault {
        Some(ProxyFault::ResetBefore) => {
            shared.counters.injected(ProxyFaultKind::ResetBefore);
            flags.reset();
            return Err(Dropped);
        }
        Some(ProxyFault::SlowDown { retry_after }) => {
            shared.counters.injected(ProxyFaultKind::SlowDown);
            drain(req.into_body()).await;
            let msg = "Please reduce your request rate.";
            return Ok(s3_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "SlowDown",
                msg,
                retry_after,
                id,
            ));
        }
        Some(ProxyFault::InternalError) => {
            shared.counters.injected(ProxyFaultKind::InternalError);
            drain(req.into_body()).await;
            let msg = "We encountered an internal error. Please try again.";
            let code = StatusCode::INTERNAL_SERVER_ERROR;
            return Ok(s3_error(code, "InternalError", msg, None, id));
        }
        _ => {}
    }
    // Halfway through the body as sent: inside the data of an aws-chunked
    // body too, whose frame headers are a few bytes per MiB.
    let mut answered = Answered {
        method: method.as_str().to_owned(),
        target: target.clone(),
        len: header_u64(req.headers(), "x-amz-decoded-content-length")
            .or_else(|| content_length(req.headers()))
            .unwrap_or(0),
        range: header_text(req.headers(), "range"),
        copy_range: header_text(req.headers(), "x-amz-copy-source-range"),
        status: 0,
    };
    let flip = match (&plan.fault, content_length(req.headers())) {
        (Some(ProxyFault::CorruptRequest), Some(n)) if n > 0 => {
            shared.counters.injected(ProxyFaultKind::CorruptRequest);
            Some(n / 2)
        }
        _ => None,
    };
    let resp = match forward(&ctx, req, flip).await {
        Ok(r) => r,
        Err(e) => {
            let msg = format!("fault proxy: upstream unreachable: {e}");
            return Ok(s3_error(
                StatusCode::BAD_GATEWAY,
                "BadGateway",
                &msg,
                None,
                id,
            ));
        }
    };
    answered.status = resp.status().as_u16();
    shared.counters.forwarded(answered);
    let (mut parts, body) = resp.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    let has_body = method != Method::HEAD
        && !body.is_end_stream()
        && content_length(&parts.headers) != Some(0);
    // Half of the announced length; without one, after the first chunk.
    let half = content_length(&parts.headers).map_or(1, |n| n / 2);
    let damage = match plan.fault {
        Some(ProxyFault::ResetAfter) => {
            shared.counters.injected(ProxyFaultKind::ResetAfter);
            drop(body);
            flags.reset();
            return Err(Dropped);
        }
        Some(ProxyFault::TruncateBody) if has_body => {
            shared.counters.injected(ProxyFaultKind::TruncateBody);
            Damage::Cut { at: half }
        }
        Some(ProxyFault::StallBody(pause)) if has_body => {
            shared.counters.injected(ProxyFaultKind::StallBody);
            Damage::Pause { at: half, pause }
        }
        _ => Damage::None,
    };
    Ok(Response::from_parts(
        parts,
        ProxyBody::forward(body, damage, flags),
    ))
}

/// Sends `req` upstream as it came, `Host` header included, with the body
/// byte at `flip` inverted when set.
async fn forward(
    ctx: &Ctx,
    req: Request<Incoming>,
    flip: Option<u64>,
) -> Result<Response<Incoming>, String> {
    let (mut parts, body) = req.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    parts.uri = Uri::builder()
        .scheme("http")
        .authority(ctx.shared.upstream.clone())
        .path_and_query(path)
        .build()
        .map_err(|e| e.to_string())?;
    strip_hop_by_hop(&mut parts.headers);
    ctx.client
        .request(Request::from_parts(parts, Upload::new(body, flip)))
        .await
        .map_err(|e| e.to_string())
}

/// Headers about one connection, not the message.
fn strip_hop_by_hop(h: &mut HeaderMap) {
    h.remove(CONNECTION);
    for name in ["keep-alive", "proxy-connection"] {
        h.remove(HeaderName::from_static(name));
    }
}

fn header_text(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name)?.to_str().ok().map(str::to_owned)
}

fn header_u64(h: &HeaderMap, name: &str) -> Option<u64> {
    header_text(h, name)?.parse().ok()
}

fn content_length(h: &HeaderMap) -> Option<u64> {
    h.get(CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

/// Reads and discards a request body, so the connection can carry the next
/// request.
async fn drain(mut body: Incoming) {
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        if frame.is_err() {
            break;
        }
    }
}

/// An S3 error answer.
fn s3_error(
    status: StatusCode,
    code: &str,
    message: &str,
    retry_after: Option<Duration>,
    id: u64,
) -> Response<ProxyBody> {
    let message = message
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>\
         <Message>{message}</Message><RequestId>haulproxy{id:08}</RequestId></Error>"
    );
    let mut resp = Response::new(ProxyBody::full(Bytes::from(body)));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, "application/xml".parse().expect("static"));
    h.insert(
        "x-amz-request-id",
        format!("haulproxy{id:08}").parse().expect("ascii"),
    );
    if let Some(d) = retry_after {
        let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
        h.insert(RETRY_AFTER, secs.into());
    }
    resp
}
