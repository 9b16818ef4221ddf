//! A crash at every instant of a file's life, for an upload, a server-side
//! part copy and a download: the process aborts at an exact point
//! (`HAUL_TEST_CRASH_AT`, as a `kill -9` landing there would stop it), and
//! `haul resume` must finish the object exact, send again none of the parts
//! the journal held, and report as `bytes_resent` exactly the bytes the
//! store received twice — the parts the store listed as held before the
//! resume and then received again through a counting proxy, not haul's own
//! numbers.

use std::collections::BTreeSet;

use haul::core::{Error, Key, ObjectStore, UploadId};
use haul::s3::{S3Config, S3Store};
use haul::testkit::Answered;

use crate::cli::{s, summary, write};
use crate::window::{Counted, body};

/// 12,000,000 bytes in parts of 5 MiB: three parts, one at a time.
const FLAGS: [&str; 12] = [
    "--chunk-size",
    "5MiB",
    "--slice-size",
    "5MiB",
    "--copy-chunk-size",
    "5MiB",
    "--copy-slice-size",
    "5MiB",
    "--chunk-parallel-limit",
    "1",
    "--copy-chunk-parallel-limit",
    "1",
];
const PARTS: u64 = 3;

/// Where an upload or a part copy can stop.
const STORE_POINTS: [&str; 6] = [
    "multipart-created",
    "multipart-started",
    "part-stored",
    "part-journaled",
    "part-stored#2",
    "multipart-completed",
];

/// The parts (upload id, number) the store acknowledged in `log`, with
/// their lengths: part uploads by their body, part copies by their range.
fn parts(log: &[Answered]) -> Vec<((String, String), u64)> {
    log.iter()
        .filter(|a| a.method == "PUT" && (200..300).contains(&a.status))
        .filter_map(|a| {
            let id = a.query("uploadId")?.to_owned();
            let n = a.query("partNumber")?.to_owned();
            Some(((id, n), a.range_len().unwrap_or(a.len)))
        })
        .collect()
}

/// The parts of `bucket/key` the store holds now, for every upload of it
/// the proxy saw a request of: (upload id, part number).
fn held_by_store(c: &Counted, bucket: &str, key: &str) -> BTreeSet<(String, String)> {
    let path = format!("/{bucket}/{key}?");
    let ids: BTreeSet<String> = c
        .proxy
        .stats()
        .received
        .iter()
        .filter_map(|r| {
            let (_, target) = r.split_once(' ')?;
            let q = target.strip_prefix(&path)?;
            q.split('&')
                .find_map(|p| p.strip_prefix("uploadId="))
                .map(str::to_owned)
        })
        .collect();
    let server = &c.e.server;
    let cfg = S3Config::new(
        bucket,
        server.region(),
        server.access_key(),
        server.secret_key(),
    )
    .with_endpoint(server.endpoint());
    let store = S3Store::new(cfg).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut held = BTreeSet::new();
    for id in ids {
        match rt.block_on(store.list_parts(&Key::new(key).unwrap(), &UploadId(id.clone()))) {
            Ok(parts) => held.extend(
                parts
                    .iter()
                    .map(|p| (id.clone(), p.number.get().to_string())),
            ),
            Err(Error::NoSuchUpload { .. }) => {}
            Err(e) => panic!("list_parts {key} {id}: {e}"),
        }
    }
    held
}

/// The parts the journal of the stopped job holds, from `haul jobs show`.
fn journaled_parts(c: &Counted) -> u64 {
    let out = c.cmd().args(["jobs", "--json"]).output().unwrap();
    let last = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["job_id"].as_u64())
        .max()
        .expect("a job in the journal");
    let out = c
        .cmd()
        .args(["jobs", "show", &last.to_string()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| {
            let (before, _) = l.split_once(" parts done")?;
            before.rsplit(' ').next()?.parse().ok()
        })
        .unwrap_or(0)
}

/// Stops `args` (which write `bucket/key`) at `point`, resumes, and checks
/// what the store received again against `bytes_resent`. Returns the
/// resume's summary.
fn crash_and_resume(
    c: &Counted,
    point: &str,
    (bucket, key): (&str, &str),
    args: &[&str],
) -> serde_json::Value {
    c.proxy.reset_stats();
    c.crash_at(point, &[args, &FLAGS].concat());
    let stored = held_by_store(c, bucket, key);
    let held = journaled_parts(c);
    c.proxy.reset_stats();
    let (_, sum) = c.resume();
    let after = c.proxy.stats().answered;
    assert_eq!(sum["files_done"], 1, "{point}: {sum}");
    let again: Vec<_> = parts(&after)
        .into_iter()
        .filter(|(id, _)| stored.contains(id))
        .collect();
    let resent: u64 = again.iter().map(|(_, len)| len).sum();
    assert_eq!(
        sum["bytes_resent"], resent,
        "{point}: bytes_resent is what the store received twice: {sum}"
    );
    // None of the parts the journal held went again: only the others did.
    let sent_again = parts(&after).len() as u64;
    assert!(
        sent_again <= PARTS - held,
        "{point}: {sent_again} parts sent on resume, the journal held {held} of {PARTS}"
    );
    sum
}

