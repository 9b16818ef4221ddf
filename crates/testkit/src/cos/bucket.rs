//! Bucket-level calls: GET Bucket, ListMultipartUploads, DELETE Multiple
//! Objects.

use std::fmt::Write as _;

use super::objects::check_content_md5;
use super::route::{CosError, Handled, Out, Req};
use super::state::{Shared, lock};
use super::xml::{self, DECL, DeleteRequest, bool_text, el, iso8601, listed, owner};

/// Most keys in one batch delete.
const MAX_DELETE: usize = 1000;

/// One entry of a (possibly delimited) listing.
enum Entry<'a> {
    Key(&'a str),
    Prefix(String),
}

/// Keys after `marker` under `prefix`, common prefixes folded, at most
/// `max`; and whether more remain.
fn page<'a>(
    keys: impl Iterator<Item = &'a str>,
    prefix: &str,
    delimiter: Option<&str>,
    marker: Option<&str>,
    max: usize,
) -> (Vec<Entry<'a>>, bool) {
    let mut out: Vec<Entry<'a>> = Vec::new();
    for k in keys {
        if !k.starts_with(prefix) || marker.is_some_and(|m| k <= m) {
            continue;
        }
        // A marker that is a common prefix already listed skips its keys.
        if let (Some(m), Some(d)) = (marker, delimiter)
            && m.ends_with(d)
            && k.starts_with(m)
        {
            continue;
        }
        let folded = delimiter.and_then(|d| {
            let rest = &k[prefix.len()..];
            rest.find(d)
                .map(|i| k[..prefix.len() + i + d.len()].to_owned())
        });
        let entry = match folded {
            Some(p) => {
                if matches!(out.last(), Some(Entry::Prefix(last)) if *last == p) {
                    continue;
                }
                Entry::Prefix(p)
            }
            None => Entry::Key(k),
        };
        if out.len() == max {
            return (out, true);
        }
        out.push(entry);
    }
    (out, false)
}

pub(crate) fn list(shared: &Shared, req: &Req) -> Handled {
    let prefix = req.q_set("prefix").unwrap_or("");
    let delimiter = req.q_set("delimiter");
    let marker = req.q_set("marker");
    let max: usize = req
        .q_set("max-keys")
        .and_then(|m| m.parse().ok())
        .unwrap_or(1000)
        .clamp(1, 1000);
    let url = req.q("encoding-type") == Some("url");
    let store = lock(&shared.store);
    let Some(b) = store.buckets.get(&req.bucket) else {
        return Err(CosError::new(
            404,
            "NoSuchBucket",
            "The specified bucket does not exist.",
        ));
    };
    let (entries, truncated) = page(
        b.objects.keys().map(String::as_str),
        prefix,
        delimiter,
        marker,
        max,
    );
    let mut s = format!("{DECL}<ListBucketResult>{}", el("Name", &req.bucket));
    if url {
        s.push_str(&el("EncodingType", "url"));
    }
    let _ = write!(
        s,
        "<Prefix>{}</Prefix><Marker>{}</Marker>{}<Delimiter>{}</Delimiter>{}",
        listed(prefix, url),
        listed(marker.unwrap_or(""), url),
        el("MaxKeys", &max.to_string()),
        listed(delimiter.unwrap_or(""), url),
        el("IsTruncated", bool_text(truncated))
    );
    if truncated && let Some(last) = entries.last() {
        let name = match last {
            Entry::Key(k) => (*k).to_owned(),
            Entry::Prefix(p) => p.clone(),
        };
        let _ = write!(s, "<NextMarker>{}</NextMarker>", listed(&name, url));
    }
    // Objects first, then common prefixes, as COS (and S3) write them.
    for e in &entries {
        let Entry::Key(k) = e else { continue };
        let Some(o) = b.objects.get(*k) else { continue };
        let _ = write!(
            s,
            "<Contents><Key>{}</Key>{}{}{}{}{}</Contents>",
            listed(k, url),
            el("LastModified", &iso8601(o.modified)),
            el("ETag", &format!("\"{}\"", o.etag)),
            el("Size", &o.data.len().to_string()),
            owner("Owner"),
            el("StorageClass", "STANDARD")
        );
    }
    for e in &entries {
        if let Entry::Prefix(p) = e {
            let _ = write!(
                s,
                "<CommonPrefixes><Prefix>{}</Prefix></CommonPrefixes>",
                listed(p, url)
            );
        }
    }
    s.push_str("</ListBucketResult>");
    Ok(Out::xml(s))
}

