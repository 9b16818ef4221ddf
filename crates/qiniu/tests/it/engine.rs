//! The engine end to end between the local disk and the emulator: upload
//! (form and resumable v2), download, server-side copy, faults, and a
//! cancelled upload resumed from the journal.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use haul_core::{ObjectStore, ObjectStoreExt};
use haul_engine::{
    CompareMode, Endpoint, Engine, Event, JobRequest, Operation, Summary, TransferConfig,
};
use haul_journal::Journal;
use haul_local::LocalStore;
use haul_qiniu::qetag::qetag_v2;
use haul_testkit::qiniu::{QINIU_BUCKET, QINIU_PRIVATE_BUCKET, QiniuOp, QiniuServer};

use crate::store;

const MIB: usize = 1 << 20;

fn data(len: usize, seed: u8) -> Bytes {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(29).wrapping_add(seed) ^ (i >> 12) as u8)
        .collect::<Vec<u8>>()
        .into()
}

fn config() -> TransferConfig {
    TransferConfig {
        chunk_size: MIB as u64,
        slice_size: MIB as u64,
        retry_base_delay: Duration::from_millis(1),
        request_retry_times: 8,
        progress_interval: Duration::from_millis(50),
        ..TransferConfig::default()
    }
}

fn ep(store: Arc<dyn ObjectStore>, prefix: &str) -> Endpoint {
    Endpoint::new(store, prefix, "test")
}

async fn run(req: JobRequest) -> Summary {
    let engine = Engine::new(Arc::new(Journal::open_ephemeral().unwrap()), config());
    engine.start(req).await.unwrap().join().await.unwrap()
}

/// The files every round trip moves: form uploads, an empty file, odd
/// names, and a multipart file whose last part is short.
fn files() -> Vec<(&'static str, Bytes)> {
    vec![
        ("small.txt", data(1_000, 1)),
        ("empty", Bytes::new()),
        ("dir/odd name+%#.bin", data(10, 2)),
        ("dir/big.bin", data(3 * MIB + 5, 3)),
    ]
}

fn local(dir: &std::path::Path) -> Arc<dyn ObjectStore> {
    Arc::new(LocalStore::new(dir).unwrap())
}

