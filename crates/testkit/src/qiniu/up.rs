//! The up host: form upload (`POST /`) and resumable upload v2
//! (`/buckets/<bucket>/objects/<EncodedObjectName>/uploads[/<id>[/<n>]]`).

use std::collections::BTreeMap;

use bytes::Bytes;
use md5::{Digest as _, Md5};
use serde::Deserialize;

use super::sign::{Policy, qetag, qetag_v2, unb64, up_token_header, verify_up_token};
use super::state::{
    FileAttrs, Headers, Part, Shared, State, Upload, corrupt, hex, put_reply, resolve_key,
};
use super::wire::{Reply, Req, form_decode, parse_form_data};

const MIB: usize = 1 << 20;
const GIB: usize = 1 << 30;

/// Verifies the token, counting a failure.
fn policy_of(state: &mut State, token: Option<&str>) -> Result<Policy, Reply> {
    let token = token.ok_or_else(|| Reply::error(401, "token not specified"))?;
    verify_up_token(&state.access_key, &state.secret_key, token).inspect_err(|_| {
        state.auth_failures += 1;
    })
}

/// `POST /`: a `multipart/form-data` upload.
pub(crate) fn form_upload(shared: &Shared, req: &Req, corrupt_it: bool) -> Reply {
    let Some(ct) = req.header("content-type") else {
        return Reply::error(400, "multipart/form-data expected");
    };
    let fields = match parse_form_data(ct, &req.body) {
        Ok(f) => f,
        Err(e) => return Reply::error(400, &format!("bad multipart body: {e}")),
    };
    let text = |name: &str| {
        fields
            .iter()
            .find(|f| f.name == name)
            .map(|f| String::from_utf8_lossy(&f.data).into_owned())
    };
    let mut state = shared.lock();
    let policy = match policy_of(&mut state, text("token").as_deref()) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let Some(file) = fields.iter().find(|f| f.name == "file") else {
        return Reply::error(400, "file is required");
    };
    if let Some(crc) = text("crc32") {
        let Ok(want) = crc.trim().parse::<u32>() else {
            return Reply::error(400, "bad crc32");
        };
        if crate::qiniu::crc32(&file.data) != want {
            return Reply::error(406, "crc32 not match");
        }
    }
    // Corruption strikes after the checks: what the crc32 cannot catch.
    let data = if corrupt_it {
        corrupt(&file.data)
    } else {
        file.data.clone()
    };
    let meta: BTreeMap<String, String> = fields
        .iter()
        .filter_map(|f| {
            let name = f.name.strip_prefix("x-qn-meta-")?;
            Some((
                name.to_owned(),
                String::from_utf8_lossy(&f.data).into_owned(),
            ))
        })
        .collect();
    let headers = Headers {
        cache_control: text("cacheControl"),
        content_encoding: text("contentEncoding"),
        content_disposition: text("contentDisposition"),
    };
    let hash = qetag(&data);
    let key = resolve_key(&policy, text("key").as_deref(), &hash);
    let fname = file.file_name.clone().unwrap_or_default();
    let mime = file.content_type.clone();
    if let Err(r) = state.create_file(
        &policy,
        &key,
        data,
        hash,
        FileAttrs {
            mime,
            meta,
            headers,
        },
    ) {
        return r;
    }
    let obj = &state.buckets[policy.bucket()].objects[&key];
    put_reply(&policy, &key, obj, &fname)
}

/// The parts of a `/buckets/...` path.
struct Route {
    bucket: String,
    key: Option<String>,
    id: Option<String>,
    part: Option<String>,
}

fn route(path: &str) -> Option<Route> {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let ["buckets", bucket, "objects", eo, "uploads", rest @ ..] = segs.as_slice() else {
        return None;
    };
    let key = if *eo == "~" {
        None
    } else {
        Some(String::from_utf8(unb64(eo)?).ok()?)
    };
    let (id, part) = match rest {
        [] => (None, None),
        [id] => (Some(form_decode(id)), None),
        [id, n] => (Some(form_decode(id)), Some((*n).to_owned())),
        _ => return None,
    };
    Some(Route {
        bucket: (*bucket).to_owned(),
        key,
        id,
        part,
    })
}

