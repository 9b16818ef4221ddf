//! The engine against MemoryStore, the local store and FaultStore.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use haul_core::{Key, ObjectStore, ObjectStoreExt};
use haul_engine::{
    CompareMode, Endpoint, Engine, Event, JobRequest, Operation, Summary, TransferConfig,
};
use haul_journal::{FileState, Journal};
use haul_testkit::{Fault, FaultRule, FaultStore, MemoryStore, Op};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

fn data(len: u64, seed: u8) -> Bytes {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 13) as u8)
        .collect::<Vec<u8>>()
        .into()
}

fn key(k: &str) -> Key {
    Key::new(k).unwrap()
}

fn small_parts() -> TransferConfig {
    TransferConfig {
        chunk_size: 256 * KIB,
        slice_size: 256 * KIB,
        copy_chunk_size: 256 * KIB,
        copy_slice_size: 256 * KIB,
        retry_base_delay: Duration::from_millis(1),
        request_retry_times: 8,
        progress_interval: Duration::from_millis(50),
        ..TransferConfig::default()
    }
}

fn mem() -> Arc<MemoryStore> {
    Arc::new(MemoryStore::with_min_part_size(64 * KIB))
}

fn ep(store: Arc<dyn ObjectStore>, prefix: &str) -> Endpoint {
    Endpoint::new(store, prefix, "test")
}

fn engine(config: TransferConfig) -> Engine {
    Engine::new(Arc::new(Journal::open_ephemeral().unwrap()), config)
}

