//! A bucket's download domain: `GET`/`HEAD /<key>` with `Range`, through a
//! verified signed URL when the bucket is private.

use percent_encoding::percent_decode_str;

use super::sign::verify_private_url;
use super::state::State;
use super::wire::{Reply, Req};

/// Parses one `bytes=` range against `size`: `Ok(None)` for no (or an
/// ignorable) header, `Err(())` when unsatisfiable.
fn range(header: Option<&str>, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.split_once('-') else {
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
        let end = if b.is_empty() {
            size.saturating_sub(1)
        } else {
            b.parse::<u64>()
                .map_err(|_| ())?
                .min(size.saturating_sub(1))
        };
        (start, end)
    };
    if start >= size || start > end {
        return Err(());
    }
    Ok(Some((start, end)))
}

/// Serves `req` from `bucket`.
pub(crate) fn download(state: &mut State, bucket: &str, req: &Req) -> Reply {
    if req.method != "GET" && req.method != "HEAD" {
        return Reply::error(405, "method not allowed");
    }
    let now = state.now();
    let Some(b) = state.buckets.get(bucket) else {
        return Reply::error(631, "no such bucket");
    };
    if b.private
        && let Err(r) = verify_private_url(&state.access_key, &state.secret_key, req, now)
    {
        state.auth_failures += 1;
        return r;
    }
    let key = percent_decode_str(req.path.strip_prefix('/').unwrap_or(&req.path))
        .decode_utf8_lossy()
        .into_owned();
    let Some(obj) = b.objects.get(&key) else {
        return Reply::error(404, "Document not found");
    };
    let size = obj.data.len() as u64;
    let secs = obj.put_time / 10_000_000;
    let modified = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
    let base = |status: u16, body: bytes::Bytes| {
        let mut headers = vec![("content-type".to_owned(), obj.mime.clone())];
        headers.extend(
            obj.headers
                .pairs()
                .map(|(n, v)| (n.to_owned(), v.to_owned())),
        );
        headers.extend(
            obj.meta
                .iter()
                .map(|(k, v)| (format!("x-qn-meta-{k}"), v.clone())),
        );
        Reply {
            status,
            headers,
            body,
        }
        .with_header("etag", format!("\"{}\"", obj.hash))
        .with_header("accept-ranges", "bytes")
        .with_header("last-modified", httpdate::fmt_http_date(modified))
    };
    match range(req.header("range"), size) {
        Err(()) => Reply::error(416, "requested range not satisfiable")
            .with_header("content-range", format!("bytes */{size}")),
        Ok(None) => base(200, obj.data.clone()),
        Ok(Some((s, e))) => base(206, obj.data.slice(s as usize..=e as usize))
            .with_header("content-range", format!("bytes {s}-{e}/{size}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(range(Some("bytes=0-9"), 100), Ok(Some((0, 9))));
        assert_eq!(range(Some("bytes=90-200"), 100), Ok(Some((90, 99))));
        assert_eq!(range(Some("bytes=-5"), 100), Ok(Some((95, 99))));
        assert_eq!(range(Some("bytes=-500"), 100), Ok(Some((0, 99))));
        assert_eq!(range(Some("bytes=50-"), 100), Ok(Some((50, 99))));
        assert_eq!(range(Some("bytes=100-"), 100), Err(()));
        assert_eq!(range(Some("bytes=0-0"), 0), Err(()));
        assert_eq!(range(None, 100), Ok(None));
    }
}
