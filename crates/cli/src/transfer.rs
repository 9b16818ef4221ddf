//! cp, mv, sync, rm and resume: plan the job from its two sides, run it,
//! render it, and turn Ctrl-C into a clean, resumable stop.

use std::sync::Arc;

use haul_engine::{
    CompareMode, Endpoint, Engine, JobHandle, JobRequest, Operation, TransferConfig,
};
use haul_journal::{JobId, Journal};

use crate::args::{CpArgs, Global, Knobs, ResumeArgs, RmArgs, SyncArgs};
use crate::error::CliError;
use crate::location::{Location, reopen};
use crate::output::Output;
use crate::settings::ConfigFile;
use crate::sides::{destination, open_journal, same_target, share_store, source};

#[allow(clippy::struct_excessive_bools)] // independent switches of one job
struct Plan {
    op: Operation,
    src: String,
    dst: String,
    recursive: bool,
    compare: CompareMode,
    delete: bool,
    max_delete: Option<u64>,
    include: Vec<String>,
    exclude: Vec<String>,
    dry_run: bool,
    no_follow_symlinks: bool,
    attrs: haul_engine::AttrOverrides,
    shard: Option<haul_engine::Shard>,
    submit: bool,
}

/// `--shard I/N`, or `--shard-count N` with the index from
/// `$JOB_COMPLETION_INDEX` (a Kubernetes Indexed Job sets it per pod).
fn shard_of(f: &crate::args::Filters) -> Result<Option<haul_engine::Shard>, CliError> {
    let Some(count) = f.shard_count else {
        return Ok(f.shard);
    };
    let index = std::env::var("JOB_COMPLETION_INDEX").map_err(|_| {
        CliError::usage("--shard-count needs $JOB_COMPLETION_INDEX (or give --shard I/N)")
    })?;
    let index: u32 = index
        .trim()
        .parse()
        .map_err(|_| CliError::usage(format!("JOB_COMPLETION_INDEX={index:?} is not a number")))?;
    haul_engine::Shard::new(index, count)
        .map(Some)
        .ok_or_else(|| {
            CliError::usage(format!("shard {index} of {count}: need 0 <= index < count"))
        })
}

async fn start(g: &Global, p: Plan, knobs: &Knobs) -> Result<u8, CliError> {
    let config = ConfigFile::load()?;
    let transfer = config.transfer_config(knobs)?;
    let src_loc = Location::parse(&p.src, &config)?;
    let dst_loc = Location::parse(&p.dst, &config)?;
    let (src, single) = source(&src_loc, p.recursive, !p.no_follow_symlinks, &config)?;
    let mut dst = destination(&dst_loc, single, src_loc.basename(), &config)?;
    if same_target(&src, &dst, single, (&src_loc, &dst_loc)) {
        if p.op == Operation::Move {
            return Err(CliError::usage(format!(
                "{}: source and destination are the same {}; mv would delete it",
                p.src,
                if single { "file" } else { "directory" }
            )));
        }
        if !g.quiet {
            eprintln!(
                "{}: source and destination are the same; nothing to do",
                p.src
            );
        }
        if g.json {
            return Ok(Output::new(g).summary(&haul_engine::Summary::default()));
        }
        return Ok(0);
    }
    share_store(&src, &mut dst);
    let req = JobRequest {
        op: p.op,
        src: src.endpoint(),
        dst: dst.endpoint(),
        single,
        compare: p.compare,
        delete_extraneous: p.delete,
        max_delete: p.max_delete,
        include: p.include,
        exclude: p.exclude,
        dry_run: p.dry_run,
        attrs: p.attrs,
        store_options: crate::providers::s3_flags().to_record(),
        shard: p.shard,
        plan_only: p.submit,
    };
    let journal = open_journal(g)?;
    if p.submit {
        // Plan only; workers (`haul worker`) run the job.
        let handle = Engine::new(journal, transfer).start(req).await?;
        let job = handle.job_id();
        let summary = handle.join().await?;
        if g.json {
            outln!(
                "{}",
                serde_json::json!({"job_id": job.0, "files_total": summary.counts.files_total})
            );
        } else {
            outln!("{job}");
        }
        return Ok(0);
    }
    run_job(
        g,
        journal,
        transfer,
        knobs.progress_interval.is_some(),
        |engine| async move { engine.start(req).await },
    )
    .await
}

/// Runs a job to its end, rendering events (with `--json`, a line per
/// progress snapshot when `progress_lines`); Ctrl-C cancels it cleanly.
pub(crate) async fn run_job<F, Fut>(
    g: &Global,
    journal: Arc<Journal>,
    transfer: TransferConfig,
    progress_lines: bool,
    begin: F,
) -> Result<u8, CliError>
where
    F: FnOnce(Engine) -> Fut,
    Fut: std::future::Future<Output = Result<JobHandle, haul_engine::EngineError>>,
{
    // Registered before the job starts, so an early Ctrl-C is never fatal.
    let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .map_err(|e| CliError::failed(format!("cannot handle Ctrl-C: {e}")))?;
    // On a shared journal SIGTERM (a pod stopping) stops cleanly too, so
    // the worker gives its leases back rather than leaving them to expire.
    // (Registered only then: a handler replaces SIGTERM's default action.)
    let mut sigterm = if journal.is_shared() {
        Some(
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .map_err(|e| CliError::failed(format!("cannot handle SIGTERM: {e}")))?,
        )
    } else {
        None
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let engine = Engine::new(journal, transfer).with_events(tx);
    let handle = begin(engine).await?;
    let canceller = handle.canceller();
    let out = Output::new(g).progress_lines(progress_lines);
    let mut join = tokio::spawn(handle.join());
    let mut interrupted = false;
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Some(ev) => {
                    crate::metrics::event(&ev);
                    out.event(&ev);
                }
                None => break,
            },
            _ = sigint.recv(), if !interrupted => {
                interrupted = true;
                canceller.cancel();
                eprintln!("\ninterrupting: finishing the parts in flight…");
            }
            Some(()) = async { sigterm.as_mut()?.recv().await }, if !interrupted => {
                interrupted = true;
                canceller.cancel();
                eprintln!("terminating: finishing the parts in flight, giving leases back…");
            }
            res = &mut join => {
                while let Ok(ev) = rx.try_recv() {
                    crate::metrics::event(&ev);
                    out.event(&ev);
                }
                let summary = res.map_err(|e| CliError::failed(e.to_string()))??;
                return Ok(out.summary(&summary));
            }
        }
    }
    let summary = join.await.map_err(|e| CliError::failed(e.to_string()))??;
    Ok(out.summary(&summary))
}

