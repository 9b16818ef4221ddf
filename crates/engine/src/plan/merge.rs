//! The merge join of a source listing with the destination's: each key in
//! ascending order becomes a copy (skipped when up to date) or, with
//! `--delete`, a delete of what the destination alone holds. One job's
//! whole listing, or one listing task's part of it: the same join over
//! the same part of both sides, continuing after a cursor.

use std::sync::Arc;

use futures::TryStreamExt;
use futures::stream::BoxStream;
use haul_core::{ListEntry, ListOptions, ObjectMeta, ObjectStore, Result, Unusable};
use haul_journal::{FileAction, FileState, NewFile};

use super::planner::Planner;
use super::rows::{Filter, key, row, unusable_row, up_to_date};
use crate::config::CompareMode;
use crate::error::EngineError;

/// Which part of the job's listing to plan: keys under `sub` (relative to
/// both sides' prefixes), after `after` (relative too), up to `end`
/// included.
#[derive(Debug, Default)]
pub(crate) struct Part<'a> {
    /// The sub-prefix listed on both sides (`""`: the whole job).
    pub(crate) sub: &'a str,
    /// One level only (`Some("/")`): common prefixes are handed to the
    /// planner as tasks of their own.
    pub(crate) delimiter: Option<&'a str>,
    /// Continue after this key (relative to the job's prefixes).
    pub(crate) after: Option<&'a str>,
    /// Stop after this key (relative).
    pub(crate) end: Option<&'a str>,
}

/// How keys are judged.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rules<'a> {
    pub(crate) compare: CompareMode,
    pub(crate) delete: bool,
    pub(crate) filter: &'a Filter,
}

/// A source or destination listing. Failures part-way are the store's
/// retry layer's to ride through ([`haul_layers::Retry`] lists again after
/// the last entry it gave); what reaches here ends planning.
struct Listing {
    stream: BoxStream<'static, Result<ListEntry>>,
    /// The side's prefix: keys are compared relative to it.
    root: String,
    /// The last relative key to take.
    end: Option<String>,
    /// Keep the common prefixes met (relative), for the planner.
    keep_prefixes: bool,
    found: Vec<String>,
}

/// What planning takes from a listing: objects, and what cannot be one.
enum Item {
    Object(ObjectMeta),
    Unusable(Unusable),
}

impl Listing {
    fn new(store: &Arc<dyn ObjectStore>, root: &str, part: &Part<'_>, keep: bool) -> Self {
        let opts = ListOptions {
            delimiter: part.delimiter.map(str::to_owned),
            start_after: part.after.map(|a| format!("{root}{a}")),
            ..ListOptions::default()
        };
        Self {
            stream: store.list(&format!("{root}{}", part.sub), opts),
            root: root.to_owned(),
            end: part.end.map(str::to_owned),
            keep_prefixes: keep,
            found: Vec::new(),
        }
    }

    /// The next entry the filter admits, with its key relative to the root.
    async fn next(&mut self, filter: &Filter) -> Result<Option<(String, Item)>, EngineError> {
        while let Some(entry) = self.stream.try_next().await.map_err(EngineError::Plan)? {
            let name = entry.name();
            let rel = name.strip_prefix(self.root.as_str()).unwrap_or(name);
            if self.end.as_deref().is_some_and(|e| rel > e) {
                return Ok(None);
            }
            let rel = rel.to_owned();
            match entry {
                ListEntry::Prefix(_) if self.keep_prefixes => self.found.push(rel),
                ListEntry::Object(m) if filter.admits(&rel) => {
                    return Ok(Some((rel, Item::Object(m))));
                }
                ListEntry::Unusable(u) if filter.admits(&rel) => {
                    return Ok(Some((rel, Item::Unusable(u))));
                }
                _ => {}
            }
        }
        Ok(None)
    }
}

/// Hands the prefixes a listing met to the planner.
fn hand_over(p: &mut Planner<'_>, l: &mut Option<Listing>) {
    if let Some(l) = l.as_mut() {
        for rel in l.found.drain(..) {
            p.prefix(&rel);
        }
    }
}

