//! PUT, GET, HEAD, DELETE Object and PUT Object copy.

use std::ops::Range;

use haul_core::checksum::compute;
use haul_core::{Checksum, ChecksumKind};

use super::route::{CosError, Handled, Out, Req, bucket_of_host, decode};
use super::state::{Object, Shared, lock};
use super::xml::{DECL, el, iso8601};

/// Checks `Content-MD5` (base64 of the MD5) against `body`, when sent.
pub(crate) fn check_content_md5(req: &Req, body: &[u8]) -> Result<(), CosError> {
    let Some(sent) = req.header("content-md5") else {
        return Ok(());
    };
    let sent = Checksum::from_base64(ChecksumKind::Md5, sent).map_err(|_| {
        CosError::new(
            400,
            "InvalidDigest",
            "The Content-MD5 you specified was invalid.",
        )
    })?;
    if sent != compute(ChecksumKind::Md5, body) {
        return Err(CosError::new(
            400,
            "BadDigest",
            "The Content-MD5 you specified did not match what was received.",
        ));
    }
    Ok(())
}

/// The headers an object keeps, besides Content-Type: COS stores them as
/// object metadata and answers with them (PUT Object).
const KEPT: [&str; 4] = [
    "cache-control",
    "content-disposition",
    "content-encoding",
    "expires",
];

/// Content-Type, and the other kept headers and `x-cos-meta-*` of a request.
pub(crate) fn object_headers(req: &Req) -> (String, Vec<(String, String)>) {
    let ct = req
        .header("content-type")
        .unwrap_or("application/octet-stream")
        .to_owned();
    let meta = req
        .headers
        .iter()
        .filter(|(k, _)| k.as_str().starts_with("x-cos-meta-") || KEPT.contains(&k.as_str()))
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    (ct, meta)
}

/// The headers every object answer carries.
fn object_out(o: &Object, status: u16) -> Out {
    let mut out = Out::status(status)
        .header("etag", format!("\"{}\"", o.etag))
        .header("x-cos-hash-crc64ecma", o.crc64.to_string())
        .header("last-modified", httpdate::fmt_http_date(o.modified))
        .header("content-type", o.content_type.clone())
        .header("accept-ranges", "bytes");
    for (k, v) in &o.meta {
        out = out.header(k, v.clone());
    }
    out
}

pub(crate) fn put(shared: &Shared, req: &Req) -> Handled {
    check_content_md5(req, &req.body)?;
    let (ct, meta) = object_headers(req);
    let o = Object::new(req.body.clone(), ct, meta);
    let out = Out::status(200)
        .header("etag", format!("\"{}\"", o.etag))
        .header("x-cos-hash-crc64ecma", o.crc64.to_string());
    let mut store = lock(&shared.store);
    if let Some(b) = store.buckets.get_mut(&req.bucket) {
        b.objects.insert(req.key.clone(), o);
    }
    Ok(out)
}

/// Resolves `bytes=a-b`, `bytes=a-`, `bytes=-n` against `size`; `None` for
/// a header COS would ignore (several ranges, other units, garbage), and
/// `InvalidRange` for one that cannot be satisfied.
pub(crate) fn parse_range(v: &str, size: u64) -> Result<Option<Range<u64>>, CosError> {
    let Some(spec) = v.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (a, b) = (a.trim(), b.trim());
    let unsatisfiable = || {
        CosError::new(
            416,
            "InvalidRange",
            "The requested range is not satisfiable.",
        )
    };
    let range = if a.is_empty() {
        let Ok(n) = b.parse::<u64>() else {
            return Ok(None);
        };
        if n == 0 || size == 0 {
            return Err(unsatisfiable());
        }
        size.saturating_sub(n)..size
    } else {
        let Ok(start) = a.parse::<u64>() else {
            return Ok(None);
        };
        let end = if b.is_empty() {
            size
        } else {
            match b.parse::<u64>() {
                Ok(last) if last >= start => last.saturating_add(1).min(size),
                _ => return Ok(None),
            }
        };
        if start >= size {
            return Err(unsatisfiable());
        }
        start..end
    };
    Ok(Some(range))
}

fn etag_matches(want: &str, etag: &str) -> bool {
    want.split(',')
        .map(|w| w.trim().trim_start_matches("W/").trim_matches('"'))
        .any(|w| w == "*" || w == etag)
}

