//! GET Bucket (List Objects) as a stream across marker-paginated pages.

use std::sync::Arc;

use futures::{StreamExt, TryStreamExt, stream};
use haul_core::{Error, Key, ListEntry, ListOptions, ListStream, ObjectMeta, Result};
use haul_http::xml::{parse, parse_iso8601, unquote};
use http::Method;

use crate::addr::decode_listed;
use crate::core::{Call, Core};
use crate::xml::ListBucketResult;

/// Where a listing is between pages.
struct Cursor {
    core: Arc<Core>,
    prefix: String,
    opts: ListOptions,
    marker: Option<String>,
    done: bool,
}

/// Lists `prefix` page by page (`encoding-type=url`, decoded here), each
/// page's objects and common prefixes merged in key order. The next page
/// starts after `NextMarker`, or after the page's last entry when COS
/// leaves it out.
pub(crate) fn list(core: Arc<Core>, prefix: &str, opts: ListOptions) -> ListStream {
    let cursor = Cursor {
        core,
        prefix: prefix.to_owned(),
        marker: opts.start_after.clone(),
        opts,
        done: false,
    };
    stream::try_unfold(cursor, |mut c| async move {
        if c.done {
            return Ok(None);
        }
        let page = c
            .core
            .list_page(&c.prefix, &c.opts, c.marker.as_deref())
            .await?;
        let next = page
            .next
            .or_else(|| page.entries.last().map(|e| entry_name(e).to_owned()));
        // A marker that does not move would list the same page forever.
        c.done = !page.truncated || next.is_none() || next == c.marker;
        c.marker = next;
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
        marker: Option<&str>,
    ) -> Result<Page> {
        let mut call = Call::new(Method::GET, None)
            .query("prefix", prefix)
            .query("encoding-type", "url");
        if let Some(d) = &opts.delimiter {
            call = call.query("delimiter", d.clone());
        }
        if let Some(m) = marker {
            call = call.query("marker", m);
        }
        if let Some(n) = opts.page_size {
            call = call.query("max-keys", n.clamp(1, 1000).to_string());
        }
        let what = if prefix.is_empty() {
            &self.cfg.bucket
        } else {
            prefix
        };
        let (_, body) = self.send_small(call, &self.ctx(what)).await?;
        let res: ListBucketResult = parse(&body, what, "GET Bucket")?;
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
        let next = match res.next_marker.filter(|m| !m.is_empty()) {
            Some(m) => Some(decode(&m)?),
            None => None,
        };
        Ok(Page {
            entries,
            truncated: res.is_truncated,
            next,
        })
    }
}

fn entry_name(e: &ListEntry) -> &str {
    match e {
        ListEntry::Object(m) => m.key.as_str(),
        ListEntry::Prefix(p) => p,
    }
}
