//! `haul jobs report`: the audit report of a job read from the journal.
//! One file meets injected 500s (through the proxy) and must show its
//! retries; another is interrupted mid-upload by a crash and resumed, and
//! must show it was; the methods and compared checksum kinds are the
//! engine's. The CSV parses; the HTML is one self-contained page.

use haul::testkit::{ProxyFault, ProxyRule};
use serde_json::Value;

use crate::cli::{s, succeeded, summary, write};
use crate::window::Counted;

const PARTS: [&str; 4] = ["--chunk-size", "5MiB", "--slice-size", "5MiB"];

fn big() -> Vec<u8> {
    (0..12_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect()
}

/// The rig of a report test: the binary through the counting proxy, with
/// its journal in SQLite or in the PostgreSQL database at `journal`.
struct Rig {
    c: Counted,
    journal: Option<String>,
}

impl Rig {
    fn cmd(&self) -> std::process::Command {
        let mut cmd = self.c.cmd();
        if let Some(url) = &self.journal {
            // A crashed run's leases expire at once for the resume.
            cmd.env("HAUL_JOURNAL", url).env("HAUL_LEASE_MS", "300");
        }
        cmd
    }

    fn report(&self, job: u64, format: &str) -> String {
        let args = ["jobs", "report", &job.to_string(), "--format", format];
        succeeded(&args, &self.cmd().args(args).output().unwrap())
    }
}

/// A job of two files: `big.bin` interrupted after its first part was
/// journaled and resumed, `small.txt` (carried in the resume) answered
/// 500 twice before its put went through. Returns the rig and the job.
fn retried_and_resumed(journal: Option<String>) -> (Rig, u64) {
    let r = Rig {
        c: Counted::new(),
        journal,
    };
    r.c.proxy.set_rules(vec![
        ProxyRule::first(2, ProxyFault::InternalError)
            .method("PUT")
            .path_contains("/small.txt"),
    ]);
    let src = r.c.e.env.path("src");
    write(&src.join("big.bin"), &big());
    write(&src.join("small.txt"), &[b'x'; 1000]);
    // One file at a time, in plan order: big.bin is interrupted before
    // small.txt starts, so small.txt meets both faults in the resume.
    let point = "part-journaled#1";
    let out = r
        .cmd()
        .args([
            "cp",
            "-r",
            s(&src),
            "s3://one/r/",
            "--file-parallel-limit",
            "1",
        ])
        .args(PARTS)
        .env("HAUL_TEST_CRASH_AT", point)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains(point),
        "the first run did not stop at {point}: {err}"
    );
    let out = r.cmd().args(["resume", "--json"]).output().unwrap();
    let sum = summary(&succeeded(&["resume"], &out));
    assert_eq!(sum["files_done"], 2, "{sum}");
    // The job's own totals still count the retries the file counted.
    assert_eq!(sum["retries"], 2, "{sum}");
    let job = sum["job_id"].as_u64().unwrap();
    (r, job)
}

fn file<'a>(doc: &'a Value, dst: &str) -> &'a Value {
    doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["dst"].as_str().is_some_and(|d| d.ends_with(dst)))
        .unwrap_or_else(|| panic!("no {dst} in {doc:#}"))
}

#[test]
fn the_json_report_shows_retries_resumes_methods_and_checksum_kinds() {
    let (r, job) = retried_and_resumed(None);
    json_report_shows_retries_resumes_methods_and_checksum_kinds(&r, job);
}

/// The same job with its journal in PostgreSQL.
#[test]
#[ignore = "needs postgres"]
fn the_json_report_reads_a_postgres_journal_alike() {
    let pg = haul::testkit::PgServer::start().unwrap();
    let url = pg.create_db("haul").unwrap();
    let (r, job) = retried_and_resumed(Some(url));
    let text = json_report_shows_retries_resumes_methods_and_checksum_kinds(&r, job);
    assert!(!text.contains(pg.password()), "no password in the report");
}

