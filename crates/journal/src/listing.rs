//! Listing tasks: a job's source listing split into parts that workers
//! lease like files and list into the job, each batch of files journaled
//! with the task's cursor in one fenced transaction, so a task taken over
//! from a dead worker continues after its cursor and no file is planned
//! twice.

use std::future::Future;

use rusqlite::params;
use tokio::sync::oneshot;

use crate::writer::Cmd;
use crate::{
    JobId, Journal, JournalError, ListingId, ListingRow, ListingState, ListingTask, NewFile,
    NewListing,
};

impl Journal {
    /// Adds listing tasks to a job; a task with the same range is already
    /// there and stays as it is. Not a barrier.
    pub fn add_listings(&self, job: JobId, listings: Vec<NewListing>) {
        if !listings.is_empty() {
            self.send(Cmd::AddListings { job, listings });
        }
    }

    /// The next listing task of a job to work on, or `None` when every one
    /// is listed. On a shared journal it is claimed with a lease (renewed
    /// while held), waiting (when `wait`) while other workers hold what is
    /// left, as their leases may expire (what this worker holds itself is
    /// not waited for); without `wait`, `None` when nothing is free now.
    /// On SQLite it is the first one not listed yet.
    pub async fn next_listing(
        &self,
        job: JobId,
        wait: bool,
    ) -> Result<Option<ListingTask>, JournalError> {
        match self.pg() {
            Some(p) => p.next_listing(job, wait).await,
            None => self.call(|reply| Cmd::ClaimListing { job, reply }).await,
        }
    }

    /// Journals a batch of a listing task's files and its cursor (the last
    /// key they cover, relative to the job's source prefix) in one
    /// transaction. Sent at once; the returned future resolves when it is
    /// committed, or with [`JournalError::ListingLost`] when the task was
    /// taken over: then nothing of the batch was written. Awaiting one
    /// batch while the next is listed keeps the database busy.
    pub fn listed(
        &self,
        task: &ListingTask,
        files: Vec<NewFile>,
        cursor: String,
    ) -> impl Future<Output = Result<(), JournalError>> + Send + 'static {
        let (reply, rx) = oneshot::channel();
        let sent = self.tx.send(Cmd::Listed {
            job: task.job,
            task: task.id,
            epoch: task.epoch,
            files,
            cursor,
            reply,
        });
        async move {
            sent.map_err(|_| JournalError::WriterGone)?;
            rx.await.map_err(|_| JournalError::WriterGone)?
        }
    }

    /// Ends a listing task (`error`: its listing failed). Barrier;
    /// [`JournalError::ListingLost`] when the task was taken over.
    pub async fn finish_listing(
        &self,
        task: &ListingTask,
        error: Option<String>,
    ) -> Result<(), JournalError> {
        let (id, epoch) = (task.id, task.epoch);
        self.call(|reply| Cmd::FinishListing {
            task: id,
            epoch,
            error,
            reply,
        })
        .await
    }

    /// Whether this worker is known to have lost the task's lease (a
    /// renewal found it taken). Always false on SQLite.
    #[must_use]
    pub fn listing_lost(&self, task: ListingId) -> bool {
        self.pg().is_some_and(|p| p.leases.listing_lost(task))
    }

    /// A job's listing tasks, in id order.
    pub fn listings(&self, job: JobId) -> Result<Vec<ListingRow>, JournalError> {
        if let Some(p) = self.pg() {
            return p.listings(job);
        }
        self.read(|c| {
            c.prepare_cached(
                "SELECT id, prefix, state, owner, epoch, NULL, cursor, files, error
                 FROM listings WHERE job = ?1 ORDER BY id",
            )?
            .query_map(params![job.0], |r| {
                let state: String = r.get(2)?;
                Ok(ListingRow {
                    id: ListingId(r.get(0)?),
                    prefix: r.get(1)?,
                    state: ListingState::parse(&state).ok_or_else(|| {
                        rusqlite::Error::FromSqlConversionFailure(
                            2,
                            rusqlite::types::Type::Text,
                            format!("unknown value {state:?}").into(),
                        )
                    })?,
                    owner: r.get(3)?,
                    epoch: r.get(4)?,
                    expires_in_ms: r.get(5)?,
                    cursor: r.get(6)?,
                    files: r.get::<_, i64>(7)? as u64,
                    error: r.get(8)?,
                })
            })?
            .collect()
        })
    }
}
