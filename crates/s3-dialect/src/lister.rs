//! Listing a bucket as a stream across pages: ListObjectsV2 (S3) or GET
//! Bucket with markers (COS).

use std::sync::Arc;

use futures::{StreamExt, TryStreamExt, stream};
use haul_core::{ListEntry, ListOptions, ListStream, Result};
use haul_http::xml::{entry_name, listed_entries, parse, url_encoded};
use http::Method;

use crate::addr::decode_listed;
use crate::xml::ListBucketResult;
use haul_http::send::Call;

use crate::core::{Core, Dialect};
use crate::spec::Listing;

/// Where a listing is between pages.
struct Cursor<D> {
    core: Arc<Core<D>>,
    prefix: String,
    opts: ListOptions,
    /// The continuation token (V2) or marker of the next page.
    next: Option<String>,
    done: bool,
}

/// Lists `prefix` page by page (`encoding-type=url`, decoded here), each
/// page's objects and common prefixes merged in key order. With markers,
/// the next page starts after `NextMarker`, or after the page's last
/// entry when the service leaves it out.
pub fn list<D: Dialect>(core: Arc<Core<D>>, prefix: &str, opts: ListOptions) -> ListStream {
    let cursor = Cursor {
        core,
        prefix: prefix.to_owned(),
        next: match D::SPEC.listing {
            Listing::V2 => None,
            Listing::Marker => opts.start_after.clone(),
        },
        opts,
        done: false,
    };
    stream::try_unfold(cursor, |mut c| async move {
        if c.done {
            return Ok(None);
        }
        let page = c
            .core
            .list_page(&c.prefix, &c.opts, c.next.as_deref())
            .await?;
        match D::SPEC.listing {
            Listing::V2 => {
                c.next = page.next.filter(|t| !t.is_empty());
                c.done = !page.truncated || c.next.is_none();
            }
            Listing::Marker => {
                let next = page
                    .next
                    .or_else(|| page.entries.last().map(|e| entry_name(e).to_owned()));
                // A marker that does not move would list the same page forever.
                c.done = !page.truncated || next.is_none() || next == c.next;
                c.next = next;
            }
        }
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

impl<D: Dialect> Core<D> {
    /// The listing call for one page after `next` (a token or a marker).
    fn list_call<'a>(prefix: &'a str, opts: &ListOptions, next: Option<&str>) -> Call<'a> {
        let v2 = D::SPEC.listing == Listing::V2;
        let mut call = Call::new(Method::GET, None);
        call = if v2 {
            call.query("list-type", "2")
                .query("encoding-type", "url")
                .query("prefix", prefix)
        } else {
            call.query("prefix", prefix).query("encoding-type", "url")
        };
        if let Some(d) = &opts.delimiter {
            call = call.query("delimiter", d.clone());
        }
        if !v2 && let Some(m) = next {
            call = call.query("marker", m);
        }
        if let Some(n) = opts.page_size {
            call = call.query("max-keys", n.clamp(1, 1000).to_string());
        }
        if v2 {
            match (next, &opts.start_after) {
                (Some(t), _) => call = call.query("continuation-token", t),
                (None, Some(sa)) => call = call.query("start-after", sa.clone()),
                (None, None) => {}
            }
        }
        call
    }

    async fn list_page(
        &self,
        prefix: &str,
        opts: &ListOptions,
        next: Option<&str>,
    ) -> Result<Page> {
        let call = Self::list_call(prefix, opts, next);
        let what = if prefix.is_empty() {
            self.bucket()
        } else {
            prefix
        };
        let (_, body) = self.send_small(call, &self.ctx(what)).await?;
        let res: ListBucketResult = parse(&body, what, D::SPEC.names.list)?;
        let encoded = url_encoded(res.encoding_type.as_deref());
        let plus = D::SPEC.addressing.plus_is_space;
        let decode = |s: &str| decode_listed(s, plus);
        let entries = listed_entries(res.contents, res.common_prefixes, encoded, decode)?;
        let next = match D::SPEC.listing {
            Listing::V2 => res.next_continuation_token,
            Listing::Marker => match res.next_marker.filter(|m| !m.is_empty()) {
                Some(m) if encoded => Some(decode(&m)?),
                m => m,
            },
        };
        Ok(Page {
            entries,
            truncated: res.is_truncated,
            next,
        })
    }
}
