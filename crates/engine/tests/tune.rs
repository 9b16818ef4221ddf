//! `Concurrency::Auto` against a store that throttles: it must settle at
//! or below what the store takes, and every object must still be exact.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use haul_core::{Key, ObjectStore, ObjectStoreExt};
use haul_engine::{Concurrency, Endpoint, Engine, Event, JobRequest, TransferConfig};
use haul_journal::Journal;
use haul_testkit::{Fault, FaultRule, FaultStore, MemoryStore, Op, Trigger};

const KIB: u64 = 1024;

fn data(len: u64, seed: u8) -> Bytes {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 13) as u8)
        .collect::<Vec<u8>>()
        .into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_settles_at_or_below_what_a_throttling_store_takes() {
    /// The store answers 503 SlowDown to any call made while more than
    /// this many are in flight.
    const N: u64 = 6;
    let src = Arc::new(MemoryStore::with_min_part_size(64 * KIB));
    let bodies: Vec<(Key, Bytes)> = (0..3u8)
        .map(|i| (Key::new(format!("big-{i}")).unwrap(), data(2048 * KIB, i)))
        .collect();
    for (k, b) in &bodies {
        src.put_bytes(k, b.clone()).await.unwrap();
    }
    let mem = Arc::new(MemoryStore::with_min_part_size(64 * KIB));
    let dst = Arc::new(
        FaultStore::new(Arc::clone(&mem) as Arc<dyn ObjectStore>, 3).with_rules(vec![
            // Calls take a while, so that they overlap.
            FaultRule::always(Op::UploadPart, Fault::Delay(Duration::from_millis(20))),
            FaultRule::with_trigger(Op::Any, Trigger::InFlightAbove(N), Fault::RateLimited(None)),
        ]),
    );
    let config = TransferConfig {
        chunk_size: 64 * KIB,
        slice_size: 64 * KIB,
        chunk_parallel_limit: 16,
        concurrency: Concurrency::Auto,
        concurrency_interval: Duration::from_millis(50),
        retry_base_delay: Duration::from_millis(10),
        request_retry_times: 10,
        ..TransferConfig::default()
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let engine = Engine::new(Arc::new(Journal::open_ephemeral().unwrap()), config).with_events(tx);
    let req = JobRequest::copy(
        Endpoint::new(src as Arc<dyn ObjectStore>, "", "mem:src"),
        Endpoint::new(Arc::clone(&dst) as Arc<dyn ObjectStore>, "", "mem:dst"),
    );
    let summary = engine.start(req).await.unwrap().join().await.unwrap();
    assert!(summary.is_success(), "{summary:?}");
    for (k, b) in &bodies {
        assert_eq!(mem.get_bytes(k).await.unwrap(), *b, "{k} is exact");
    }
    let mut levels = Vec::new();
    while let Ok(ev) = rx.try_recv() {
        if let Event::Concurrency { limit, reason, .. } = ev {
            levels.push((limit, reason));
        }
    }
    assert!(
        dst.stats().faults_injected > 0,
        "the store never throttled: the test proves nothing"
    );
    assert!(
        levels.iter().any(|(_, r)| *r == "throttled"),
        "no cut was reported: {levels:?}"
    );
    let settled = summary.counts.concurrency;
    assert!(
        (1..=N).contains(&settled),
        "settled at {settled}, above the {N} the store takes: {levels:?}"
    );
}
