//! [`BenchReport`]: what a store benchmark measured, as JSON (serde) or a
//! plain-text table ([`render_text`]).

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::Workload;
use crate::stats::{LatencyHistogram, LatencySummary, Throughput};

/// One kind of request a benchmark times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    /// PutObject.
    Put,
    /// GetObject, body read to the end.
    Get,
    /// HeadObject.
    Head,
    /// Server-side CopyObject.
    Copy,
    /// CreateMultipartUpload.
    CreateMultipart,
    /// UploadPart.
    UploadPart,
    /// UploadPartCopy.
    UploadPartCopy,
    /// CompleteMultipartUpload.
    CompleteMultipart,
}

impl RequestKind {
    /// The kind of a write the timing layer timed; `None` for the calls
    /// the migration bench does not report (reads, listings, deletes).
    #[must_use]
    pub fn written(op: haul_layers::Op) -> Option<Self> {
        use haul_layers::Op;
        Some(match op {
            Op::Put => Self::Put,
            Op::Copy => Self::Copy,
            Op::CreateMultipart => Self::CreateMultipart,
            Op::UploadPart => Self::UploadPart,
            Op::UploadPartCopy => Self::UploadPartCopy,
            Op::CompleteMultipart => Self::CompleteMultipart,
            _ => return None,
        })
    }

    /// The snake_case name (`upload_part`).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Put => "put",
            Self::Get => "get",
            Self::Head => "head",
            Self::Copy => "copy",
            Self::CreateMultipart => "create_multipart",
            Self::UploadPart => "upload_part",
            Self::UploadPartCopy => "upload_part_copy",
            Self::CompleteMultipart => "complete_multipart",
        }
    }
}

/// Latency of one kind of request.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RequestLatency {
    /// The kind.
    pub request: RequestKind,
    /// Its latency, from every successful request of the kind.
    pub latency: LatencySummary,
}

/// One run at one concurrency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Successful requests timed.
    pub requests: u64,
    /// Failed requests (every failed attempt, retried or not).
    pub errors: u64,
    /// Retries sent after retryable failures.
    pub retries: u64,
    /// Operations given up after the retries ran out.
    pub failed_operations: u64,
    /// Bytes and objects per second.
    pub throughput: Throughput,
    /// Latency of every successful request of the run.
    pub latency: Option<LatencySummary>,
    /// Latency per kind of request.
    pub by_request: Vec<RequestLatency>,
    /// GETs: time from sending the request to the first body byte.
    pub ttfb: Option<LatencySummary>,
    /// Every successful request's latency, binned for the chart.
    pub histogram: LatencyHistogram,
}

/// What the run left behind and removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cleanup {
    /// Objects deleted under the run's prefix.
    pub deleted: u64,
    /// Unfinished multipart uploads aborted.
    pub aborted_uploads: u64,
    /// Deletes or aborts that failed (their keys may remain).
    pub errors: u64,
}

/// Everything a store benchmark measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    /// The haul version that measured.
    pub haul_version: String,
    /// The store benchmarked (its display name, e.g. `s3://bucket`).
    pub target: String,
    /// When the benchmark started (RFC 3339, UTC).
    pub started_at: String,
    /// The requests sent.
    pub workload: Workload,
    /// Size of every object.
    pub object_size_bytes: u64,
    /// Part size, for the multipart workload.
    pub part_size_bytes: Option<u64>,
    /// The operation limit per run, if one was set.
    pub objects: Option<u64>,
    /// The time limit per run, if one was set.
    pub duration_s: Option<f64>,
    /// Objects written before the runs for reads and copies.
    pub pool_objects: u64,
    /// The unique prefix the keys went under.
    pub prefix: String,
    /// One run per concurrency (several with `--sweep`).
    pub runs: Vec<RunReport>,
    /// What was deleted at the end.
    pub cleanup: Cleanup,
}

impl BenchReport {
    /// The run with the highest mean throughput (MiB/s, or objects/s when
    /// no bytes moved).
    #[must_use]
    pub fn best(&self) -> Option<&RunReport> {
        self.runs.iter().max_by(|a, b| {
            let key =
                |r: &RunReport| (r.throughput.mib_per_s_mean, r.throughput.objects_per_s_mean);
            let (a, b) = (key(a), key(b));
            a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1))
        })
    }

    /// The report as pretty JSON.
    #[must_use]
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// What each run did: the workload and the object (and part) size.
    #[must_use]
    pub fn what(&self) -> String {
        let mut s = format!(
            "{} of {} objects",
            self.workload,
            human_bytes(self.object_size_bytes)
        );
        if let Some(p) = self.part_size_bytes {
            let _ = write!(s, " in {} parts", human_bytes(p));
        }
        s
    }

    /// How long each run lasted: its operation and time limits.
    #[must_use]
    pub fn limits(&self) -> String {
        match (self.objects, self.duration_s) {
            (Some(n), Some(d)) => format!("{n} operations or {d:.0} s per run"),
            (Some(n), None) => format!("{n} operations per run"),
            (None, Some(d)) => format!("{d:.0} s per run"),
            (None, None) => String::new(),
        }
    }

    /// One line describing the benchmark.
    #[must_use]
    pub fn headline(&self) -> String {
        format!("{} against {}, {}", self.what(), self.target, self.limits())
    }
}

