//! The engine end to end through the fault proxy: upload, download,
//! server-side part copy between buckets, and cancel-then-resume from the
//! journal file with a fresh engine. Every object is checked byte for byte
//! straight from the server (or the disk), and the proxy's counters show the
//! faults happened.

use std::sync::Arc;
use std::time::Duration;

use haul_core::ObjectStore;
use haul_engine::{Engine, Event, JobRequest, Summary, TransferConfig};
use haul_journal::{JobId, Journal};
use haul_local::LocalStore;
use haul_testkit::{ProxyFault, ProxyFaultKind, ProxyRule};
use tokio::sync::mpsc;

use crate::rig::{
    E2E_STALL, Rig, assert_ok, check_dir, check_objects, ep, files, mixed_faults, put_files,
    transfer_config, write_files,
};

fn local(dir: &std::path::Path) -> Arc<dyn ObjectStore> {
    Arc::new(LocalStore::new(dir).expect("local store"))
}

/// Runs a job to the end, returning its summary and its events.
async fn run(cfg: TransferConfig, req: JobRequest) -> (Summary, Vec<Event>) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let journal = Arc::new(Journal::open_ephemeral().expect("journal"));
    let engine = Engine::new(journal, cfg).with_events(tx);
    let summary = engine
        .start(req)
        .await
        .expect("start")
        .join()
        .await
        .expect("join");
    drop(engine);
    let mut events = Vec::new();
    while let Some(e) = rx.recv().await {
        events.push(e);
    }
    (summary, events)
}

