//! Jobs: what to do ([`JobRequest`]), the journaled spec, the engine that
//! starts and resumes them, and the handle that waits for or cancels one.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use haul_core::PutOptions;
use haul_journal::{FileAction, FileId, FileRow, JobId, JobState, Journal, NewFile};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;

use crate::config::TransferConfig;
use crate::context::{Endpoint, JobRequest, JobSpec, Operation, Shared, observed, summary_of};
use crate::error::EngineError;
use crate::event::{Counters, Event, Summary};
use crate::limit::ByteBudget;
use crate::stream;

/// Starts and resumes jobs.
#[derive(Debug, Clone)]
pub struct Engine {
    journal: Arc<Journal>,
    config: TransferConfig,
    events: Option<mpsc::UnboundedSender<Event>>,
    canceller: Option<Canceller>,
}

impl Engine {
    /// An engine recording into `journal` with `config` for new jobs.
    #[must_use]
    pub fn new(journal: Arc<Journal>, config: TransferConfig) -> Self {
        Self {
            journal,
            config,
            events: None,
            canceller: None,
        }
    }

    /// Jobs this engine runs, streams included (which have no
    /// [`JobHandle`]), stop when `canceller` is cancelled.
    #[must_use]
    pub fn with_canceller(mut self, canceller: Canceller) -> Self {
        self.canceller = Some(canceller);
        self
    }

    /// Sends every job's events to `tx`.
    #[must_use]
    pub fn with_events(mut self, tx: mpsc::UnboundedSender<Event>) -> Self {
        self.events = Some(tx);
        self
    }

    /// The journal.
    #[must_use]
    pub fn journal(&self) -> &Arc<Journal> {
        &self.journal
    }

    /// The settings new jobs run with.
    #[must_use]
    pub fn config(&self) -> &TransferConfig {
        &self.config
    }

    /// Reads a job's spec (to reopen its stores before [`Engine::resume`]).
    pub fn spec(&self, job: JobId) -> Result<JobSpec, EngineError> {
        let row = self.journal.job(job)?;
        serde_json::from_str(&row.spec).map_err(|e| EngineError::BadSpec {
            job,
            cause: e.to_string(),
        })
    }

    /// Plans and starts a job; returns at once with its handle.
    ///
    /// A move whose two endpoints have the same location and prefix is
    /// refused ([`EngineError::SameSourceAndDestination`]): callers that can
    /// see aliases (two paths to one file) should compare those themselves.
    pub async fn start(&self, req: JobRequest) -> Result<JobHandle, EngineError> {
        self.config.validate().map_err(EngineError::Config)?;
        if req.op == Operation::Move
            && req.src.location == req.dst.location
            && req.src.prefix == req.dst.prefix
        {
            return Err(EngineError::SameSourceAndDestination {
                location: req.src.location.clone(),
                prefix: req.src.prefix.clone(),
            });
        }
        let spec = JobSpec {
            op: req.op,
            src: req.src.location.clone(),
            src_prefix: req.src.prefix.clone(),
            dst: req.dst.location.clone(),
            dst_prefix: req.dst.prefix.clone(),
            single: req.single,
            config: self.config.clone(),
            attrs: req.attrs.clone(),
            store_options: req.store_options.clone(),
            listing: crate::plan::splits(&self.journal, &req).then(|| crate::ListingSpec {
                compare: req.compare,
                delete_extraneous: req.delete_extraneous,
                include: req.include.clone(),
                exclude: req.exclude.clone(),
                shard: req.shard,
            }),
        };
        let spec_json = serde_json::to_string(&spec).map_err(|e| EngineError::BadSpec {
            job: JobId(0),
            cause: e.to_string(),
        })?;
        let filter = crate::plan::Filter::new(&req.include, &req.exclude, req.shard)?;
        let job = self.journal.create_job(&spec_json).await?;
        let lock = self.journal.lock_job(job)?;
        let (shared, cancel) = self.shared(job, &spec, req.src.clone(), req.dst.clone());
        let scope = Arc::clone(&shared);
        let task = tokio::spawn(observed(&scope, async move {
            let _lock = lock;
            crate::plan::plan(&shared, &req, &filter).await?;
            if req.dry_run {
                crate::plan::report_dry_run(&shared)?;
                shared.journal.set_job_state(shared.job, JobState::Done);
                shared.journal.flush().await?;
                return Ok(summary_of(&shared));
            }
            if req.plan_only {
                // A split listing's first level is listed here (what is
                // free of it now); the workers take it from here.
                crate::plan::tasks::work(Arc::clone(&shared), false).await?;
                shared.journal.set_job_state(shared.job, JobState::Running);
                shared.journal.flush().await?;
                return Ok(summary_of(&shared));
            }
            execute(shared, false, true).await
        }));
        Ok(JobHandle { job, cancel, task })
    }

