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
