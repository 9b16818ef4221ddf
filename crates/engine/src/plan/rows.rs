//! What planning decides per key: which keys a job takes (globs, shard),
//! the row a listed entry becomes, and whether a destination object is
//! already up to date. A leaf of the planner.

use globset::{Glob, GlobSet, GlobSetBuilder};
use haul_core::{Error, Key, ObjectMeta, ObjectStore, Result, Unusable};
use haul_journal::{FileAction, FileState, NewFile};

use crate::config::CompareMode;
use crate::context::{Shared, mtime_ns};
use crate::error::EngineError;

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

    pub(crate) fn admits(&self, rel: &str) -> bool {
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
pub(crate) fn row(meta: &ObjectMeta, dst: String, action: FileAction, state: FileState) -> NewFile {
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
pub(crate) fn unusable_row(u: &Unusable, dst: String, action: FileAction) -> NewFile {
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
pub(crate) async fn up_to_date(
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

pub(crate) fn key(text: &str) -> Result<Key, EngineError> {
    Key::new(text).map_err(EngineError::Plan)
}

pub(crate) async fn head_opt(
    store: &dyn ObjectStore,
    k: &Key,
) -> Result<Option<ObjectMeta>, EngineError> {
    match store.head(k).await {
        Ok(m) => Ok(Some(m)),
        Err(Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(EngineError::Plan(e)),
    }
}
