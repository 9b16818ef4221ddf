//! Planning: stream the source listing (merged with the destination's when
//! comparing) into the journal, deciding copy, skip or delete per key. On a
//! shared journal the listing is split into listing tasks that workers
//! lease and list together (`tasks`).

mod merge;
mod planner;
mod rows;
pub(crate) mod tasks;

use std::sync::atomic::Ordering;

use haul_journal::{FileAction, FileId, FileState, JobState, Journal, NewFile};

use crate::config::CompareMode;
use crate::context::{JobRequest, Operation, Shared};
use crate::error::EngineError;
use crate::event::Event;
use merge::{Part, Rules, merge};
use planner::Planner;
pub(crate) use rows::Filter;
use rows::{head_opt, key, row, up_to_date};

/// Whether a job's listing is split into listing tasks: on a shared
/// journal, for a copy, sync or move of a prefix (not a dry run, not
/// under a delete limit, which one process counts), unless
/// `$HAUL_LISTING_TASKS` is `0`.
pub(crate) fn splits(journal: &Journal, req: &JobRequest) -> bool {
    journal.is_shared()
        && !req.single
        && !req.dry_run
        && req.max_delete.is_none()
        && matches!(req.op, Operation::Copy | Operation::Sync | Operation::Move)
        && std::env::var("HAUL_LISTING_TASKS").map_or(true, |v| v.trim() != "0")
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
    if shared.listing.is_some() {
        // Split: the root task, listed by whoever claims it first (this
        // process when it only submits the job).
        shared
            .journal
            .add_listings(shared.job, vec![tasks::root(shared)]);
        shared.journal.flush().await?;
        return Ok(());
    }
    let mut p = Planner::new(shared, req.max_delete);
    shared.counters.listing.store(true, Ordering::Relaxed);
    let (src, dst) = (&*shared.src.store, &*shared.dst.store);
    if req.op == Operation::Delete {
        if req.single {
            let k = key(&req.src.prefix)?;
            p.push(
                "",
                NewFile {
                    action: FileAction::Delete,
                    ..NewFile::copy(k.as_str(), k.as_str(), 0)
                },
            )
            .await?;
        } else {
            merge::deletes(&mut p, filter).await?;
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
            if let Ok(mut planned) = shared.planned.lock() {
                *planned = Some(meta.clone());
            }
            FileState::Pending
        };
        p.push("", row(&meta, dk.to_string(), FileAction::Copy, state))
            .await?;
    } else {
        let rules = Rules {
            compare: req.compare,
            delete: req.delete_extraneous,
            filter,
        };
        merge(&mut p, &Part::default(), rules).await?;
    }
    let (files, bytes) = (p.files, p.bytes);
    p.finish().await?;
    shared.counters.listing.store(false, Ordering::Relaxed);
    shared.emit(Event::Planned { files, bytes });
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
