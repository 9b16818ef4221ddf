//! Multipart uploads: initiate, upload part, upload part copy, list parts,
//! complete, abort.

use std::fmt::Write as _;
use std::time::SystemTime;

use bytes::{Bytes, BytesMut};
use haul_core::ChecksumKind;
use haul_core::checksum::compute;

use super::objects::{check_content_md5, object_headers, parse_range, source_object};
use super::route::{CosError, Handled, Out, Req};
use super::state::{MIN_PART, Object, Part, Shared, Upload, crc64, flip, lock};
use super::xml::{self, CompleteRequest, DECL, bool_text, el, iso8601, listed, owner};

fn part_number(req: &Req) -> Result<u32, CosError> {
    req.q("partNumber")
        .and_then(|n| n.parse::<u32>().ok())
        .filter(|n| (1..=10_000).contains(n))
        .ok_or_else(|| CosError::invalid_argument("partNumber must be 1 to 10000"))
}

/// The upload `req` names, which must be for its bucket and key.
fn upload_id(shared: &Shared, req: &Req) -> Result<String, CosError> {
    let id = req.q("uploadId").unwrap_or_default().to_owned();
    let store = lock(&shared.store);
    match store.uploads.get(&id) {
        Some(u) if u.bucket == req.bucket && u.key == req.key => Ok(id),
        _ => Err(CosError::no_such_upload()),
    }
}

pub(crate) fn initiate(shared: &Shared, req: &Req) -> Out {
    let (content_type, meta) = object_headers(req);
    let mut store = lock(&shared.store);
    let id = store.new_upload_id();
    store.uploads.insert(
        id.clone(),
        Upload {
            bucket: req.bucket.clone(),
            key: req.key.clone(),
            initiated: SystemTime::now(),
            parts: std::collections::BTreeMap::new(),
            content_type,
            meta,
        },
    );
    Out::xml(format!(
        "{DECL}<InitiateMultipartUploadResult>{}{}{}</InitiateMultipartUploadResult>",
        el("Bucket", &req.bucket),
        el("Key", &req.key),
        el("UploadId", &id)
    ))
}

/// Stores `part` as number `n` of upload `id` (replacing an earlier one).
fn store_part(shared: &Shared, id: &str, n: u32, part: Part) -> Result<(), CosError> {
    let mut store = lock(&shared.store);
    let u = store
        .uploads
        .get_mut(id)
        .ok_or_else(CosError::no_such_upload)?;
    u.parts.insert(n, part);
    Ok(())
}

pub(crate) fn upload_part(shared: &Shared, req: &Req) -> Handled {
    let n = part_number(req)?;
    let id = upload_id(shared, req)?;
    check_content_md5(req, &req.body)?;
    let data = if shared.take_corruption() && !req.body.is_empty() {
        flip(&req.body)
    } else {
        req.body.clone()
    };
    let part = Part::new(data);
    let out = Out::status(200)
        .header("etag", format!("\"{}\"", part.etag))
        .header("x-cos-hash-crc64ecma", part.crc64.to_string());
    store_part(shared, &id, n, part)?;
    Ok(out)
}

pub(crate) fn upload_part_copy(shared: &Shared, req: &Req) -> Handled {
    let n = part_number(req)?;
    let id = upload_id(shared, req)?;
    let src = source_object(shared, req)?;
    let size = src.data.len() as u64;
    let range = match req.header("x-cos-copy-source-range") {
        Some(r) => match parse_range(r, size)? {
            Some(r) if r.end <= size => r,
            _ => {
                return Err(CosError::invalid_argument(
                    "x-cos-copy-source-range must be bytes=first-last within the source",
                ));
            }
        },
        None => 0..size,
    };
    let part = Part::new(src.data.slice(range.start as usize..range.end as usize));
    let body = format!(
        "{DECL}<CopyPartResult>{}{}{}</CopyPartResult>",
        el("ETag", &format!("\"{}\"", part.etag)),
        el("LastModified", &iso8601(part.modified)),
        el("CRC64", &part.crc64.to_string())
    );
    let out = Out::xml(body).header("x-cos-hash-crc64ecma", part.crc64.to_string());
    store_part(shared, &id, n, part)?;
    Ok(out)
}