    /// Resumes an unfinished job: files done stay done, active files send
    /// only their missing parts, failed files are tried again. `src` and
    /// `dst` must be the stores the job was started with (see
    /// [`Engine::spec`]); this engine's settings apply, except that each
    /// started file keeps its journaled part size.
    pub fn resume(
        &self,
        job: JobId,
        src: Endpoint,
        dst: Endpoint,
    ) -> Result<JobHandle, EngineError> {
        let spec = self.spec(job)?;
        let row = self.journal.job(job)?;
        let lock = self.journal.lock_job(job)?;
        if spec.src == crate::stream::STDIN || spec.dst == crate::stream::STDIN {
            return Err(EngineError::NotResumable(job));
        }
        if row.state == JobState::Planning {
            // The plan was cut short: it cannot be trusted to be complete.
            return Err(EngineError::PlanIncomplete(job));
        }
        let src = Endpoint {
            prefix: spec.src_prefix.clone(),
            ..src
        };
        let dst = Endpoint {
            prefix: spec.dst_prefix.clone(),
            ..dst
        };
        // Limits and parallelism come from this engine (a resume may run
        // with other knobs); each file's part size comes from the journal.
        let spec = JobSpec {
            config: self.config.clone(),
            ..spec
        };
        let (shared, cancel) = self.shared(job, &spec, src, dst);
        let c = &shared.counters;
        c.files_total.store(row.files_total, Ordering::Relaxed);
        c.files_done.store(row.files_done, Ordering::Relaxed);
        c.files_skipped.store(row.files_skipped, Ordering::Relaxed);
        c.bytes_total.store(row.bytes_total, Ordering::Relaxed);
        let scope = Arc::clone(&shared);
        let task = tokio::spawn(observed(&scope, async move {
            let _lock = lock;
            settle_unknown(&shared).await?;
            execute(shared, true, true).await
        }));
        Ok(JobHandle { job, cancel, task })
    }

    /// Works on a job of a shared journal beside other workers: claims
    /// files with a lease until none is left, continuing a file another
    /// worker left half-sent from its journaled parts. `src` and `dst` are
    /// this worker's own stores for the job's locations (see
    /// [`Engine::spec`]); the summary counts this worker's files only.
    /// A job still being planned is joined at once: its files are taken as
    /// they are planned, and a job whose listing is split has this worker
    /// list its listing tasks too, beside its transfers.
    pub fn work(&self, job: JobId, src: Endpoint, dst: Endpoint) -> Result<JobHandle, EngineError> {
        let spec = self.spec(job)?;
        if spec.src == crate::stream::STDIN || spec.dst == crate::stream::STDIN {
            return Err(EngineError::NotResumable(job));
        }
        let src = Endpoint {
            prefix: spec.src_prefix.clone(),
            ..src
        };
        let dst = Endpoint {
            prefix: spec.dst_prefix.clone(),
            ..dst
        };
        let spec = JobSpec {
            config: self.config.clone(),
            ..spec
        };
        let (shared, cancel) = self.shared(job, &spec, src, dst);
        let scope = Arc::clone(&shared);
        let task = tokio::spawn(observed(&scope, execute(shared, false, false)));
        Ok(JobHandle { job, cancel, task })
    }

