//! Round trips the engine does not make: over a long link each is idle
//! time before the first byte moves. Proved by the order of the calls the
//! stores see, not by timing.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use haul_core::{Capabilities, Key, ObjectStore, ObjectStoreExt};
use haul_engine::{Concurrency, Endpoint, Engine, JobRequest, TransferConfig};
use haul_journal::Journal;
use haul_layers::{Op, Recorder, Timed, Timing};
use haul_testkit::{Fault, FaultRule, FaultStore, MemoryStore};

const KIB: u64 = 1024;

/// How long the destination takes to create an upload where the order
/// around the create is looked at.
const SLOW_CREATE: Duration = Duration::from_millis(300);

/// The calls of both stores, in the order they ended: `(source?, op)`.
#[derive(Default)]
struct Calls(Mutex<Vec<(bool, Op)>>);

/// Records one store's calls into the shared [`Calls`].
struct Side(Arc<Calls>, bool);

impl Recorder for Side {
    fn record(&self, timed: Timed) {
        if let Ok(mut calls) = self.0.0.lock() {
            calls.push((self.1, timed.op));
        }
    }
}

fn data(len: u64) -> Bytes {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(29) ^ (i >> 11) as u8)
        .collect::<Vec<u8>>()
        .into()
}

/// How many of `calls` are `call`.
fn count(calls: &[(bool, Op)], call: (bool, Op)) -> usize {
    calls.iter().filter(|&&c| c == call).count()
}

/// A source that reads a range twice cheaply (a local file's kind) and a
/// destination that takes sums ahead of streamed parts (S3's kind), whose
/// `create_multipart` takes `create` to answer; both timed into one log.
async fn stores(
    size: u64,
    create: Duration,
) -> (
    Arc<Calls>,
    Arc<dyn ObjectStore>,
    Arc<MemoryStore>,
    Arc<dyn ObjectStore>,
) {
    let src = Arc::new(MemoryStore::with_capabilities(Capabilities {
        rereadable: true,
        ..MemoryStore::default_capabilities()
    }));
    src.put_bytes(&Key::new("big").unwrap(), data(size))
        .await
        .unwrap();
    let mem = Arc::new(MemoryStore::with_capabilities(Capabilities {
        streamed_parts: true,
        sums_ahead: true,
        min_part_size_bytes: 64 * KIB,
        ..MemoryStore::default_capabilities()
    }));
    // No rule at all for an upload created at once: a delay of zero
    // would still let other tasks run.
    let rules = if create.is_zero() {
        Vec::new()
    } else {
        vec![FaultRule::always(
            haul_testkit::Op::CreateMultipart,
            Fault::Delay(create),
        )]
    };
    let slow_create =
        FaultStore::new(Arc::clone(&mem) as Arc<dyn ObjectStore>, 1).with_rules(rules);
    let calls = Arc::new(Calls::default());
    let src = Arc::new(Timing::new(src, Arc::new(Side(Arc::clone(&calls), true))));
    let dst = Arc::new(Timing::new(
        Arc::new(slow_create),
        Arc::new(Side(Arc::clone(&calls), false)),
    ));
    (calls, src, mem, dst)
}

fn config() -> TransferConfig {
    TransferConfig {
        chunk_size: 64 * KIB,
        slice_size: 64 * KIB,
        chunk_parallel_limit: 4,
        ..TransferConfig::default()
    }
}

/// Copies the object `big` of `size` bytes with `config` and checks the
/// copy; returns the calls the stores saw.
async fn copy_big(size: u64, create: Duration, config: TransferConfig) -> Vec<(bool, Op)> {
    let (calls, src, mem, dst) = stores(size, create).await;
    let engine = Engine::new(Arc::new(Journal::open_ephemeral().unwrap()), config);
    let req = JobRequest {
        single: true,
        ..JobRequest::copy(
            Endpoint::new(src, "big", "mem:src"),
            Endpoint::new(dst, "copy", "mem:dst"),
        )
    };
    let summary = engine.start(req).await.unwrap().join().await.unwrap();
    assert!(summary.is_success(), "{summary:?}");
    assert_eq!(
        mem.get_bytes(&Key::new("copy").unwrap()).await.unwrap(),
        data(size),
        "the copy is exact"
    );
    calls.0.lock().unwrap().clone()
}

