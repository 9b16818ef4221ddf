//! Pictures of the reports: [`render_svg`] and [`render_html`] for a store
//! benchmark, [`render_migration_svg`], [`render_migration_html`] and
//! [`render_migration_text`] for the migration path. Everything is
//! self-contained: inline SVG and CSS, system fonts, no scripts, nothing
//! fetched.

use std::fmt::Write as _;

use crate::migration::MigrationReport;
use crate::report::{
    BenchReport, RequestLatency, RunReport, human_bytes, request_rows, run_rows, table,
};
use crate::stats::{LatencyHistogram, LatencySummary, Throughput};
use crate::svg::{self, esc};

/// The per-second series as chart points (at each bucket's middle), in
/// MiB/s, or objects/s when no bytes moved; with the unit and the mean.
fn series_points(t: &Throughput) -> (Vec<(f64, f64)>, &'static str, f64) {
    let by_objects = t.bytes == 0;
    let pts = t
        .series
        .iter()
        .filter(|p| p.span_s > 0.0)
        .map(|p| {
            let y = if by_objects {
                p.objects_per_s
            } else {
                p.mib_per_s
            };
            (p.second as f64 + p.span_s / 2.0, y)
        })
        .collect();
    if by_objects {
        (pts, "objects/s", t.objects_per_s_mean)
    } else {
        (pts, "MiB/s", t.mib_per_s_mean)
    }
}

fn timeline(out: &mut String, y0: f64, title: &str, t: &Throughput) {
    let (pts, unit, mean) = series_points(t);
    let mean_label = format!("mean {mean:.1} {unit}");
    svg::line_panel(
        out,
        y0,
        [
            title,
            "time since start (s)",
            &format!("throughput ({unit})"),
        ],
        &pts,
        t.elapsed_s,
        Some((mean, &mean_label)),
    );
}

fn latency_chart(
    out: &mut String,
    y0: f64,
    title: &str,
    h: &LatencyHistogram,
    l: Option<&LatencySummary>,
) {
    let markers: Vec<(String, f64)> = l
        .map(|l| {
            vec![
                (format!("p50 {:.2} ms", l.p50_ms), l.p50_ms),
                (format!("p99 {:.2} ms", l.p99_ms), l.p99_ms),
            ]
        })
        .unwrap_or_default();
    let markers: Vec<(&str, f64)> = markers.iter().map(|(s, x)| (s.as_str(), *x)).collect();
    svg::histogram_panel(
        out,
        y0,
        [title, "latency (ms)", "requests"],
        " ms",
        h.bin_ms,
        &h.counts,
        h.overflow,
        &markers,
    );
}

fn bench_subtitle(report: &BenchReport) -> String {
    format!("{} · started {}", report.headline(), report.started_at)
}

fn bench_lines(report: &BenchReport) -> [String; 2] {
    [
        format!("target: {}", report.target),
        format!(
            "{}, {} · started {}",
            report.what(),
            report.limits(),
            report.started_at
        ),
    ]
}

/// The benchmark as one SVG: throughput over time and the latency
/// histogram of the best run, and throughput against concurrency when
/// there were several runs (`--sweep`).
#[must_use]
pub fn render_svg(report: &BenchReport) -> String {
    let title = format!("haul bench: {}", report.workload);
    let [l1, l2] = bench_lines(report);
    let Some(best) = report.best() else {
        return svg::document(&title, &[&l1, "no runs"], 0, "");
    };
    let mut body = String::new();
    let c = best.concurrency;
    timeline(
        &mut body,
        0.0,
        &format!("Throughput over time (concurrency {c})"),
        &best.throughput,
    );
    let n = best.latency.map_or(0, |l| l.count);
    latency_chart(
        &mut body,
        svg::PANEL_H,
        &format!("Request latency (concurrency {c}, all {n} requests)"),
        &best.histogram,
        best.latency.as_ref(),
    );
    let mut panels = 2;
    if report.runs.len() > 1 {
        let by_objects = report.runs.iter().all(|r| r.throughput.bytes == 0);
        let values: Vec<f64> = report
            .runs
            .iter()
            .map(|r| {
                if by_objects {
                    r.throughput.objects_per_s_mean
                } else {
                    r.throughput.mib_per_s_mean
                }
            })
            .collect();
        let labels: Vec<String> = report
            .runs
            .iter()
            .map(|r| r.concurrency.to_string())
            .collect();
        let unit = if by_objects { "objects/s" } else { "MiB/s" };
        svg::category_panel(
            &mut body,
            svg::PANEL_H * 2.0,
            [
                "Throughput vs concurrency (mean of each run)",
                "concurrency (requests in flight)",
                &format!("throughput ({unit})"),
            ],
            &labels,
            &values,
        );
        panels = 3;
    }
    svg::document(&title, &[&l1, &l2], panels, &body)
}