/// `haul cp` and `haul mv`.
pub(crate) async fn cp(g: &Global, a: CpArgs, op: Operation) -> Result<u8, CliError> {
    let shard = shard_of(&a.filters)?;
    start(
        g,
        Plan {
            op,
            src: a.src,
            dst: a.dst,
            recursive: a.recursive,
            compare: CompareMode::Always,
            delete: false,
            max_delete: None,
            include: a.filters.include,
            exclude: a.filters.exclude,
            dry_run: a.filters.dry_run,
            no_follow_symlinks: a.filters.no_follow_symlinks,
            attrs: a.attrs.overrides(),
            shard,
            submit: a.filters.submit,
        },
        &a.knobs,
    )
    .await
}

/// `haul sync`.
pub(crate) async fn sync(g: &Global, a: SyncArgs) -> Result<u8, CliError> {
    let shard = shard_of(&a.filters)?;
    let compare = if a.checksum {
        CompareMode::Checksum
    } else if a.size_only {
        CompareMode::SizeOnly
    } else {
        CompareMode::SizeMtime
    };
    start(
        g,
        Plan {
            op: Operation::Sync,
            src: a.src,
            dst: a.dst,
            recursive: true,
            compare,
            delete: a.delete,
            max_delete: a.max_delete,
            include: a.filters.include,
            exclude: a.filters.exclude,
            dry_run: a.filters.dry_run,
            no_follow_symlinks: a.filters.no_follow_symlinks,
            attrs: a.attrs.overrides(),
            shard,
            submit: a.filters.submit,
        },
        &a.knobs,
    )
    .await
}

/// `haul rm`.
pub(crate) async fn rm(g: &Global, a: RmArgs) -> Result<u8, CliError> {
    let config = ConfigFile::load()?;
    let loc = Location::parse(&a.target, &config)?;
    let (side, single) = source(&loc, a.recursive, false, &config)?;
    let transfer = config.transfer_config(&Knobs::default())?;
    let ep = side.endpoint();
    let req = JobRequest {
        op: Operation::Delete,
        single,
        max_delete: a.max_delete,
        dry_run: a.dry_run,
        ..JobRequest::copy(ep.clone(), ep)
    };
    let journal = open_journal(g)?;
    run_job(g, journal, transfer, false, |engine| async move {
        engine.start(req).await
    })
    .await
}

/// `haul resume [JOB]`.
pub(crate) async fn resume(g: &Global, a: ResumeArgs) -> Result<u8, CliError> {
    let config = ConfigFile::load()?;
    let journal = open_journal(g)?;
    let job = match a.job {
        Some(j) => JobId(j),
        None => journal
            .latest_unfinished_job()?
            .ok_or_else(|| CliError::usage("no unfinished job in the journal"))?,
    };
    let (mut transfer, s, d) = reopen_job(&journal, job, &a.knobs, &config)?;
    transfer.resend_unknown = a.resend_unknown;
    run_job(
        g,
        journal,
        transfer,
        a.knobs.progress_interval.is_some(),
        move |engine| async move { engine.resume(job, s, d) },
    )
    .await
}

/// A journaled job's settings (flags given now winning) and its two
/// stores, opened from this process's own config and environment: the
/// journal holds locations, never their secrets.
pub(crate) fn reopen_job(
    journal: &Arc<Journal>,
    job: JobId,
    knobs: &Knobs,
    config: &ConfigFile,
) -> Result<(TransferConfig, Endpoint, Endpoint), CliError> {
    let probe = Engine::new(Arc::clone(journal), TransferConfig::default());
    let spec = probe.spec(job)?;
    // The stores open as the job first opened them, flags given now winning.
    let mut flags = crate::providers::s3_flags();
    flags
        .complete_from(job, &spec.store_options)
        .map_err(CliError::usage)?;
    crate::providers::set_s3_flags(flags);
    let mut transfer = spec.config.clone();
    // Flags given now win over the job's recorded settings.
    crate::settings::apply_resume_flags(&mut transfer, knobs)?;
    let src = reopen(&spec.src, config)?;
    let dst = if spec.dst == spec.src {
        Arc::clone(&src)
    } else {
        reopen(&spec.dst, config)?
    };
    Ok((
        transfer,
        Endpoint::layered(src, spec.src_prefix.clone(), spec.src.clone()),
        Endpoint::layered(dst, spec.dst_prefix.clone(), spec.dst.clone()),
    ))
}
