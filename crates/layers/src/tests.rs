//! The layers around a [`MemoryStore`] behind a [`FaultStore`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use haul_core::observe::{self, Observer};
use haul_core::{
    ByteRange, CopyOptions, Error, Key, ListEntry, ListOptions, ObjectStore, ObjectStoreExt,
    PartNumber, Payload, PayloadStream, PutOptions,
};
use haul_testkit::{Fault, FaultRule, FaultStore, MemoryStore, Op as F};

use super::*;

#[derive(Default)]
struct Tally {
    retries: AtomicU64,
    bytes: AtomicU64,
}

impl Observer for Tally {
    fn retried(&self, _: &Error, bytes: u64) {
        self.retries.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }
    fn resent(&self, n: u64, bytes: u64) {
        self.retries.fetch_add(n, Ordering::Relaxed);
        self.bytes.fetch_add(n * bytes, Ordering::Relaxed);
    }
}

fn key(k: &str) -> Key {
    Key::new(k).expect("a valid key")
}

fn fast() -> RetryPolicy {
    RetryPolicy::new(4, Duration::from_millis(1))
}

fn faulty() -> (Arc<MemoryStore>, Arc<FaultStore>) {
    let mem = Arc::new(MemoryStore::with_min_part_size(1));
    let faults = Arc::new(FaultStore::new(Arc::clone(&mem) as Arc<dyn ObjectStore>, 7));
    (mem, faults)
}

#[tokio::test]
async fn every_replayable_request_rides_through_faults_and_is_counted() {
    let (mem, faults) = faulty();
    mem.put_bytes(&key("a"), "hello".into()).await.unwrap();
    let store = Layers::new(fast()).wrap(Arc::clone(&faults) as Arc<dyn ObjectStore>);
    for op in [F::Head, F::Get, F::Put, F::Copy, F::Delete, F::DeleteMany] {
        faults.add_rule(FaultRule::first(op, 2, Fault::TransientBefore));
    }
    faults.add_rule(FaultRule::first(F::Put, 1, Fault::TransientAfter));
    let tally = Arc::new(Tally::default());
    observe::scope(Arc::clone(&tally) as Arc<dyn Observer>, async {
        assert_eq!(store.head(&key("a")).await.unwrap().size, 5);
        assert_eq!(&store.get_bytes(&key("a")).await.unwrap()[..], b"hello");
        store.put_bytes(&key("b"), "12345678".into()).await.unwrap();
        store
            .copy(&key("a"), &key("c"), CopyOptions::default())
            .await
            .unwrap();
        store.delete(&key("a")).await.unwrap();
        let r = store.delete_many(&[key("b")]).await.unwrap();
        assert!(r.iter().all(Result::is_ok));
    })
    .await;
    assert_eq!(&mem.get_bytes(&key("c")).await.unwrap()[..], b"hello");
    assert_eq!(mem.list_all("").await.unwrap().len(), 1);
    // Two refusals for each of six calls, one lost answer for the put.
    assert_eq!(tally.retries.load(Ordering::Relaxed), 13);
    // The put's payload went again three times.
    assert_eq!(tally.bytes.load(Ordering::Relaxed), 3 * 8);
}