async fn run(engine: &Engine, req: JobRequest) -> Summary {
    engine.start(req).await.unwrap().join().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_object_with_20_percent_failures_completes_and_verifies() {
    let src = mem();
    let body = data(64 * MIB, 1);
    src.put_bytes(&key("big.bin"), body.clone()).await.unwrap();
    let inner = mem();
    let dst = Arc::new(FaultStore::new(inner.clone(), 42).with_rules(vec![
        FaultRule::new(Op::UploadPart, 0.10, Fault::TransientBefore),
        FaultRule::new(Op::UploadPart, 0.10, Fault::TransientAfter),
        FaultRule::new(Op::Get, 0.10, Fault::TruncateBody { error: true }),
        FaultRule::new(Op::Get, 0.10, Fault::TransientBefore),
    ]));
    let cfg = TransferConfig {
        chunk_size: MIB,
        slice_size: MIB,
        ..small_parts()
    };
    // The source is faulty too: wrap it so gets fail and truncate.
    let src_faulty = Arc::new(FaultStore::new(src.clone(), 7).with_rules(vec![
        FaultRule::new(Op::Get, 0.10, Fault::TruncateBody { error: false }),
        FaultRule::new(Op::Get, 0.10, Fault::TransientBefore),
    ]));
    let s = run(
        &engine(cfg),
        JobRequest::copy(ep(src_faulty, ""), ep(dst.clone(), "")),
    )
    .await;
    assert!(s.is_success(), "{s:?}");
    assert_eq!(s.counts.files_done, 1);
    assert!(s.counts.retries > 0, "faults were injected: {s:?}");
    assert!(dst.stats().faults_injected > 0);
    assert_eq!(inner.get_bytes(&key("big.bin")).await.unwrap(), body);
}

#[tokio::test]
async fn corrupted_part_is_caught_and_resent() {
    let src = mem();
    let body = data(3 * MIB, 2);
    src.put_bytes(&key("c.bin"), body.clone()).await.unwrap();
    let inner = mem();
    let dst = Arc::new(
        FaultStore::new(inner.clone(), 1).with_rules(vec![FaultRule::first(
            Op::UploadPart,
            2,
            Fault::CorruptBody,
        )]),
    );
    let s = run(
        &engine(small_parts()),
        JobRequest::copy(ep(src, ""), ep(dst, "")),
    )
    .await;
    assert!(s.is_success(), "{s:?}");
    assert!(s.counts.bytes_resent >= 2 * 256 * KIB, "{s:?}");
    assert_eq!(inner.get_bytes(&key("c.bin")).await.unwrap(), body);
}

#[tokio::test]
async fn always_corrupt_fails_with_integrity_never_success() {
    let src = mem();
    src.put_bytes(&key("small.txt"), data(1000, 3))
        .await
        .unwrap();
    src.put_bytes(&key("big.bin"), data(MIB, 3)).await.unwrap();
    let inner = mem();
    let dst = Arc::new(FaultStore::new(inner.clone(), 1).with_rules(vec![
        FaultRule::always(Op::Put, Fault::CorruptBody),
        FaultRule::always(Op::UploadPart, Fault::CorruptBody),
    ]));
    let s = run(
        &engine(small_parts()),
        JobRequest::copy(ep(src, ""), ep(dst, "")),
    )
    .await;
    assert!(!s.is_success());
    assert_eq!(s.counts.files_failed, 2, "{s:?}");
    assert_eq!(s.counts.files_done, 0);
    assert!(s.has_integrity_failure(), "{s:?}");
    assert!(inner.object(&key("big.bin")).is_none(), "never completed");
}

#[tokio::test]
async fn corrupted_source_read_is_caught_by_the_source_checksum() {
    let src = mem();
    let body = data(200 * KIB, 4);
    src.put_bytes(&key("x"), body.clone()).await.unwrap();
    let faulty = Arc::new(FaultStore::new(src, 3).with_rules(vec![FaultRule::first(
        Op::Get,
        1,
        Fault::CorruptBody,
    )]));
    let dst = mem();
    let s = run(
        &engine(small_parts()),
        JobRequest::copy(ep(faulty, ""), ep(dst.clone(), "")),
    )
    .await;
    assert!(s.is_success(), "{s:?}");
    assert!(s.counts.retries > 0);
    assert_eq!(dst.get_bytes(&key("x")).await.unwrap(), body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_on_files_parts_and_bytes_hold() {
    let src = mem();
    for i in 0..24 {
        src.put_bytes(&key(&format!("f{i:02}")), data(MIB + 7, i as u8))
            .await
            .unwrap();
    }
    let dst = Arc::new(FaultStore::new(mem(), 9).with_rules(vec![
        FaultRule::always(Op::UploadPart, Fault::Delay(Duration::from_millis(3))),
        FaultRule::always(Op::Put, Fault::Delay(Duration::from_millis(3))),
    ]));
    let cfg = TransferConfig {
        file_parallel_limit: 3,
        chunk_parallel_limit: 2,
        max_inflight_bytes: 768 * KIB,
        ..small_parts()
    };
    let s = run(
        &engine(cfg),
        JobRequest::copy(ep(src, ""), ep(dst.clone(), "")),
    )
    .await;
    assert!(s.is_success(), "{s:?}");
    let st = dst.stats();
    assert!(st.max_keys_writing <= 3, "{st:?}");
    assert!(st.max_keys_writing >= 2, "parallelism was used: {st:?}");
    // 3 files x 2 parts; the 7-byte last parts fit beside three full ones.
    assert!(st.max_in_flight_of(Op::UploadPart) <= 6, "{st:?}");
    assert!(st.max_bytes_in_flight <= 768 * KIB, "{st:?}");
}

/// Starts a job and cancels it once `parts` parts are done.
async fn start_and_cancel_after(
    engine_cfg: TransferConfig,
    journal: Arc<Journal>,
    req: JobRequest,
    parts: usize,
) -> (haul_journal::JobId, Summary) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let engine = Engine::new(journal, engine_cfg).with_events(tx);
    let handle = engine.start(req).await.unwrap();
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
    (id, handle.join().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_then_resume_sends_only_missing_parts_and_restarts_a_changed_file() {
    let src = mem();
    let a = data(4 * MIB, 5);
    let b = data(4 * MIB, 6);
    src.put_bytes(&key("a.bin"), a.clone()).await.unwrap();
    src.put_bytes(&key("b.bin"), b.clone()).await.unwrap();
    let inner = mem();
    let dst = Arc::new(
        FaultStore::new(inner.clone(), 5).with_rules(vec![FaultRule::always(
            Op::UploadPart,
            Fault::Delay(Duration::from_millis(2)),
        )]),
    );
    let journal = Arc::new(Journal::open_ephemeral().unwrap());
    let cfg = TransferConfig {
        chunk_parallel_limit: 2,
        ..small_parts()
    };
    let req = JobRequest::copy(ep(src.clone(), ""), ep(dst.clone(), ""));
    let (job, first) = start_and_cancel_after(cfg.clone(), journal.clone(), req, 12).await;
    assert!(first.cancelled);
    assert!(!first.is_success());
    assert_eq!(
        journal.job(job).unwrap().state,
        haul_journal::JobState::Interrupted
    );
    assert!(inner.keys().is_empty(), "nothing completed yet");
    assert!(
        !inner.pending_uploads().is_empty(),
        "uploads kept, not aborted"
    );
    let sent_before = dst.stats().bytes_uploaded;

    // b.bin changes at the source between the crash and the resume.
    let b2 = data(4 * MIB + 3, 7);
    src.put_bytes(&key("b.bin"), b2.clone()).await.unwrap();
    dst.reset_stats();
    let engine = Engine::new(journal.clone(), cfg.clone());
    let s = engine
        .resume(job, ep(src.clone(), ""), ep(dst.clone(), ""))
        .unwrap()
        .join()
        .await
        .unwrap();
    assert!(s.is_success(), "{s:?}");
    assert_eq!(inner.get_bytes(&key("a.bin")).await.unwrap(), a);
    assert_eq!(inner.get_bytes(&key("b.bin")).await.unwrap(), b2);
    assert!(s.counts.bytes_resumed > 0, "{s:?}");
    let resent = sent_before + dst.stats().bytes_uploaded - (a.len() + b2.len()) as u64;
    // a.bin resent at most what was in flight; b.bin's old parts are wasted.
    assert!(
        resent <= sent_before.min(4 * MIB) + 2 * 256 * KIB,
        "resent {resent}, before {sent_before}"
    );
    assert!(
        inner.pending_uploads().is_empty(),
        "the changed file's old upload was aborted"
    );
    assert_eq!(
        journal.job(job).unwrap().state,
        haul_journal::JobState::Done
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_job_cannot_be_resumed_twice() {
    let src = mem();
    src.put_bytes(&key("a"), data(2 * MIB, 1)).await.unwrap();
    let dst = Arc::new(FaultStore::new(mem(), 5).with_rules(vec![FaultRule::always(
        Op::UploadPart,
        Fault::Delay(Duration::from_millis(20)),
    )]));
    let journal = Arc::new(Journal::open_ephemeral().unwrap());
    let engine = Engine::new(journal, small_parts());
    let h = engine
        .start(JobRequest::copy(ep(src.clone(), ""), ep(dst.clone(), "")))
        .await
        .unwrap();
    let err = engine
        .resume(h.job_id(), ep(src, ""), ep(dst, ""))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("job {} is running (pid {})", h.job_id(), std::process::id())
    );
    assert!(h.join().await.unwrap().is_success());
}

#[tokio::test]
async fn sync_twice_moves_nothing_the_second_time_and_guards_deletes() {
    let src = mem();
    let dst = mem();
    for i in 0..5 {
        src.put_bytes(&key(&format!("p/{i}")), data(1000 + i, 1))
            .await
            .unwrap();
    }
    dst.put_bytes(&key("q/old1"), data(5, 1)).await.unwrap();
    dst.put_bytes(&key("q/old2"), data(5, 1)).await.unwrap();
    let req = |max_delete| JobRequest {
        op: Operation::Sync,
        compare: CompareMode::SizeMtime,
        delete_extraneous: true,
        max_delete,
        ..JobRequest::copy(ep(src.clone(), "p/"), ep(dst.clone(), "q/"))
    };
    let e = engine(small_parts());
    let err = e
        .start(req(Some(1)))
        .await
        .unwrap()
        .join()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("refusing to delete 2"), "{err}");
    assert!(dst.object(&key("q/old1")).is_some(), "nothing deleted");
    let s = run(&e, req(Some(2))).await;
    assert!(s.is_success(), "{s:?}");
    assert_eq!(s.counts.files_done, 7);
    assert!(dst.object(&key("q/old1")).is_none());
    let s = run(&e, req(None)).await;
    assert_eq!(s.counts.bytes_transferred, 0, "{s:?}");
    assert_eq!(s.counts.files_skipped, 5);
    // Checksum mode agrees too; size-only after a same-size change does not copy.
    let s = run(
        &e,
        JobRequest {
            compare: CompareMode::Checksum,
            delete_extraneous: false,
            ..req(None)
        },
    )
    .await;
    assert_eq!(s.counts.files_skipped, 5, "{s:?}");
}

#[tokio::test]
async fn same_store_copies_server_side_and_move_deletes_the_source() {
    let store = mem();
    let small = data(100 * KIB, 1);
    let big = data(MIB + 1, 2);
    store
        .put_bytes(&key("a/small"), small.clone())
        .await
        .unwrap();
    store.put_bytes(&key("a/big"), big.clone()).await.unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let e = engine(small_parts()).with_events(tx);
    let s = run(
        &e,
        JobRequest::copy(ep(store.clone(), "a/"), ep(store.clone(), "b/")),
    )
    .await;
    assert!(s.is_success(), "{s:?}");
    let mut methods = Vec::new();
    while let Ok(ev) = rx.try_recv() {
        if let Event::FileDone { dst, method, .. } = ev {
            methods.push((dst, method));
        }
    }
    methods.sort();
    assert_eq!(
        methods,
        [("b/big".into(), "part-copy"), ("b/small".into(), "copy")]
    );
    assert_eq!(store.get_bytes(&key("b/big")).await.unwrap(), big);
    let s = run(
        &e,
        JobRequest {
            op: Operation::Move,
            ..JobRequest::copy(ep(store.clone(), "b/"), ep(store.clone(), "c/"))
        },
    )
    .await;
    assert!(s.is_success(), "{s:?}");
    assert!(store.object(&key("b/small")).is_none());
    assert_eq!(store.get_bytes(&key("c/small")).await.unwrap(), small);
    let s = run(
        &e,
        JobRequest {
            op: Operation::Delete,
            ..JobRequest::copy(ep(store.clone(), "c/"), ep(store.clone(), "c/"))
        },
    )
    .await;
    assert_eq!(s.counts.files_done, 2);
    assert!(store.list_all("c/").await.unwrap().is_empty());
}

#[tokio::test]
async fn local_to_memory_to_local_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let up = dir.path().join("up");
    let down = dir.path().join("down");
    std::fs::create_dir_all(up.join("sub dir")).unwrap();
    let big = data(MIB + 5, 9);
    std::fs::write(up.join("sub dir/big +%#.bin"), &big).unwrap();
    std::fs::write(up.join("small.txt"), b"hello").unwrap();
    std::fs::write(up.join("empty"), b"").unwrap();
    let local_up: Arc<dyn ObjectStore> = Arc::new(haul_local::LocalStore::new(&up).unwrap());
    let local_down: Arc<dyn ObjectStore> = Arc::new(haul_local::LocalStore::new(&down).unwrap());
    let bucket = mem();
    let e = engine(small_parts());
    let s = run(
        &e,
        JobRequest::copy(ep(local_up, ""), ep(bucket.clone(), "pre/")),
    )
    .await;
    assert!(s.is_success(), "{s:?}");
    assert_eq!(s.counts.files_done, 3);
    assert_eq!(
        bucket
            .get_bytes(&key("pre/sub dir/big +%#.bin"))
            .await
            .unwrap(),
        big
    );
    let s = run(&e, JobRequest::copy(ep(bucket, "pre/"), ep(local_down, ""))).await;
    assert!(s.is_success(), "{s:?}");
    assert_eq!(
        std::fs::read(down.join("sub dir/big +%#.bin")).unwrap(),
        big
    );
    assert_eq!(std::fs::read(down.join("empty")).unwrap(), b"");
    let journal_files = e.journal().files(haul_journal::JobId(s.job_id)).unwrap();
    assert!(journal_files.iter().all(|f| f.state == FileState::Done));
}

#[tokio::test]
async fn missing_source_and_bad_patterns_are_clear_errors() {
    let e = engine(small_parts());
    let src = mem();
    let err = e
        .start(JobRequest {
            single: true,
            ..JobRequest::copy(ep(src.clone(), "nope"), ep(mem(), "x"))
        })
        .await
        .unwrap()
        .join()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("nope: not found"), "{err}");
    let err = e
        .start(JobRequest {
            include: vec!["a[".into()],
            ..JobRequest::copy(ep(src, ""), ep(mem(), ""))
        })
        .await
        .unwrap_err();
    assert!(err.to_string().contains("bad pattern"), "{err}");
}

fn outcome_unknown(key: &str) -> haul_core::Error {
    haul_core::Error::Provider {
        key: key.to_owned(),
        code: "OutcomeUnknown".into(),
        message: "the upload was sent; its answer was lost".into(),
        retryable: false,
    }
}

#[tokio::test]
async fn lost_answers_on_non_idempotent_stores_are_not_resent_unless_asked() {
    let src = mem();
    src.put_bytes(&key("a.jpg"), data(1000, 1)).await.unwrap();
    src.put_bytes(&key("b.jpg"), data(1000, 2)).await.unwrap();
    let inner = Arc::new(MemoryStore::with_capabilities(haul_core::Capabilities {
        idempotent_put: false,
        multipart: false,
        ..MemoryStore::default_capabilities()
    }));
    let dst = Arc::new(FaultStore::new(inner.clone(), 3).with_rules(vec![
        FaultRule::always(Op::Put, Fault::Error(outcome_unknown)).keys_containing("a.jpg"),
    ]));
    let journal = Arc::new(Journal::open_ephemeral().unwrap());
    let e = Engine::new(journal.clone(), small_parts());
    let s = run(
        &e,
        JobRequest::copy(ep(src.clone(), ""), ep(dst.clone(), "")),
    )
    .await;
    assert_eq!(s.counts.files_done, 1);
    assert_eq!(s.counts.files_failed, 1);
    assert_eq!(
        dst.stats().requests(Op::Put),
        2,
        "the lost one was sent once, not retried"
    );
    assert!(s.failures[0].1.contains("--resend-unknown"), "{s:?}");
    let job = haul_journal::JobId(s.job_id);
    assert_eq!(
        journal
            .files_in_state(job, FileState::Unknown)
            .unwrap()
            .len(),
        1
    );
    // A resume reports it and sends nothing.
    dst.clear_rules();
    dst.reset_stats();
    let s = e
        .resume(job, ep(src.clone(), ""), ep(dst.clone(), ""))
        .unwrap()
        .join()
        .await
        .unwrap();
    assert_eq!(s.counts.files_failed, 1, "{s:?}");
    assert_eq!(dst.stats().requests(Op::Put), 0);
    // Asked to, it sends it again.
    let again = Engine::new(
        journal,
        TransferConfig {
            resend_unknown: true,
            ..small_parts()
        },
    );
    let s = again
        .resume(job, ep(src, ""), ep(dst.clone(), ""))
        .unwrap()
        .join()
        .await
        .unwrap();
    assert!(s.is_success(), "{s:?}");
    assert_eq!(dst.stats().requests(Op::Put), 1);
    assert!(inner.object(&key("a.jpg")).is_some());
}

#[tokio::test]
async fn too_large_for_a_store_is_refused_before_a_byte_is_sent() {
    let src = mem();
    src.put_bytes(&key("photo.raw"), data(20_000, 1))
        .await
        .unwrap();
    let dst = Arc::new(FaultStore::new(
        Arc::new(MemoryStore::with_capabilities(haul_core::Capabilities {
            multipart: false,
            max_single_put_bytes: 15_000,
            ..MemoryStore::default_capabilities()
        })),
        1,
    ));
    let s = run(
        &engine(small_parts()),
        JobRequest::copy(ep(src, ""), ep(dst.clone(), "")),
    )
    .await;
    assert_eq!(s.counts.files_failed, 1);
    assert_eq!(
        s.failures[0].1,
        "photo.raw: 20.0 kB exceeds fault(memory://)'s 15.0 kB upload limit"
    );
    assert_eq!(dst.stats().requests(Op::Put), 0);
    assert_eq!(dst.stats().requests(Op::Get), 0);
}

#[tokio::test]
async fn transient_listing_and_head_failures_are_retried() {
    let src = mem();
    for i in 0..30 {
        src.put_bytes(&key(&format!("l/{i:02}")), data(100, i as u8))
            .await
            .unwrap();
    }
    // The listing breaks once mid-way (entries, then an error), and once
    // before it starts; every HEAD fails once.
    let faulty_src = Arc::new(FaultStore::new(src, 5).with_rules(vec![
        FaultRule::first(Op::List, 1, Fault::TransientBefore),
        FaultRule::nth(Op::List, 2, Fault::TransientAfter),
    ]));
    let dst = Arc::new(FaultStore::new(mem(), 6).with_rules(vec![FaultRule::first(
        Op::Head,
        3,
        Fault::TransientBefore,
    )]));
    let s = run(
        &engine(small_parts()),
        JobRequest {
            op: Operation::Sync,
            compare: CompareMode::SizeMtime,
            ..JobRequest::copy(ep(faulty_src.clone(), "l/"), ep(dst.clone(), "l/"))
        },
    )
    .await;
    assert!(s.is_success(), "{s:?}");
    assert_eq!(s.counts.files_done, 30);
    assert!(
        faulty_src.stats().requests(Op::List) >= 2,
        "the listing was retried"
    );
    assert!(faulty_src.stats().faults_injected >= 1);
}

#[tokio::test]
async fn a_short_batch_delete_answer_fails_the_unanswered_key() {
    let inner = mem();
    for k in ["d/a", "d/b", "d/c"] {
        inner.put_bytes(&key(k), data(10, 1)).await.unwrap();
    }
    let store: Arc<dyn ObjectStore> =
        Arc::new(
            FaultStore::new(inner.clone(), 3).with_rules(vec![FaultRule::new(
                Op::DeleteMany,
                1.0,
                Fault::ShortAnswer,
            )]),
        );
    let s = run(
        &engine(TransferConfig::default()),
        JobRequest {
            op: Operation::Delete,
            ..JobRequest::copy(ep(store.clone(), "d/"), ep(store, "d/"))
        },
    )
    .await;
    // Every key ends done or failed: none is left pending unanswered.
    assert_eq!(s.counts.files_done, 2, "{s:?}");
    assert_eq!(s.counts.files_failed, 1, "{s:?}");
    assert!(
        s.failures[0].1.contains("did not answer for this key"),
        "{s:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_counts_the_parts_it_sends_again_as_resent() {
    let src = mem();
    let a = data(4 * MIB, 9);
    src.put_bytes(&key("a.bin"), a.clone()).await.unwrap();
    let inner = mem();
    let dst = Arc::new(
        FaultStore::new(inner.clone(), 11).with_rules(vec![FaultRule::always(
            Op::UploadPart,
            Fault::Delay(Duration::from_millis(2)),
        )]),
    );
    let journal = Arc::new(Journal::open_ephemeral().unwrap());
    let cfg = TransferConfig {
        chunk_parallel_limit: 2,
        ..small_parts()
    };
    let req = JobRequest::copy(ep(src.clone(), ""), ep(dst.clone(), ""));
    let (job, first) = start_and_cancel_after(cfg.clone(), journal.clone(), req, 6).await;
    assert!(first.cancelled);
    // As if the process died before these acknowledged parts were journaled.
    let file = journal.files(job).unwrap().remove(0);
    journal.forget_parts(file.id, vec![1, 2]);
    journal.flush().await.unwrap();
    dst.reset_stats();
    let s = Engine::new(journal.clone(), cfg)
        .resume(job, ep(src.clone(), ""), ep(dst.clone(), ""))
        .unwrap()
        .join()
        .await
        .unwrap();
    assert!(s.is_success(), "{s:?}");
    assert_eq!(inner.get_bytes(&key("a.bin")).await.unwrap(), a);
    // The store had parts 1 and 2; they went again and are counted so.
    assert_eq!(s.counts.bytes_resent, 2 * 256 * KIB, "{s:?}");
    // What the store received in the resume is exactly what was not resumed.
    assert_eq!(
        dst.stats().bytes_uploaded,
        a.len() as u64 - s.counts.bytes_resumed,
        "{s:?}"
    );
}

#[tokio::test]
async fn retries_are_counted_by_cause() {
    let src_inner = mem();
    src_inner
        .put_bytes(&key("x"), data(100 * KIB, 2))
        .await
        .unwrap();
    let src = Arc::new(
        FaultStore::new(src_inner, 17).with_rules(vec![FaultRule::with_trigger(
            Op::Get,
            haul_testkit::Trigger::FirstN(1),
            Fault::TransientBefore,
        )]),
    );
    let dst = Arc::new(
        FaultStore::new(mem(), 13).with_rules(vec![FaultRule::with_trigger(
            Op::Put,
            haul_testkit::Trigger::FirstN(1),
            Fault::RateLimited(Some(Duration::from_millis(1))),
        )]),
    );
    let s = run(
        &engine(small_parts()),
        JobRequest::copy(ep(src, ""), ep(dst, "")),
    )
    .await;
    assert!(s.is_success(), "{s:?}");
    assert_eq!(s.counts.retries, 2, "{s:?}");
    assert_eq!(
        s.retries_by_cause,
        vec![("transient".to_owned(), 1), ("rate-limited".to_owned(), 1)]
    );
}

#[tokio::test]
async fn a_stdin_upload_holds_no_more_than_the_budget() {
    let inner = mem();
    let dst = Arc::new(FaultStore::new(inner.clone(), 19));
    let body = data(3 * MIB, 4);
    let cfg = TransferConfig {
        // One put would hold 8 MiB; the budget is 1 MiB.
        slice_size: 8 * MIB,
        chunk_size: 256 * KIB,
        max_inflight_bytes: MIB,
        ..small_parts()
    };
    let s = engine(cfg)
        .upload_stream(
            std::io::Cursor::new(body.to_vec()),
            ep(dst.clone(), "s.bin"),
            haul_core::PutOptions::default(),
        )
        .await
        .unwrap();
    assert!(s.is_success(), "{s:?}");
    assert_eq!(inner.get_bytes(&key("s.bin")).await.unwrap(), body);
    let stats = dst.stats();
    assert!(stats.max_bytes_in_flight <= MIB, "{stats:?}");
    assert_eq!(stats.requests(Op::Put), 0, "sent in parts, not one put");
}

#[tokio::test]
async fn a_single_put_larger_than_the_budget_is_streamed_from_its_source() {
    let src = mem();
    let body = data(6 * MIB + 5, 7);
    src.put_bytes(&key("big.bin"), body.clone()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let local = Arc::new(haul_local::LocalStore::new(dir.path()).unwrap());
    assert!(local.capabilities().streamed_puts);
    let dst = Arc::new(FaultStore::new(local.clone(), 23));
    let cfg = TransferConfig {
        // One put of the whole file, which is six times the budget.
        slice_size: 64 * MIB,
        chunk_size: 256 * KIB,
        max_inflight_bytes: MIB,
        ..small_parts()
    };
    let s = run(
        &engine(cfg),
        JobRequest::copy(ep(src, ""), ep(dst.clone(), "")),
    )
    .await;
    assert!(s.is_success(), "{s:?}");
    assert_eq!(local.get_bytes(&key("big.bin")).await.unwrap(), body);
    let stats = dst.stats();
    assert_eq!(stats.requests(Op::Put), 1, "one put: {stats:?}");
    assert_eq!(stats.requests(Op::UploadPart), 0, "{stats:?}");
    assert_eq!(
        stats.largest_gathered_body, 0,
        "nothing held whole: {stats:?}"
    );
}

#[tokio::test]
async fn a_store_that_cannot_stream_a_put_gets_parts_instead() {
    let src = mem();
    let body = data(3 * MIB + 1, 8);
    src.put_bytes(&key("big.bin"), body.clone()).await.unwrap();
    let inner = mem();
    assert!(!inner.capabilities().streamed_puts);
    let dst = Arc::new(FaultStore::new(inner.clone(), 29));
    let cfg = TransferConfig {
        slice_size: 64 * MIB,
        chunk_size: 256 * KIB,
        max_inflight_bytes: MIB,
        ..small_parts()
    };
    let s = run(
        &engine(cfg),
        JobRequest::copy(ep(src, ""), ep(dst.clone(), "")),
    )
    .await;
    assert!(s.is_success(), "{s:?}");
    assert_eq!(inner.get_bytes(&key("big.bin")).await.unwrap(), body);
    let stats = dst.stats();
    assert_eq!(stats.requests(Op::Put), 0, "{stats:?}");
    assert!(stats.largest_gathered_body <= 256 * KIB, "{stats:?}");
}

#[tokio::test]
async fn a_stdin_upload_longer_than_the_budget_to_a_single_put_store_is_refused_whole() {
    let inner = Arc::new(MemoryStore::with_capabilities(haul_core::Capabilities {
        multipart: false,
        ..MemoryStore::default_capabilities()
    }));
    let dst = Arc::new(FaultStore::new(inner.clone(), 31));
    let cfg = TransferConfig {
        slice_size: 8 * MIB,
        chunk_size: 256 * KIB,
        max_inflight_bytes: MIB,
        ..small_parts()
    };
    let s = engine(cfg)
        .upload_stream(
            std::io::Cursor::new(data(3 * MIB, 5).to_vec()),
            ep(dst.clone(), "s.bin"),
            haul_core::PutOptions::default(),
        )
        .await
        .unwrap();
    assert!(!s.is_success(), "{s:?}");
    assert_eq!(s.counts.files_failed, 1, "{s:?}");
    assert!(
        inner.keys().is_empty(),
        "nothing (and nothing cut short) stored"
    );
    assert_eq!(dst.stats().requests(Op::Put), 0);

    // Within the budget it goes whole.
    let body = data(MIB / 2, 6);
    let s = engine(TransferConfig {
        max_inflight_bytes: MIB,
        ..small_parts()
    })
    .upload_stream(
        std::io::Cursor::new(body.to_vec()),
        ep(dst.clone(), "t.bin"),
        haul_core::PutOptions::default(),
    )
    .await
    .unwrap();
    assert!(s.is_success(), "{s:?}");
    assert_eq!(inner.get_bytes(&key("t.bin")).await.unwrap(), body);
}
