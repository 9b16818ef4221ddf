//! GET Bucket (List Objects) as a stream across marker-paginated pages.

use std::sync::Arc;

use futures::{StreamExt, TryStreamExt, stream};
use haul_core::{ListEntry, ListOptions, ListStream, Result};
use haul_http::xml::{entry_name, listed_entries, parse, url_encoded};
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
        let encoded = url_encoded(res.encoding_type.as_deref());
        let entries = listed_entries(res.contents, res.common_prefixes, encoded, decode_listed)?;
        let next = match res.next_marker.filter(|m| !m.is_empty()) {
            Some(m) if encoded => Some(decode_listed(&m)?),
            Some(m) => Some(m),
            None => None,
        };
        Ok(Page {
            entries,
            truncated: res.is_truncated,
            next,
        })
    }
}