async fn round_trip(bucket: &str) {
    let server = QiniuServer::start();
    let qiniu: Arc<dyn ObjectStore> = Arc::new(store(&server, bucket));
    let src = tempfile::tempdir().unwrap();
    for (name, body) in files() {
        let path = src.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, &body).unwrap();
    }
    let up = run(JobRequest::copy(
        ep(local(src.path()), ""),
        ep(Arc::clone(&qiniu), "up/"),
    ))
    .await;
    assert!(up.is_success(), "{up:?}");
    assert_eq!(up.counts.files_done, 4);
    for (name, body) in files() {
        let got = server.object(bucket, &format!("up/{name}"));
        assert_eq!(got.as_ref(), Some(&body), "{name}");
    }
    assert!(
        server.requests(QiniuOp::CompleteParts) >= 1,
        "the big file went multipart"
    );
    let big = data(3 * MIB + 5, 3);
    let parts: Vec<&[u8]> = big.chunks(MIB).collect();
    let (hash, _) = server.object_info(bucket, "up/dir/big.bin").unwrap();
    assert_eq!(
        hash,
        qetag_v2(&parts),
        "the object's hash is the parts' qetag"
    );

    let dst = tempfile::tempdir().unwrap();
    let down = run(JobRequest::copy(
        ep(Arc::clone(&qiniu), "up/"),
        ep(local(dst.path()), ""),
    ))
    .await;
    assert!(down.is_success(), "{down:?}");
    for (name, body) in files() {
        assert_eq!(
            std::fs::read(dst.path().join(name)).unwrap(),
            body,
            "{name}"
        );
    }

    // sync --checksum: everything is already there.
    let mut again = JobRequest::copy(ep(local(src.path()), ""), ep(Arc::clone(&qiniu), "up/"));
    again.op = Operation::Sync;
    again.compare = CompareMode::Checksum;
    let s = run(again).await;
    assert!(s.is_success(), "{s:?}");
    assert_eq!(
        (s.counts.files_skipped, s.counts.files_done),
        (4, 0),
        "{s:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_download_and_sync_round_trip() {
    round_trip(QINIU_BUCKET).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_through_a_private_bucket() {
    round_trip(QINIU_PRIVATE_BUCKET).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_inside_the_bucket_run_server_side() {
    let server = QiniuServer::start();
    let qiniu: Arc<dyn ObjectStore> = Arc::new(store(&server, QINIU_BUCKET));
    qiniu
        .put_bytes(&haul_core::Key::new("a/x").unwrap(), data(2 * MIB, 4))
        .await
        .unwrap();
    qiniu
        .put_bytes(&haul_core::Key::new("a/y").unwrap(), data(10, 5))
        .await
        .unwrap();
    let s = run(JobRequest::copy(
        ep(Arc::clone(&qiniu), "a/"),
        ep(Arc::clone(&qiniu), "b/"),
    ))
    .await;
    assert!(s.is_success(), "{s:?}");
    assert_eq!(server.requests(QiniuOp::Copy), 2, "rs/copy for each object");
    assert_eq!(server.requests(QiniuOp::UploadPart), 0);
    assert_eq!(
        server.object(QINIU_BUCKET, "b/x").unwrap(),
        data(2 * MIB, 4)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_and_corruption_are_retried() {
    let server = QiniuServer::start();
    let qiniu: Arc<dyn ObjectStore> = Arc::new(store(&server, QINIU_BUCKET));
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("big"), data(4 * MIB + 1, 6)).unwrap();
    std::fs::write(src.path().join("small"), data(100, 7)).unwrap();
    server.fail_next(QiniuOp::UploadPart, 2, 503);
    server.fail_after(QiniuOp::UploadPart, 1, 1, 599);
    server.corrupt_next(QiniuOp::UploadPart, 1);
    server.fail_next(QiniuOp::FormUpload, 1, 502);
    server.corrupt_next(QiniuOp::FormUpload, 1);
    let s = run(JobRequest::copy(
        ep(local(src.path()), ""),
        ep(Arc::clone(&qiniu), ""),
    ))
    .await;
    assert!(s.is_success(), "{s:?}");
    assert!(s.counts.retries >= 4, "{s:?}");
    assert_eq!(
        server.object(QINIU_BUCKET, "big").unwrap(),
        data(4 * MIB + 1, 6)
    );
    assert_eq!(server.object(QINIU_BUCKET, "small").unwrap(), data(100, 7));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_upload_resumes_from_the_journal() {
    let server = QiniuServer::start();
    let qiniu: Arc<dyn ObjectStore> = Arc::new(store(&server, QINIU_BUCKET));
    let src = tempfile::tempdir().unwrap();
    let body = data(16 * MIB, 8);
    std::fs::write(src.path().join("huge.bin"), &body).unwrap();
    let journal = Arc::new(Journal::open_ephemeral().unwrap());
    let cfg = TransferConfig {
        chunk_parallel_limit: 2,
        ..config()
    };
    let req = JobRequest::copy(ep(local(src.path()), ""), ep(Arc::clone(&qiniu), ""));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let engine = Engine::new(Arc::clone(&journal), cfg.clone()).with_events(tx);
    let handle = engine.start(req).await.unwrap();
    let mut parts = 0;
    while let Some(ev) = rx.recv().await {
        if matches!(ev, Event::PartDone { .. }) {
            parts += 1;
            if parts == 3 {
                handle.cancel();
                break;
            }
        }
    }
    let job = handle.job_id();
    let first = handle.join().await.unwrap();
    assert!(first.cancelled, "{first:?}");
    assert!(
        server.object(QINIU_BUCKET, "huge.bin").is_none(),
        "not completed yet"
    );
    assert_eq!(
        server.pending_uploads(),
        1,
        "the upload is kept for the resume"
    );
    let uploaded_before = server.requests(QiniuOp::UploadPart);

    let engine = Engine::new(Arc::clone(&journal), cfg);
    let s = engine
        .resume(job, ep(local(src.path()), ""), ep(Arc::clone(&qiniu), ""))
        .unwrap()
        .join()
        .await
        .unwrap();
    assert!(s.is_success(), "{s:?}");
    assert!(s.counts.bytes_resumed >= 3 * MIB as u64, "{s:?}");
    assert!(
        server.requests(QiniuOp::ListParts) >= 1,
        "the store's parts are the truth"
    );
    let resent = server.requests(QiniuOp::UploadPart) - uploaded_before;
    assert!(
        resent <= 13,
        "only the missing parts are sent again: {resent}"
    );
    assert_eq!(server.object(QINIU_BUCKET, "huge.bin").unwrap(), body);
    assert_eq!(server.pending_uploads(), 0);
}
