//! What the messaging-service emulators (NOS, Easemob, CloudBase) share: a
//! server thread with its own runtime, requests read whole, answers as
//! data (or a dropped connection: an answer lost after the work was done),
//! form bodies, and serving bytes with `Range`.

#![allow(
    dead_code,
    reason = "each emulator uses a part; features pick which are built"
)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use percent_encoding::percent_decode_str;

/// A request, read whole.
#[derive(Debug, Clone, Default)]
pub(crate) struct Req {
    /// `GET`, `POST`, ...
    pub(crate) method: String,
    /// The path as sent (still percent-encoded).
    pub(crate) path: String,
    /// The raw query, without `?`.
    pub(crate) query: Option<String>,
    /// Header names (lowercase) and values, in order.
    pub(crate) headers: Vec<(String, String)>,
    /// The body.
    pub(crate) body: Bytes,
}

impl Req {
    /// The first value of header `name` (lowercase).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The decoded value of query parameter `name`.
    pub(crate) fn param(&self, name: &str) -> Option<String> {
        parse_urlencoded(self.query.as_deref().unwrap_or(""))
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    /// The path, percent-decoded.
    pub(crate) fn decoded_path(&self) -> String {
        percent_decode_str(&self.path)
            .decode_utf8_lossy()
            .into_owned()
    }
}

/// An answer, or none at all.
#[derive(Debug, Clone)]
pub(crate) enum Reply {
    /// An HTTP answer.
    Answer {
        status: u16,
        headers: Vec<(String, String)>,
        body: Bytes,
    },
    /// The connection is closed without an answer.
    Drop,
}

impl Reply {
    /// A JSON answer.
    pub(crate) fn json(status: u16, value: &serde_json::Value) -> Self {
        Self::Answer {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: Bytes::from(value.to_string()),
        }
    }

    /// An answer with no body.
    pub(crate) fn empty(status: u16) -> Self {
        Self::Answer {
            status,
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    /// Adds a header (to an answer).
    pub(crate) fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        if let Self::Answer { headers, .. } = &mut self {
            headers.push((name.to_owned(), value.into()));
        }
        self
    }
}

/// Percent-decodes, with `+` as a space (form encoding).
pub(crate) fn form_decode(s: &str) -> String {
    percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// Parses `a=1&b=2` (form encoding).
pub(crate) fn parse_urlencoded(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((n, v)) => (form_decode(n), form_decode(v)),
            None => (form_decode(p), String::new()),
        })
        .collect()
}

/// One field of a `multipart/form-data` body.
#[derive(Debug, Clone)]
pub(crate) struct Field {
    pub(crate) name: String,
    pub(crate) file_name: Option<String>,
    pub(crate) data: Bytes,
}

/// A parameter of a header value (`name="x"` in Content-Disposition).
fn header_param(value: &str, param: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|p| {
        let (n, v) = p.trim().split_once('=')?;
        n.trim()
            .eq_ignore_ascii_case(param)
            .then(|| v.trim().trim_matches('"').to_owned())
    })
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() || from > haystack.len() - needle.len() {
        return None;
    }
    haystack[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

/// Parses a `multipart/form-data` body given its Content-Type; fields in
/// the order sent.
pub(crate) fn parse_form_data(content_type: &str, body: &Bytes) -> Result<Vec<Field>, String> {
    if !content_type
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("multipart/form-data")
    {
        return Err(format!(
            "Content-Type {content_type:?} is not multipart/form-data"
        ));
    }
    let boundary = header_param(content_type, "boundary").ok_or("no multipart boundary")?;
    let delim = format!("--{boundary}").into_bytes();
    let mut pos = find(body, &delim, 0).ok_or("no first boundary")? + delim.len();
    let mut next_delim = b"\r\n".to_vec();
    next_delim.extend_from_slice(&delim);
    let mut fields = Vec::new();
    loop {
        if body[pos..].starts_with(b"--") {
            return Ok(fields);
        }
        if !body[pos..].starts_with(b"\r\n") {
            return Err("boundary not followed by CRLF".into());
        }
        pos += 2;
        let head_end = find(body, b"\r\n\r\n", pos).ok_or("part without a header end")?;
        let head = String::from_utf8_lossy(&body[pos..head_end]).into_owned();
        let data_start = head_end + 4;
        let data_end = find(body, &next_delim, data_start).ok_or("part without an end")?;
        let mut field = Field {
            name: String::new(),
            file_name: None,
            data: body.slice(data_start..data_end),
        };
        for line in head.split("\r\n") {
            if let Some((n, v)) = line.split_once(':')
                && n.trim().eq_ignore_ascii_case("content-disposition")
            {
                field.name = header_param(v, "name").unwrap_or_default();
                field.file_name = header_param(v, "filename");
            }
        }
        fields.push(field);
        pos = data_end + next_delim.len();
    }
}

/// Parses one `bytes=` range against `size`: `Ok(None)` for no (or an
/// ignorable) header, `Err(())` when unsatisfiable.
fn range(header: Option<&str>, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Ok(None);
    };
    let Some((a, b)) = spec.split_once('-').filter(|_| !spec.contains(',')) else {
        return Ok(None);
    };
    let (a, b) = (a.trim(), b.trim());
    let (start, end) = if a.is_empty() {
        let n: u64 = b.parse().map_err(|_| ())?;
        if n == 0 || size == 0 {
            return Err(());
        }
        (size.saturating_sub(n), size - 1)
    } else {
        let start: u64 = a.parse().map_err(|_| ())?;
        let end = match b {
            "" => size.saturating_sub(1),
            b => b
                .parse::<u64>()
                .map_err(|_| ())?
                .min(size.saturating_sub(1)),
        };
        (start, end)
    };
    if start >= size || start > end {
        return Err(());
    }
    Ok(Some((start, end)))
}

/// Serves `data` to a GET or HEAD, honouring `Range` when `ranges` (206,
/// 416 with `bytes */size`), with `etag` (unquoted MD5) and `modified`.
pub(crate) fn serve_bytes(
    req: &Req,
    data: &Bytes,
    etag: &str,
    modified: std::time::SystemTime,
    ranges: bool,
) -> Reply {
    let size = data.len() as u64;
    let base = |status: u16, body: Bytes| {
        let mut r = Reply::Answer {
            status,
            headers: vec![("content-type".into(), "application/octet-stream".into())],
            body: if req.method == "HEAD" {
                Bytes::new()
            } else {
                body
            },
        }
        .with_header("etag", format!("\"{etag}\""))
        .with_header("last-modified", httpdate::fmt_http_date(modified));
        if ranges {
            r = r.with_header("accept-ranges", "bytes");
        }
        r
    };
    let asked = if ranges { req.header("range") } else { None };
    match range(asked, size) {
        Err(()) => Reply::empty(416).with_header("content-range", format!("bytes */{size}")),
        Ok(None) => base(200, data.clone()).with_header("content-length", size.to_string()),
        Ok(Some((s, e))) => base(206, data.slice(s as usize..=e as usize))
            .with_header("content-range", format!("bytes {s}-{e}/{size}")),
    }
}

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            use std::fmt::Write as _;
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Lowercase hex MD5, for ETags.
pub(crate) fn md5_hex(data: &[u8]) -> String {
    use md5::Digest as _;
    hex(&md5::Md5::digest(data))
}

/// A request handler.
pub(crate) type Handler = Arc<dyn Fn(Req) -> Reply + Send + Sync>;

/// A server thread with its own runtime; stops when dropped.
#[derive(Debug)]
pub(crate) struct Runtime {
    handle: tokio::runtime::Handle,
    stop: tokio::sync::watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl Runtime {
    /// Starts the thread, named `name`.
    pub(crate) fn start(name: &str) -> Self {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("emulator runtime");
                let _ = tx.send(rt.handle().clone());
                let mut stopped = stopped;
                rt.block_on(async move {
                    let _ = stopped.wait_for(|s| *s).await;
                });
                rt.shutdown_background();
            })
            .expect("spawn the emulator thread");
        let handle = rx.recv().expect("the emulator runtime starts");
        Self {
            handle,
            stop,
            thread: Some(thread),
        }
    }

