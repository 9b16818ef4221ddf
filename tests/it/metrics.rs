//! `--metrics`: /metrics scraped while a job runs, and `--json` progress
//! lines. The job is held at a known point by the proxy (the last file's
//! upload is delayed far beyond the test) and the test synchronises on the
//! job's own JSON lines, never on time.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::process::{Child, ChildStdout, Stdio};
use std::time::Duration;

use haul::testkit::{FaultProxy, ProxyFault, ProxyRule};
use prometheus_parse::{Sample, Scrape, Value};
use serde_json::Value as Json;

use crate::cli::{Env, s, write};
use crate::s3cli::S3Env;

/// GET http://addr/metrics, parsed as Prometheus exposition text.
fn scrape(addr: &str) -> Scrape {
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    write!(
        conn,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(body.ends_with("# EOF\n"), "{body}");
    // Every line is a comment or `name{labels} value`.
    for line in body.lines().filter(|l| !l.starts_with('#')) {
        let (_, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
        assert!(value.parse::<f64>().is_ok(), "{line}");
    }
    Scrape::parse(body.lines().map(|l| Ok(l.to_owned()))).unwrap()
}

/// The value of the sample `name` whose labels include `labels`.
fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .filter(|s: &&Sample| s.metric == name)
        .find(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .and_then(|s| match &s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => Some(*v),
            _ => None,
        })
}

/// The `put` latency histogram: its buckets (upper bound, count) and count.
fn put_histogram(scrape: &Scrape) -> (Vec<(f64, f64)>, u64) {
    let sample = scrape
        .samples
        .iter()
        .find(|s| s.metric == "haul_request_duration_seconds" && s.labels.get("op") == Some("put"))
        .expect("a put histogram");
    let Value::Histogram(buckets) = &sample.value else {
        panic!("not a histogram: {sample:?}");
    };
    let buckets: Vec<(f64, f64)> = buckets.iter().map(|b| (b.less_than, b.count)).collect();
    let count = buckets.last().map_or(0.0, |b| b.1) as u64;
    (buckets, count)
}

/// Reads JSON lines until one satisfies `done`.
fn until(lines: &mut impl Iterator<Item = Json>, done: impl Fn(&Json) -> bool) -> Json {
    lines
        .find(|l| done(l))
        .expect("the job ended before the awaited line")
}

fn json_lines(out: ChildStdout) -> impl Iterator<Item = Json> {
    BufReader::new(out)
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str(&l).ok())
}

/// Kills the job when the test ends, however it ends.
struct Job(Child);