/// `1.5 MiB`, `64 KiB`, `12 B` (binary units).
#[must_use]
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if (v - v.round()).abs() < 0.05 {
        format!("{:.0} {}", v.round(), UNITS[unit])
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// RFC 3339 UTC time of `t`.
pub(crate) use haul_core::time::rfc3339;

fn opt_ms(l: Option<&LatencySummary>, f: fn(&LatencySummary) -> f64) -> String {
    l.map_or_else(|| "-".to_owned(), |l| format!("{:.2}", f(l)))
}

/// A plain-text table of rows (first row is the header), columns padded;
/// the first column left-aligned, the others right-aligned.
pub(crate) fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let width: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (c, cell) in r.iter().enumerate() {
            if c == 0 {
                let _ = write!(line, "{cell:<w$}", w = width[c]);
            } else {
                let _ = write!(line, "  {cell:>w$}", w = width[c]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The summary rows of the runs (header first), shared by text and HTML.
pub(crate) fn run_rows(report: &BenchReport) -> Vec<Vec<String>> {
    let mut rows = vec![
        [
            "concurrency",
            "MiB/s mean",
            "MiB/s median",
            "obj/s mean",
            "obj/s median",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "max ms",
            "requests",
            "errors",
            "retries",
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    for r in &report.runs {
        let t = &r.throughput;
        let l = r.latency.as_ref();
        rows.push(vec![
            r.concurrency.to_string(),
            format!("{:.1}", t.mib_per_s_mean),
            format!("{:.1}", t.mib_per_s_median),
            format!("{:.1}", t.objects_per_s_mean),
            format!("{:.1}", t.objects_per_s_median),
            opt_ms(l, |l| l.p50_ms),
            opt_ms(l, |l| l.p90_ms),
            opt_ms(l, |l| l.p99_ms),
            opt_ms(l, |l| l.max_ms),
            r.requests.to_string(),
            r.errors.to_string(),
            r.retries.to_string(),
        ]);
    }
    rows
}

/// Latency rows per kind of request (and TTFB) of one run, header first.
pub(crate) fn request_rows(run: &RunReport) -> Vec<Vec<String>> {
    let mut rows = vec![
        [
            "request", "count", "mean ms", "p50 ms", "p90 ms", "p99 ms", "max ms",
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    let mut push = |name: &str, l: &LatencySummary| {
        rows.push(vec![
            name.to_owned(),
            l.count.to_string(),
            format!("{:.2}", l.mean_ms),
            format!("{:.2}", l.p50_ms),
            format!("{:.2}", l.p90_ms),
            format!("{:.2}", l.p99_ms),
            format!("{:.2}", l.max_ms),
        ]);
    };
    for r in &run.by_request {
        push(r.request.name(), &r.latency);
    }
    if let Some(t) = &run.ttfb {
        push("get (first byte)", t);
    }
    rows
}

/// The report as plain text: a headline, one row per run, and the latency
/// of each kind of request of the best run.
#[must_use]
pub fn render_text(report: &BenchReport) -> String {
    let mut out = format!(
        "haul bench: {}\nstarted {}, keys under {}\n\n",
        report.headline(),
        report.started_at,
        report.prefix
    );
    out.push_str(&table(&run_rows(report)));
    if let Some(best) = report.best() {
        let _ = writeln!(
            out,
            "\nrequests at concurrency {} ({} failed operations):",
            best.concurrency, best.failed_operations
        );
        out.push_str(&table(&request_rows(best)));
    }
    let c = &report.cleanup;
    let _ = writeln!(
        out,
        "\ncleanup: {} objects deleted, {} uploads aborted, {} errors",
        c.deleted, c.aborted_uploads, c.errors
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_units() {
        assert_eq!(human_bytes(12), "12 B");
        assert_eq!(human_bytes(64 << 10), "64 KiB");
        assert_eq!(human_bytes(3 << 19), "1.5 MiB");
        assert_eq!(human_bytes(1 << 30), "1 GiB");
    }

    #[test]
    fn rfc3339_of_known_times() {
        use std::time::{Duration, UNIX_EPOCH};
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
            "2023-11-14T22:13:20Z"
        );
    }

    #[test]
    fn table_aligns_columns() {
        let t = table(&[
            vec!["a".into(), "long header".into()],
            vec!["bbb".into(), "1".into()],
        ]);
        assert_eq!(t, "a    long header\nbbb            1\n");
    }
}
