//! Requests in, answers out: addressing, operations, faults, errors.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;

use super::state::{Shared, lock};
use super::{auth, bucket, multipart, objects, xml};

/// An answer.
pub(crate) type Resp = Response<Full<Bytes>>;

/// A COS operation, as the emulator tells them apart (and as faults name
/// them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CosOp {
    /// Every operation (for [`fail_next`](super::CosEmulator::fail_next)).
    Any,
    /// `PUT /<key>`.
    PutObject,
    /// `GET /<key>`.
    GetObject,
    /// `HEAD /<key>`.
    HeadObject,
    /// `DELETE /<key>`.
    DeleteObject,
    /// `PUT /<key>` with `x-cos-copy-source`.
    CopyObject,
    /// `POST /?delete`.
    DeleteObjects,
    /// `GET /` (GET Bucket).
    ListObjects,
    /// `POST /<key>?uploads`.
    InitiateMultipartUpload,
    /// `PUT /<key>?partNumber&uploadId`.
    UploadPart,
    /// `PUT /<key>?partNumber&uploadId` with `x-cos-copy-source`.
    UploadPartCopy,
    /// `GET /<key>?uploadId`.
    ListParts,
    /// `POST /<key>?uploadId`.
    CompleteMultipartUpload,
    /// `DELETE /<key>?uploadId`.
    AbortMultipartUpload,
    /// `GET /?uploads`.
    ListMultipartUploads,
    /// Anything else.
    Other,
}

/// A refusal, rendered as COS's `<Error>` document.
#[derive(Debug, Clone)]
pub(crate) struct CosError {
    pub(crate) status: u16,
    pub(crate) code: String,
    pub(crate) message: String,
}

impl CosError {
    pub(crate) fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.to_owned(),
            message: message.into(),
        }
    }

    pub(crate) fn no_such_key() -> Self {
        Self::new(404, "NoSuchKey", "The specified key does not exist.")
    }

    pub(crate) fn no_such_upload() -> Self {
        Self::new(
            404,
            "NoSuchUpload",
            "The specified multipart upload does not exist.",
        )
    }

    pub(crate) fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(400, "InvalidArgument", message)
    }
}

/// The result of a handler.
pub(crate) type Handled = Result<Out, CosError>;

/// An answer being built.
#[derive(Debug, Default)]
pub(crate) struct Out {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Bytes,
    /// For HEAD: the length to announce without a body.
    pub(crate) head_length: Option<u64>,
}

impl Out {
    pub(crate) fn status(status: u16) -> Self {
        Self {
            status,
            ..Self::default()
        }
    }

    pub(crate) fn xml(body: String) -> Self {
        Self::status(200)
            .header("content-type", "application/xml")
            .body(Bytes::from(body))
    }

    pub(crate) fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    pub(crate) fn body(mut self, body: Bytes) -> Self {
        self.body = body;
        self
    }
}

/// One request, addressed and decoded.
#[derive(Debug)]
pub(crate) struct Req {
    pub(crate) method: Method,
    pub(crate) headers: HeaderMap,
    /// The `Host` header as received.
    pub(crate) host: String,
    pub(crate) bucket: String,
    /// `""` for bucket-level requests.
    pub(crate) key: String,
    /// The decoded path, as a client signs it.
    pub(crate) signed_path: String,
    /// Decoded query pairs, in order.
    pub(crate) query: Vec<(String, String)>,
    pub(crate) body: Bytes,
    /// Whether the request named the bucket by host (for `Location`).
    pub(crate) region: Option<String>,
}