pub(crate) fn list_uploads(shared: &Shared, req: &Req) -> Out {
    let prefix = req.q_set("prefix").unwrap_or("");
    let key_marker = req.q_set("key-marker");
    let id_marker = req.q_set("upload-id-marker");
    let max: usize = req
        .q_set("max-uploads")
        .and_then(|m| m.parse().ok())
        .unwrap_or(1000)
        .clamp(1, 1000);
    let url = req.q("encoding-type") == Some("url");
    let store = lock(&shared.store);
    let mut uploads: Vec<(&String, &super::state::Upload)> = store
        .uploads
        .iter()
        .filter(|(_, u)| u.bucket == req.bucket && u.key.starts_with(prefix))
        .collect();
    // By key, then oldest first: the Python SDK resumes the last one listed.
    uploads.sort_by(|a, b| (&a.1.key, a.1.initiated, a.0).cmp(&(&b.1.key, b.1.initiated, b.0)));
    let after: Vec<_> = uploads
        .into_iter()
        .filter(|(id, u)| match (key_marker, id_marker) {
            (Some(k), Some(i)) => (u.key.as_str(), id.as_str()) > (k, i),
            (Some(k), None) => u.key.as_str() > k,
            _ => true,
        })
        .collect();
    let truncated = after.len() > max;
    let page = &after[..after.len().min(max)];
    let mut s = format!(
        "{DECL}<ListMultipartUploadsResult>{}",
        el("Bucket", &req.bucket)
    );
    if url {
        s.push_str(&el("Encoding-Type", "url"));
    }
    let _ = write!(
        s,
        "<KeyMarker>{}</KeyMarker>{}<Prefix>{}</Prefix>{}{}",
        listed(key_marker.unwrap_or(""), url),
        el("UploadIdMarker", id_marker.unwrap_or("")),
        listed(prefix, url),
        el("MaxUploads", &max.to_string()),
        el("IsTruncated", bool_text(truncated))
    );
    if truncated && let Some((id, u)) = page.last() {
        let _ = write!(
            s,
            "<NextKeyMarker>{}</NextKeyMarker>{}",
            listed(&u.key, url),
            el("NextUploadIdMarker", id)
        );
    }
    for (id, u) in page {
        let _ = write!(
            s,
            "<Upload><Key>{}</Key>{}{}{}{}{}</Upload>",
            listed(&u.key, url),
            el("UploadId", id),
            el("StorageClass", "STANDARD"),
            owner("Initiator"),
            owner("Owner"),
            el("Initiated", &iso8601(u.initiated))
        );
    }
    s.push_str("</ListMultipartUploadsResult>");
    Out::xml(s)
}

pub(crate) fn delete_many(shared: &Shared, req: &Req) -> Handled {
    if req.header("content-md5").is_none() {
        return Err(CosError::new(
            400,
            "InvalidRequest",
            "Missing required header for this request: Content-MD5.",
        ));
    }
    check_content_md5(req, &req.body)?;
    let doc: DeleteRequest = xml::parse(&req.body)?;
    if doc.objects.is_empty() || doc.objects.len() > MAX_DELETE {
        return Err(CosError::new(
            400,
            "MalformedXML",
            "A batch delete names 1 to 1000 keys.",
        ));
    }
    let quiet = doc
        .quiet
        .as_deref()
        .is_some_and(|q| q.trim().eq_ignore_ascii_case("true"));
    let mut s = format!("{DECL}<DeleteResult>");
    let mut store = lock(&shared.store);
    if let Some(b) = store.buckets.get_mut(&req.bucket) {
        for o in &doc.objects {
            b.objects.remove(&o.key);
            if !quiet {
                let _ = write!(s, "<Deleted>{}</Deleted>", el("Key", &o.key));
            }
        }
    }
    s.push_str("</DeleteResult>");
    Ok(Out::xml(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(entries: &[Entry<'_>]) -> Vec<String> {
        entries
            .iter()
            .map(|e| match e {
                Entry::Key(k) => (*k).to_owned(),
                Entry::Prefix(p) => format!("{p}*"),
            })
            .collect()
    }

    #[test]
    fn pages_fold_prefixes_and_resume_after_them() {
        let keys = ["a/1", "a/2", "b", "c/1", "c/2", "d"];
        let (e, more) = page(keys.iter().copied(), "", Some("/"), None, 2);
        assert_eq!(names(&e), ["a/*", "b"]);
        assert!(more);
        let (e, more) = page(keys.iter().copied(), "", Some("/"), Some("b"), 2);
        assert_eq!(names(&e), ["c/*", "d"]);
        assert!(!more);
        let (e, _) = page(keys.iter().copied(), "", Some("/"), Some("a/"), 10);
        assert_eq!(names(&e), ["b", "c/*", "d"]);
        let (e, more) = page(keys.iter().copied(), "c/", None, None, 10);
        assert_eq!(names(&e), ["c/1", "c/2"]);
        assert!(!more);
    }
}
