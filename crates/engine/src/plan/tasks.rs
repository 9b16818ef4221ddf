//! Planning at scale on a shared journal: a job's listing is split into
//! listing tasks that workers lease like files. The job starts with one
//! task, its whole prefix listed one level deep (`/`): that level's
//! objects are planned at once, each common prefix becomes a task of its
//! own (listed whole). Every task joins the source with the destination
//! over its own part of both (the same merge as one process's listing),
//! and journals its rows in batches, each with the task's cursor, so a
//! task taken over from a dead worker continues after the cursor.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use haul_journal::{JournalError, ListingTask, NewListing};

use super::merge::{Part, Rules, merge};
use super::planner::Planner;
use super::rows::Filter;
use crate::context::Shared;
use crate::error::EngineError;

/// The task a split job starts with: its whole prefix, one level deep.
pub(crate) fn root(shared: &Shared) -> NewListing {
    NewListing {
        delimiter: "/".into(),
        ..NewListing::prefix(shared.src.prefix.clone(), shared.dst.prefix.clone())
    }
}

/// A key of the task relative to the job's source prefix (`None` for `""`,
/// unbounded).
fn relative<'k>(shared: &Shared, key: &'k str) -> Result<Option<&'k str>, EngineError> {
    if key.is_empty() {
        return Ok(None);
    }
    key.strip_prefix(shared.src.prefix.as_str())
        .map(Some)
        .ok_or_else(|| EngineError::Task(format!("listing task {key:?} is not the job's")))
}

/// Plans one claimed task, after its cursor.
async fn run(shared: &Shared, rules: Rules<'_>, task: &ListingTask) -> Result<(), EngineError> {
    let r = &task.range;
    let sub = if r.prefix == shared.src.prefix {
        ""
    } else {
        relative(shared, &r.prefix)?.unwrap_or_default()
    };
    let part = Part {
        sub,
        delimiter: (!r.delimiter.is_empty()).then_some(r.delimiter.as_str()),
        after: match task.cursor.as_deref() {
            Some(c) => Some(c),
            None => relative(shared, &r.start_after)?,
        },
        end: relative(shared, &r.end_at)?,
    };
    let mut p = Planner::for_task(shared, task);
    merge(&mut p, &part, rules).await?;
    p.finish().await
}

/// Plans a task; what cannot be listed fails the task (counted as one
/// failure of this worker) without stopping the others; a task taken over
/// is left to its new owner.
async fn settle(shared: &Shared, rules: Rules<'_>, task: &ListingTask) -> Result<(), EngineError> {
    match run(shared, rules, task).await {
        Ok(()) => Ok(()),
        Err(EngineError::Journal(JournalError::ListingLost(id))) => {
            tracing::warn!(task = id.0, prefix = %task.range.prefix, "listing task taken over");
            Ok(())
        }
        Err(e @ (EngineError::Plan(_) | EngineError::Pattern { .. })) => {
            let line = format!("listing {}: {e}", task.range.prefix);
            match shared
                .journal
                .finish_listing(task, Some(line.clone()))
                .await
            {
                Ok(()) | Err(JournalError::ListingLost(_)) => {}
                Err(e) => return Err(e.into()),
            }
            crate::failure::count_failure(shared, &task.range.prefix, &task.range.dst_prefix, line);
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Listing tasks a worker runs at once: `$HAUL_LISTING_LANES`, else 4
/// (a task's time is mostly round trips, to the store and the database).
fn lanes() -> usize {
    std::env::var("HAUL_LISTING_LANES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(4)
}

/// One lane: claims a task, lists it, and again, until none is left
/// (`wait`: also those others hold; else only one free now).
async fn lane(shared: &Shared, rules: Rules<'_>, wait: bool) -> Result<(), EngineError> {
    loop {
        let next = tokio::select! {
            t = shared.journal.next_listing(shared.job, wait) => t?,
            () = shared.until_cancelled() => return Ok(()),
        };
        let Some(task) = next else { return Ok(()) };
        tokio::select! {
            r = settle(shared, rules, &task) => r?,
            () = shared.until_cancelled() => return Ok(()),
        }
        if !wait {
            return Ok(());
        }
    }
}

/// Lists the job's tasks, a few at once, until none is left: when
/// `wait`, also those other workers hold (their leases may run out);
/// else one that is free now. Stops when the job is cancelled.
pub(crate) async fn work(shared: Arc<Shared>, wait: bool) -> Result<(), EngineError> {
    let Some(spec) = shared.listing.clone() else {
        return Ok(());
    };
    let filter = Filter::new(&spec.include, &spec.exclude, spec.shard)?;
    let rules = Rules {
        compare: spec.compare,
        delete: spec.delete_extraneous,
        filter: &filter,
    };
    let listing = &shared.counters.listing;
    listing.store(true, Ordering::Relaxed);
    let n = if wait { lanes() } else { 1 };
    let ends = futures::future::join_all((0..n).map(|_| lane(&shared, rules, wait))).await;
    listing.store(false, Ordering::Relaxed);
    ends.into_iter().collect()
}
