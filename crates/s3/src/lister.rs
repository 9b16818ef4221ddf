//! ListObjectsV2 as a stream across pages.

use std::sync::Arc;

use futures::{StreamExt, TryStreamExt, stream};
use haul_core::{Error, Key, ListEntry, ListOptions, ListStream, ObjectMeta, Result};
use http::Method;

use crate::addr::decode_listed;
use crate::core::{Call, Core};
use crate::xml::{self, ListBucketResult, parse_iso8601, unquote};

/// Where a listing is between pages.
struct Cursor {
    core: Arc<Core>,
    prefix: String,
    opts: ListOptions,
    token: Option<String>,
    done: bool,
}

/// Lists `prefix` page by page (`encoding-type=url`, decoded here), each
/// page's objects and common prefixes merged in key order.
pub(crate) fn list(core: Arc<Core>, prefix: &str, opts: ListOptions) -> ListStream {
    let cursor = Cursor {
        core,
        prefix: prefix.to_owned(),
        opts,
        token: None,
        done: false,
    };
    stream::try_unfold(cursor, |mut c| async move {
        if c.done {
            return Ok(None);
        }
        let page = c
            .core
            .list_page(&c.prefix, &c.opts, c.token.as_deref())
            .await?;
        c.token = page.next.filter(|t| !t.is_empty());
        c.done = !page.truncated || c.token.is_none();
        Ok(Some((page.entries, c)))
    })
    .map_ok(|entries: Vec<ListEntry>| stream::iter(entries.into_iter().map(Ok)))
    .try_flatten()
    .boxed()
}

/// One page, decoded.
struct Page {
    entries: Vec<ListEntry>,
    truncated: bool,
    next: Option<String>,
}

impl Core {
    async fn list_page(
        &self,
        prefix: &str,
        opts: &ListOptions,
        token: Option<&str>,
    ) -> Result<Page> {
        let mut call = Call::new(Method::GET, None)
            .query("list-type", "2")
            .query("encoding-type", "url")
            .query("prefix", prefix);
        if let Some(d) = &opts.delimiter {
            call = call.query("delimiter", d.clone());
        }
        if let Some(n) = opts.page_size {
            call = call.query("max-keys", n.clamp(1, 1000).to_string());
        }
        match token {
            Some(t) => call = call.query("continuation-token", t),
            None => {
                if let Some(sa) = &opts.start_after {
                    call = call.query("start-after", sa.clone());
                }
            }
        }
        let what = if prefix.is_empty() {
            &self.cfg.bucket
        } else {
            prefix
        };
        let (_, body) = self.send_small(call, &self.ctx(what)).await?;
        let res: ListBucketResult = xml::parse(&body, what, "ListObjectsV2")?;
        let encoded = res
            .encoding_type
            .as_deref()
            .is_some_and(|e| e.eq_ignore_ascii_case("url"));
        let decode = |s: &str| {
            if encoded {
                decode_listed(s)
            } else {
                Ok(s.to_owned())
            }
        };
        let mut entries = Vec::with_capacity(res.contents.len() + res.common_prefixes.len());
        for o in res.contents {
            let name = decode(&o.key)?;
            let key = Key::new(name.clone()).map_err(|e| {
                Error::invalid(name, format!("the store listed an unusable key: {e}"))
            })?;
            entries.push(ListEntry::Object(ObjectMeta {
                key,
                size: o.size,
                last_modified: o.last_modified.as_deref().and_then(parse_iso8601),
                etag: o.etag.as_deref().map(unquote),
                checksums: Vec::new(),
                version: None,
                attrs: haul_core::Attributes::default(),
            }));
        }
        for p in res.common_prefixes {
            entries.push(ListEntry::Prefix(decode(&p.prefix)?));
        }
        entries.sort_by(|a, b| entry_name(a).cmp(entry_name(b)));
        Ok(Page {
            entries,
            truncated: res.is_truncated,
            next: res.next_continuation_token,
        })
    }
}

fn entry_name(e: &ListEntry) -> &str {
    match e {
        ListEntry::Object(m) => m.key.as_str(),
        ListEntry::Prefix(p) => p,
    }
}