    /// Lists a shared job's listing tasks with the other workers until
    /// none is left, transferring nothing: a worker that only plans (see
    /// [`Engine::work`] for `src` and `dst`). The summary counts the files
    /// it planned.
    pub async fn list(
        &self,
        job: JobId,
        src: Endpoint,
        dst: Endpoint,
    ) -> Result<Summary, EngineError> {
        let spec = self.spec(job)?;
        let src = Endpoint {
            prefix: spec.src_prefix.clone(),
            ..src
        };
        let dst = Endpoint {
            prefix: spec.dst_prefix.clone(),
            ..dst
        };
        let (shared, _cancel) = self.shared(job, &spec, src, dst);
        observed(&shared, crate::plan::tasks::work(Arc::clone(&shared), true)).await?;
        Ok(summary_of(&shared))
    }

    pub(crate) fn shared(
        &self,
        job: JobId,
        spec: &JobSpec,
        src: Endpoint,
        dst: Endpoint,
    ) -> (Arc<Shared>, Canceller) {
        let canceller = self.canceller.clone().unwrap_or_default();
        let cancel_rx = canceller.0.subscribe();
        let config = spec.config.clone();
        let (src, dst) = crate::context::with_layers(&config.layers(), src, dst);
        let shared = Arc::new(Shared {
            job,
            journal: Arc::clone(&self.journal),
            budget: ByteBudget::new(config.max_inflight_bytes),
            retry: config.retry_policy(),
            slots: (config.concurrency == crate::config::Concurrency::Auto).then(|| {
                crate::limit::Slots::new(
                    crate::config::AUTO_START,
                    crate::config::AUTO_MAX,
                    config.concurrency_interval / 2,
                )
            }),
            config,
            src,
            dst,
            op: spec.op,
            attrs: spec.attrs.clone(),
            listing: spec.listing.clone(),
            counters: Counters::default(),
            events: self.events.clone(),
            cancel: cancel_rx,
            started: Instant::now(),
            failures: std::sync::Mutex::new(Vec::new()),
            planned: std::sync::Mutex::new(None),
        });
        (shared, canceller)
    }
}

/// Streams: one object from a reader, or to a writer (see [`stream`]).
impl Engine {
    async fn stream_job(
        &self,
        src: Endpoint,
        dst: Endpoint,
        src_key: &str,
        dst_key: &str,
    ) -> Result<(Arc<Shared>, FileRow, haul_journal::JobLock), EngineError> {
        let spec = JobSpec {
            op: Operation::Copy,
            src: src.location.clone(),
            src_prefix: src.prefix.clone(),
            dst: dst.location.clone(),
            dst_prefix: dst.prefix.clone(),
            single: true,
            config: self.config().clone(),
            attrs: crate::attrs::AttrOverrides::default(),
            store_options: std::collections::BTreeMap::new(),
            listing: None,
        };
        let json = serde_json::to_string(&spec).map_err(|e| EngineError::BadSpec {
            job: JobId(0),
            cause: e.to_string(),
        })?;
        let journal = self.journal();
        let job = journal.create_job(&json).await?;
        let lock = journal.lock_job(job)?;
        journal.add_files(
            job,
            vec![NewFile {
                action: FileAction::Copy,
                ..NewFile::copy(src_key, dst_key, 0)
            }],
        );
        journal.set_job_state(job, JobState::Running);
        journal.flush().await?;
        let row = journal
            .files(job)?
            .pop()
            .ok_or(EngineError::Task("stream job has no file".into()))?;
        // Cancelled through the engine's canceller (`with_canceller`).
        let (shared, _cancel) = self.shared(job, &spec, src, dst);
        shared.counters.files_total.store(1, Ordering::Relaxed);
        Ok((shared, row, lock))
    }

    /// Uploads everything `reader` yields to the object `dst.prefix`.
    ///
    /// The stream is read once; parts are hashed as they are read, uploaded
    /// in parallel within `chunk_parallel_limit` and `max_inflight_bytes`,
    /// and the object is verified like any other. See the module docs for
    /// part sizes and limits.
    pub async fn upload_stream<R: AsyncRead + Unpin + Send>(
        &self,
        mut reader: R,
        dst: Endpoint,
        opts: PutOptions,
    ) -> Result<Summary, EngineError> {
        let key = dst.prefix.clone();
        let src = Endpoint::new(Arc::clone(&dst.store), stream::STDIN, stream::STDIN);
        let (shared, row, _lock) = self.stream_job(src, dst, stream::STDIN, &key).await?;
        let tally = crate::audit::Tally::start(&shared, false);
        let upload = stream::upload(&shared, &row, &mut reader, opts);
        let result = crate::audit::scope(Arc::clone(&tally), upload).await;
        stream::finish(&shared, &row, result, &tally).await
    }

