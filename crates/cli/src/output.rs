//! Rendering: a progress bar on a terminal, JSON lines with `--json`,
//! nothing but errors with `-q`, and the end-of-job summary.

use std::io::IsTerminal as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use haul_engine::{Event, Snapshot, Summary};
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
#[allow(clippy::struct_excessive_bools)] // independent switches of one renderer
pub(crate) struct Output {
    json: bool,
    quiet: bool,
    /// Whether an interrupted job can be resumed (streams cannot).
    resumable: bool,
    /// With `--json`: a line per progress snapshot.
    progress_lines: bool,
    bar: Option<ProgressBar>,
    /// What the bar shows now: the listing, or bytes against the total.
    bar_listing: AtomicBool,
    /// Where the transfer's rate is measured from.
    eta: Mutex<Eta>,
}

/// The estimate of the time left: the rate is measured from the first
/// snapshot after the listing ended (time spent listing moved nothing),
/// and there is no estimate while the listing goes on (what is not listed
/// yet is unknown).
#[derive(Debug, Default)]
pub(crate) struct Eta {
    /// Elapsed seconds and bytes done when the listing was over.
    from: Option<(f64, u64)>,
}

impl Eta {
    /// Seconds left at `s`, if they can be told.
    pub(crate) fn seconds_left(&mut self, s: &Snapshot) -> Option<f64> {
        if s.listing {
            return None;
        }
        let done = s.bytes_transferred.min(s.bytes_total) + s.bytes_resumed;
        let (t0, b0) = *self.from.get_or_insert((s.elapsed_s, done));
        let (dt, moved) = (s.elapsed_s - t0, done.saturating_sub(b0));
        let left = s.bytes_total.saturating_sub(done);
        if left == 0 {
            return Some(0.0);
        }
        (dt > 0.0 && moved > 0).then(|| left as f64 * dt / moved as f64)
    }
}

/// The bar while the source is listed: no total, no estimate.
fn listing_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} listing: {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

/// The bar once everything is listed.
fn transfer_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{bar:30} {bytes}/{total_bytes} {bytes_per_sec} eta {prefix} {msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
}

impl Output {
    pub(crate) fn new(g: &Global) -> Self {
        // A job starts by listing its source: no total, no estimate, until
        // a snapshot says the listing is over.
        let bar = (!g.json && !g.quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new(0);
            bar.set_style(listing_style());
            bar.set_message("…");
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Self {
            json: g.json,
            quiet: g.quiet,
            resumable: true,
            progress_lines: false,
            bar,
            bar_listing: AtomicBool::new(true),
            eta: Mutex::new(Eta::default()),
        }
    }

    /// With `--json`, writes a line per progress snapshot (what
    /// `--progress-interval` asks for).
    pub(crate) fn progress_lines(mut self, on: bool) -> Self {
        self.progress_lines = on;
        self
    }

    fn progress(&self, s: &Snapshot) {
        let eta = self
            .eta
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .seconds_left(s);
        if self.json {
            if self.progress_lines {
                outln!("{}", progress_line(s, eta));
            }
            return;
        }
        let Some(bar) = &self.bar else { return };
        if s.listing {
            if !self.bar_listing.swap(true, Ordering::Relaxed) {
                bar.set_style(listing_style());
            }
            bar.set_message(format!(
                "{} files, {} to move so far",
                s.files_total,
                human(s.bytes_total)
            ));
            return;
        }
        self.listed(bar);
        bar.set_length(s.bytes_total);
        bar.set_position(s.bytes_transferred.min(s.bytes_total) + s.bytes_resumed);
        bar.set_prefix(eta.map_or_else(
            || "?".to_owned(),
            |secs| indicatif::HumanDuration(Duration::from_secs_f64(secs)).to_string(),
        ));
    }

    /// The listing is over: the bar shows bytes against the total.
    fn listed(&self, bar: &ProgressBar) {
        if self.bar_listing.swap(false, Ordering::Relaxed) {
            bar.set_prefix("?");
            bar.set_message("");
            bar.set_style(transfer_style());
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
        if let (true, Event::Progress(s)) = (self.json, ev) {
            self.progress(s);
            return;
        }
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
            Event::Planned { bytes, .. } => {
                if let Some(bar) = &self.bar {
                    bar.set_length(*bytes);
                    self.listed(bar);
                }
            }
            Event::FileStarted { dst, .. } => {
                if let Some(bar) = &self.bar {
                    self.listed(bar);
                    bar.set_message(dst.clone());
                }
            }
            Event::Progress(s) => self.progress(s),
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
            if s.compared.files() > 0 {
                v["compared"] = json!(s.compared);
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
            let k = &s.compared;
            if k.files() > 0 {
                eprintln!(
                    "compared {} by checksum: {} by checksums recorded of the same versions, {} reported by the stores, {} read ({} read to hash)",
                    k.files(),
                    k.recorded,
                    k.reported,
                    k.read,
                    human(k.bytes_read)
                );
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

/// One `--json` progress line: the counters, whether the source is still
/// being listed (then the totals are what was listed so far) and the
/// seconds left (`null` while listing or before anything moved).
fn progress_line(s: &Snapshot, eta: Option<f64>) -> serde_json::Value {
    json!({
        "type": "progress",
        "listing": s.listing,
        "files_total": s.files_total,
        "files_done": s.files_done,
        "files_skipped": s.files_skipped,
        "files_failed": s.files_failed,
        "bytes_total": s.bytes_total,
        "bytes_transferred": s.bytes_transferred,
        "bytes_resumed": s.bytes_resumed,
        "retries": s.retries,
        "elapsed_s": s.elapsed_s,
        "eta_s": eta,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(elapsed_s: f64, done: u64, total: u64, listing: bool) -> Snapshot {
        Snapshot {
            bytes_total: total,
            bytes_transferred: done,
            elapsed_s,
            listing,
            ..Snapshot::default()
        }
    }

    #[test]
    fn no_estimate_while_listing_and_the_listing_time_does_not_slow_the_rate() {
        let mut eta = Eta::default();
        assert_eq!(eta.seconds_left(&at(5.0, 0, 1000, true)), None);
        assert_eq!(eta.seconds_left(&at(100.0, 0, 1000, true)), None);
        // Listing took 100 s; then 100 bytes a second.
        assert_eq!(eta.seconds_left(&at(100.0, 0, 1000, false)), None);
        assert_eq!(eta.seconds_left(&at(102.0, 200, 1000, false)), Some(8.0));
        assert_eq!(eta.seconds_left(&at(110.0, 1000, 1000, false)), Some(0.0));
        let line = progress_line(&at(5.0, 0, 1000, true), None);
        assert_eq!(line["listing"], true);
        assert!(line["eta_s"].is_null());
    }
}