/// The next source entry that is an object; the unusable ones met on the
/// way are planned as skipped or refused rows.
async fn next_object(
    p: &mut Planner<'_>,
    s: &mut Option<Listing>,
    dst_root: &str,
    action: FileAction,
    filter: &Filter,
) -> Result<Option<(String, ObjectMeta)>, EngineError> {
    loop {
        let Some(listing) = s.as_mut() else {
            return Ok(None);
        };
        let next = listing.next(filter).await?;
        hand_over(p, s);
        match next {
            None => return Ok(None),
            Some((rel, Item::Object(m))) => return Ok(Some((rel, m))),
            Some((rel, Item::Unusable(u))) => {
                let dst = format!("{dst_root}{rel}");
                p.push(&rel, unusable_row(&u, dst, action)).await?;
            }
        }
    }
}

/// The next destination entry that is an object (what the destination
/// cannot offer is neither compared nor deleted).
async fn next_dst(
    p: &mut Planner<'_>,
    s: &mut Option<Listing>,
    filter: &Filter,
) -> Result<Option<(String, ObjectMeta)>, EngineError> {
    loop {
        let Some(listing) = s.as_mut() else {
            return Ok(None);
        };
        let next = listing.next(filter).await?;
        hand_over(p, s);
        match next {
            None => return Ok(None),
            Some((rel, Item::Object(m))) => return Ok(Some((rel, m))),
            Some((_, Item::Unusable(_))) => {}
        }
    }
}

/// Plans `part` of the job: the source's keys there joined with the
/// destination's (listed only when comparing or deleting).
pub(crate) async fn merge(
    p: &mut Planner<'_>,
    part: &Part<'_>,
    rules: Rules<'_>,
) -> Result<(), EngineError> {
    let shared = p.shared;
    let (src, dst) = (&shared.src.store, &shared.dst.store);
    let (src_root, dst_root) = (shared.src.prefix.as_str(), shared.dst.prefix.as_str());
    let filter = rules.filter;
    let one_level = part.delimiter.is_some();
    let mut src_list = Some(Listing::new(src, src_root, part, one_level));
    let mut dst_list = (rules.compare != CompareMode::Always || rules.delete)
        .then(|| Listing::new(dst, dst_root, part, one_level && rules.delete));
    let mut cur_s = next_object(p, &mut src_list, dst_root, FileAction::Copy, filter).await?;
    let mut cur_d = next_dst(p, &mut dst_list, filter).await?;
    loop {
        let order = match (&cur_s, &cur_d) {
            (None, None) => break,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some((sr, _)), Some((dr, _))) => sr.as_bytes().cmp(dr.as_bytes()),
        };
        match order {
            std::cmp::Ordering::Less | std::cmp::Ordering::Equal => {
                let Some((rel, sm)) = cur_s.take() else { break };
                let dst_key = format!("{dst_root}{rel}");
                let mut state = FileState::Pending;
                if order == std::cmp::Ordering::Equal {
                    let Some((_, dm)) = cur_d.take() else { break };
                    if up_to_date(shared, rules.compare, &sm, &dm)
                        .await
                        .map_err(EngineError::Plan)?
                    {
                        state = FileState::Skipped;
                    }
                    cur_d = next_dst(p, &mut dst_list, filter).await?;
                }
                key(&dst_key)?;
                p.push(&rel, row(&sm, dst_key, FileAction::Copy, state))
                    .await?;
                cur_s = next_object(p, &mut src_list, dst_root, FileAction::Copy, filter).await?;
            }
            std::cmp::Ordering::Greater => {
                let Some((rel, dm)) = cur_d.take() else { break };
                if rules.delete {
                    let k = dm.key.to_string();
                    p.push(
                        &rel,
                        NewFile {
                            action: FileAction::Delete,
                            ..NewFile::copy(k.clone(), k, 0)
                        },
                    )
                    .await?;
                }
                cur_d = next_dst(p, &mut dst_list, filter).await?;
            }
        }
    }
    Ok(())
}

/// Plans a delete of every object under the job's source prefix (`rm -r`).
pub(crate) async fn deletes(p: &mut Planner<'_>, filter: &Filter) -> Result<(), EngineError> {
    let shared = p.shared;
    let root = shared.src.prefix.as_str();
    let mut s = Some(Listing::new(
        &shared.src.store,
        root,
        &Part::default(),
        false,
    ));
    while let Some((rel, m)) = next_object(p, &mut s, root, FileAction::Delete, filter).await? {
        let k = m.key.to_string();
        p.push(&rel, row(&m, k, FileAction::Delete, FileState::Pending))
            .await?;
    }
    Ok(())
}