/// Resumable upload v2.
pub(crate) fn uploads(shared: &Shared, req: &Req, corrupt_it: bool) -> Reply {
    let Some(r) = route(&req.path) else {
        return Reply::error(400, "bad resumable upload path");
    };
    let mut state = shared.lock();
    let policy = match policy_of(&mut state, up_token_header(req)) {
        Ok(p) => p,
        Err(r) => return r,
    };
    if policy.bucket() != r.bucket {
        return Reply::error(403, "bucket doesn't match with scope");
    }
    if let Err(reply) = state.bucket(&r.bucket) {
        return reply;
    }
    let Some(id) = r.id.clone() else {
        return match req.method.as_str() {
            "POST" => init(&mut state, r),
            _ => Reply::error(405, "method not allowed"),
        };
    };
    let exists = state
        .uploads
        .get(&id)
        .is_some_and(|u| u.bucket == r.bucket && u.key == r.key);
    if !exists {
        return Reply::error(612, "no such uploadId");
    }
    match (req.method.as_str(), r.part.as_deref()) {
        ("PUT", Some(n)) => upload_part(&mut state, req, &id, n, corrupt_it),
        ("GET", None) => list_parts(&state, req, &id),
        ("POST", None) => complete(&mut state, req, &policy, &id),
        ("DELETE", None) => {
            state.uploads.remove(&id);
            Reply::json(200, &serde_json::json!({}))
        }
        _ => Reply::error(405, "method not allowed"),
    }
}

fn init(state: &mut State, r: Route) -> Reply {
    let id = state.fresh_id();
    let expire_at = state.now() + 7 * 86_400;
    state.uploads.insert(
        id.clone(),
        Upload {
            bucket: r.bucket,
            key: r.key,
            parts: BTreeMap::new(),
            expire_at,
        },
    );
    Reply::json(
        200,
        &serde_json::json!({ "uploadId": id, "expireAt": expire_at }),
    )
}

fn upload_part(state: &mut State, req: &Req, id: &str, n: &str, corrupt_it: bool) -> Reply {
    let Ok(n) = n.parse::<u32>() else {
        return Reply::error(400, "invalid partNumber");
    };
    if !(1..=10_000).contains(&n) {
        return Reply::error(400, "partNumber must be 1 to 10000");
    }
    if req.body.len() > GIB {
        return Reply::error(413, "part is larger than 1 GiB");
    }
    let md5 = hex(&Md5::digest(&req.body));
    if let Some(want) = req.header("content-md5") {
        // Kodo takes the hex digest, as its SDKs send it (protocols §8).
        if want.len() != 32 || !want.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Reply::error(400, "Content-MD5 must be the hex MD5 of the part");
        }
        if !want.eq_ignore_ascii_case(&md5) {
            return Reply::error(406, "md5 not match");
        }
    }
    let data = if corrupt_it {
        corrupt(&req.body)
    } else {
        req.body.clone()
    };
    let etag = qetag(&data);
    let md5 = hex(&Md5::digest(&data));
    let put_time = state.put_time();
    if let Some(u) = state.uploads.get_mut(id) {
        u.parts.insert(
            n,
            Part {
                data,
                etag: etag.clone(),
                put_time,
            },
        );
    }
    Reply::json(200, &serde_json::json!({ "etag": etag, "md5": md5 }))
}

