//! The engine end to end: small files up to Easemob, back down by uuid and share secret, a file
//! over the limit refused before sending, and a lost answer that is not
//! silently sent again.

use std::sync::Arc;
use std::time::Duration;

use haul_core::{Key, ObjectStore};
use haul_easemob::EasemobStore;
use haul_engine::{Endpoint, Engine, JobRequest, Summary, TransferConfig};
use haul_journal::Journal;
use haul_local::LocalStore;
use haul_testkit::easemob::{EasemobOp, EasemobServer};

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
        ("dir/odd name+%.bin", data(70_000, 2)),
        ("dir/b.bin", data(1 << 20, 3)),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_then_download_by_url() {
    let server = EasemobServer::start();
    let em = Arc::new(store(&server));
    let src = tempfile::tempdir().unwrap();
    for (name, body) in files() {
        let p = src.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }
    let dyn_em: Arc<dyn ObjectStore> = Arc::<EasemobStore>::clone(&em);
    let up = run(JobRequest::copy(
        ep(local(src.path()), ""),
        ep(Arc::clone(&dyn_em), "up/"),
    ))
    .await;
    assert!(up.is_success(), "{up:?}");
    assert_eq!(up.counts.files_done, 3);
    assert_eq!(server.file_count(), 3, "one upload each");

    let dst = tempfile::tempdir().unwrap();
    for (i, (name, body)) in files().into_iter().enumerate() {
        let url = em
            .location(&Key::new(format!("up/{name}")).unwrap())
            .expect("location");
        assert_eq!(
            server
                .file(&haul_easemob::FileRef::parse(&url).unwrap().uuid)
                .unwrap()
                .data,
            body,
            "{name}"
        );
        let mut req = JobRequest::copy(
            ep(Arc::clone(&dyn_em), &url),
            ep(local(dst.path()), &format!("f{i}")),
        );
        req.single = true;
        let down = run(req).await;
        assert!(down.is_success(), "{down:?}");
        assert_eq!(
            std::fs::read(dst.path().join(format!("f{i}"))).unwrap(),
            body,
            "{name}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_limit_is_refused_before_sending() {
    let server = EasemobServer::start();
    let em: Arc<dyn ObjectStore> = Arc::new(store(&server));
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("photo.raw"), vec![0u8; 11 << 20]).unwrap();
    let s = run(JobRequest::copy(ep(local(src.path()), ""), ep(em, ""))).await;
    assert_eq!(s.counts.files_failed, 1, "{s:?}");
    assert!(s.failures[0].1.contains("photo.raw"), "{s:?}");
    assert_eq!(server.requests(EasemobOp::Any), 0, "nothing was sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_is_not_sent_again() {
    let server = EasemobServer::start();
    let em: Arc<dyn ObjectStore> = Arc::new(store(&server));
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("once.bin"), data(500, 4)).unwrap();
    server.lose_next(1);
    let s = run(JobRequest::copy(ep(local(src.path()), ""), ep(em, ""))).await;
    assert_eq!(s.counts.files_failed, 1, "{s:?}");
    assert!(s.failures[0].1.contains("OutcomeUnknown"), "{s:?}");
    assert_eq!(
        server.requests(EasemobOp::Upload),
        1,
        "sent once, not retried"
    );
    assert_eq!(server.file_count(), 1, "no duplicate");
}