pub(crate) fn list_parts(shared: &Shared, req: &Req) -> Handled {
    let id = upload_id(shared, req)?;
    let marker: u32 = req
        .q_set("part-number-marker")
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    let max: usize = req
        .q_set("max-parts")
        .and_then(|m| m.parse().ok())
        .unwrap_or(1000)
        .clamp(1, 1000);
    let url = req.q("encoding-type") == Some("url");
    let store = lock(&shared.store);
    let u = store
        .uploads
        .get(&id)
        .ok_or_else(CosError::no_such_upload)?;
    let after: Vec<(&u32, &Part)> = u.parts.range(marker.saturating_add(1)..).collect();
    let truncated = after.len() > max;
    let page = &after[..after.len().min(max)];
    let next = page.last().map_or(marker, |(n, _)| **n);
    let mut s = format!("{DECL}<ListPartsResult>{}", el("Bucket", &req.bucket));
    if url {
        s.push_str(&el("Encoding-type", "url"));
    }
    let _ = write!(s, "<Key>{}</Key>", listed(&req.key, url));
    for part in [
        el("UploadId", &id),
        owner("Initiator"),
        owner("Owner"),
        el("PartNumberMarker", &marker.to_string()),
        el("NextPartNumberMarker", &next.to_string()),
        el("MaxParts", &max.to_string()),
        el("IsTruncated", bool_text(truncated)),
        el("StorageClass", "STANDARD"),
    ] {
        s.push_str(&part);
    }
    for (n, p) in page {
        let _ = write!(
            s,
            "<Part>{}{}{}{}</Part>",
            el("PartNumber", &n.to_string()),
            el("LastModified", &iso8601(p.modified)),
            el("ETag", &format!("\"{}\"", p.etag)),
            el("Size", &p.data.len().to_string())
        );
    }
    s.push_str("</ListPartsResult>");
    Ok(Out::xml(s))
}

pub(crate) fn complete(shared: &Shared, req: &Req) -> Handled {
    let id = upload_id(shared, req)?;
    let doc: CompleteRequest = xml::parse(&req.body)?;
    if doc.parts.is_empty() {
        return Err(CosError::new(
            400,
            "MalformedXML",
            "The XML you provided was not well-formed or did not validate against our published schema.",
        ));
    }
    if doc
        .parts
        .windows(2)
        .any(|w| w[0].part_number >= w[1].part_number)
    {
        return Err(CosError::new(
            400,
            "InvalidPartOrder",
            "The list of parts was not in ascending order. The parts list must be specified in order by part number.",
        ));
    }
    let mut store = lock(&shared.store);
    let u = store
        .uploads
        .get(&id)
        .ok_or_else(CosError::no_such_upload)?;
    let last = doc.parts.len() - 1;
    let mut data = BytesMut::new();
    let mut md5s = Vec::with_capacity(doc.parts.len() * 16);
    for (i, want) in doc.parts.iter().enumerate() {
        let etag = want.etag.trim().trim_matches('"');
        let part = u
            .parts
            .get(&want.part_number)
            .filter(|p| p.etag == etag)
            .ok_or_else(|| {
                CosError::new(
                    400,
                    "InvalidPart",
                    format!(
                        "One or more of the specified parts could not be found (part {}).",
                        want.part_number
                    ),
                )
            })?;
        if i < last && part.data.len() < MIN_PART {
            return Err(CosError::new(
                400,
                "EntityTooSmall",
                format!(
                    "Your proposed upload is smaller than the minimum allowed object size (part {} is {} bytes).",
                    want.part_number,
                    part.data.len()
                ),
            ));
        }
        data.extend_from_slice(&part.data);
        md5s.extend_from_slice(compute(ChecksumKind::Md5, &part.data).as_bytes());
    }
    let data: Bytes = data.freeze();
    let etag = format!(
        "{}-{}",
        compute(ChecksumKind::Md5, &md5s).to_hex(),
        doc.parts.len()
    );
    let object = Object {
        crc64: crc64(&data),
        etag,
        data,
        modified: SystemTime::now(),
        content_type: u.content_type.clone(),
        meta: u.meta.clone(),
    };
    let location = format!(
        "{}.cos.{}.myqcloud.com/{}",
        req.bucket,
        req.region.as_deref().unwrap_or(super::COS_REGION),
        req.key
    );
    let body = format!(
        "{DECL}<CompleteMultipartUploadResult>{}{}{}{}</CompleteMultipartUploadResult>",
        el("Location", &location),
        el("Bucket", &req.bucket),
        el("Key", &req.key),
        el("ETag", &format!("\"{}\"", object.etag))
    );
    let out = Out::xml(body).header("x-cos-hash-crc64ecma", object.crc64.to_string());
    store.uploads.remove(&id);
    if let Some(b) = store.buckets.get_mut(&req.bucket) {
        b.objects.insert(req.key.clone(), object);
    }
    Ok(out)
}