    /// Binds a loopback port and serves `handler` on it.
    pub(crate) fn listen(&self, handler: Handler) -> SocketAddr {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let addr = listener.local_addr().expect("local address");
        let stopped = self.stop.subscribe();
        self.handle.spawn(accept(listener, handler, stopped));
        addr
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The error a handler's [`Reply::Drop`] becomes: hyper closes the
/// connection without answering.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("answer dropped by a fault hook")
    }
}

impl std::error::Error for Dropped {}

async fn accept(
    listener: std::net::TcpListener,
    handler: Handler,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    loop {
        tokio::select! {
            _ = stopped.wait_for(|s| *s) => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let handler = Arc::clone(&handler);
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let handler = Arc::clone(&handler);
                        async move { handle(&handler, req).await }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        }
    }
}

async fn handle(
    handler: &Handler,
    req: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, Dropped> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(http_body_util::Collected::to_bytes)
        .unwrap_or_default();
    let req = Req {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
    };
    let Reply::Answer {
        status,
        headers,
        body,
    } = handler(req)
    else {
        return Err(Dropped);
    };
    let mut resp = hyper::Response::builder().status(status);
    for (n, v) in &headers {
        resp = resp.header(n.as_str(), v.as_str());
    }
    Ok(resp.body(Full::new(body)).unwrap_or_else(|_| {
        let mut r = hyper::Response::new(Full::new(Bytes::from_static(b"bad answer")));
        *r.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
        r
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_and_ranges() {
        let body = Bytes::from_static(
            b"--XX\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\na b\r\n\
--XX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nhello\r\nworld\r\n--XX--\r\n",
        );
        let f = parse_form_data("multipart/form-data; boundary=XX", &body).unwrap();
        assert_eq!((f[0].name.as_str(), &f[0].data[..]), ("key", &b"a b"[..]));
        assert_eq!(f[1].file_name.as_deref(), Some("a.txt"));
        assert_eq!(&f[1].data[..], b"hello\r\nworld");
        assert!(parse_form_data("text/plain", &body).is_err());
        assert_eq!(
            parse_urlencoded("a=%2B+b&c"),
            vec![("a".into(), "+ b".into()), ("c".into(), String::new())]
        );
        assert_eq!(range(Some("bytes=-5"), 100), Ok(Some((95, 99))));
        assert_eq!(range(Some("bytes=100-"), 100), Err(()));
        assert_eq!(range(Some("bytes=0-0"), 0), Err(()));
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
    }
}
