//! Where planned rows go: the job's plan in batches (one process's
//! listing), or a listing task's batches, each journaled with the task's
//! cursor and counted once the database took it. A leaf of the planner.

use std::sync::atomic::Ordering;

use futures::FutureExt;
use futures::future::BoxFuture;
use haul_journal::{FileAction, FileState, JournalError, ListingTask, NewFile, NewListing};

use crate::context::Shared;
use crate::error::EngineError;
use crate::event::Event;

/// Rows per journal batch while planning.
pub(crate) const PLAN_BATCH: usize = 1000;

/// What a batch adds to the job's totals.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    files: u64,
    skipped: u64,
    bytes: u64,
}

/// A batch of a task sent to the journal, not yet known committed.
type Inflight = (BoxFuture<'static, Result<(), JournalError>>, Counts);

/// Takes planned rows in listing order and journals them in batches.
pub(crate) struct Planner<'a> {
    pub(crate) shared: &'a Shared,
    batch: Vec<NewFile>,
    /// Rows planned (this listing's, for a task).
    pub(crate) files: u64,
    pub(crate) bytes: u64,
    pub(crate) skipped: u64,
    deletes: u64,
    max_delete: Option<u64>,
    /// The task being listed; `None`: the job's own (single) listing.
    task: Option<&'a ListingTask>,
    /// The key (relative to the job's source prefix) of the last row.
    pos: String,
    /// What the rows since the last batch sent add to the totals.
    unsent: Counts,
    /// The last batch sent, awaited when the next is sent.
    inflight: Option<Inflight>,
    /// Common prefixes found, to be added as listing tasks.
    prefixes: Vec<NewListing>,
}

impl<'a> Planner<'a> {
    /// A planner for the job's own listing.
    pub(crate) fn new(shared: &'a Shared, max_delete: Option<u64>) -> Self {
        Self {
            shared,
            batch: Vec::with_capacity(PLAN_BATCH),
            files: 0,
            bytes: 0,
            skipped: 0,
            deletes: 0,
            max_delete,
            task: None,
            pos: String::new(),
            unsent: Counts::default(),
            inflight: None,
            prefixes: Vec::new(),
        }
    }

    /// A planner for a listing task (no delete limit: such jobs are not split).
    pub(crate) fn for_task(shared: &'a Shared, task: &'a ListingTask) -> Self {
        Self {
            task: Some(task),
            ..Self::new(shared, None)
        }
    }

    /// Plans `f`, the row for the key `rel` (relative to the job's source
    /// prefix; rows come in ascending `rel`).
    pub(crate) async fn push(&mut self, rel: &str, f: NewFile) -> Result<(), EngineError> {
        self.files += 1;
        self.unsent.files += 1;
        match (f.action, f.state) {
            (_, FileState::Skipped) => {
                self.skipped += 1;
                self.unsent.skipped += 1;
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
            (FileAction::Copy, _) => {
                self.bytes += f.size;
                self.unsent.bytes += f.size;
            }
        }
        self.batch.push(f);
        if self.task.is_some() {
            rel.clone_into(&mut self.pos);
        }
        if self.batch.len() >= PLAN_BATCH {
            self.send().await?;
        }
        Ok(())
    }

    /// A common prefix (relative to the job's source prefix) found by a
    /// one-level listing: it becomes a listing task of its own.
    pub(crate) fn prefix(&mut self, rel: &str) {
        let s = &self.shared;
        self.prefixes.push(NewListing::prefix(
            format!("{}{rel}", s.src.prefix),
            format!("{}{rel}", s.dst.prefix),
        ));
        if self.prefixes.len() >= PLAN_BATCH {
            s.journal
                .add_listings(s.job, std::mem::take(&mut self.prefixes));
        }
    }

    /// Sends the batch: to the job's plan, or with the task's cursor.
    async fn send(&mut self) -> Result<(), EngineError> {
        let s = self.shared;
        let batch = std::mem::take(&mut self.batch);
        let Some(task) = self.task else {
            s.journal.add_files(s.job, batch);
            self.listed();
            return Ok(());
        };
        // The prefixes found before the cursor go in no later than it.
        s.journal
            .add_listings(s.job, std::mem::take(&mut self.prefixes));
        let sent = s.journal.listed(task, batch, self.pos.clone()).boxed();
        let counts = std::mem::take(&mut self.unsent);
        if let Some((prev, c)) = self.inflight.replace((sent, counts)) {
            prev.await?;
            self.credit(c);
        }
        Ok(())
    }

    /// Adds a committed batch of a task to the job's totals.
    fn credit(&self, c: Counts) {
        let k = &self.shared.counters;
        k.files_total.fetch_add(c.files, Ordering::Relaxed);
        k.files_skipped.fetch_add(c.skipped, Ordering::Relaxed);
        k.bytes_total.fetch_add(c.bytes, Ordering::Relaxed);
        self.shared.emit(Event::Progress(self.shared.snapshot()));
    }

    /// Shows what was listed so far, as progress while listing goes on.
    fn listed(&self) {
        let c = &self.shared.counters;
        c.files_total.store(self.files, Ordering::Relaxed);
        c.files_skipped.store(self.skipped, Ordering::Relaxed);
        c.bytes_total.store(self.bytes, Ordering::Relaxed);
        self.shared.emit(Event::Progress(self.shared.snapshot()));
    }

    /// Journals what is left. The job's own listing: the totals are set
    /// and a barrier waits for the plan. A task: its last batch and its
    /// end, refused ([`JournalError::ListingLost`]) when it was taken over.
    pub(crate) async fn finish(mut self) -> Result<(), EngineError> {
        let s = self.shared;
        let Some(task) = self.task else {
            s.journal
                .add_listings(s.job, std::mem::take(&mut self.prefixes));
            s.journal.add_files(s.job, std::mem::take(&mut self.batch));
            s.journal.flush().await?;
            let c = &s.counters;
            c.files_total.store(self.files, Ordering::Relaxed);
            c.files_skipped.store(self.skipped, Ordering::Relaxed);
            c.bytes_total.store(self.bytes, Ordering::Relaxed);
            return Ok(());
        };
        if !self.batch.is_empty() {
            self.send().await?;
        }
        s.journal
            .add_listings(s.job, std::mem::take(&mut self.prefixes));
        if let Some((prev, c)) = self.inflight.take() {
            prev.await?;
            self.credit(c);
        }
        s.journal.finish_listing(task, None).await?;
        Ok(())
    }
}