pub(crate) fn abort(shared: &Shared, req: &Req) -> Handled {
    let id = upload_id(shared, req)?;
    lock(&shared.store).uploads.remove(&id);
    Ok(Out::status(204))
}

#[cfg(test)]
mod tests {
    use http::{HeaderMap, Method};

    use super::*;
    use crate::cos::route::Req;

    fn req(method: Method, query: &[(&str, &str)], body: &str) -> Req {
        Req {
            method,
            headers: HeaderMap::new(),
            host: "127.0.0.1".into(),
            bucket: "b-1".into(),
            key: "k".into(),
            signed_path: "/b-1/k".into(),
            query: query
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            body: Bytes::from(body.to_owned()),
            region: None,
        }
    }

    fn code(r: Handled) -> String {
        match r {
            Ok(out) => panic!("expected an error, got HTTP {}", out.status),
            Err(e) => format!("{} {}", e.status, e.code),
        }
    }

    #[test]
    fn completion_refusals_use_the_documented_codes() {
        let shared = Shared::new();
        shared.create_bucket("b-1", "ap-guangzhou");
        let out = initiate(&shared, &req(Method::POST, &[("uploads", "")], ""));
        let text = String::from_utf8_lossy(&out.body).into_owned();
        let id = text
            .split("<UploadId>")
            .nth(1)
            .and_then(|t| t.split("</UploadId>").next())
            .expect("an UploadId")
            .to_owned();
        let mut etags = Vec::new();
        for (n, len) in [(1, 10), (2, MIN_PART), (3, 5)] {
            let mut r = req(
                Method::PUT,
                &[("partNumber", &n.to_string()), ("uploadId", &id)],
                "",
            );
            r.body = Bytes::from(vec![n as u8; len]);
            let out = upload_part(&shared, &r).expect("part");
            etags.push(out.headers[0].1.clone());
        }
        let body = |parts: &[(u32, &str)]| {
            let mut s = String::from("<CompleteMultipartUpload>");
            for (n, e) in parts {
                let _ = write!(
                    s,
                    "<Part><PartNumber>{n}</PartNumber><ETag>{e}</ETag></Part>"
                );
            }
            s + "</CompleteMultipartUpload>"
        };
        let complete_with = |parts: &[(u32, &str)]| {
            complete(
                &shared,
                &req(Method::POST, &[("uploadId", &id)], &body(parts)),
            )
        };
        let e = |i: usize| etags[i].as_str();
        assert_eq!(
            code(complete_with(&[(2, e(1)), (1, e(0))])),
            "400 InvalidPartOrder"
        );
        assert_eq!(
            code(complete_with(&[(1, e(0)), (1, e(0))])),
            "400 InvalidPartOrder"
        );
        assert_eq!(
            code(complete_with(&[(1, e(1)), (2, e(1))])),
            "400 InvalidPart"
        );
        assert_eq!(
            code(complete_with(&[(1, e(0)), (2, e(1)), (3, e(2))])),
            "400 EntityTooSmall"
        );
        assert_eq!(code(complete_with(&[])), "400 MalformedXML");
        let ok = complete_with(&[(2, e(1)), (3, e(2))]).expect("complete");
        assert!(ok.headers.iter().any(|(k, _)| k == "x-cos-hash-crc64ecma"));
        assert_eq!(code(complete_with(&[(2, e(1))])), "404 NoSuchUpload");
        let stored = shared.object("b-1", "k").expect("object");
        assert_eq!(stored.len(), MIN_PART + 5);
        let e = CosError::new(400, "EntityTooSmall", "m");
        let doc = xml::error_body(&e, "/b-1/k", "rid");
        assert!(
            doc.contains("<Error><Code>EntityTooSmall</Code><Message>m</Message><Resource>/b-1/k</Resource><RequestId>rid</RequestId><TraceId>"),
            "{doc}"
        );
    }
}
