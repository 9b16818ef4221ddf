//! The rs host (stat, copy, move, delete, batch) and the rsf host (list).

use super::sign::{b64, unb64};
use super::state::State;
use super::wire::{Reply, Req, parse_urlencoded};

/// Most operations one batch takes.
const MAX_BATCH: usize = 1000;

/// Decodes an EncodedEntryURI into bucket and key.
fn decode_entry(e: &str) -> Option<(String, Option<String>)> {
    let text = String::from_utf8(unb64(e)?).ok()?;
    Some(match text.split_once(':') {
        Some((b, k)) => (b.to_owned(), Some(k.to_owned())),
        None => (text, None),
    })
}

/// `(code, data)` of one operation (`stat/<e>`, `copy/<s>/<d>/force/true`,
/// ...), with or without the leading `/`.
pub(crate) fn exec(state: &mut State, op: &str) -> (u16, Option<serde_json::Value>) {
    let err = |code: u16, msg: &str| (code, Some(serde_json::json!({ "error": msg })));
    let segs: Vec<&str> = op.trim_start_matches('/').split('/').collect();
    let entry = |i: usize| segs.get(i).and_then(|e| decode_entry(e));
    match segs.first().copied() {
        Some("stat") => {
            let Some((bucket, Some(key))) = entry(1) else {
                return err(400, "bad entry");
            };
            match state.buckets.get(&bucket) {
                None => err(631, "no such bucket"),
                Some(b) => match b.objects.get(&key) {
                    Some(o) => (200, Some(o.stat())),
                    None => err(612, "no such file or directory"),
                },
            }
        }
        Some("delete") => {
            let Some((bucket, Some(key))) = entry(1) else {
                return err(400, "bad entry");
            };
            match state.buckets.get_mut(&bucket) {
                None => err(631, "no such bucket"),
                Some(b) => match b.objects.remove(&key) {
                    Some(_) => (200, None),
                    None => err(612, "no such file or directory"),
                },
            }
        }
        Some(verb @ ("copy" | "move")) => {
            let (Some((sb, Some(sk))), Some((db, Some(dk)))) = (entry(1), entry(2)) else {
                return err(400, "bad entry");
            };
            let force = match segs.get(3..) {
                None | Some([]) => false,
                Some(["force", f]) => *f == "true",
                Some(_) => return err(400, "bad operation"),
            };
            if !state.buckets.contains_key(&sb) || !state.buckets.contains_key(&db) {
                return err(631, "no such bucket");
            }
            let Some(obj) = state.buckets[&sb].objects.get(&sk).cloned() else {
                return err(612, "no such file or directory");
            };
            if sb == db && sk == dk {
                return if verb == "move" {
                    (200, None)
                } else {
                    err(614, "file exists")
                };
            }
            if !force && state.buckets[&db].objects.contains_key(&dk) {
                return err(614, "file exists");
            }
            if verb == "move"
                && let Some(b) = state.buckets.get_mut(&sb)
            {
                b.objects.remove(&sk);
            }
            let mut obj = obj;
            if verb == "copy" {
                obj.put_time = state.put_time();
            }
            if let Some(b) = state.buckets.get_mut(&db) {
                b.objects.insert(dk, obj);
            }
            (200, None)
        }
        _ => err(400, "unknown operation"),
    }
}

/// One rs call: `/stat/...`, `/copy/...`, `/move/...`, `/delete/...`.
pub(crate) fn single(state: &mut State, req: &Req) -> Reply {
    let (code, data) = exec(state, &req.path);
    match data {
        Some(v) => Reply::json(code, &v),
        None => Reply::ok(),
    }
}