    /// Writes the object `src.prefix` to `writer`: ranged parts fetched in
    /// parallel, written in order, within the memory budget; the combined
    /// CRC32C is compared with what the store reports.
    pub async fn download_stream<W: AsyncWrite + Unpin + Send>(
        &self,
        src: Endpoint,
        mut writer: W,
    ) -> Result<Summary, EngineError> {
        let key = src.prefix.clone();
        let dst = Endpoint::new(Arc::clone(&src.store), stream::STDIN, stream::STDIN);
        let (shared, row, _lock) = self.stream_job(src, dst, &key, stream::STDIN).await?;
        let tally = crate::audit::Tally::start(&shared, false);
        let download = stream::download(&shared, &key, &mut writer);
        let result = crate::audit::scope(Arc::clone(&tally), download).await;
        stream::finish(&shared, &row, result, &tally).await
    }
}

/// A running job.
///
/// Dropping the handle does not stop the job: it runs on in the background
/// until it ends or the runtime shuts down. Call [`JobHandle::cancel`] to
/// stop it cleanly.
#[derive(Debug)]
pub struct JobHandle {
    job: JobId,
    cancel: Canceller,
    task: tokio::task::JoinHandle<Result<Summary, EngineError>>,
}

/// Cancels a job from elsewhere (a signal handler) while its handle is
/// being joined. Cloning is cheap.
#[derive(Debug, Clone)]
pub struct Canceller(Arc<watch::Sender<bool>>);

impl Default for Canceller {
    fn default() -> Self {
        Self(Arc::new(watch::channel(false).0))
    }
}

impl Canceller {
    /// A switch not yet tied to a job: give it to
    /// [`Engine::with_canceller`].
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Same as [`JobHandle::cancel`].
    pub fn cancel(&self) {
        let _ = self.0.send(true);
    }
}

impl JobHandle {
    /// The job's id in the journal (what `haul resume` takes).
    #[must_use]
    pub fn job_id(&self) -> JobId {
        self.job
    }

    /// Stops scheduling new files and parts. Parts in flight finish, the
    /// journal is flushed, the job is left `interrupted`, and multipart
    /// uploads are kept (never aborted) so a resume continues them.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// A cancel switch that outlives [`JobHandle::join`]'s move of the handle.
    #[must_use]
    pub fn canceller(&self) -> Canceller {
        self.cancel.clone()
    }

    /// Waits for the job to end and returns its summary.
    pub async fn join(self) -> Result<Summary, EngineError> {
        self.task
            .await
            .map_err(|e| EngineError::Task(e.to_string()))?
    }
}

