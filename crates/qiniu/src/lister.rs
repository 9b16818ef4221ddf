//! rsf/list as a stream across pages.
//!
//! Kodo pages with an opaque `marker` (empty when done) and answers each
//! page's items and `commonPrefixes` separately; they are merged in key
//! order here. A common prefix can come again on the next page: entries
//! are only ever emitted in ascending order, so a repeat is dropped.
//! Kodo has no `start-after`: keys up to it are skipped as they arrive.

use std::fmt::Write as _;
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt, stream};
use haul_core::{Key, ListEntry, ListOptions, ListStream, Result};
use http::Method;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;

use crate::core::{Auth, Call, Core, FORM};
use crate::reader::Stat;

/// What a query value keeps unencoded: unreserved characters.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

#[derive(Debug, Deserialize)]
struct Page {
    #[serde(default)]
    marker: Option<String>,
    #[serde(rename = "commonPrefixes", default)]
    common_prefixes: Option<Vec<String>>,
    #[serde(default)]
    items: Option<Vec<Stat>>,
}

/// Where a listing is between pages.
struct Cursor {
    core: Arc<Core>,
    prefix: String,
    opts: ListOptions,
    marker: Option<String>,
    done: bool,
    /// The name of the last entry emitted.
    last: Option<String>,
}

fn name(e: &ListEntry) -> &str {
    e.name()
}

/// Whether an entry lies after `start_after`: an object whose key is
/// greater, or a prefix that is greater or holds keys that may be.
fn after(e: &ListEntry, start_after: &str) -> bool {
    match e {
        ListEntry::Object(m) => m.key.as_str() > start_after,
        ListEntry::Unusable(u) => u.name.as_str() > start_after,
        ListEntry::Prefix(p) => p.as_str() > start_after || start_after.starts_with(p.as_str()),
    }
}

/// Lists `prefix` page by page.
pub(crate) fn list(core: Arc<Core>, prefix: &str, opts: ListOptions) -> ListStream {
    let cursor = Cursor {
        core,
        prefix: prefix.to_owned(),
        opts,
        marker: None,
        done: false,
        last: None,
    };
    stream::try_unfold(cursor, |mut c| async move {
        if c.done {
            return Ok(None);
        }
        let (entries, next) = c
            .core
            .list_page(&c.prefix, &c.opts, c.marker.as_deref())
            .await?;
        c.done = next.is_none() || next == c.marker;
        c.marker = next;
        let mut out = Vec::with_capacity(entries.len());
        for e in entries {
            if c.opts
                .start_after
                .as_deref()
                .is_some_and(|sa| !after(&e, sa))
            {
                continue;
            }
            if c.last.as_deref().is_some_and(|l| name(&e) <= l) {
                continue;
            }
            c.last = Some(name(&e).to_owned());
            out.push(e);
        }
        Ok(Some((out, c)))
    })
    .map_ok(|entries: Vec<ListEntry>| stream::iter(entries.into_iter().map(Ok)))
    .try_flatten()
    .boxed()
}

impl Core {
    /// One page: its entries in key order, and the next marker (`None`
    /// when the listing is done).
    async fn list_page(
        &self,
        prefix: &str,
        opts: &ListOptions,
        marker: Option<&str>,
    ) -> Result<(Vec<ListEntry>, Option<String>)> {
        let q = |v: &str| utf8_percent_encode(v, QUERY).to_string();
        let limit = opts.page_size.unwrap_or(1000).clamp(1, 1000);
        let mut url = format!(
            "{}/list?bucket={}&limit={limit}&prefix={}",
            self.cfg.rsf_url,
            q(&self.cfg.bucket),
            q(prefix)
        );
        if let Some(d) = &opts.delimiter {
            let _ = write!(url, "&delimiter={}", q(d));
        }
        if let Some(m) = marker {
            let _ = write!(url, "&marker={}", q(m));
        }
        let call = Call::new(Method::GET, url, Auth::Qiniu).header("content-type", FORM);
        let what = if prefix.is_empty() {
            self.cfg.bucket.as_str()
        } else {
            prefix
        };
        let (_, page): (u16, Page) = self.send_json(call, &self.ctx(what)).await?;
        let items = page.items.unwrap_or_default();
        let prefixes = page.common_prefixes.unwrap_or_default();
        let mut entries = Vec::with_capacity(items.len() + prefixes.len());
        for item in items {
            let k = item.key.clone().unwrap_or_default();
            match Key::problem(&k) {
                None => entries.push(ListEntry::Object(item.meta(Key::new(k)?))),
                Some(problem) => entries.push(ListEntry::Unusable(haul_core::Unusable::failed(
                    haul_core::escape_text(&k),
                    format!("Kodo listed a key haul cannot hold: {problem}"),
                ))),
            }
        }
        entries.extend(prefixes.into_iter().map(ListEntry::Prefix));
        entries.sort_by(|a, b| name(a).cmp(name(b)));
        Ok((entries, page.marker.filter(|m| !m.is_empty())))
    }
}

#[cfg(test)]
mod tests {
    use haul_core::ObjectMeta;

    use super::*;

    #[test]
    fn start_after_rules() {
        let obj = |k: &str| ListEntry::Object(ObjectMeta::new(Key::new(k).unwrap(), 1));
        let dir = |p: &str| ListEntry::Prefix(p.to_owned());
        assert!(!after(&obj("a"), "a"));
        assert!(after(&obj("b"), "a"));
        assert!(after(&dir("b/"), "a.txt"));
        assert!(after(&dir("b/"), "b/1"), "b/ may hold keys after b/1");
        assert!(!after(&dir("a/"), "b"));
    }
}
