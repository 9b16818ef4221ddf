//! Planning: stream the source listing (merged with the destination's when
//! comparing) into the journal, deciding copy, skip or delete per key.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use globset::{Glob, GlobSet, GlobSetBuilder};
use haul_core::{Error, Key, ListEntry, ListOptions, ObjectMeta, ObjectStore, Result, Unusable};
use haul_journal::{FileAction, FileId, FileState, JobState, NewFile};

use crate::config::CompareMode;
use crate::context::{JobRequest, Operation, Shared, mtime_ns};
use crate::error::EngineError;
use crate::event::Event;

/// Rows per journal batch while planning.
const PLAN_BATCH: usize = 1000;

/// Include/exclude globs over keys relative to the prefix.
#[derive(Debug)]
pub(crate) struct Filter {
    include: Option<GlobSet>,
    exclude: Option<GlobSet>,
    shard: Option<crate::Shard>,
}

fn globset(patterns: &[String]) -> Result<Option<GlobSet>, EngineError> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        b.add(Glob::new(p).map_err(|e| EngineError::Pattern {
            pattern: p.clone(),
            cause: e.kind().to_string(),
        })?);
    }
    b.build().map(Some).map_err(|e| EngineError::Pattern {
        pattern: patterns.join(" "),
        cause: e.to_string(),
    })
}

impl Filter {
    pub(crate) fn new(
        include: &[String],
        exclude: &[String],
        shard: Option<crate::Shard>,
    ) -> Result<Self, EngineError> {
        Ok(Self {
            include: globset(include)?,
            exclude: globset(exclude)?,
            shard,
        })
    }

    fn admits(&self, rel: &str) -> bool {
        if self.shard.is_some_and(|s| !s.holds(rel)) {
            return false;
        }
        if self.exclude.as_ref().is_some_and(|g| g.is_match(rel)) {
            return false;
        }
        self.include.as_ref().is_none_or(|g| g.is_match(rel))
    }
}

/// A planned row for `meta` going to `dst`.
fn row(meta: &ObjectMeta, dst: String, action: FileAction, state: FileState) -> NewFile {
    NewFile {
        src: meta.key.as_str().to_owned(),
        dst,
        size: meta.size,
        mtime_ns: mtime_ns(meta),
        src_version: meta.etag.clone(),
        action,
        state,
        error: None,
    }
}

/// A planned row for an entry the source listed but cannot offer: skipped
/// or refused, with its reason, so that nothing is left out silently.
fn unusable_row(u: &Unusable, dst: String, action: FileAction) -> NewFile {
    NewFile {
        state: if u.fails {
            FileState::Refused
        } else {
            FileState::Skipped
        },
        error: Some(if u.fails {
            format!("{}: {}", u.name, u.reason)
        } else {
            u.reason.clone()
        }),
        action,
        ..NewFile::copy(u.name.clone(), dst, 0)
    }
}

/// Whether the destination `dst` of `src` need not be written again.
async fn up_to_date(
    shared: &Shared,
    mode: CompareMode,
    src: &ObjectMeta,
    dst: &ObjectMeta,
) -> Result<bool> {
    let (src_store, dst_store) = (&*shared.src.store, &*shared.dst.store);
    Ok(match mode {
        CompareMode::Always => false,
        CompareMode::IgnoreExisting => true,
        CompareMode::SizeOnly => src.size == dst.size,
        CompareMode::SizeMtime => {
            if src.size != dst.size {
                return Ok(false);
            }
            let newer = |s: &ObjectMeta, d: &ObjectMeta| matches!((s.content_mtime(), d.content_mtime()), (Some(s), Some(d)) if d >= s);
            // Listings rarely carry user metadata: when the listed times
            // disagree, ask both stores for the recorded content times.
            newer(src, dst)
                || newer(
                    &src_store.head(&src.key).await?,
                    &dst_store.head(&dst.key).await?,
                )
        }
        CompareMode::Checksum => crate::sums::same_content(shared, src, dst).await?,
    })
}

struct Planner<'a> {
    shared: &'a Shared,
    batch: Vec<NewFile>,
    files: u64,
    bytes: u64,
    skipped: u64,
    deletes: u64,
    max_delete: Option<u64>,
}