/// `POST /batch` with `op=...` form fields: 200 when every operation
/// succeeded, 298 when some did not, one `{code, data}` each.
pub(crate) fn batch(state: &mut State, req: &Req) -> Reply {
    let text = String::from_utf8_lossy(&req.body).into_owned();
    let ops: Vec<String> = parse_urlencoded(&text)
        .into_iter()
        .filter(|(n, _)| n == "op")
        .map(|(_, v)| v)
        .collect();
    if ops.is_empty() {
        return Reply::error(400, "no op");
    }
    if ops.len() > MAX_BATCH {
        return Reply::error(400, "too many ops: at most 1000");
    }
    let mut all_ok = true;
    let items: Vec<serde_json::Value> = ops
        .iter()
        .map(|op| {
            let (code, data) = exec(state, op);
            all_ok &= code == 200;
            match data {
                Some(d) => serde_json::json!({ "code": code, "data": d }),
                None => serde_json::json!({ "code": code }),
            }
        })
        .collect();
    Reply::json(
        if all_ok { 200 } else { 298 },
        &serde_json::Value::Array(items),
    )
}

/// The rsf marker after `key`: base64 of `{"c":0,"k":key}`.
fn marker_after(key: &str) -> String {
    b64(serde_json::json!({ "c": 0, "k": key }).to_string())
}

fn marker_key(marker: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(&unb64(marker)?).ok()?;
    v.get("k")?.as_str().map(str::to_owned)
}

/// `GET /list?bucket=&prefix=&marker=&limit=&delimiter=` (also as a form
/// POST, as older SDKs send it).
pub(crate) fn list(state: &State, req: &Req) -> Reply {
    let mut params = req.params();
    if req.method == "POST" {
        params.extend(parse_urlencoded(&String::from_utf8_lossy(&req.body)));
    }
    let get = |n: &str| {
        params
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    let Some(bucket) = get("bucket") else {
        return Reply::error(400, "bucket is required");
    };
    let Some(b) = state.buckets.get(&bucket) else {
        return Reply::error(631, "no such bucket");
    };
    let prefix = get("prefix").unwrap_or_default();
    let delimiter = get("delimiter");
    let limit = match get("limit").map(|l| l.parse::<usize>()) {
        None => 1000,
        Some(Ok(l)) if (1..=1000).contains(&l) => l,
        Some(_) => return Reply::error(400, "invalid limit"),
    };
    let after = match get("marker") {
        None => None,
        Some(m) => match marker_key(&m) {
            Some(k) => Some(k),
            None => return Reply::error(640, "invalid marker"),
        },
    };
    let mut items = Vec::new();
    let mut prefixes: Vec<String> = Vec::new();
    let mut last: Option<&str> = None;
    let mut more = false;
    let range = b.objects.range::<str, _>((
        after
            .as_deref()
            .map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded),
        std::ops::Bound::Unbounded,
    ));
    for (key, obj) in range {
        if !key.starts_with(&prefix) {
            if key.as_str() > prefix.as_str() {
                break;
            }
            continue;
        }
        let folded = delimiter.as_deref().and_then(|d| {
            let rest = &key[prefix.len()..];
            rest.find(d)
                .map(|i| key[..prefix.len() + i + d.len()].to_owned())
        });
        if let Some(p) = folded {
            // Keys under a prefix already given are consumed with it.
            if prefixes.last() == Some(&p) {
                last = Some(key);
                continue;
            }
            if items.len() + prefixes.len() == limit {
                more = true;
                break;
            }
            prefixes.push(p);
        } else {
            if items.len() + prefixes.len() == limit {
                more = true;
                break;
            }
            let mut stat = obj.stat();
            stat["key"] = serde_json::json!(key);
            items.push(stat);
        }
        last = Some(key);
    }
    let marker = match (more, last) {
        (true, Some(k)) => marker_after(k),
        _ => String::new(),
    };
    let mut answer = serde_json::json!({ "marker": marker, "items": items });
    if delimiter.is_some() {
        answer["commonPrefixes"] = serde_json::json!(prefixes);
    }
    Reply::json(200, &answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_and_markers() {
        assert_eq!(
            decode_entry("cWluaXVwaG90b3M6Z29nb3BoZXIuanBn"),
            Some(("qiniuphotos".into(), Some("gogopher.jpg".into())))
        );
        assert_eq!(
            decode_entry("cWluaXVwaG90b3M="),
            Some(("qiniuphotos".into(), None))
        );
        assert_eq!(marker_key(&marker_after("a/b")).as_deref(), Some("a/b"));
    }
}