/// Checks the JSON report of [`retried_and_resumed`]'s job (and a copy
/// job's after it); returns the first report's text.
fn json_report_shows_retries_resumes_methods_and_checksum_kinds(r: &Rig, job: u64) -> String {
    let text = r.report(job, "json");
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["job"]["id"], job, "{doc:#}");
    assert_eq!(doc["job"]["state"], "done");
    assert_eq!(doc["job"]["spec"]["op"], "copy");
    let totals = &doc["job"]["totals"];
    assert_eq!(totals["files_done"], 2, "{totals}");
    assert_eq!(totals["retries"], 2, "{totals}");
    assert_eq!(totals["files_resumed"], 1, "{totals}");

    let small = file(&doc, "small.txt");
    assert_eq!(small["state"], "done", "{small}");
    assert_eq!(small["method"], "put", "{small}");
    assert_eq!(small["retries"], 2, "{small}");
    assert_eq!(small["retries_by_cause"]["transient"], 2, "{small}");
    assert_eq!(small["bytes_resent"], 2000, "{small}");
    assert_eq!(small["resumed"], false, "{small}");

    let big = file(&doc, "big.bin");
    assert_eq!(big["state"], "done", "{big}");
    assert_eq!(big["method"], "multipart", "{big}");
    assert_eq!(big["resumed"], true, "{big}");
    let kept = big["bytes_resumed"].as_u64().unwrap();
    assert!(kept > 0 && kept < 12_000_000, "{big}");
    assert_eq!(big["retries"], 0, "{big}");

    // The put's checksums are compared; the kinds (or "size only") are
    // what verification compared, whatever the server reports.
    assert_eq!(small["size_only"], false, "{small}");
    assert!(
        !small["checksum_kinds"].as_array().unwrap().is_empty(),
        "{small}"
    );
    for f in [small, big] {
        let kinds: Vec<&str> = f["checksum_kinds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap())
            .collect();
        let verified = f["verified"].as_str().unwrap();
        if f["size_only"] == true {
            assert!(kinds.is_empty() && verified == "size only", "{f}");
        } else {
            assert_eq!(
                verified.trim_start_matches("read-back:"),
                kinds.join("+"),
                "{f}"
            );
        }
        assert!(f["started_ms"].as_i64().unwrap() <= f["ended_ms"].as_i64().unwrap());
        assert!(f["started_at"].as_str().unwrap().ends_with('Z'), "{f}");
    }

    // A server-side copy of both: one copy call, and a part copy above
    // the copy slice size.
    let out = r
        .cmd()
        .args(["cp", "-r", "s3://one/r/", "s3://two/c/", "--json"])
        .args(["--copy-slice-size", "5MiB", "--copy-chunk-size", "5MiB"])
        .output()
        .unwrap();
    let copied = summary(&succeeded(&["cp"], &out));
    let doc: Value =
        serde_json::from_str(&r.report(copied["job_id"].as_u64().unwrap(), "json")).unwrap();
    let copy = file(&doc, "small.txt");
    assert_eq!(copy["method"], "copy", "{doc:#}");
    assert_eq!(file(&doc, "big.bin")["method"], "part-copy", "{doc:#}");
    text
}

/// Splits CSV text into records of fields (quoted fields may hold commas,
/// doubled quotes and line breaks).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let (mut rows, mut row, mut field) = (Vec::new(), Vec::new(), String::new());
    let (mut quoted, mut chars) = (false, text.chars().peekable());
    while let Some(ch) = chars.next() {
        match (quoted, ch) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (_, c) => field.push(c),
        }
    }
    assert!(!quoted && field.is_empty() && row.is_empty(), "{text}");
    rows
}