#[tokio::test]
async fn multipart_requests_are_retried_and_rate_limits_honoured() {
    let (mem, faults) = faulty();
    mem.put_bytes(&key("src"), "abcdef".into()).await.unwrap();
    let store = Layers::new(fast()).wrap(Arc::clone(&faults) as Arc<dyn ObjectStore>);
    for op in [
        F::CreateMultipart,
        F::UploadPart,
        F::UploadPartCopy,
        F::ListParts,
        F::CompleteMultipart,
    ] {
        faults.add_rule(FaultRule::first(op, 1, Fault::TransientBefore));
    }
    faults.add_rule(FaultRule::first(
        F::AbortMultipart,
        1,
        Fault::RateLimited(Some(Duration::from_millis(5))),
    ));
    let k = key("dst");
    let id = store
        .create_multipart(&k, PutOptions::default())
        .await
        .unwrap();
    let one = PartNumber::new(1).unwrap();
    let p1 = store
        .upload_part(&k, &id, one, Payload::from(&b"xy"[..]))
        .await
        .unwrap();
    let p2 = store
        .upload_part_copy(
            &key("src"),
            ByteRange::at(0, 3),
            &k,
            &id,
            PartNumber::new(2).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(store.list_parts(&k, &id).await.unwrap().len(), 2);
    store.complete_multipart(&k, &id, &[p1, p2]).await.unwrap();
    assert_eq!(&mem.get_bytes(&k).await.unwrap()[..], b"xyabc");
    let id = store
        .create_multipart(&k, PutOptions::default())
        .await
        .unwrap();
    store.abort_multipart(&k, &id).await.unwrap();
    assert_eq!(faults.stats().faults_injected, 6);
}

#[tokio::test]
async fn a_streamed_body_is_not_sent_again_by_the_layer() {
    let (_mem, faults) = faulty();
    let store = Layers::new(fast()).wrap(Arc::clone(&faults) as Arc<dyn ObjectStore>);
    faults.add_rule(FaultRule::first(F::Put, 1, Fault::TransientBefore));
    let body = futures::stream::iter([Ok(bytes::Bytes::from_static(b"abc"))]);
    let stream = PayloadStream::new("s", 3, &[], Box::pin(body));
    let out = store
        .put_stream(&key("s"), stream, PutOptions::default())
        .await;
    assert!(
        out.is_err(),
        "the body is gone: the owner of the source retries"
    );
    assert_eq!(faults.stats().requests(F::Put), 1);
}

#[tokio::test]
async fn a_listing_that_fails_part_way_resumes_after_its_last_entry() {
    let (mem, faults) = faulty();
    for k in ["a/1", "a/2", "b", "c/1", "c/2", "d"] {
        mem.put_bytes(&key(k), "x".into()).await.unwrap();
    }
    let store = Layers::new(fast()).wrap(Arc::clone(&faults) as Arc<dyn ObjectStore>);
    // The first listing gives its entries then fails; the second fails at once.
    faults.add_rule(FaultRule::nth(F::List, 1, Fault::TransientAfter));
    faults.add_rule(FaultRule::nth(F::List, 2, Fault::TransientBefore));
    let tally = Arc::new(Tally::default());
    let names = observe::scope(Arc::clone(&tally) as Arc<dyn Observer>, async {
        let opts = ListOptions {
            delimiter: Some("/".into()),
            ..ListOptions::default()
        };
        futures::TryStreamExt::try_collect::<Vec<ListEntry>>(store.list("", opts))
            .await
            .unwrap()
    })
    .await;
    let names: Vec<&str> = names.iter().map(ListEntry::name).collect();
    assert_eq!(names, ["a/", "b", "c/", "d"]);
    let lists = faults.stats().requests(F::List);
    assert!(lists >= 2, "listed again: {lists}");
    assert_eq!(tally.retries.load(Ordering::Relaxed), lists - 1);

    // Without a delimiter, and failing after the entries every time but the last.
    faults.clear_rules();
    faults.add_rule(FaultRule::first(F::List, 3, Fault::TransientAfter));
    let all = store.list_all("").await.unwrap();
    assert_eq!(all.len(), 6);
}

#[tokio::test]
async fn a_listing_gives_up_after_the_policy_s_retries() {
    let (_mem, faults) = faulty();
    let store = Layers::new(RetryPolicy::new(2, Duration::from_millis(1)))
        .wrap(Arc::clone(&faults) as Arc<dyn ObjectStore>);
    faults.add_rule(FaultRule::always(F::List, Fault::TransientBefore));
    assert!(store.list_all("").await.is_err());
    assert_eq!(faults.stats().requests(F::List), 3);
}

#[tokio::test(start_paused = true)]
async fn requests_per_second_are_shared_by_every_wrapped_store() {
    let layers = Layers::new(RetryPolicy::default()).limits(Limits::new(0, 10));
    let a = layers.wrap(Arc::new(MemoryStore::new()));
    let b = layers.wrap(Arc::new(MemoryStore::new()));
    let start = tokio::time::Instant::now();
    // A burst of 10, then 10 more at 10 per second: about a second.
    for i in 0..10 {
        a.put_bytes(&key(&format!("k{i}")), "x".into())
            .await
            .unwrap();
        b.head(&key("missing")).await.unwrap_err();
    }
    assert!(start.elapsed() >= Duration::from_millis(900));
}

#[tokio::test]
async fn timing_records_every_try_inside_the_retries() {
    let (mem, faults) = faulty();
    let log = Arc::new(TimingLog::default());
    let store = Layers::new(fast())
        .timed(Arc::clone(&log) as Arc<dyn Recorder>)
        .wrap(Arc::clone(&faults) as Arc<dyn ObjectStore>);
    faults.add_rule(FaultRule::first(F::Put, 1, Fault::TransientBefore));
    store.put_bytes(&key("a"), "hello".into()).await.unwrap();
    assert_eq!(store.head(&key("a")).await.unwrap().size, 5);
    assert_eq!(store.list_all("").await.unwrap().len(), 1);
    let k = key("m");
    let id = store
        .create_multipart(&k, PutOptions::default())
        .await
        .unwrap();
    let p = store
        .upload_part(
            &k,
            &id,
            PartNumber::new(1).unwrap(),
            Payload::from(&b"xy"[..]),
        )
        .await
        .unwrap();
    store.complete_multipart(&k, &id, &[p]).await.unwrap();
    assert_eq!(mem.head(&k).await.unwrap().size, 2);
    let ops: Vec<(Op, u64, bool)> = log
        .timings()
        .iter()
        .map(|t| (t.op, t.bytes, t.ok))
        .collect();
    assert_eq!(
        ops,
        [
            (Op::Put, 5, false),
            (Op::Put, 5, true),
            (Op::Head, 0, true),
            (Op::List, 0, true),
            (Op::CreateMultipart, 0, true),
            (Op::UploadPart, 2, true),
            (Op::CompleteMultipart, 0, true),
        ]
    );
}