fn list_parts(state: &State, req: &Req, id: &str) -> Reply {
    let Some(u) = state.uploads.get(id) else {
        return Reply::error(612, "no such uploadId");
    };
    let max = req
        .param("max-parts")
        .and_then(|m| m.parse::<usize>().ok())
        .unwrap_or(1000)
        .clamp(1, 1000);
    // The API spec spells it `part-number_marker`; S3 habit is accepted too.
    let marker = req
        .param("part-number_marker")
        .or_else(|| req.param("part-number-marker"))
        .and_then(|m| m.parse::<u32>().ok())
        .unwrap_or(0);
    let after: Vec<(&u32, &Part)> = u.parts.range(marker + 1..).collect();
    let page = &after[..after.len().min(max)];
    let next = if after.len() > max {
        page.last().map_or(0, |(n, _)| **n)
    } else {
        0
    };
    let parts: Vec<serde_json::Value> = page
        .iter()
        .map(|(n, p)| {
            serde_json::json!({
                "size": p.data.len(),
                "etag": p.etag,
                "partNumber": n,
                "putTime": p.put_time / 10_000_000,
            })
        })
        .collect();
    Reply::json(
        200,
        &serde_json::json!({
            "uploadId": id,
            "expireAt": u.expire_at,
            "partNumberMarker": next,
            "parts": parts,
        }),
    )
}

#[derive(Debug, Deserialize)]
struct CompleteBody {
    parts: Vec<CompletePart>,
    #[serde(default)]
    fname: Option<String>,
    #[serde(rename = "mimeType", default)]
    mime_type: Option<String>,
    #[serde(default)]
    metadata: Option<BTreeMap<String, String>>,
    #[serde(rename = "cacheControl", default)]
    cache_control: Option<String>,
    #[serde(rename = "contentEncoding", default)]
    content_encoding: Option<String>,
    #[serde(rename = "contentDisposition", default)]
    content_disposition: Option<String>,
}

#[derive(Debug, Deserialize)]
struct CompletePart {
    #[serde(rename = "partNumber")]
    part_number: u32,
    etag: String,
}

fn complete(state: &mut State, req: &Req, policy: &Policy, id: &str) -> Reply {
    let body: CompleteBody = match serde_json::from_slice(&req.body) {
        Ok(b) => b,
        Err(e) => return Reply::error(400, &format!("bad complete body: {e}")),
    };
    let Some(u) = state.uploads.get(id) else {
        return Reply::error(612, "no such uploadId");
    };
    if body.parts.is_empty() {
        return Reply::error(400, "parts are required");
    }
    if body
        .parts
        .windows(2)
        .any(|w| w[0].part_number >= w[1].part_number)
    {
        return Reply::error(400, "partNumber must be ascending");
    }
    let mut datas: Vec<Bytes> = Vec::with_capacity(body.parts.len());
    for (i, p) in body.parts.iter().enumerate() {
        let Some(part) = u.parts.get(&p.part_number) else {
            return Reply::error(400, &format!("part {} was not uploaded", p.part_number));
        };
        if part.etag != p.etag {
            return Reply::error(
                400,
                &format!("etag of part {} does not match", p.part_number),
            );
        }
        if i + 1 < body.parts.len() && part.data.len() < MIB {
            return Reply::error(
                400,
                &format!("part {} is smaller than 1 MiB", p.part_number),
            );
        }
        datas.push(part.data.clone());
    }
    let slices: Vec<&[u8]> = datas.iter().map(|d| &d[..]).collect();
    let hash = qetag_v2(&slices);
    let data = Bytes::from(slices.concat());
    let key = resolve_key(policy, u.key.as_deref(), &hash);
    let meta = body
        .metadata
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("x-qn-meta-")?.to_owned(), v)))
        .collect();
    let headers = Headers {
        cache_control: body.cache_control,
        content_encoding: body.content_encoding,
        content_disposition: body.content_disposition,
    };
    if let Err(r) = state.create_file(
        policy,
        &key,
        data,
        hash,
        FileAttrs {
            mime: body.mime_type,
            meta,
            headers,
        },
    ) {
        return r;
    }
    state.uploads.remove(id);
    let obj = &state.buckets[policy.bucket()].objects[&key];
    put_reply(policy, &key, obj, body.fname.as_deref().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let r = route("/buckets/b/objects/YS9i/uploads/id1/3").unwrap();
        assert_eq!(r.key.as_deref(), Some("a/b"));
        assert_eq!(
            (r.id.as_deref(), r.part.as_deref()),
            (Some("id1"), Some("3"))
        );
        assert!(route("/buckets/b/objects/~/uploads").unwrap().key.is_none());
        assert!(route("/buckets/b/objects/YQ==/other").is_none());
    }
}