const CSS: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;\
margin:2em auto;max-width:1000px;color:#222;padding:0 1em}\
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em}\
table{border-collapse:collapse;margin:.6em 0;font-variant-numeric:tabular-nums}\
th,td{padding:4px 10px;border-bottom:1px solid #ddd;text-align:right}\
th:first-child,td:first-child{text-align:left}th{background:#f4f4f4}\
.chart svg{max-width:100%;height:auto}.note{color:#555;font-size:.9em}";

fn html_table(rows: &[Vec<String>]) -> String {
    let mut out = String::from("<table>");
    for (i, r) in rows.iter().enumerate() {
        out.push_str("<tr>");
        let tag = if i == 0 { "th" } else { "td" };
        for cell in r {
            let _ = write!(out, "<{tag}>{}</{tag}>", esc(cell));
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>");
    out
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\
<title>{}</title><style>{CSS}</style></head><body>{body}</body></html>\n",
        esc(title)
    )
}

/// The benchmark as a self-contained HTML page: the summary tables and the
/// [`render_svg`] charts inline.
#[must_use]
pub fn render_html(report: &BenchReport) -> String {
    let title = format!("haul bench: {} against {}", report.workload, report.target);
    let mut body = format!(
        "<h1>{}</h1><p>{}</p><h2>Runs</h2>{}",
        esc(&title),
        esc(&bench_subtitle(report)),
        html_table(&run_rows(report))
    );
    if let Some(best) = report.best() {
        let _ = write!(
            body,
            "<h2>Requests at concurrency {}</h2>{}<p class=\"note\">{} failed operations; \
             percentiles are nearest-rank over every successful request.</p>",
            best.concurrency,
            html_table(&request_rows(best)),
            best.failed_operations
        );
    }
    let _ = write!(
        body,
        "<h2>Charts</h2><div class=\"chart\">{}</div><p class=\"note\">keys under {}; \
         cleanup: {} objects deleted, {} uploads aborted, {} errors.</p>",
        render_svg(report),
        esc(&report.prefix),
        report.cleanup.deleted,
        report.cleanup.aborted_uploads,
        report.cleanup.errors
    );
    page(&title, &body)
}

fn migration_rows(r: &MigrationReport) -> Vec<Vec<String>> {
    let t = &r.throughput;
    let row = |k: &str, v: String| vec![k.to_owned(), v];
    let mut rows = vec![
        row("measure", "value".into()),
        row("files done", r.files_done.to_string()),
        row("files failed", r.files_failed.to_string()),
        row("parts", r.parts.to_string()),
        row("bytes", format!("{} ({})", t.bytes, human_bytes(t.bytes))),
        row("elapsed", format!("{:.2} s", t.elapsed_s)),
        row("MiB/s mean", format!("{:.1}", t.mib_per_s_mean)),
        row("MiB/s median", format!("{:.1}", t.mib_per_s_median)),
        row("objects/s mean", format!("{:.1}", t.objects_per_s_mean)),
        row("retries", r.retries.to_string()),
    ];
    if let Some(p) = &r.part_latency {
        rows.push(row(
            "part p50 / p90 / p99 / max",
            format!(
                "{:.2} / {:.2} / {:.2} / {:.2} ms",
                p.p50_ms, p.p90_ms, p.p99_ms, p.max_ms
            ),
        ));
    }
    rows
}

fn latency_rows(by: &[RequestLatency]) -> Vec<Vec<String>> {
    let run = RunReport {
        concurrency: 0,
        requests: 0,
        errors: 0,
        retries: 0,
        failed_operations: 0,
        throughput: Throughput::default(),
        latency: None,
        by_request: by.to_vec(),
        ttfb: None,
        histogram: LatencyHistogram::default(),
    };
    request_rows(&run)
}

fn migration_title(r: &MigrationReport) -> String {
    format!("haul bench: migration {} → {}", r.source, r.destination)
}

/// The migration bench as plain text.
#[must_use]
pub fn render_migration_text(r: &MigrationReport) -> String {
    let mut out = format!("{}\nstarted {}\n\n", migration_title(r), r.started_at);
    out.push_str(&table(&migration_rows(r)));
    out.push_str("\nwrites at the destination:\n");
    out.push_str(&table(&latency_rows(&r.by_request)));
    for (k, e) in &r.failures {
        let _ = writeln!(out, "failed: {k}: {e}");
    }
    let c = &r.cleanup;
    let _ = writeln!(
        out,
        "\ncleanup: {} objects deleted, {} errors",
        c.deleted, c.errors
    );
    out
}

/// The migration bench as one SVG: end-to-end throughput over time and
/// the per-part latency histogram.
#[must_use]
pub fn render_migration_svg(r: &MigrationReport) -> String {
    let mut body = String::new();
    timeline(
        &mut body,
        0.0,
        "End-to-end throughput over time",
        &r.throughput,
    );
    let (what, summary) = match &r.part_latency {
        Some(p) => ("part", Some(p)),
        None => ("request", None),
    };
    let n: u64 = r.histogram.counts.iter().sum::<u64>() + r.histogram.overflow;
    latency_chart(
        &mut body,
        svg::PANEL_H,
        &format!("Destination {what} latency ({n} {what}s)"),
        &r.histogram,
        summary,
    );
    let lines = [
        format!("from {}", r.source),
        format!("to {}", r.destination),
        format!(
            "{} files, {} in {:.2} s · started {}",
            r.files_done,
            human_bytes(r.throughput.bytes),
            r.throughput.elapsed_s,
            r.started_at
        ),
    ];
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    svg::document("haul bench: migration through the engine", &lines, 2, &body)
}

/// The migration bench as a self-contained HTML page.
#[must_use]
pub fn render_migration_html(r: &MigrationReport) -> String {
    let title = migration_title(r);
    let mut body = format!(
        "<h1>{}</h1><p>started {}</p>{}<h2>Writes at the destination</h2>{}",
        esc(&title),
        esc(&r.started_at),
        html_table(&migration_rows(r)),
        html_table(&latency_rows(&r.by_request))
    );
    if !r.failures.is_empty() {
        let rows: Vec<Vec<String>> = std::iter::once(vec!["file".into(), "error".into()])
            .chain(r.failures.iter().map(|(k, e)| vec![k.clone(), e.clone()]))
            .collect();
        let _ = write!(body, "<h2>Failures</h2>{}", html_table(&rows));
    }
    let _ = write!(
        body,
        "<h2>Charts</h2><div class=\"chart\">{}</div>",
        render_migration_svg(r)
    );
    page(&title, &body)
}