#[test]
fn an_upload_stopped_at_any_instant_resumes_exact_sending_only_what_the_journal_lacked() {
    for point in STORE_POINTS {
        let c = Counted::new();
        let src = c.e.env.path("big.bin");
        write(&src, &body());
        let sum = crash_and_resume(
            &c,
            point,
            ("one", "big.bin"),
            &["cp", s(&src), "s3://one/big.bin"],
        );
        assert_eq!(
            std::fs::read(c.e.object("one/big.bin")).unwrap(),
            body(),
            "{point}"
        );
        if point == "multipart-completed" {
            assert_eq!(sum["bytes_transferred"], 0, "{point}: {sum}");
        }
    }
}

#[test]
fn a_part_copy_stopped_at_any_instant_resumes_exact_sending_only_what_the_journal_lacked() {
    for point in STORE_POINTS {
        let c = Counted::holding("s3://one/src.bin", &FLAGS);
        crash_and_resume(
            &c,
            point,
            ("two", "copy.bin"),
            &["cp", "s3://one/src.bin", "s3://two/copy.bin"],
        );
        assert_eq!(
            std::fs::read(c.e.object("two/copy.bin")).unwrap(),
            body(),
            "{point}"
        );
    }
}

#[test]
fn a_download_stopped_at_any_instant_resumes_exact_fetching_only_what_the_journal_lacked() {
    let points = [
        "multipart-created",
        "multipart-started",
        "part-stored",
        "part-journaled",
        "part-stored#2",
        "local-synced",
        "local-renamed",
    ];
    for point in points {
        let c = Counted::holding("s3://one/big.bin", &FLAGS);
        let down = c.e.env.path("down/big.bin");
        c.proxy.reset_stats();
        c.crash_at(
            point,
            &[&["cp", "s3://one/big.bin", s(&down)][..], &FLAGS].concat(),
        );
        let held = journaled_parts(&c);
        c.proxy.reset_stats();
        let (_, sum) = c.resume();
        assert_eq!(sum["files_done"], 1, "{point}: {sum}");
        assert_eq!(std::fs::read(&down).unwrap(), body(), "{point}");
        // Fetched again: at most the parts the journal lacked, and what
        // haul calls re-sent was among them.
        let fetched: u64 = c
            .proxy
            .stats()
            .answered
            .iter()
            .filter(|a| a.method == "GET")
            .map(|a| a.range_len().unwrap_or(a.len))
            .sum();
        let lacked = body().len() as u64 - (held * 5 * 1024 * 1024).min(body().len() as u64);
        assert!(
            fetched <= lacked,
            "{point}: fetched {fetched} bytes again; the journal lacked {lacked}"
        );
        let resent = sum["bytes_resent"].as_u64().unwrap();
        assert!(resent <= fetched, "{point}: {sum}");
        if point.starts_with("local-") {
            assert_eq!(fetched, 0, "{point}: the data was whole on disk: {sum}");
        }
        assert!(
            !c.e.env.path("down/.haul-uploads").exists()
                || std::fs::read_dir(c.e.env.path("down/.haul-uploads"))
                    .unwrap()
                    .next()
                    .is_none(),
            "{point}: no staging left"
        );
    }
}

/// The answer to CompleteMultipartUpload lost on the way back (the store
/// completed the upload): haul asks again, finds the upload gone and the
/// object whole, and sends no part again, for an upload and a part copy.
#[test]
fn a_lost_complete_answer_sends_nothing_again() {
    use haul::testkit::{ProxyFault, ProxyFaultKind, ProxyRule};
    for (src, dst, key) in [
        ("", "s3://two/big.bin", "two/big.bin"),
        ("s3://one/src.bin", "s3://two/copy.bin", "two/copy.bin"),
    ] {
        let c = Counted::holding("s3://one/src.bin", &FLAGS);
        let local = c.e.env.path("big.bin");
        let from = if src.is_empty() { s(&local) } else { src };
        c.proxy.set_rules(vec![
            ProxyRule::first(1, ProxyFault::ResetAfter)
                .method("POST")
                .path_contains("uploadId="),
        ]);
        c.proxy.reset_stats();
        let out = c
            .cmd()
            .args([&["cp", from, dst, "--json"][..], &FLAGS].concat())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{dst}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stats = c.proxy.stats();
        assert_eq!(stats.injected(ProxyFaultKind::ResetAfter), 1, "{stats}");
        assert_eq!(
            parts(&stats.answered).len() as u64,
            PARTS,
            "{dst}: each part sent once"
        );
        assert_eq!(std::fs::read(c.e.object(key)).unwrap(), body(), "{dst}");
        assert_eq!(summary(&text)["files_done"], 1, "{dst}: {text}");
    }
}