#[test]
fn the_csv_report_has_a_header_and_a_quoted_row_per_file() {
    let r = Rig {
        c: Counted::new(),
        journal: None,
    };
    let c = &r.c;
    let src = c.e.env.path("src");
    write(&src.join("a, \"quoted\" name.txt"), b"alpha");
    write(&src.join("b.txt"), b"beta");
    let out = c
        .cmd()
        .args(["cp", "-r", s(&src), "s3://one/q/", "--json"])
        .output()
        .unwrap();
    let job = summary(&succeeded(&["cp"], &out))["job_id"]
        .as_u64()
        .unwrap();
    let rows = parse_csv(&r.report(job, "csv"));
    assert_eq!(rows.len(), 3, "{rows:?}");
    let header = &rows[0];
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    for row in &rows[1..] {
        assert_eq!(row.len(), header.len(), "{row:?}");
        assert_eq!(row[col("state")], "done");
        assert_eq!(row[col("method")], "put");
        assert_eq!(row[col("retries")], "0");
        assert!(!row[col("checksum_kinds")].is_empty(), "{row:?}");
    }
    assert!(
        rows[1..]
            .iter()
            .any(|r| r[col("src")] == "a, \"quoted\" name.txt"),
        "{rows:?}"
    );
}

#[test]
fn the_html_report_is_one_self_contained_page_with_its_chart() {
    let (r, job) = retried_and_resumed(None);
    let path = r.c.e.env.path("report.html");
    let args = [
        "jobs",
        "report",
        &job.to_string(),
        "--format",
        "html",
        "-o",
        s(&path),
    ];
    succeeded(&args, &r.cmd().args(args).output().unwrap());
    let html = std::fs::read_to_string(&path).unwrap();
    // To look at the page: HAUL_TEST_REPORT_DIR=dir keeps a copy there.
    if let Some(dir) = std::env::var_os("HAUL_TEST_REPORT_DIR") {
        std::fs::write(std::path::Path::new(&dir).join("report.html"), &html).unwrap();
    }
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert!(
        html.contains("<svg") && html.contains("<polyline"),
        "{html}"
    );
    assert!(html.contains("Slowest objects") && html.contains("big.bin"));
    assert!(!html.contains("<script"), "no scripts");
    // Nothing fetched from elsewhere: no src= or href= at all, and the only
    // URL is the SVG namespace (an identifier, never fetched).
    assert!(!html.contains("src=") && !html.contains("href="), "{html}");
    let urls = html.matches("http://").count() + html.matches("https://").count();
    assert_eq!(urls, html.matches("http://www.w3.org/2000/svg").count());
    // The secret key the job ran with is nowhere in the report.
    assert!(!html.contains(r.c.e.server.secret_key()));
}

#[test]
fn deletes_and_streams_have_their_methods_too() {
    let r = Rig {
        c: Counted::new(),
        journal: None,
    };
    let src = r.c.e.env.path("src");
    write(&src.join("kept.txt"), b"kept");
    let gone = r.c.e.env.path("gone.txt");
    write(&gone, b"gone");
    let up = ["cp", s(&gone), "s3://one/s/gone.txt"];
    succeeded(&up, &r.cmd().args(up).output().unwrap());
    let out = r
        .cmd()
        .args(["sync", s(&src), "s3://one/s/", "--delete", "--json"])
        .output()
        .unwrap();
    let job = summary(&succeeded(&["sync"], &out))["job_id"]
        .as_u64()
        .unwrap();
    let doc: Value = serde_json::from_str(&r.report(job, "json")).unwrap();
    assert_eq!(file(&doc, "kept.txt")["method"], "put", "{doc:#}");
    let gone = file(&doc, "gone.txt");
    assert_eq!(gone["method"], "delete", "{doc:#}");
    assert_eq!(gone["state"], "done", "{doc:#}");

    let mut child = r
        .cmd()
        .args(["cp", "-", "s3://one/s/streamed", "--json"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"from a pipe").unwrap();
    let out = child.wait_with_output().unwrap();
    let job = summary(&succeeded(&["cp", "-"], &out))["job_id"]
        .as_u64()
        .unwrap();
    let doc: Value = serde_json::from_str(&r.report(job, "json")).unwrap();
    let streamed = file(&doc, "streamed");
    assert_eq!(streamed["method"], "stream", "{doc:#}");
    assert!(streamed["ended_ms"].is_i64(), "{doc:#}");
}
