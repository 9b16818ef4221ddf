//! `haul jobs report`: a job's audit report from the journal's rows
//! ([`haul_journal::Journal::audit`]), as one JSON document, CSV, or one
//! self-contained HTML page whose throughput chart is drawn by haul-bench's
//! SVG code. It only reads; the job's locations go through the journal's
//! URL redaction, so no password reaches the report.

use std::fmt::Write as _;
use std::time::{Duration, UNIX_EPOCH};

use haul_bench::escape;
use haul_journal::{AuditRow, FileAction, JobRow, redact_url};
use serde_json::{Value, json};

use crate::size::human;

/// How many buckets the throughput chart spreads the job's time over.
const BUCKETS: u64 = 48;
/// How many of the slowest objects the HTML page lists.
const SLOWEST: usize = 10;

/// RFC 3339 with milliseconds of a time in ms since the epoch.
fn at(ms: i64) -> String {
    haul_core::time::rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64))
}

/// The time of day (UTC, with ms) of a time in ms since the epoch, for
/// the page's tables; the summary gives the dates.
fn clock(ms: i64) -> String {
    let full = at(ms);
    full.split_once('T')
        .map_or(full.clone(), |(_, t)| t.trim_end_matches('Z').to_owned())
}

/// One file's facts, with what the report derives from them.
struct Line<'a> {
    row: &'a AuditRow,
    /// Checksum kinds compared (empty when only sizes were).
    kinds: Vec<String>,
    size_only: bool,
    /// Bytes this run carried (the size less what an earlier run had sent).
    carried: u64,
    duration_ms: Option<i64>,
    /// Bytes carried per second of the file's run.
    throughput: Option<f64>,
}

impl<'a> Line<'a> {
    fn new(row: &'a AuditRow) -> Self {
        let a = &row.audit;
        let verified = a.verified.as_deref().unwrap_or("");
        let size_only = verified == "size only" || verified == "size";
        let kinds = if size_only || verified.is_empty() {
            Vec::new()
        } else {
            verified
                .trim_start_matches("read-back:")
                .split('+')
                .map(str::to_owned)
                .collect()
        };
        let carried = if row.file.action == FileAction::Copy && a.method.is_some() {
            row.file.size.saturating_sub(a.resumed_bytes)
        } else {
            0
        };
        let duration_ms = match (a.started_ms, a.ended_ms) {
            (Some(s), Some(e)) => Some((e - s).max(0)),
            _ => None,
        };
        let throughput = duration_ms
            .filter(|d| *d > 0 && carried > 0)
            .map(|d| carried as f64 * 1000.0 / d as f64);
        Self {
            row,
            kinds,
            size_only,
            carried,
            duration_ms,
            throughput,
        }
    }

    fn json(&self) -> Value {
        let (f, a) = (&self.row.file, &self.row.audit);
        let causes: serde_json::Map<String, Value> = a
            .retry_causes
            .as_deref()
            .unwrap_or("")
            .split(',')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_owned(), json!(v.parse::<u64>().unwrap_or(0))))
            .collect();
        json!({
            "id": f.id.0,
            "src": f.src,
            "dst": f.dst,
            "size": f.size,
            "action": f.action.as_str(),
            "state": f.state.as_str(),
            "method": a.method,
            "verified": a.verified,
            "checksum_kinds": self.kinds,
            "size_only": self.size_only,
            "checksum": f.checksum,
            "retries": a.retries,
            "retries_by_cause": causes,
            "bytes_resent": a.resent_bytes,
            "resumed": a.resumed,
            "bytes_resumed": a.resumed_bytes,
            "started_at": a.started_ms.map(at),
            "ended_at": a.ended_ms.map(at),
            "started_ms": a.started_ms,
            "ended_ms": a.ended_ms,
            "duration_ms": self.duration_ms,
            "throughput_bytes_per_s": self.throughput.map(f64::round),
            "error": f.error,
        })
    }
}

/// A job's audit report.
pub(crate) struct Report<'a> {
    job: &'a JobRow,
    lines: Vec<Line<'a>>,
}

impl<'a> Report<'a> {
    /// The report of `job` over its files' audit rows.
    pub(crate) fn new(job: &'a JobRow, rows: &'a [AuditRow]) -> Self {
        Self {
            job,
            lines: rows.iter().map(Line::new).collect(),
        }
    }