// One thread: the passes spawned before the create are polled while it
// waits, so the order below does not depend on how busy the machine is.
#[tokio::test(flavor = "current_thread")]
async fn the_first_wave_is_hashed_while_the_upload_is_created_and_the_object_headed_once() {
    let calls = copy_big(10 * 64 * KIB + 5, SLOW_CREATE, config()).await;
    let created = calls
        .iter()
        .position(|&c| c == (false, Op::CreateMultipart))
        .expect("a multipart upload was created");
    let early = count(&calls[..created], (true, Op::Get));
    // The first wave is the part limit: 4 first passes read before the
    // create answered, none of the 11 parts sent before it.
    assert_eq!(early, 4, "first passes before the create: {calls:?}");
    assert!(
        !calls[..created].contains(&(false, Op::UploadPart)),
        "{calls:?}"
    );
    let heads = count(&calls, (true, Op::Head));
    assert_eq!(
        heads, 1,
        "the transfer takes the planner's metadata: {calls:?}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn without_sums_ahead_nothing_is_read_before_the_upload_exists() {
    let config = TransferConfig {
        sums_ahead: false,
        ..config()
    };
    let calls = copy_big(10 * 64 * KIB, SLOW_CREATE, config).await;
    let created = calls
        .iter()
        .position(|&c| c == (false, Op::CreateMultipart))
        .expect("a multipart upload was created");
    assert!(
        !calls[..created].contains(&(true, Op::Get)),
        "read before the upload existed: {calls:?}"
    );
}

// A tuned job (32 slots) with more parts than slots and an upload created
// at once: the first passes hold slots while they read and the parts take
// them after, so every part goes and the copy is exact.
#[tokio::test(flavor = "current_thread")]
async fn a_tuned_upload_whose_create_answers_at_once_still_runs_its_passes() {
    let config = TransferConfig {
        concurrency: Concurrency::Auto,
        ..config()
    };
    let calls = copy_big(40 * 64 * KIB + 7, Duration::ZERO, config).await;
    let parts = count(&calls, (false, Op::UploadPart));
    assert_eq!(parts, 41, "{calls:?}");
}

/// Eight small objects in a source whose whole `get` reports what `head`
/// would (or not), and a destination; the source's calls logged.
async fn small_files(whole_get_meta: bool) -> (Arc<Calls>, Arc<MemoryStore>, Arc<dyn ObjectStore>) {
    let mem = Arc::new(MemoryStore::with_capabilities(Capabilities {
        whole_get_meta,
        ..MemoryStore::default_capabilities()
    }));
    for i in 0..8u64 {
        mem.put_bytes(&Key::new(format!("f{i}")).unwrap(), data(1000 + i))
            .await
            .unwrap();
    }
    let calls = Arc::new(Calls::default());
    let src = Arc::new(Timing::new(
        Arc::clone(&mem) as Arc<dyn ObjectStore>,
        Arc::new(Side(Arc::clone(&calls), true)),
    ));
    (calls, mem, src)
}

/// The source's calls of `op` so far.
fn source_calls(calls: &Arc<Calls>, op: Op) -> usize {
    count(&calls.0.lock().unwrap(), (true, op))
}

async fn same_bytes(src: &MemoryStore, dst: &MemoryStore) {
    for i in 0..8u64 {
        let k = Key::new(format!("f{i}")).unwrap();
        assert_eq!(
            dst.get_bytes(&k).await.unwrap(),
            src.get_bytes(&k).await.unwrap(),
            "{k}"
        );
    }
}

#[tokio::test]
async fn a_small_file_is_read_without_a_head_where_the_get_says_as_much() {
    for whole_get_meta in [true, false] {
        let (calls, mem, src) = small_files(whole_get_meta).await;
        let dst = Arc::new(MemoryStore::new());
        let engine = Engine::new(Arc::new(Journal::open_ephemeral().unwrap()), config());
        let req = JobRequest::copy(
            Endpoint::new(src, "", "mem:src"),
            Endpoint::new(Arc::clone(&dst) as Arc<dyn ObjectStore>, "", "mem:dst"),
        );
        let summary = engine.start(req).await.unwrap().join().await.unwrap();
        assert!(summary.is_success(), "{summary:?}");
        same_bytes(&mem, &dst).await;
        let heads = if whole_get_meta { 0 } else { 8 };
        assert_eq!(
            source_calls(&calls, Op::Head),
            heads,
            "whole_get_meta: {whole_get_meta}"
        );
        assert_eq!(
            source_calls(&calls, Op::Get),
            8,
            "whole_get_meta: {whole_get_meta}"
        );
    }
}

// Planned, then rewritten (another size) before it is sent: the read
// shows the change, and the file goes as it is now, not as planned.
#[tokio::test]
async fn a_small_file_rewritten_after_planning_is_sent_as_it_is_now() {
    let (calls, mem, src) = small_files(true).await;
    let dst = Arc::new(MemoryStore::new());
    let dst_ep = || Endpoint::new(Arc::clone(&dst) as Arc<dyn ObjectStore>, "", "mem:dst");
    let journal = Arc::new(Journal::open_ephemeral().unwrap());
    let engine = Engine::new(Arc::clone(&journal), config());
    let req = JobRequest {
        plan_only: true,
        ..JobRequest::copy(Endpoint::new(Arc::clone(&src), "", "mem:src"), dst_ep())
    };
    let handle = engine.start(req).await.unwrap();
    let job = handle.job_id();
    handle.join().await.unwrap();
    mem.put_bytes(&Key::new("f3").unwrap(), data(2000))
        .await
        .unwrap();
    let summary = engine
        .resume(job, Endpoint::new(src, "", "mem:src"), dst_ep())
        .unwrap()
        .join()
        .await
        .unwrap();
    assert!(summary.is_success(), "{summary:?}");
    same_bytes(&mem, &dst).await;
    assert_eq!(
        dst.get_bytes(&Key::new("f3").unwrap()).await.unwrap().len(),
        2000
    );
    // The rewritten file is read a second time, by the route a changed
    // file takes; nothing is headed.
    assert_eq!(source_calls(&calls, Op::Get), 9);
    assert_eq!(source_calls(&calls, Op::Head), 0);
}
