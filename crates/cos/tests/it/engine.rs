//! The engine end to end against the emulator: upload, download,
//! server-side copy (PUT Object copy and UploadPartCopy), a part corrupted
//! on the way in, and a cancelled upload resumed from the journal.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use haul_core::{Key, ObjectStore, ObjectStoreExt};
use haul_engine::{Endpoint, Engine, Event, JobRequest, Summary, TransferConfig};
use haul_journal::Journal;
use haul_testkit::{CosEmulator, MemoryStore};

use crate::store;

const MIB: u64 = 1 << 20;

fn data(len: u64, seed: u8) -> Bytes {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(29).wrapping_add(seed) ^ (i >> 12) as u8)
        .collect::<Vec<u8>>()
        .into()
}

fn key(k: &str) -> Key {
    Key::new(k).expect("key")
}

/// COS's 1 MiB parts, small enough to make several of them.
fn cfg() -> TransferConfig {
    TransferConfig {
        chunk_size: MIB,
        slice_size: MIB,
        copy_chunk_size: MIB,
        copy_slice_size: MIB,
        chunk_parallel_limit: 4,
        retry_base_delay: Duration::from_millis(1),
        ..TransferConfig::default()
    }
}

fn ep(store: Arc<dyn ObjectStore>, prefix: &str) -> Endpoint {
    Endpoint::new(store, prefix, "test")
}

async fn run(engine: &Engine, req: JobRequest) -> Summary {
    engine
        .start(req)
        .await
        .expect("start")
        .join()
        .await
        .expect("join")
}

fn engine(config: TransferConfig) -> Engine {
    Engine::new(
        Arc::new(Journal::open_ephemeral().expect("journal")),
        config,
    )
}

/// Files of 0 bytes, 1 KiB, exactly one part, and 3.5 parts.
fn files() -> Vec<(&'static str, Bytes)> {
    vec![
        ("empty", Bytes::new()),
        ("small.txt", data(1024, 1)),
        ("one part.bin", data(MIB, 2)),
        ("dir/big+file.bin", data(3 * MIB + MIB / 2, 3)),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_download_and_server_side_copy() {
    let emu = CosEmulator::start();
    let cos: Arc<dyn ObjectStore> = Arc::new(store(&emu));
    let local = Arc::new(MemoryStore::new());
    for (name, body) in files() {
        local
            .put_bytes(&key(&format!("src/{name}")), body)
            .await
            .expect("seed");
    }

    let s = run(
        &engine(cfg()),
        JobRequest::copy(ep(local.clone(), "src/"), ep(cos.clone(), "up/")),
    )
    .await;
    assert!(s.is_success(), "upload: {s:?}");
    for (name, body) in files() {
        let got = emu.object(emu.bucket(), &format!("up/{name}"));
        assert_eq!(got.as_ref(), Some(&body), "uploaded {name}");
    }

    let back = Arc::new(MemoryStore::new());
    let s = run(
        &engine(cfg()),
        JobRequest::copy(ep(cos.clone(), "up/"), ep(back.clone(), "down/")),
    )
    .await;
    assert!(s.is_success(), "download: {s:?}");
    for (name, body) in files() {
        let got = back
            .get_bytes(&key(&format!("down/{name}")))
            .await
            .expect("get");
        assert_eq!(got, body, "downloaded {name}");
    }

    // Within the bucket: PUT Object copy up to copy_slice_size, UploadPartCopy above.
    let s = run(
        &engine(cfg()),
        JobRequest::copy(ep(cos.clone(), "up/"), ep(cos.clone(), "copy/")),
    )
    .await;
    assert!(s.is_success(), "server-side copy: {s:?}");
    assert_eq!(
        s.counts.bytes_transferred,
        files().iter().map(|f| f.1.len() as u64).sum::<u64>()
    );
    for (name, body) in files() {
        let got = emu.object(emu.bucket(), &format!("copy/{name}"));
        assert_eq!(got.as_ref(), Some(&body), "copied {name}");
    }
    let big = cos.head(&key("copy/dir/big+file.bin")).await.expect("head");
    assert!(
        big.etag.as_deref().is_some_and(|e| e.ends_with("-4")),
        "the big file was copied in 4 parts: {big:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_part_corrupted_on_the_way_in_is_sent_again() {
    let emu = CosEmulator::start();
    let cos: Arc<dyn ObjectStore> = Arc::new(store(&emu));
    let local = Arc::new(MemoryStore::new());
    let body = data(3 * MIB, 9);
    local
        .put_bytes(&key("f.bin"), body.clone())
        .await
        .expect("seed");
    emu.corrupt_next_parts(1);
    let s = run(&engine(cfg()), JobRequest::copy(ep(local, ""), ep(cos, ""))).await;
    assert!(s.is_success(), "{s:?}");
    assert!(
        s.counts.retries >= 1,
        "the corrupted part was retried: {s:?}"
    );
    assert_eq!(emu.object(emu.bucket(), "f.bin"), Some(body));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_upload_resumes_from_the_journal() {
    let emu = CosEmulator::start();
    let cos: Arc<dyn ObjectStore> = Arc::new(store(&emu));
    let local: Arc<dyn ObjectStore> = Arc::new(MemoryStore::new());
    let body = data(8 * MIB, 11);
    local
        .put_bytes(&key("r.bin"), body.clone())
        .await
        .expect("seed");
    let journal = Arc::new(Journal::open_ephemeral().expect("journal"));
    let config = TransferConfig {
        chunk_parallel_limit: 1,
        ..cfg()
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let first = Engine::new(journal.clone(), config.clone()).with_events(tx);
    let handle = first
        .start(JobRequest::copy(ep(local.clone(), ""), ep(cos.clone(), "")))
        .await
        .expect("start");
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
    let s = handle.join().await.expect("join");
    assert!(s.cancelled, "{s:?}");
    assert!(
        emu.object(emu.bucket(), "r.bin").is_none(),
        "not completed yet"
    );
    assert_eq!(
        emu.uploads(emu.bucket()).len(),
        1,
        "the upload is kept for the resume"
    );

    let s = Engine::new(journal, config)
        .resume(job, ep(local, ""), ep(cos, ""))
        .expect("resume")
        .join()
        .await
        .expect("join");
    assert!(s.is_success(), "{s:?}");
    assert!(s.counts.bytes_resumed >= 3 * MIB, "parts kept: {s:?}");
    assert_eq!(emu.object(emu.bucket(), "r.bin"), Some(body));
    assert!(emu.uploads(emu.bucket()).is_empty());
}