impl Planner<'_> {
    fn push(&mut self, f: NewFile) -> Result<(), EngineError> {
        self.files += 1;
        match (f.action, f.state) {
            (_, FileState::Skipped) => {
                self.skipped += 1;
                self.shared.emit(Event::FileSkipped {
                    src: f.src.clone(),
                    dst: f.dst.clone(),
                    reason: f.error.clone(),
                });
            }
            (_, FileState::Refused) => {
                let line = f.error.clone().unwrap_or_default();
                crate::failure::count_failure(self.shared, &f.src, &f.dst, line);
            }
            (FileAction::Delete, _) => {
                self.deletes += 1;
                if let Some(max) = self.max_delete.filter(|m| self.deletes > *m) {
                    return Err(EngineError::TooManyDeletes {
                        would: self.deletes,
                        max,
                    });
                }
            }
            (FileAction::Copy, _) => self.bytes += f.size,
        }
        self.batch.push(f);
        if self.batch.len() >= PLAN_BATCH {
            self.shared
                .journal
                .add_files(self.shared.job, std::mem::take(&mut self.batch));
            self.listed();
        }
        Ok(())
    }

    /// Shows what was listed so far, as progress while listing goes on.
    fn listed(&self) {
        let c = &self.shared.counters;
        c.files_total.store(self.files, Ordering::Relaxed);
        c.files_skipped.store(self.skipped, Ordering::Relaxed);
        c.bytes_total.store(self.bytes, Ordering::Relaxed);
        self.shared.emit(Event::Progress(self.shared.snapshot()));
    }
}

/// A source or destination listing. Failures part-way are the store's
/// retry layer's to ride through ([`haul_layers::Retry`] lists again after
/// the last entry it gave); what reaches here ends planning.
struct Listing {
    stream: BoxStream<'static, Result<Item>>,
}

/// What planning takes from a listing: objects, and what cannot be one.
enum Item {
    Object(ObjectMeta),
    Unusable(Unusable),
}

impl Item {
    fn name(&self) -> &str {
        match self {
            Self::Object(m) => m.key.as_str(),
            Self::Unusable(u) => &u.name,
        }
    }
}

fn objects(store: &Arc<dyn ObjectStore>, prefix: &str) -> BoxStream<'static, Result<Item>> {
    store
        .list(prefix, ListOptions::default())
        .try_filter_map(|e| async move {
            Ok(match e {
                ListEntry::Object(m) => Some(Item::Object(m)),
                ListEntry::Unusable(u) => Some(Item::Unusable(u)),
                ListEntry::Prefix(_) => None,
            })
        })
        .boxed()
}

impl Listing {
    fn new(store: &Arc<dyn ObjectStore>, prefix: &str) -> Self {
        Self {
            stream: objects(store, prefix),
        }
    }

    async fn next(&mut self) -> Result<Option<Item>> {
        self.stream.next().await.transpose()
    }
}

async fn next(
    s: &mut Option<Listing>,
    prefix: &str,
    filter: &Filter,
) -> Result<Option<(String, Item)>, EngineError> {
    let Some(listing) = s.as_mut() else {
        return Ok(None);
    };
    while let Some(item) = listing.next().await.map_err(EngineError::Plan)? {
        let name = item.name();
        let rel = name.strip_prefix(prefix).unwrap_or(name).to_owned();
        if filter.admits(&rel) {
            return Ok(Some((rel, item)));
        }
    }
    Ok(None)
}

/// The next source entry that is an object; the unusable ones met on the
/// way are planned as skipped or refused rows.
async fn next_object(
    p: &mut Planner<'_>,
    s: &mut Option<Listing>,
    prefixes: (&str, &str),
    action: FileAction,
    filter: &Filter,
) -> Result<Option<(String, ObjectMeta)>, EngineError> {
    loop {
        match next(s, prefixes.0, filter).await? {
            None => return Ok(None),
            Some((rel, Item::Object(m))) => return Ok(Some((rel, m))),
            Some((rel, Item::Unusable(u))) => {
                let dst = format!("{}{rel}", prefixes.1);
                p.push(unusable_row(&u, dst, action))?;
            }
        }
    }
}

/// The next destination entry that is an object (what the destination
/// cannot offer is neither compared nor deleted).
async fn next_dst(
    s: &mut Option<Listing>,
    prefix: &str,
    filter: &Filter,
) -> Result<Option<(String, ObjectMeta)>, EngineError> {
    loop {
        match next(s, prefix, filter).await? {
            None => return Ok(None),
            Some((rel, Item::Object(m))) => return Ok(Some((rel, m))),
            Some((_, Item::Unusable(_))) => {}
        }
    }
}

fn key(text: &str) -> Result<Key, EngineError> {
    Key::new(text).map_err(EngineError::Plan)
}

