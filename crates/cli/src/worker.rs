//! `haul worker`: one of many processes sharing a job through a
//! PostgreSQL journal. It claims files with a lease, renews its leases
//! while it works, gives them back on Ctrl-C, and continues a file another
//! worker left half-sent from that file's journaled parts.

use std::sync::Arc;
use std::time::Duration;

use haul_journal::{JobId, JobState, Journal};

use crate::args::{Global, WorkerArgs};
use crate::error::CliError;
use crate::settings::ConfigFile;
use crate::sides::open_journal;
use crate::transfer::{reopen_job, run_job};

/// How often a worker with nothing to do looks for a new job.
const IDLE_POLL: Duration = Duration::from_secs(2);

/// The oldest job with work left (planning or running), if any.
fn next_job(journal: &Journal) -> Result<Option<JobId>, CliError> {
    Ok(journal
        .list_jobs()?
        .into_iter()
        .filter(|j| matches!(j.state, JobState::Planning | JobState::Running))
        .map(|j| j.id)
        .min())
}

/// `haul worker [JOB]`.
pub(crate) async fn worker(g: &Global, a: WorkerArgs) -> Result<u8, CliError> {
    let journal = open_journal(g)?;
    if !journal.is_shared() {
        return Err(CliError::usage(format!(
            "haul worker needs a shared journal (--journal postgres://… or HAUL_JOURNAL); {} is a local file",
            journal.path().display()
        )));
    }
    if let Some(lease) = a.lease {
        journal.set_lease(lease);
    }
    let config = ConfigFile::load()?;
    if !g.quiet {
        eprintln!(
            "worker {} on {}",
            journal.worker_name().unwrap_or("?"),
            journal.path().display()
        );
    }
    if let Some(job) = a.job {
        return work_on(g, &journal, JobId(job), &a, &config).await;
    }
    let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .map_err(|e| CliError::failed(format!("cannot handle Ctrl-C: {e}")))?;
    loop {
        match next_job(&journal)? {
            Some(job) => {
                let code = work_on(g, &journal, job, &a, &config).await?;
                if code == 130 {
                    return Ok(code);
                }
            }
            None => {
                tokio::select! {
                    () = tokio::time::sleep(IDLE_POLL) => {}
                    _ = sigint.recv() => return Ok(130),
                }
            }
        }
    }
}

async fn work_on(
    g: &Global,
    journal: &Arc<Journal>,
    job: JobId,
    a: &WorkerArgs,
    config: &ConfigFile,
) -> Result<u8, CliError> {
    let (transfer, src, dst) = reopen_job(journal, job, &a.knobs, config)?;
    if !g.quiet {
        eprintln!("working on job {job}");
    }
    run_job(
        g,
        Arc::clone(journal),
        transfer,
        a.knobs.progress_interval.is_some(),
        move |engine| async move { engine.work(job, src, dst) },
    )
    .await
}

/// `haul jobs show`'s part about a shared job: each worker with what it
/// finished, its throughput and the leases it holds; then every lease, its
/// holder and how long it has left; then the listing tasks, who lists
/// each and how far it got. Nothing for a SQLite journal. With `--json`,
/// one object per line (`worker`, `lease`, `listing`).
pub(crate) fn show_workers(g: &Global, journal: &Journal, job: JobId) -> Result<(), CliError> {
    let workers = journal.workers(job)?;
    let leases = journal.leases(job)?;
    let listings = if journal.is_shared() {
        journal.listings(job)?
    } else {
        Vec::new()
    };
    for w in &workers {
        let secs = ((w.seen_ms - w.started_ms).max(1) as f64) / 1000.0;
        let rate = w.bytes_done as f64 / secs;
        if g.json {
            outln!(
                "{}",
                serde_json::json!({"worker": w.id, "files_done": w.files_done,
                    "bytes_done": w.bytes_done, "bytes_per_sec": rate.round(),
                    "holding": w.holding, "started_ms": w.started_ms, "seen_ms": w.seen_ms})
            );
        } else {
            outln!(
                "worker {}: {} files, {} done ({}/s), holding {}, last seen {}",
                w.id,
                w.files_done,
                crate::size::human(w.bytes_done),
                crate::size::human(rate as u64),
                w.holding,
                w.seen_ms / 1000,
            );
        }
    }
    for l in &leases {
        if g.json {
            outln!(
                "{}",
                serde_json::json!({"lease": l.file.0, "dst": l.dst, "owner": l.owner,
                    "epoch": l.epoch, "expires_in_ms": l.expires_in_ms})
            );
        } else {
            let left = if l.expires_in_ms >= 0 {
                format!("{:.1}s left", l.expires_in_ms as f64 / 1000.0)
            } else {
                format!("expired {:.1}s ago", -l.expires_in_ms as f64 / 1000.0)
            };
            outln!(
                "lease {} held by {} (epoch {}), {left}",
                l.dst,
                l.owner,
                l.epoch
            );
        }
    }
    for t in &listings {
        if g.json {
            outln!(
                "{}",
                serde_json::json!({"listing": t.id.0, "prefix": t.prefix,
                    "state": t.state.as_str(), "owner": t.owner, "epoch": t.epoch,
                    "expires_in_ms": t.expires_in_ms, "cursor": t.cursor,
                    "files": t.files, "error": t.error})
            );
        } else {
            let held = match (&t.owner, t.expires_in_ms) {
                (Some(o), Some(ms)) if ms >= 0 => {
                    format!(
                        ", held by {o} (epoch {}), {:.1}s left",
                        t.epoch,
                        ms as f64 / 1000.0
                    )
                }
                (Some(o), _) => format!(", last held by {o} (epoch {})", t.epoch),
                (None, _) => String::new(),
            };
            let err = t
                .error
                .as_ref()
                .map(|e| format!(" — {e}"))
                .unwrap_or_default();
            outln!(
                "listing {:?} {}: {} files{held}{err}",
                t.prefix,
                t.state.as_str(),
                t.files
            );
        }
    }
    Ok(())
}