    /// The job's spec without secrets: what it does, between which
    /// (redacted) locations, and its settings.
    fn spec(&self) -> Value {
        let spec: Value = serde_json::from_str(&self.job.spec).unwrap_or_default();
        let text = |k: &str| spec[k].as_str().map(redact_url);
        let options: serde_json::Map<String, Value> = spec["store_options"]
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| (k.clone(), json!(v.as_str().map(redact_url))))
                    .collect()
            })
            .unwrap_or_default();
        json!({
            "op": spec["op"],
            "src": text("src"),
            "src_prefix": spec["src_prefix"],
            "dst": text("dst"),
            "dst_prefix": spec["dst_prefix"],
            "single": spec["single"],
            "config": spec["config"],
            "store_options": options,
        })
    }

    /// The first start and last end of the files that ran, ms.
    fn span(&self) -> Option<(i64, i64)> {
        let start = self
            .lines
            .iter()
            .filter_map(|l| l.row.audit.started_ms)
            .min()?;
        let end = self
            .lines
            .iter()
            .filter_map(|l| l.row.audit.ended_ms)
            .max()?;
        Some((start, end.max(start)))
    }

    /// Seconds during which some file was running: the union of the
    /// files' runs, so the time between an interrupted run and its resume
    /// does not count.
    fn busy_seconds(&self) -> f64 {
        let mut runs: Vec<(i64, i64)> = self
            .lines
            .iter()
            .filter_map(|l| Some((l.row.audit.started_ms?, l.row.audit.ended_ms?)))
            .collect();
        runs.sort_unstable();
        let (mut busy, mut until) = (0i64, i64::MIN);
        for (s, e) in runs {
            let s = s.max(until);
            if e > s {
                busy += e - s;
                until = e;
            }
        }
        busy as f64 / 1000.0
    }

    fn totals(&self) -> Value {
        let sum = |f: fn(&Line<'_>) -> u64| self.lines.iter().map(f).sum::<u64>();
        let carried = sum(|l| l.carried);
        let span = self.span();
        let seconds = span.map(|(s, e)| (e - s) as f64 / 1000.0);
        let busy = self.busy_seconds();
        let j = self.job;
        json!({
            "files_total": j.files_total,
            "files_done": j.files_done,
            "files_skipped": j.files_skipped,
            "files_failed": j.files_failed,
            "bytes_total": j.bytes_total,
            "bytes_carried": carried,
            "retries": sum(|l| l.row.audit.retries),
            "bytes_resent": sum(|l| l.row.audit.resent_bytes),
            "files_resumed": self.lines.iter().filter(|l| l.row.audit.resumed).count(),
            "bytes_resumed": sum(|l| l.row.audit.resumed_bytes),
            "files_size_only": self.lines.iter().filter(|l| l.size_only).count(),
            "started_at": span.map(|s| at(s.0)),
            "ended_at": span.map(|s| at(s.1)),
            "seconds": seconds,
            "busy_seconds": busy,
            "throughput_bytes_per_s": (busy > 0.0).then(|| (carried as f64 / busy).round()),
        })
    }

    /// One JSON document: the job (id, spec, state, totals) and its files.
    pub(crate) fn json(&self) -> String {
        /// The job before its files.
        #[derive(serde::Serialize)]
        struct Doc {
            job: Value,
            files: Vec<Value>,
        }
        let doc = Doc {
            job: json!({
                "id": self.job.id.0,
                "state": self.job.state.as_str(),
                "created_at": at(self.job.created_at * 1000),
                "updated_at": at(self.job.updated_at * 1000),
                "spec": self.spec(),
                "totals": self.totals(),
            }),
            files: self.lines.iter().map(Line::json).collect(),
        };
        let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
        text.push('\n');
        text
    }

    /// A header and one row per file, quoted where a field needs it.
    pub(crate) fn csv(&self) -> String {
        const HEADER: [&str; 21] = [
            "id",
            "src",
            "dst",
            "size",
            "action",
            "state",
            "method",
            "verified",
            "checksum_kinds",
            "size_only",
            "checksum",
            "retries",
            "retries_by_cause",
            "bytes_resent",
            "resumed",
            "bytes_resumed",
            "started_at",
            "ended_at",
            "duration_ms",
            "throughput_bytes_per_s",
            "error",
        ];
        let mut out = HEADER.join(",");
        out.push_str("\r\n");
        for l in &self.lines {
            let (f, a) = (&l.row.file, &l.row.audit);
            let opt = |v: Option<String>| v.unwrap_or_default();
            let fields = [
                f.id.0.to_string(),
                f.src.clone(),
                f.dst.clone(),
                f.size.to_string(),
                f.action.as_str().to_owned(),
                f.state.as_str().to_owned(),
                opt(a.method.clone()),
                opt(a.verified.clone()),
                l.kinds.join("+"),
                l.size_only.to_string(),
                opt(f.checksum.clone()),
                a.retries.to_string(),
                opt(a.retry_causes.clone()),
                a.resent_bytes.to_string(),
                a.resumed.to_string(),
                a.resumed_bytes.to_string(),
                opt(a.started_ms.map(at)),
                opt(a.ended_ms.map(at)),
                opt(l.duration_ms.map(|d| d.to_string())),
                opt(l.throughput.map(|t| format!("{t:.0}"))),
                opt(f.error.clone()),
            ];
            let row: Vec<String> = fields.iter().map(|s| csv_field(s)).collect();
            out.push_str(&row.join(","));
            out.push_str("\r\n");
        }
        out
    }

    /// Bytes carried per bucket of the job's time, each file's bytes spread
    /// evenly over its run: `(bucket middle in s, MB/s)` and the span in s.
    fn throughput_points(&self) -> (Vec<(f64, f64)>, f64) {
        let Some((t0, t1)) = self.span() else {
            return (Vec::new(), 0.0);
        };
        let span = (t1 - t0).max(1) as f64;
        let n = BUCKETS.min((t1 - t0).max(1) as u64) as usize;
        let width = span / n as f64;
        let mut bytes = vec![0.0f64; n];
        for l in &self.lines {
            let (Some(s), Some(e)) = (l.row.audit.started_ms, l.row.audit.ended_ms) else {
                continue;
            };
            if l.carried == 0 {
                continue;
            }
            let (s, e) = ((s - t0) as f64, (e.max(s) - t0) as f64);
            let bucket = |t: f64| ((t / width) as usize).min(n - 1);
            if e <= s {
                bytes[bucket(s)] += l.carried as f64;
                continue;
            }
            let rate = l.carried as f64 / (e - s);
            for (i, b) in bytes
                .iter_mut()
                .enumerate()
                .take(bucket(e) + 1)
                .skip(bucket(s))
            {
                let lo = (i as f64 * width).max(s);
                let hi = ((i + 1) as f64 * width).min(e);
                if hi > lo {
                    *b += rate * (hi - lo);
                }
            }
        }
        let secs = width / 1000.0;
        let points = bytes
            .iter()
            .enumerate()
            .map(|(i, b)| ((i as f64 + 0.5) * secs, b / secs / 1e6))
            .collect();
        (points, span / 1000.0)
    }

    /// One self-contained page: the summary, the throughput chart (inline
    /// SVG), the slowest objects and every file.
    pub(crate) fn html(&self) -> String {
        let totals = self.totals();
        let spec = self.spec();
        let title = format!("haul job {} audit report", self.job.id);
        let (points, x_max) = self.throughput_points();
        let detail = format!(
            "{} {}{} -> {}{}",
            spec["op"].as_str().unwrap_or("?"),
            spec["src"].as_str().unwrap_or(""),
            spec["src_prefix"].as_str().unwrap_or(""),
            spec["dst"].as_str().unwrap_or(""),
            spec["dst_prefix"].as_str().unwrap_or(""),
        );
        let chart = haul_bench::line_chart(
            "Throughput over time",
            &[&detail],
            [
                "Bytes finished per time bucket (each file spread over its run)",
                "seconds since the first file started",
                "MB/s",
            ],
            &points,
            x_max,
        );
        let mut page = String::new();
        let _ = write!(
            page,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body><h1>{}</h1><p class=\"detail\">{}</p>",
            escape(&title),
            escape(&title),
            escape(&detail)
        );
        page.push_str("<h2>Summary</h2><table class=\"summary\">");
        let n = |k: &str| totals[k].as_u64().unwrap_or(0);
        let rows: Vec<(&str, String)> = vec![
            ("State", self.job.state.as_str().to_owned()),
            (
                "Files",
                format!(
                    "{} planned, {} done, {} skipped, {} failed",
                    n("files_total"),
                    n("files_done"),
                    n("files_skipped"),
                    n("files_failed")
                ),
            ),
            (
                "Bytes",
                format!(
                    "{} planned, {} carried in the last runs",
                    human(n("bytes_total")),
                    human(n("bytes_carried"))
                ),
            ),
            (
                "Retries",
                format!("{} ({} re-sent)", n("retries"), human(n("bytes_resent"))),
            ),
            (
                "Files resumed",
                format!(
                    "{} ({} kept from earlier runs)",
                    n("files_resumed"),
                    human(n("bytes_resumed"))
                ),
            ),
            ("Verified by size only", n("files_size_only").to_string()),
            (
                "Time",
                format!(
                    "{} to {} ({:.3} s, {:.3} s with a file running)",
                    totals["started_at"].as_str().unwrap_or("-"),
                    totals["ended_at"].as_str().unwrap_or("-"),
                    totals["seconds"].as_f64().unwrap_or(0.0),
                    totals["busy_seconds"].as_f64().unwrap_or(0.0)
                ),
            ),
            (
                "Throughput",
                totals["throughput_bytes_per_s"]
                    .as_f64()
                    .map_or_else(|| "-".to_owned(), |t| format!("{}/s", human(t as u64))),
            ),
        ];
        for (k, v) in rows {
            let _ = write!(
                page,
                "<tr><th>{}</th><td>{}</td></tr>",
                escape(k),
                escape(&v)
            );
        }
        page.push_str("</table><h2>Throughput</h2><div class=\"chart\">");
        page.push_str(&chart);
        page.push_str("</div>");
        let mut slowest: Vec<&Line<'_>> = self
            .lines
            .iter()
            .filter(|l| l.duration_ms.is_some())
            .collect();
        slowest.sort_by_key(|l| std::cmp::Reverse(l.duration_ms));
        slowest.truncate(SLOWEST);
        let _ = write!(
            page,
            "<h2>Slowest objects</h2><table class=\"files\" id=\"slowest\"><tr><th>Destination</th><th>Size</th><th>Method</th><th>Time</th><th>Throughput</th><th>Retries</th></tr>"
        );
        for l in slowest {
            let _ = write!(
                page,
                "<tr><td>{}</td><td class=\"n\">{}</td><td>{}</td><td class=\"n\">{} ms</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                escape(&l.row.file.dst),
                human(l.row.file.size),
                escape(l.row.audit.method.as_deref().unwrap_or("-")),
                l.duration_ms.unwrap_or(0),
                l.throughput
                    .map_or_else(|| "-".to_owned(), |t| format!("{}/s", human(t as u64))),
                l.row.audit.retries
            );
        }
        page.push_str("</table>");
        self.file_table(&mut page);
        page.push_str("</body></html>\n");
        page
    }

    fn file_table(&self, page: &mut String) {
        page.push_str(
            "<h2>Files</h2><table class=\"files\" id=\"files\"><tr><th>Source</th><th>Destination</th><th>Size</th><th>State</th><th>Method</th><th>Compared</th><th>Retries</th><th>Re-sent</th><th>Resumed</th><th>Started (UTC)</th><th>Ended (UTC)</th><th>Throughput</th></tr>",
        );
        for l in &self.lines {
            let (f, a) = (&l.row.file, &l.row.audit);
            let compared = if l.size_only {
                "size only".to_owned()
            } else {
                a.verified.clone().unwrap_or_else(|| "-".to_owned())
            };
            let retries = match &a.retry_causes {
                Some(c) if a.retries > 0 => format!("{} ({c})", a.retries),
                _ => a.retries.to_string(),
            };
            let resumed = if a.resumed {
                format!("yes ({} kept)", human(a.resumed_bytes))
            } else {
                "no".to_owned()
            };
            let cells = [
                f.src.clone(),
                f.dst.clone(),
                human(f.size),
                f.error.as_ref().map_or_else(
                    || f.state.as_str().to_owned(),
                    |e| format!("{}: {e}", f.state),
                ),
                a.method.clone().unwrap_or_else(|| "-".to_owned()),
                compared,
                retries,
                human(a.resent_bytes),
                resumed,
                a.started_ms.map_or_else(|| "-".to_owned(), clock),
                a.ended_ms.map_or_else(|| "-".to_owned(), clock),
                l.throughput
                    .map_or_else(|| "-".to_owned(), |t| format!("{}/s", human(t as u64))),
            ];
            page.push_str("<tr>");
            for c in cells {
                let _ = write!(page, "<td>{}</td>", escape(&c));
            }
            page.push_str("</tr>");
        }
        page.push_str("</table>");
    }
}

/// A CSV field, quoted (and its quotes doubled) when it holds a comma, a
/// quote, a line break or edge spaces.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) || s.starts_with(' ') || s.ends_with(' ') {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;margin:24px;color:#222}\
h1{font-size:22px;margin-bottom:4px}h2{font-size:17px;margin-top:28px}.detail{color:#555;margin-top:0}\
table{border-collapse:collapse;font-size:13px}th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}\
table.summary th{background:#f5f5f5;width:180px}table.files th{background:#f0f4f8}td.n{text-align:right}\
tr:nth-child(even) td{background:#fafafa}.chart svg{max-width:100%;height:auto;border:1px solid #eee}";

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn csv_fields_are_quoted_when_they_must_be() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_field(" edge"), "\" edge\"");
    }
}
