//! Rendering: a progress bar on a terminal, JSON lines with `--json`,
//! nothing but errors with `-q`, and the end-of-job summary.

use std::io::IsTerminal as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use haul_engine::{Event, Summary};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::args::Global;
use crate::size::human;

/// Set once standard output is a closed pipe: nothing more is written.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes to standard output (what `out!`/`outln!` expand to). When the
/// reader went away (`haul jobs | head -1`) the rest is dropped quietly
/// instead of panicking: a listing just stops, a job runs to its end and
/// keeps its exit code.
pub(crate) fn stdout(args: std::fmt::Arguments<'_>, newline: bool) {
    use std::io::Write as _;
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    let written = out
        .write_fmt(args)
        .and_then(|()| {
            if newline {
                out.write_all(b"\n")
            } else {
                Ok(())
            }
        })
        .and_then(|()| out.flush());
    if let Err(e) = written
        && e.kind() == std::io::ErrorKind::BrokenPipe
    {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
    }
}

/// How events are shown.
#[derive(Debug)]
pub(crate) struct Output {
    json: bool,
    quiet: bool,
    /// Whether an interrupted job can be resumed (streams cannot).
    resumable: bool,
    bar: Option<ProgressBar>,
}

impl Output {
    pub(crate) fn new(g: &Global) -> Self {
        let bar = (!g.json && !g.quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:30} {bytes}/{total_bytes} {bytes_per_sec} eta {eta} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Self {
            json: g.json,
            quiet: g.quiet,
            resumable: true,
            bar,
        }
    }

    fn line(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => outln!("{text}"),
        }
    }

    /// For a job that cannot be resumed (a stream): no resume hint.
    pub(crate) fn not_resumable(mut self) -> Self {
        self.resumable = false;
        self
    }

    /// Shows one event.
    pub(crate) fn event(&self, ev: &Event) {
        if self.json {
            if matches!(
                ev,
                Event::FileDone { .. }
                    | Event::FileFailed { .. }
                    | Event::FileSkipped { .. }
                    | Event::DryRun { .. }
                    | Event::Concurrency { .. }
            ) && let Ok(text) = serde_json::to_string(ev)
            {
                outln!("{text}");
            }
            return;
        }
        match ev {
            Event::FileFailed { error, .. } => {
                let line = format!("error: {}", haul_core::escape_text(error));
                match &self.bar {
                    Some(bar) => bar.println(line),
                    None => eprintln!("{line}"),
                }
            }
            Event::FileSkipped {
                src,
                reason: Some(reason),
                ..
            } if !self.quiet => {
                let line = format!("skipped: {}: {reason}", haul_core::escape_text(src));
                match &self.bar {
                    Some(bar) => bar.println(line),
                    None => eprintln!("{line}"),
                }
            }
            Event::DryRun {
                action,
                src,
                dst,
                size,
            } if !self.quiet => {
                self.line(&format!(
                    "(dry run) {action} {src} -> {dst} ({})",
                    human(*size)
                ));
            }
            Event::FileStarted { dst, .. } => {
                if let Some(bar) = &self.bar {
                    bar.set_message(dst.clone());
                }
            }
            Event::Progress(s) => {
                if let Some(bar) = &self.bar {
                    bar.set_length(s.bytes_total);
                    bar.set_position(s.bytes_transferred.min(s.bytes_total) + s.bytes_resumed);
                }
            }
            _ => {}
        }
    }

    /// Clears the progress bar.
    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    /// Shows the summary; returns the exit code it implies.
    pub(crate) fn summary(&self, s: &Summary) -> u8 {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        let c = &s.counts;
        if self.json {
            let mut v = json!({
                "type": "summary",
                "job_id": s.job_id,
                "files_total": c.files_total,
                "files_done": c.files_done,
                "files_skipped": c.files_skipped,
                "files_failed": c.files_failed,
                "bytes_total": c.bytes_total,
                "bytes_transferred": c.bytes_transferred,
                "bytes_resent": c.bytes_resent,
                "bytes_resumed": c.bytes_resumed,
                "retries": c.retries,
                "elapsed_s": c.elapsed_s,
                "cancelled": s.cancelled,
                "retries_by_cause": s.retries_by_cause.iter().map(|(k, n)| (k.clone(), json!(n))).collect::<serde_json::Map<_, _>>(),
                "verified_by_content": s.verified_by_content,
                "verified_by_size": s.verified_by_size,
                "skipped_by_reason": s.skipped_by_reason.iter().map(|(k, n)| (k.clone(), json!(n))).collect::<serde_json::Map<_, _>>(),
            });
            if c.concurrency > 0 {
                v["concurrency"] = json!(c.concurrency);
            }
            outln!("{v}");
        } else if !self.quiet {
            let rate = c.bytes_transferred as f64 / c.elapsed_s.max(1e-3);
            eprintln!(
                "job {}: {} done, {} skipped, {} failed of {} files; {} moved in {:.1}s ({}/s); {} re-sent, {} resumed, {} retries",
                s.job_id,
                c.files_done,
                c.files_skipped,
                c.files_failed,
                c.files_total,
                human(c.bytes_transferred),
                c.elapsed_s,
                human(rate as u64),
                human(c.bytes_resent),
                human(c.bytes_resumed),
                c.retries
            );
            let left_out: Vec<String> = s
                .skipped_by_reason
                .iter()
                .filter(|(why, _)| why != "up to date")
                .map(|(why, n)| format!("{n} {why}"))
                .collect();
            if !left_out.is_empty() {
                eprintln!("skipped: {}", left_out.join("; "));
            }
            if s.verified_by_size > 0 {
                eprintln!(
                    "{} verified by size only (the destination reports no checksum haul computed; --verify read-back compares content)",
                    s.verified_by_size
                );
            }
        }
        if s.cancelled {
            if self.resumable {
                eprintln!("interrupted; resume with: haul resume {}", s.job_id);
            } else {
                eprintln!("interrupted; a stream cannot be resumed: run the command again");
            }
            130
        } else if s.has_integrity_failure() {
            3
        } else if c.files_failed > 0 {
            for (key, _) in &s.failures {
                if !self.json {
                    eprintln!("failed: {}", haul_core::escape_text(key));
                }
            }
            1
        } else {
            0
        }
    }
}
