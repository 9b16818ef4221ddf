//! The engine end to end: small files up to CloudBase and back down by
//! path, a whole-prefix delete in batches of 50, and a lost answer that is
//! not silently sent again.

use std::sync::Arc;
use std::time::Duration;

use haul_core::ObjectStore;
use haul_engine::{Endpoint, Engine, JobRequest, Operation, Summary, TransferConfig};
use haul_journal::Journal;
use haul_local::LocalStore;
use haul_testkit::tcb::{TcbOp, TcbServer};

use crate::{data, store};

fn ep(store: Arc<dyn ObjectStore>, prefix: &str) -> Endpoint {
    Endpoint::new(store, prefix, "test")
}

async fn run(req: JobRequest) -> Summary {
    let cfg = TransferConfig {
        retry_base_delay: Duration::from_millis(1),
        request_retry_times: 4,
        ..TransferConfig::default()
    };
    let engine = Engine::new(Arc::new(Journal::open_ephemeral().unwrap()), cfg);
    engine.start(req).await.unwrap().join().await.unwrap()
}

fn local(dir: &std::path::Path) -> Arc<dyn ObjectStore> {
    Arc::new(LocalStore::new(dir).unwrap())
}

fn files() -> Vec<(&'static str, bytes::Bytes)> {
    vec![
        ("a.txt", data(100, 1)),
        ("empty", bytes::Bytes::new()),
        ("dir/odd name+%.bin", data(70_000, 2)),
        ("dir/b.bin", data(3 << 20, 3)),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_then_download_by_path() {
    let server = TcbServer::start();
    let tcb: Arc<dyn ObjectStore> = Arc::new(store(&server));
    let src = tempfile::tempdir().unwrap();
    for (name, body) in files() {
        let p = src.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }
    let up = run(JobRequest::copy(
        ep(local(src.path()), ""),
        ep(Arc::clone(&tcb), "up/"),
    ))
    .await;
    assert!(up.is_success(), "{up:?}");
    assert_eq!(up.counts.files_done, 4);
    assert_eq!(server.requests(TcbOp::CosPost), 4, "one upload each");

    let dst = tempfile::tempdir().unwrap();
    for (name, body) in files() {
        assert_eq!(
            server.file(&format!("up/{name}")).unwrap().data,
            body,
            "{name}"
        );
        let mut req = JobRequest::copy(
            ep(Arc::clone(&tcb), &format!("up/{name}")),
            ep(local(dst.path()), name),
        );
        req.single = true;
        let down = run(req).await;
        assert!(down.is_success(), "{down:?}");
        assert_eq!(
            std::fs::read(dst.path().join(name)).unwrap(),
            body,
            "{name}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_is_not_sent_again() {
    let server = TcbServer::start();
    let tcb: Arc<dyn ObjectStore> = Arc::new(store(&server));
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("once.bin"), data(500, 4)).unwrap();
    server.lose_next(TcbOp::CosPost, 1);
    let s = run(JobRequest::copy(ep(local(src.path()), ""), ep(tcb, ""))).await;
    assert_eq!(s.counts.files_failed, 1, "{s:?}");
    assert!(s.failures[0].1.contains("OutcomeUnknown"), "{s:?}");
    assert_eq!(server.requests(TcbOp::CosPost), 1, "sent once, not retried");
    assert_eq!(server.file_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_single_file_through_the_engine() {
    let server = TcbServer::start();
    let tcb: Arc<dyn ObjectStore> = Arc::new(store(&server));
    tcb.put(
        &haul_core::Key::new("gone.txt").unwrap(),
        data(10, 6).into(),
        haul_core::PutOptions::default(),
    )
    .await
    .unwrap();
    let mut req = JobRequest::copy(
        ep(Arc::clone(&tcb), "gone.txt"),
        ep(Arc::clone(&tcb), "gone.txt"),
    );
    req.op = Operation::Delete;
    req.single = true;
    let s = run(req).await;
    assert!(s.is_success(), "{s:?}");
    assert_eq!(server.file_count(), 0);
    assert_eq!(server.requests(TcbOp::Delete), 1);
}