/// How each file got there, by destination key.
fn methods(events: &[Event]) -> Vec<(String, &'static str)> {
    let mut v: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::FileDone { dst, method, .. } => Some((dst.clone(), *method)),
            _ => None,
        })
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_through_faults_is_complete_and_exact() {
    let rig = Rig::with_stall(&["ups"], 11, E2E_STALL);
    let files = files();
    let src = rig.local_dir("src");
    write_files(&src, &files);
    // The first two parts arrive with a byte flipped: the server refuses
    // them (BadDigest) and the engine sends them again.
    let mut rules = vec![
        ProxyRule::first(2, ProxyFault::CorruptRequest)
            .method("PUT")
            .path_contains("partNumber="),
    ];
    rules.extend(mixed_faults("ups"));
    rig.proxy.set_rules(rules);

    let req = JobRequest::copy(ep(local(&src), ""), ep(rig.faulty(), "ups/data/"));
    let (s, events) = run(transfer_config(), req).await;
    assert_ok("upload", &s, &rig.proxy);
    assert_eq!(s.counts.files_done, files.len() as u64, "{s:?}");
    check_objects(&*rig.direct(), "ups/data/", &files).await;
    let m = methods(&events);
    assert!(
        m.contains(&("ups/data/big.bin".into(), "multipart")),
        "{m:?}"
    );
    let stats = rig.proxy.stats();
    assert!(
        stats.faults_injected() >= 3,
        "faults were injected: {stats}"
    );
    assert_eq!(stats.injected(ProxyFaultKind::CorruptRequest), 2, "{stats}");
    assert!(s.counts.retries >= 2, "{s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_through_faults_is_complete_and_exact() {
    let rig = Rig::with_stall(&["down"], 12, E2E_STALL);
    let files = files();
    put_files(&*rig.direct(), "down/d/", &files).await;
    rig.proxy.set_rules(mixed_faults("down"));

    let dst = rig.local_dir("dst");
    let req = JobRequest::copy(ep(rig.faulty(), "down/d/"), ep(local(&dst), ""));
    let (s, events) = run(transfer_config(), req).await;
    assert_ok("download", &s, &rig.proxy);
    check_dir(&dst, &files);
    let m = methods(&events);
    assert!(
        m.contains(&("big.bin".into(), "multipart")),
        "ranged parts: {m:?}"
    );
    let stats = rig.proxy.stats();
    assert!(
        stats.faults_injected() >= 3,
        "faults were injected: {stats}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_with_many_truncated_bodies_is_exact() {
    let rig = Rig::with_stall(&["down"], 13, E2E_STALL);
    let files = files();
    put_files(&*rig.direct(), "down/d/", &files).await;
    rig.proxy.set_rules(vec![
        ProxyRule::new(0.4, ProxyFault::TruncateBody)
            .method("GET")
            .path_contains("/down/"),
    ]);

    let dst = rig.local_dir("dst");
    let req = JobRequest::copy(ep(rig.faulty(), "down/d/"), ep(local(&dst), ""));
    let (s, _) = run(transfer_config(), req).await;
    assert_ok("download, 40% of GETs cut short", &s, &rig.proxy);
    check_dir(&dst, &files);
    let stats = rig.proxy.stats();
    assert!(stats.injected(ProxyFaultKind::TruncateBody) >= 2, "{stats}");
    assert!(
        s.counts.retries >= stats.injected(ProxyFaultKind::TruncateBody),
        "every cut was caught and retried: {s:?}\n{stats}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn part_copy_between_buckets_through_faults_is_exact() {
    let rig = Rig::with_stall(&["src", "dst"], 14, E2E_STALL);
    let files = files();
    put_files(&*rig.direct(), "src/p/", &files).await;
    let mut rules = mixed_faults("dst");
    // Make sure the copy calls themselves are hit.
    rules.insert(
        0,
        ProxyRule::new(0.15, ProxyFault::ResetAfter).with_header("x-amz-copy-source"),
    );
    // A probe that changes nothing: counts object GETs in the source bucket
    // (listings are `GET /src?list-type=2...`).
    rules.push(
        ProxyRule::always(ProxyFault::Delay(Duration::ZERO))
            .path_contains("/src/p/")
            .method("GET"),
    );
    rig.proxy.set_rules(rules);

    // One store on both sides: the engine copies server-side.
    let s3 = rig.faulty();
    let req = JobRequest::copy(ep(Arc::clone(&s3), "src/p/"), ep(s3, "dst/q/"));
    let (s, events) = run(transfer_config(), req).await;
    assert_ok("part copy", &s, &rig.proxy);
    check_objects(&*rig.direct(), "dst/q/", &files).await;
    let m = methods(&events);
    assert!(m.contains(&("dst/q/big.bin".into(), "part-copy")), "{m:?}");
    assert!(
        m.contains(&("dst/q/dir/mid.bin".into(), "part-copy")),
        "{m:?}"
    );
    let stats = rig.proxy.stats();
    assert!(
        stats.fired_by_rule[0] >= 1,
        "copy calls were reset: {stats:?}"
    );
    let probe = *stats.fired_by_rule.last().expect("probe");
    assert_eq!(probe, 0, "no source object was read through the client");
}

/// Starts `req`, cancels it after `parts` parts are done, returns the job id
/// and the summary of the cancelled run.
async fn start_and_cancel(
    journal: Arc<Journal>,
    cfg: TransferConfig,
    req: JobRequest,
    parts: usize,
) -> (JobId, Summary) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let engine = Engine::new(journal, cfg).with_events(tx);
    let handle = engine.start(req).await.expect("start");
    let mut seen = 0;
    while let Some(ev) = rx.recv().await {
        if matches!(ev, Event::PartDone { .. }) {
            seen += 1;
            if seen == parts {
                handle.cancel();
                break;
            }
        }
    }
    let id = handle.job_id();
    (id, handle.join().await.expect("join"))
}

/// Cancels `make()`'s job at its first finished part, then resumes it
/// with a fresh engine on the same journal file; both runs through the
/// proxy with `mixed_faults(bucket)`.
///
/// In the first run every part request is also held 300 ms by the proxy,
/// so that the cancel lands while the first multipart file is midway (the
/// engine finishes the parts in flight, at most two here, of five).
async fn cancel_then_resume(rig: &Rig, bucket: &str, make: impl Fn() -> JobRequest) -> Summary {
    let path = rig.dir.path().join("journal.db");
    let cfg = TransferConfig {
        chunk_parallel_limit: 2,
        copy_chunk_parallel_limit: 2,
        file_parallel_limit: 1,
        ..transfer_config()
    };
    let mut rules = mixed_faults(bucket);
    rules.push(
        ProxyRule::always(ProxyFault::Delay(Duration::from_millis(300)))
            .path_contains("partNumber="),
    );
    rig.proxy.set_rules(rules);
    let journal = Arc::new(Journal::open(&path).expect("journal"));
    let (job, first) = start_and_cancel(Arc::clone(&journal), cfg.clone(), make(), 1).await;
    assert!(first.cancelled, "{first:?}");
    drop(journal);

    rig.proxy.set_rules(mixed_faults(bucket));
    let journal = Arc::new(Journal::open(&path).expect("journal again"));
    let req = make();
    let engine = Engine::new(journal, cfg);
    let s = engine
        .resume(job, req.src, req.dst)
        .expect("resume")
        .join()
        .await
        .expect("join");
    assert!(s.counts.bytes_resumed > 0, "parts were kept: {s:?}");
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_cancelled_midway_resumes_through_faults() {
    let rig = Rig::with_stall(&["ups"], 15, E2E_STALL);
    let files = files();
    let src = rig.local_dir("src");
    write_files(&src, &files);
    let faulty = rig.faulty();
    let make = || JobRequest::copy(ep(local(&src), ""), ep(Arc::clone(&faulty), "ups/r/"));
    let s = cancel_then_resume(&rig, "ups", make).await;
    assert_ok("upload resumed", &s, &rig.proxy);
    check_objects(&*rig.direct(), "ups/r/", &files).await;
    assert!(rig.proxy.stats().faults_injected() >= 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn part_copy_cancelled_midway_resumes_through_faults() {
    let rig = Rig::with_stall(&["src", "dst"], 16, E2E_STALL);
    let files = files();
    put_files(&*rig.direct(), "src/p/", &files).await;
    let s3 = rig.faulty();
    let make = || JobRequest::copy(ep(Arc::clone(&s3), "src/p/"), ep(Arc::clone(&s3), "dst/q/"));
    let s = cancel_then_resume(&rig, "dst", make).await;
    assert_ok("part copy resumed", &s, &rig.proxy);
    check_objects(&*rig.direct(), "dst/q/", &files).await;
}

// Small objects are each read by one GET and no HEAD, and none is taken
// for changed since it was listed (a listing gives its times in
// milliseconds, a GET in whole seconds), which would read it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_objects_from_s3_are_read_once_without_a_head() {
    let rig = Rig::with_stall(&["down"], 18, E2E_STALL);
    let files: Vec<_> = files()
        .into_iter()
        .filter(|(_, body)| body.len() < 1 << 20)
        .collect();
    put_files(&*rig.direct(), "down/s/", &files).await;
    rig.proxy.reset_stats();
    let dst = rig.local_dir("dst");
    let req = JobRequest::copy(ep(rig.faulty(), "down/s/"), ep(local(&dst), ""));
    let (s, _) = run(transfer_config(), req).await;
    assert_ok("small downloads", &s, &rig.proxy);
    check_dir(&dst, &files);
    let stats = rig.proxy.stats();
    assert_eq!(stats.requests_of("HEAD"), 0, "{stats}");
    // One listing page, one GET per object.
    assert_eq!(stats.requests_of("GET"), files.len() as u64 + 1, "{stats}");
}

// A download from S3 cancelled midway keeps the parts already on disk
// when it is resumed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_cancelled_midway_resumes_through_faults() {
    let rig = Rig::with_stall(&["down"], 17, E2E_STALL);
    let files = files();
    put_files(&*rig.direct(), "down/r/", &files).await;
    let dst = rig.local_dir("dst");
    let s3 = rig.faulty();
    let make = || JobRequest::copy(ep(Arc::clone(&s3), "down/r/"), ep(local(&dst), ""));
    let s = cancel_then_resume(&rig, "down", make).await;
    assert_ok("download resumed", &s, &rig.proxy);
    check_dir(&dst, &files);
}