pub(crate) fn get(shared: &Shared, req: &Req, head: bool) -> Handled {
    let o = {
        let store = lock(&shared.store);
        store
            .buckets
            .get(&req.bucket)
            .and_then(|b| b.objects.get(&req.key))
            .cloned()
            .ok_or_else(CosError::no_such_key)?
    };
    if let Some(want) = req.header("if-match")
        && !etag_matches(want, &o.etag)
    {
        return Err(CosError::new(
            412,
            "PreconditionFailed",
            "At least one of the preconditions you specified did not hold.",
        ));
    }
    let size = o.data.len() as u64;
    let range = match req.header("range") {
        Some(r) => parse_range(r, size)?,
        None => None,
    };
    let mut out = match &range {
        Some(r) => object_out(&o, 206).header(
            "content-range",
            format!("bytes {}-{}/{size}", r.start, r.end - 1),
        ),
        None => object_out(&o, 200),
    };
    let r = range.unwrap_or(0..size);
    if head {
        out.head_length = Some(r.end - r.start);
        Ok(out)
    } else {
        Ok(out.body(o.data.slice(r.start as usize..r.end as usize)))
    }
}

pub(crate) fn delete(shared: &Shared, req: &Req) -> Out {
    let mut store = lock(&shared.store);
    if let Some(b) = store.buckets.get_mut(&req.bucket) {
        b.objects.remove(&req.key);
    }
    Out::status(204)
}

/// The (bucket, key) an `x-cos-copy-source` names:
/// `<bucket>.cos.<region>.myqcloud.com/<key>` (the SDKs' form, key
/// URL-encoded), or `<host>/<bucket>/<key>` for a path-style endpoint; a
/// scheme and a `?versionId=` are tolerated.
pub(crate) fn copy_source(shared: &Shared, req: &Req) -> Result<(String, String), CosError> {
    let bad = || CosError::invalid_argument("x-cos-copy-source must be <bucket host>/<key>");
    let raw = req.header("x-cos-copy-source").ok_or_else(bad)?;
    let raw = raw
        .strip_prefix("http://")
        .or_else(|| raw.strip_prefix("https://"))
        .unwrap_or(raw);
    let (host, path) = raw.split_once('/').ok_or_else(bad)?;
    let path = path.split_once("?versionId=").map_or(path, |(p, _)| p);
    let path = decode(path, false).ok_or_else(bad)?;
    if let Some((bucket, _)) = bucket_of_host(shared, host) {
        return Ok((bucket, path));
    }
    let (bucket, key) = path.split_once('/').ok_or_else(bad)?;
    Ok((bucket.to_owned(), key.to_owned()))
}

/// The source object of a copy, its `If-Match` checked.
pub(crate) fn source_object(shared: &Shared, req: &Req) -> Result<Object, CosError> {
    let (bucket, key) = copy_source(shared, req)?;
    let o = {
        let store = lock(&shared.store);
        let b = store.buckets.get(&bucket).ok_or_else(|| {
            CosError::new(
                404,
                "NoSuchBucket",
                "The copy source bucket does not exist.",
            )
        })?;
        b.objects
            .get(&key)
            .cloned()
            .ok_or_else(CosError::no_such_key)?
    };
    if let Some(want) = req.header("x-cos-copy-source-if-match")
        && !etag_matches(want, &o.etag)
    {
        return Err(CosError::new(
            412,
            "PreconditionFailed",
            "At least one of the preconditions you specified did not hold.",
        ));
    }
    Ok(o)
}

pub(crate) fn copy(shared: &Shared, req: &Req) -> Handled {
    let src = source_object(shared, req)?;
    let replace = req
        .header("x-cos-metadata-directive")
        .is_some_and(|d| d.eq_ignore_ascii_case("Replaced"));
    let (ct, meta) = if replace {
        object_headers(req)
    } else {
        (src.content_type.clone(), src.meta.clone())
    };
    let o = Object {
        modified: std::time::SystemTime::now(),
        content_type: ct,
        meta,
        ..src
    };
    let body = format!(
        "{DECL}<CopyObjectResult>{}{}{}</CopyObjectResult>",
        el("ETag", &format!("\"{}\"", o.etag)),
        el("LastModified", &iso8601(o.modified)),
        el("CRC64", &o.crc64.to_string()),
    );
    let out = Out::xml(body).header("x-cos-hash-crc64ecma", o.crc64.to_string());
    let mut store = lock(&shared.store);
    if let Some(b) = store.buckets.get_mut(&req.bucket) {
        b.objects.insert(req.key.clone(), o);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let ok = |v: &str| parse_range(v, 100).expect("satisfiable");
        assert_eq!(ok("bytes=0-9"), Some(0..10));
        assert_eq!(ok("bytes=90-200"), Some(90..100));
        assert_eq!(ok("bytes=95-"), Some(95..100));
        assert_eq!(ok("bytes=-5"), Some(95..100));
        assert_eq!(ok("bytes=-500"), Some(0..100));
        assert_eq!(ok("bytes=0-1,5-6"), None);
        assert_eq!(ok("items=0-1"), None);
        assert!(parse_range("bytes=100-", 100).is_err());
        assert!(parse_range("bytes=-1", 0).is_err());
        assert!(etag_matches("\"abc\"", "abc") && etag_matches("*", "x"));
        assert!(!etag_matches("\"abd\"", "abc"));
    }
}