async fn head_opt(store: &dyn ObjectStore, k: &Key) -> Result<Option<ObjectMeta>, EngineError> {
    match store.head(k).await {
        Ok(m) => Ok(Some(m)),
        Err(Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(EngineError::Plan(e)),
    }
}

/// Plans the job into the journal and sets the totals.
pub(crate) async fn plan(
    shared: &Shared,
    req: &JobRequest,
    filter: &Filter,
) -> Result<(), EngineError> {
    let result = plan_inner(shared, req, filter).await;
    if result.is_err() {
        shared.journal.set_job_state(shared.job, JobState::Failed);
        shared.journal.flush().await?;
    }
    result
}

async fn plan_inner(shared: &Shared, req: &JobRequest, filter: &Filter) -> Result<(), EngineError> {
    let mut p = Planner {
        shared,
        batch: Vec::with_capacity(PLAN_BATCH),
        files: 0,
        bytes: 0,
        skipped: 0,
        deletes: 0,
        max_delete: req.max_delete,
    };
    shared.counters.listing.store(true, Ordering::Relaxed);
    let (src, dst) = (&*shared.src.store, &*shared.dst.store);
    if req.op == Operation::Delete {
        if req.single {
            let k = key(&req.src.prefix)?;
            p.push(NewFile {
                action: FileAction::Delete,
                ..NewFile::copy(k.as_str(), k.as_str(), 0)
            })?;
        } else {
            let mut s = Some(Listing::new(&shared.src.store, &req.src.prefix));
            let prefixes = (req.src.prefix.as_str(), req.src.prefix.as_str());
            while let Some((_, m)) =
                next_object(&mut p, &mut s, prefixes, FileAction::Delete, filter).await?
            {
                p.push(row(
                    &m,
                    m.key.to_string(),
                    FileAction::Delete,
                    FileState::Pending,
                ))?;
            }
        }
    } else if req.single {
        let k = key(&req.src.prefix)?;
        let meta = src.head(&k).await.map_err(EngineError::Plan)?;
        let dk = key(&req.dst.prefix)?;
        let skip = match req.compare {
            CompareMode::Always => false,
            mode => match head_opt(dst, &dk).await? {
                Some(d) => up_to_date(shared, mode, &meta, &d)
                    .await
                    .map_err(EngineError::Plan)?,
                None => false,
            },
        };
        let state = if skip {
            FileState::Skipped
        } else {
            FileState::Pending
        };
        p.push(row(&meta, dk.to_string(), FileAction::Copy, state))?;
    } else {
        let mut src_list = Some(Listing::new(&shared.src.store, &req.src.prefix));
        let mut dst_list = (req.compare != CompareMode::Always || req.delete_extraneous)
            .then(|| Listing::new(&shared.dst.store, &req.dst.prefix));
        let prefixes = (req.src.prefix.as_str(), req.dst.prefix.as_str());
        let mut cur_s =
            next_object(&mut p, &mut src_list, prefixes, FileAction::Copy, filter).await?;
        let mut cur_d = next_dst(&mut dst_list, &req.dst.prefix, filter).await?;
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
                    let dst_key = format!("{}{rel}", req.dst.prefix);
                    let mut state = FileState::Pending;
                    if order == std::cmp::Ordering::Equal {
                        let Some((_, dm)) = cur_d.take() else { break };
                        if up_to_date(shared, req.compare, &sm, &dm)
                            .await
                            .map_err(EngineError::Plan)?
                        {
                            state = FileState::Skipped;
                        }
                        cur_d = next_dst(&mut dst_list, &req.dst.prefix, filter).await?;
                    }
                    key(&dst_key)?;
                    p.push(row(&sm, dst_key, FileAction::Copy, state))?;
                    cur_s = next_object(&mut p, &mut src_list, prefixes, FileAction::Copy, filter)
                        .await?;
                }
                std::cmp::Ordering::Greater => {
                    let Some((_, dm)) = cur_d.take() else { break };
                    if req.delete_extraneous {
                        let k = dm.key.to_string();
                        p.push(NewFile {
                            action: FileAction::Delete,
                            ..NewFile::copy(k.clone(), k, 0)
                        })?;
                    }
                    cur_d = next_dst(&mut dst_list, &req.dst.prefix, filter).await?;
                }
            }
        }
    }
    let batch = std::mem::take(&mut p.batch);
    shared.journal.add_files(shared.job, batch);
    shared.journal.flush().await?;
    let c = &shared.counters;
    c.files_total.store(p.files, Ordering::Relaxed);
    c.files_skipped.store(p.skipped, Ordering::Relaxed);
    c.bytes_total.store(p.bytes, Ordering::Relaxed);
    c.listing.store(false, Ordering::Relaxed);
    shared.emit(Event::Planned {
        files: p.files,
        bytes: p.bytes,
    });
    Ok(())
}

/// Emits what a dry run would do, paging through the plan.
pub(crate) fn report_dry_run(shared: &Shared) -> Result<(), EngineError> {
    let mut after = FileId(0);
    loop {
        let page = shared.journal.files_to_do(shared.job, after, 1000, false)?;
        let Some(last) = page.last() else {
            return Ok(());
        };
        after = last.id;
        for f in page {
            shared.emit(Event::DryRun {
                action: f.action.as_str(),
                src: f.src,
                dst: f.dst,
                size: f.size,
            });
        }
    }
}
