//! Resumable upload v1 on the up host (protocols §1.7): `mkblk` opens a
//! block of at most 4 MiB with its first chunk, `bput` appends the next
//! chunk (each `ctx` is good for one next call only: a stale one is 701),
//! `mkfile` assembles whole blocks, listed by their last ctx, into a file.
//! The official SDKs' `put_file` uses v1 unless told `version='v2'`.

use std::collections::BTreeMap;

use bytes::{Bytes, BytesMut};

use super::sign::{qetag, unb64, up_token_header, verify_up_token};
use super::state::{Block, FileAttrs, Shared, corrupt, put_reply, resolve_key};
use super::wire::{Reply, Req};

const BLOCK: u64 = 4 << 20;

/// `POST /mkblk/<size>`, `/bput/<ctx>/<offset>` and `/mkfile/<size>/...`.
pub(crate) fn handle(shared: &Shared, req: &Req, corrupt_it: bool) -> Reply {
    let mut state = shared.lock();
    let Some(token) = up_token_header(req) else {
        return Reply::error(401, "token not specified");
    };
    let policy = match verify_up_token(&state.access_key, &state.secret_key, token) {
        Ok(p) => p,
        Err(r) => {
            state.auth_failures += 1;
            return r;
        }
    };
    if let Err(r) = state.bucket(policy.bucket()) {
        return r;
    }
    let segs: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    let host = format!("http://{}", req.header("host").unwrap_or_default());
    let chunk = if corrupt_it {
        corrupt(&req.body)
    } else {
        req.body.clone()
    };
    let expired_at = state.now() + 7 * 86_400;
    match segs.as_slice() {
        ["mkblk", size] => {
            let Ok(size) = size.parse::<u64>() else {
                return Reply::error(400, "bad block size");
            };
            if size == 0 || size > BLOCK || chunk.len() as u64 > size {
                return Reply::error(400, "a block is 1 byte to 4 MiB, its first chunk no larger");
            }
            let ctx = state.fresh_id();
            let answer = chunk_answer(&ctx, &req.body, chunk.len(), &host, expired_at);
            state.blocks.insert(
                ctx,
                Block {
                    size,
                    data: BytesMut::from(&chunk[..]),
                },
            );
            answer
        }
        ["bput", ctx, offset] => {
            let Some(mut block) = state.blocks.remove(*ctx) else {
                return Reply::error(701, "invalid or expired ctx");
            };
            if offset.parse::<usize>().ok() != Some(block.data.len())
                || (block.data.len() + chunk.len()) as u64 > block.size
            {
                return Reply::error(701, "chunk does not continue the block");
            }
            block.data.extend_from_slice(&chunk);
            let ctx = state.fresh_id();
            let answer = chunk_answer(&ctx, &req.body, block.data.len(), &host, expired_at);
            state.blocks.insert(ctx, block);
            answer
        }
        ["mkfile", size, params @ ..] => mkfile(&mut state, &policy, req, size, params),
        _ => Reply::error(404, "no such API"),
    }
}

/// The answer to mkblk and bput: the next ctx and the chunk's CRC-32.
fn chunk_answer(ctx: &str, sent: &Bytes, offset: usize, host: &str, expired_at: u64) -> Reply {
    Reply::json(
        200,
        &serde_json::json!({
            "ctx": ctx,
            "checksum": super::sign::b64(&super::sign::qetag_raw(sent)[1..]),
            "crc32": crate::qiniu::crc32(sent),
            "offset": offset,
            "host": host,
            "expired_at": expired_at,
        }),
    )
}

fn mkfile(
    state: &mut super::state::State,
    policy: &super::sign::Policy,
    req: &Req,
    size: &str,
    params: &[&str],
) -> Reply {
    let Ok(size) = size.parse::<usize>() else {
        return Reply::error(400, "bad file size");
    };
    if !params.len().is_multiple_of(2) {
        return Reply::error(400, "mkfile parameters come in name/value pairs");
    }
    let mut named = BTreeMap::new();
    for pair in params.chunks(2) {
        let Some(value) = unb64(pair[1]).and_then(|v| String::from_utf8(v).ok()) else {
            return Reply::error(400, "mkfile parameter is not URL-safe base64");
        };
        named.insert(pair[0].to_owned(), value);
    }
    let ctxs = String::from_utf8_lossy(&req.body).into_owned();
    let ctxs: Vec<&str> = ctxs.split(',').filter(|c| !c.is_empty()).collect();
    let mut data = BytesMut::with_capacity(size);
    for (i, ctx) in ctxs.iter().enumerate() {
        let Some(block) = state.blocks.get(*ctx) else {
            return Reply::error(701, "invalid or expired ctx");
        };
        let last = i + 1 == ctxs.len();
        if (block.data.len() as u64) != block.size || (!last && block.size != BLOCK) {
            return Reply::error(400, "blocks must be whole, and 4 MiB but the last");
        }
        data.extend_from_slice(&block.data);
    }
    if data.len() != size {
        return Reply::error(400, "file size does not match the blocks");
    }
    let data = data.freeze();
    let hash = qetag(&data);
    let key = resolve_key(policy, named.get("key").map(String::as_str), &hash);
    let meta = named
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("x-qn-meta-")?.to_owned(), v.clone())))
        .collect();
    let mime = named.get("mimeType").cloned();
    if let Err(r) = state.create_file(
        policy,
        &key,
        data,
        hash,
        FileAttrs {
            mime,
            meta,
            ..FileAttrs::default()
        },
    ) {
        return r;
    }
    for ctx in ctxs {
        state.blocks.remove(ctx);
    }
    let fname = named.get("fname").cloned().unwrap_or_default();
    let obj = &state.buckets[policy.bucket()].objects[&key];
    put_reply(policy, &key, obj, &fname)
}