impl Drop for Job {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn metrics_move_while_a_job_runs_and_parse_as_prometheus_text() {
    let e = S3Env::new();
    // f0's first upload is held until the job's 10 s timeout gives up on
    // it (then sent again; 10 s, far more than the scrapes below take even
    // on a loaded machine, so f0 is still held at the first and f9's first
    // try still in flight at the second), f2's is slowed down once (503), f9's is held
    // far longer than the test runs: at the start nothing is done, at the
    // end nine files are, the tenth in flight.
    let hold = ProxyFault::Delay(Duration::from_hours(1));
    let proxy = FaultProxy::start(&e.server.endpoint(), 7).with_rules(vec![
        ProxyRule::first(1, hold).method("PUT").path_contains("/f0"),
        ProxyRule::first(1, ProxyFault::SlowDown { retry_after: None })
            .method("PUT")
            .path_contains("/f2"),
        ProxyRule::always(hold).method("PUT").path_contains("/f9"),
    ]);
    let src = e.env.path("src");
    for i in 0..10 {
        write(&src.join(format!("f{i}")), &vec![i as u8; 1000 + i]);
    }
    let mut child = e
        .cmd()
        .env("AWS_ENDPOINT_URL", proxy.endpoint())
        .args([
            "cp",
            "-r",
            s(&src),
            "s3://one/m/",
            "--json",
            "--metrics",
            "127.0.0.1:0",
            "--timeout",
            "10s",
            "--file-parallel-limit",
            "1",
            "--progress-interval",
            "20ms",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let _job = Job(child);
    let first = BufReader::new(stderr).lines().next().unwrap().unwrap();
    let addr = first
        .strip_prefix("metrics: http://")
        .and_then(|a| a.strip_suffix("/metrics"))
        .unwrap_or_else(|| panic!("{first}"))
        .to_owned();
    // f0 is held: nothing can be done yet.
    let a = scrape(&addr);
    assert_eq!(value(&a, "haul_files_total", &[("state", "done")]), None);
    assert_eq!(value(&a, "haul_bytes_done_total", &[]), Some(0.0));
    let mut lines = json_lines(stdout);

    // Nine files done, the retry counted, f9 in flight (held).
    let done = std::cell::Cell::new(0);
    until(&mut lines, |l| {
        if l["type"] == "file_done" {
            done.set(done.get() + 1);
        }
        done.get() == 9 && l["type"] == "progress" && l["retries"] == 2
    });
    let b = scrape(&addr);
    assert_eq!(
        value(&b, "haul_files_total", &[("state", "done")]),
        Some(9.0)
    );
    assert_eq!(
        value(&b, "haul_bytes_done_total", &[]),
        Some((0..9).map(|i| 1000.0 + f64::from(i)).sum())
    );
    assert_eq!(
        value(&b, "haul_retries_total", &[("cause", "rate-limited")]),
        Some(1.0)
    );
    assert_eq!(
        value(&b, "haul_retries_total", &[("cause", "timeout")]),
        Some(1.0)
    );
    assert_eq!(
        value(&b, "haul_retries_total", &[("cause", "transient")]),
        Some(0.0)
    );
    assert!(
        value(
            &b,
            "haul_requests_total",
            &[("op", "put"), ("outcome", "error")]
        ) >= Some(1.0)
    );
    assert_eq!(
        value(&b, "haul_requests_in_flight", &[("op", "put")]),
        Some(1.0)
    );
    assert_eq!(value(&b, "haul_concurrency", &[]), Some(1.0));
    assert_eq!(value(&b, "haul_files_planned", &[]), Some(10.0));
    assert_eq!(value(&b, "haul_listing", &[]), Some(0.0));
    let (buckets, puts) = put_histogram(&b);
    assert!(b.docs.contains_key("haul_request_duration_seconds"));
    // Nine puts answered, the 503 too.
    assert!(puts >= 10, "{buckets:?}");
    assert!(buckets.len() > 10, "{buckets:?}");
    assert!(
        buckets
            .windows(2)
            .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1)
    );
    assert!(buckets.last().is_some_and(|b| b.0.is_infinite()));
}

#[test]
fn json_progress_lines_show_the_listing_and_no_estimate_until_it_ends() {
    let e = Env::new();
    let src = e.path("src");
    for i in 0..2500 {
        write(&src.join(format!("d{}/f{i:04}", i % 10)), b"x");
    }
    let out = e.run(&[
        "cp",
        "-r",
        s(&src),
        s(&e.path("dst")),
        "--json",
        "--progress-interval",
        "1s",
    ]);
    assert!(out.status.success());
    let progress: Vec<Json> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Json>(l).ok())
        .filter(|l| l["type"] == "progress")
        .collect();
    let listing: Vec<&Json> = progress.iter().filter(|l| l["listing"] == true).collect();
    // One line per thousand entries listed, the totals growing, no estimate.
    let totals: Vec<u64> = listing
        .iter()
        .filter_map(|l| l["files_total"].as_u64())
        .collect();
    assert_eq!(totals, [1000, 2000], "{listing:?}");
    assert!(listing.iter().all(|l| l["eta_s"].is_null()));
    let last = progress.last().expect("a progress line");
    assert_eq!(last["listing"], false);
    assert_eq!(last["files_total"], 2500);
    assert_eq!(last["files_done"], 2500);
    assert_eq!(last["eta_s"], 0.0);
}
