//! ListObjectsV2 as a stream across pages.

use std::sync::Arc;

use futures::{StreamExt, TryStreamExt, stream};
use haul_core::{ListEntry, ListOptions, ListStream, Result};
use haul_http::xml::{listed_entries, parse, url_encoded};
use http::Method;

use crate::addr::decode_listed;
use crate::core::{Call, Core};
use crate::xml::ListBucketResult;

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
        let res: ListBucketResult = parse(&body, what, "ListObjectsV2")?;
        let encoded = url_encoded(res.encoding_type.as_deref());
        let entries = listed_entries(res.contents, res.common_prefixes, encoded, decode_listed)?;
        Ok(Page {
            entries,
            truncated: res.is_truncated,
            next: res.next_continuation_token,
        })
    }
}
