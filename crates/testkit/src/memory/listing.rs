//! Paged listing over the object map.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Arc, Mutex, PoisonError};

use futures::{StreamExt, stream};
use haul_core::{ListEntry, ListOptions, ListStream};

use super::{Object, State};

/// Largest page `list` serves, as S3.
const MAX_PAGE: usize = 1000;

/// Lists `prefix` a page at a time, taking the lock once per page, so a
/// listing sees writes made between its pages as S3's would.
pub(super) fn list(state: Arc<Mutex<State>>, prefix: &str, opts: ListOptions) -> ListStream {
    let limit = opts.page_size.unwrap_or(MAX_PAGE).clamp(1, MAX_PAGE);
    let cursor = Cursor {
        prefix: prefix.to_owned(),
        delimiter: opts.delimiter,
        after: opts.start_after,
        skip: None,
        done: false,
    };
    stream::unfold(cursor, move |mut cursor| {
        let state = Arc::clone(&state);
        async move {
            if cursor.done {
                return None;
            }
            let page = {
                let st = state.lock().unwrap_or_else(PoisonError::into_inner);
                cursor.next_page(&st.objects, limit)
            };
            Some((stream::iter(page.into_iter().map(Ok)), cursor))
        }
    })
    .flatten()
    .boxed()
}

/// Where a listing is, between pages.
struct Cursor {
    prefix: String,
    delimiter: Option<String>,
    after: Option<String>,
    skip: Option<String>,
    done: bool,
}

impl Cursor {
    /// The next page of at most `limit` entries; sets `done` at the end.
    fn next_page(&mut self, objects: &BTreeMap<String, Object>, limit: usize) -> Vec<ListEntry> {
        let start = match &self.after {
            Some(a) if *a >= self.prefix => Bound::Excluded(a.clone()),
            _ => Bound::Included(self.prefix.clone()),
        };
        let mut out = Vec::new();
        for (k, obj) in objects.range::<String, _>((start, Bound::Unbounded)) {
            if !k.starts_with(&self.prefix) {
                break;
            }
            if self
                .skip
                .as_ref()
                .is_some_and(|s| k.starts_with(s.as_str()))
            {
                continue;
            }
            let rest = &k[self.prefix.len()..];
            let common = self
                .delimiter
                .as_deref()
                .filter(|d| !d.is_empty())
                .and_then(|d| {
                    rest.find(d)
                        .map(|i| format!("{}{}", self.prefix, &rest[..i + d.len()]))
                });
            if let Some(common) = common {
                out.push(ListEntry::Prefix(common.clone()));
                self.after = Some(common.clone());
                self.skip = Some(common);
            } else {
                out.push(ListEntry::Object(obj.meta()));
                self.after = Some(k.clone());
            }
            if out.len() == limit {
                return out;
            }
        }
        self.done = true;
        out
    }
}