impl Req {
    /// The first value of query parameter `name`.
    pub(crate) fn q(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A query parameter's value, treating an empty one as absent (the
    /// Python SDK sends `marker=` and `delimiter=` bare).
    pub(crate) fn q_set(&self, name: &str) -> Option<&str> {
        self.q(name).filter(|v| !v.is_empty())
    }

    pub(crate) fn has(&self, name: &str) -> bool {
        self.query.iter().any(|(k, _)| k == name)
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Percent-decodes `s`; with `plus`, a `+` is a space (form encoding, as
/// query strings from Python's `requests` have it).
pub(crate) fn decode(s: &str, plus: bool) -> Option<String> {
    let s = if plus {
        std::borrow::Cow::Owned(s.replace('+', " "))
    } else {
        std::borrow::Cow::Borrowed(s)
    };
    percent_encoding::percent_decode_str(&s)
        .decode_utf8()
        .ok()
        .map(std::borrow::Cow::into_owned)
}

/// The bucket a virtual host names: `<bucket>.cos.<region>.myqcloud.com`
/// gives (bucket, region); another host whose first label is a bucket the
/// emulator has gives (bucket, None).
pub(crate) fn bucket_of_host(shared: &Shared, host: &str) -> Option<(String, Option<String>)> {
    let host = host.rsplit_once(':').map_or(host, |(h, p)| {
        if p.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    let host = host.to_ascii_lowercase();
    if let Some(rest) = host.strip_suffix(".myqcloud.com")
        && let Some((bucket, region)) = rest.split_once(".cos.")
    {
        return Some((bucket.to_owned(), Some(region.to_owned())));
    }
    let (first, _) = host.split_once('.')?;
    lock(&shared.store)
        .buckets
        .contains_key(first)
        .then(|| (first.to_owned(), None))
}

fn parse(shared: &Shared, parts: http::request::Parts, body: Bytes) -> Result<Req, CosError> {
    let host = parts
        .headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let raw_path = parts.uri.path();
    let path =
        decode(raw_path, false).ok_or_else(|| CosError::new(400, "InvalidURI", "bad path"))?;
    let mut query = Vec::new();
    for pair in parts.uri.query().unwrap_or("").split('&') {
        if pair.is_empty() {
            continue;
        }
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let bad = || CosError::new(400, "InvalidURI", "bad query string");
        query.push((
            decode(k, true).ok_or_else(bad)?,
            decode(v, true).ok_or_else(bad)?,
        ));
    }
    let rest = path.strip_prefix('/').unwrap_or(&path);
    let (bucket, key, region) = if let Some((bucket, region)) = bucket_of_host(shared, &host) {
        (bucket, rest.to_owned(), region)
    } else {
        let (b, k) = rest.split_once('/').unwrap_or((rest, ""));
        (b.to_owned(), k.to_owned(), None)
    };
    if bucket.is_empty() {
        return Err(CosError::new(
            400,
            "InvalidBucketName",
            "no bucket in the host or the path",
        ));
    }
    Ok(Req {
        method: parts.method,
        headers: parts.headers,
        host,
        bucket,
        key,
        signed_path: path,
        query,
        body,
        region,
    })
}

/// Which operation `req` is.
fn classify(req: &Req) -> CosOp {
    let copy = req.headers.contains_key("x-cos-copy-source");
    let bucket_level = req.key.is_empty();
    match (&req.method, bucket_level) {
        (&Method::GET, true) if req.has("uploads") => CosOp::ListMultipartUploads,
        (&Method::GET, true) => CosOp::ListObjects,
        (&Method::POST, true) if req.has("delete") => CosOp::DeleteObjects,
        (&Method::PUT, false) if req.has("partNumber") && req.has("uploadId") => {
            if copy {
                CosOp::UploadPartCopy
            } else {
                CosOp::UploadPart
            }
        }
        (&Method::PUT, false) if copy => CosOp::CopyObject,
        (&Method::PUT, false) => CosOp::PutObject,
        (&Method::GET, false) if req.has("uploadId") => CosOp::ListParts,
        (&Method::GET, false) => CosOp::GetObject,
        (&Method::HEAD, false) => CosOp::HeadObject,
        (&Method::POST, false) if req.has("uploads") => CosOp::InitiateMultipartUpload,
        (&Method::POST, false) if req.has("uploadId") => CosOp::CompleteMultipartUpload,
        (&Method::DELETE, false) if req.has("uploadId") => CosOp::AbortMultipartUpload,
        (&Method::DELETE, false) => CosOp::DeleteObject,
        _ => CosOp::Other,
    }
}

/// Answers one request.
pub(crate) async fn handle(shared: &Shared, req: Request<Incoming>) -> Resp {
    let seq = shared.requests.fetch_add(1, Ordering::SeqCst) + 1;
    let request_id = format!("NjVhaGF1bC1lbXU{seq:08x}");
    let (parts, body) = req.into_parts();
    let head = parts.method == Method::HEAD;
    let resource = parts.uri.path().to_owned();
    let Ok(body) = body
        .collect()
        .await
        .map(http_body_util::Collected::to_bytes)
    else {
        let e = CosError::new(400, "IncompleteBody", "the body ended early");
        return render_error(&e, &resource, &request_id, head);
    };
    let out = match parse(shared, parts, body) {
        Ok(req) => dispatch(shared, &req),
        Err(e) => Err(e),
    };
    match out {
        Ok(out) => render(out, &request_id, head),
        Err(e) => render_error(&e, &resource, &request_id, head),
    }
}

fn dispatch(shared: &Shared, req: &Req) -> Handled {
    let op = classify(req);
    if let Some(f) = shared.take_fault(op) {
        let e = CosError::new(f.status, &f.code, "injected by the emulator");
        if f.status == 200 {
            return Ok(Out::xml(xml::error_body(&e, &req.signed_path, "")));
        }
        return Err(e);
    }
    if let Err(e) = auth::verify(shared, req) {
        shared.auth_failures.fetch_add(1, Ordering::SeqCst);
        return Err(e);
    }
    shared.verified.fetch_add(1, Ordering::SeqCst);
    {
        let store = lock(&shared.store);
        let Some(b) = store.buckets.get(&req.bucket) else {
            return Err(CosError::new(
                404,
                "NoSuchBucket",
                "The specified bucket does not exist.",
            ));
        };
        if req.region.as_ref().is_some_and(|r| *r != b.region) {
            return Err(CosError::new(
                404,
                "NoSuchBucket",
                format!("The specified bucket is not in region {:?}.", req.region),
            ));
        }
    }
    match op {
        CosOp::PutObject => objects::put(shared, req),
        CosOp::GetObject => objects::get(shared, req, false),
        CosOp::HeadObject => objects::get(shared, req, true),
        CosOp::DeleteObject => Ok(objects::delete(shared, req)),
        CosOp::CopyObject => objects::copy(shared, req),
        CosOp::DeleteObjects => bucket::delete_many(shared, req),
        CosOp::ListObjects => bucket::list(shared, req),
        CosOp::ListMultipartUploads => Ok(bucket::list_uploads(shared, req)),
        CosOp::InitiateMultipartUpload => Ok(multipart::initiate(shared, req)),
        CosOp::UploadPart => multipart::upload_part(shared, req),
        CosOp::UploadPartCopy => multipart::upload_part_copy(shared, req),
        CosOp::ListParts => multipart::list_parts(shared, req),
        CosOp::CompleteMultipartUpload => multipart::complete(shared, req),
        CosOp::AbortMultipartUpload => multipart::abort(shared, req),
        CosOp::Any | CosOp::Other => Err(CosError::new(
            405,
            "MethodNotAllowed",
            "The specified method is not allowed against this resource.",
        )),
    }
}

fn base(status: u16, request_id: &str) -> http::response::Builder {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("server", "tencent-cos")
        .header("x-cos-request-id", request_id)
}

fn render(out: Out, request_id: &str, head: bool) -> Resp {
    let mut b = base(out.status, request_id);
    for (k, v) in &out.headers {
        b = b.header(k.as_str(), v.as_str());
    }
    let len = out.head_length.unwrap_or(out.body.len() as u64);
    b = b.header("content-length", len.to_string());
    let body = if head { Bytes::new() } else { out.body };
    b.body(Full::new(body))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

fn render_error(e: &CosError, resource: &str, request_id: &str, head: bool) -> Resp {
    let body = xml::error_body(e, resource, request_id);
    let out = Out::status(e.status)
        .header("content-type", "application/xml")
        .body(Bytes::from(body));
    render(out, request_id, head)
}