/// Runs every file still to do, `file_parallel_limit` at a time, paging
/// through the journal so the plan never sits in memory. A worker joining
/// a shared job leaves its state to the planner (`mark_running` false).
async fn execute(
    shared: Arc<Shared>,
    resuming: bool,
    mark_running: bool,
) -> Result<Summary, EngineError> {
    if mark_running {
        shared.journal.set_job_state(shared.job, JobState::Running);
        shared.journal.flush().await?;
    }
    let ticker = spawn_progress(Arc::clone(&shared));
    let tuner = tokio::spawn(crate::tune::tune(
        Arc::clone(&shared),
        shared.config.concurrency_interval,
    ));
    // A split listing is listed beside the transfers: this worker's
    // listing tasks stream files into the journal while it claims them.
    let mut lister = shared.listing.is_some().then(|| {
        tokio::spawn(observed(
            &shared,
            crate::plan::tasks::work(Arc::clone(&shared), true),
        ))
    });
    let files = Arc::new(Semaphore::new(shared.config.files_in_flight()));
    let mut tasks = JoinSet::new();
    let mut after = FileId(0);
    let mut deletes: Vec<FileRow> = Vec::new();
    let delete_batch = shared.dst.store.capabilities().batch_delete_max.max(1);
    'pages: loop {
        // A page of the plan; on a shared journal, files claimed with a lease.
        let next =
            shared
                .journal
                .next_files(shared.job, after, shared.config.upload_queue_size, resuming);
        let page = match lister.as_mut() {
            None => next.await?,
            Some(l) => {
                // A claim waits while tasks are still to list: a lister that
                // failed would leave it waiting for good.
                tokio::pin!(next);
                let ended = tokio::select! {
                    page = &mut next => Err(page),
                    ended = l => Ok(ended),
                };
                match ended {
                    Err(page) => page?,
                    Ok(ended) => {
                        lister = None;
                        ended.map_err(|e| EngineError::Task(e.to_string()))??;
                        next.await?
                    }
                }
            }
        };
        let Some(last) = page.last() else { break };
        after = after.max(last.id);
        for row in page {
            if shared.cancelled() || aborted(&shared) {
                break 'pages;
            }
            if row.action == FileAction::Delete {
                deletes.push(row);
                if deletes.len() >= delete_batch {
                    let batch = std::mem::take(&mut deletes);
                    let permit = Arc::clone(&files).acquire_owned().await;
                    let s = Arc::clone(&shared);
                    tasks.spawn(observed(&shared, async move {
                        let _p = permit;
                        crate::transfer::delete_batch(&s, batch).await;
                    }));
                }
                continue;
            }
            let permit = Arc::clone(&files).acquire_owned().await;
            let s = Arc::clone(&shared);
            tasks.spawn(observed(&shared, async move {
                let _p = permit;
                crate::transfer::run_file(&s, row).await;
            }));
            while let Some(done) = tasks.try_join_next() {
                done.map_err(|e| EngineError::Task(e.to_string()))?;
            }
        }
    }
    if !deletes.is_empty() && !shared.cancelled() {
        let s = Arc::clone(&shared);
        tasks.spawn(observed(&shared, async move {
            crate::transfer::delete_batch(&s, deletes).await;
        }));
    }
    while let Some(done) = tasks.join_next().await {
        done.map_err(|e| EngineError::Task(e.to_string()))?;
    }
    if let Some(lister) = lister {
        if shared.cancelled() || aborted(&shared) {
            lister.abort();
        } else {
            lister
                .await
                .map_err(|e| EngineError::Task(e.to_string()))??;
        }
    }
    ticker.abort();
    tuner.abort();
    let summary = summary_of(&shared);
    let state = if summary.cancelled || (aborted(&shared) && summary.counts.files_failed == 0) {
        JobState::Interrupted
    } else if summary.counts.files_failed > 0 {
        JobState::Failed
    } else {
        JobState::Done
    };
    shared.journal.set_job_state(shared.job, state);
    shared.journal.flush().await?;
    shared.emit(Event::Progress(summary.counts));
    Ok(summary)
}

/// Entries refused while planning are counted as failed again. Files sent
/// to a non-idempotent store whose answer was lost: sent again when asked
/// (`resend_unknown`), else reported as failed and left alone.
async fn settle_unknown(shared: &Shared) -> Result<(), EngineError> {
    // Entries refused while planning stay refused: counted, never retried.
    for row in shared
        .journal
        .files_in_state(shared.job, haul_journal::FileState::Refused)?
    {
        let line = row.error.clone().unwrap_or_else(|| row.src.clone());
        crate::failure::record_failure(shared, &row, line);
    }
    if shared.config.resend_unknown {
        shared.journal.requeue_unknown(shared.job).await?;
        return Ok(());
    }
    for row in shared
        .journal
        .files_in_state(shared.job, haul_journal::FileState::Unknown)?
    {
        let line = row
            .error
            .clone()
            .unwrap_or_else(|| format!("{}: sent, answer lost; not sent again", row.dst));
        crate::failure::record_failure(shared, &row, line);
    }
    Ok(())
}

fn aborted(shared: &Shared) -> bool {
    shared.config.on_error == crate::OnError::Abort
        && shared.counters.files_failed.load(Ordering::Relaxed) > 0
}

fn spawn_progress(shared: Arc<Shared>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(shared.config.progress_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            shared.emit(Event::Progress(shared.snapshot()));
        }
    })
}
