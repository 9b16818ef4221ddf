//! [`FaultStore`]: deterministic faults, each fault's effect, and the counters.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt, future};
use haul_core::checksum::compute;
use haul_core::{
    ChecksumKind, Error, GetOptions, Key, ListOptions, ObjectStore, ObjectStoreExt, PartNumber,
    Payload, PutOptions,
};
use haul_testkit::{Fault, FaultRule, FaultStore, MemoryStore, Op, Trigger};

fn key(s: &str) -> Key {
    Key::new(s).unwrap()
}

fn setup(seed: u64) -> (Arc<MemoryStore>, FaultStore) {
    let mem = Arc::new(MemoryStore::with_min_part_size(16));
    let store = FaultStore::new(mem.clone(), seed);
    (mem, store)
}

async fn pattern(seed: u64) -> Vec<bool> {
    let (_, store) = setup(seed);
    let k = key("k");
    store.put_bytes(&k, "x".into()).await.unwrap();
    store.set_rules(vec![FaultRule::new(Op::Head, 0.3, Fault::TransientBefore)]);
    let mut v = Vec::new();
    for _ in 0..200 {
        v.push(store.head(&k).await.is_err());
    }
    assert_eq!(
        store.stats().faults_injected,
        v.iter().filter(|f| **f).count() as u64
    );
    v
}

#[tokio::test]
async fn same_seed_same_failures() {
    let a = pattern(42).await;
    assert_eq!(a, pattern(42).await);
    assert_ne!(a, pattern(43).await);
    let failed = a.iter().filter(|f| **f).count();
    assert!((30..=90).contains(&failed), "{failed} of 200 at p=0.3");
}

#[tokio::test]
async fn nth_first_and_at_most() {
    let (mem, store) = setup(1);
    store.set_rules(vec![FaultRule::nth(Op::Put, 2, Fault::TransientBefore)]);
    let results: Vec<bool> = future::join_all((0..4).map(|i| {
        let store = &store;
        async move {
            store
                .put_bytes(&key(&format!("n{i}")), "x".into())
                .await
                .is_ok()
        }
    }))
    .await;
    assert_eq!(results.iter().filter(|ok| !**ok).count(), 1);
    assert_eq!(
        mem.keys().len(),
        3,
        "a fault before the call writes nothing"
    );

    store.set_rules(vec![FaultRule::first(Op::Any, 2, Fault::RateLimited(None))]);
    assert!(store.head(&key("n0")).await.is_err());
    assert!(store.delete(&key("n9")).await.is_err());
    assert!(store.head(&key("n0")).await.is_ok());

    store.set_rules(vec![
        FaultRule::always(Op::Head, Fault::TransientBefore).at_most(1),
    ]);
    assert!(store.head(&key("n0")).await.is_err());
    assert!(store.head(&key("n0")).await.is_ok());
    assert_eq!(store.rules().len(), 1);
    store.clear_rules();
    assert!(store.rules().is_empty());
}

#[tokio::test]
async fn transient_after_reaches_the_store() {
    let (mem, store) = setup(1);
    store.set_rules(vec![FaultRule::always(Op::Put, Fault::TransientAfter)]);
    let k = key("after");
    let err = store.put_bytes(&k, "body".into()).await.unwrap_err();
    assert!(matches!(err, Error::Transient { .. }) && err.is_retryable());
    assert_eq!(&mem.object(&k).unwrap().data[..], b"body");
    // An inner error passes through unchanged.
    store.set_rules(vec![FaultRule::always(Op::Head, Fault::TransientAfter)]);
    let err = store.head(&key("missing")).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }));
}

#[tokio::test]
async fn rate_limits_and_custom_errors() {
    let (_, store) = setup(1);
    let wait = Some(Duration::from_millis(1500));
    store.set_rules(vec![
        FaultRule::always(Op::Get, Fault::RateLimited(wait)).keys_containing("slow"),
        FaultRule::always(Op::Any, Fault::Error(|k| Error::not_found(k, "injected")))
            .keys_containing("gone"),
    ]);
    let err = store.get_bytes(&key("a/slow/b")).await.unwrap_err();
    assert_eq!(err.retry_after(), wait);
    assert!(err.is_retryable());
    let err = store.put_bytes(&key("gone"), "x".into()).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }) && !err.is_retryable());
    store.put_bytes(&key("fine"), "x".into()).await.unwrap();
}

#[tokio::test]
async fn truncated_bodies() {
    let (_, store) = setup(1);
    let k = key("t");
    let body: Bytes = (0..200_000u32).map(|i| i as u8).collect::<Vec<u8>>().into();
    store.put_bytes(&k, body.clone()).await.unwrap();
    store.set_rules(vec![FaultRule::nth(
        Op::Get,
        1,
        Fault::TruncateBody { error: true },
    )]);
    let resp = store.get(&k, GetOptions::default()).await.unwrap();
    let items: Vec<_> = resp.body.collect().await;
    let got: usize = items
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(Bytes::len)
        .sum();
    assert_eq!(got, 100_000);
    assert!(items.last().unwrap().as_ref().unwrap_err().is_retryable());

    store.set_rules(vec![FaultRule::nth(
        Op::Get,
        1,
        Fault::TruncateBody { error: false },
    )]);
    let err = store.get_bytes(&k).await.unwrap_err();
    assert!(err.is_retryable(), "a short body is transient: {err}");
    assert_eq!(store.get_bytes(&k).await.unwrap(), body);
    // Truncation never fires on other methods.
    store.set_rules(vec![FaultRule::always(
        Op::Any,
        Fault::TruncateBody { error: true },
    )]);
    store.head(&k).await.unwrap();
}

fn differing_bytes(a: &[u8], b: &[u8]) -> usize {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).filter(|(x, y)| x != y).count()
}

#[tokio::test]
async fn corrupted_payloads_and_bodies() {
    let (mem, store) = setup(9);
    let k = key("c");
    let body: Bytes = vec![7u8; 5_000].into();
    store.set_rules(vec![FaultRule::first(Op::Put, 2, Fault::CorruptBody)]);
    store.put_bytes(&k, body.clone()).await.unwrap();
    assert_eq!(differing_bytes(&mem.object(&k).unwrap().data, &body), 1);
    let opts = PutOptions {
        checksums: vec![compute(ChecksumKind::Crc32c, &body)],
        ..PutOptions::default()
    };
    let err = store.put(&k, body.clone().into(), opts).await.unwrap_err();
    assert!(matches!(err, Error::Integrity { .. }), "{err}");

    store.set_rules(vec![FaultRule::always(Op::UploadPart, Fault::CorruptBody)]);
    let id = store
        .create_multipart(&k, PutOptions::default())
        .await
        .unwrap();
    let n = PartNumber::new(1).unwrap();
    let part = store
        .upload_part(&k, &id, n, body.clone().into())
        .await
        .unwrap();
    assert_ne!(part.checksum, Some(compute(ChecksumKind::Crc32c, &body)));
    // Damage in transit keeps the checksums the payload carries: the store sees it.
    let sums = vec![compute(ChecksumKind::Md5, &body)];
    let carried = Payload::from(body.clone()).with_checksums(sums);
    let err = store.upload_part(&k, &id, n, carried).await.unwrap_err();
    assert!(matches!(err, Error::Integrity { .. }), "{err}");

    store.clear_rules();
    store.put_bytes(&k, body.clone()).await.unwrap();
    store.set_rules(vec![FaultRule::nth(Op::Get, 1, Fault::CorruptBody)]);
    let got = store.get_bytes(&k).await.unwrap();
    assert_eq!(differing_bytes(&got, &body), 1);
    assert_eq!(store.get_bytes(&k).await.unwrap(), body);
}

#[tokio::test]
async fn list_faults() {
    let (_, store) = setup(1);
    for i in 0..5 {
        store
            .put_bytes(&key(&format!("l/{i}")), "x".into())
            .await
            .unwrap();
    }
    store.set_rules(vec![FaultRule::nth(Op::List, 1, Fault::TransientBefore)]);
    let items: Vec<_> = store.list("l/", ListOptions::default()).collect().await;
    assert_eq!(items.len(), 1);
    assert!(items[0].is_err());
    store.set_rules(vec![FaultRule::nth(Op::List, 1, Fault::TransientAfter)]);
    let items: Vec<_> = store.list("l/", ListOptions::default()).collect().await;
    assert_eq!(items.len(), 6);
    assert!(items[..5].iter().all(Result::is_ok) && items[5].is_err());
    assert_eq!(store.list_all("l/").await.unwrap().len(), 5);
    assert_eq!(store.stats().requests(Op::List), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_see_concurrency() {
    let (_, store) = setup(1);
    assert_eq!(store.to_string(), "fault(memory://)");
    store.set_rules(vec![FaultRule::with_trigger(
        Op::Any,
        Trigger::Always,
        Fault::Delay(Duration::from_millis(100)),
    )]);
    let body: Bytes = vec![1u8; 1_000].into();
    future::try_join_all((0..8).map(|i| {
        let (store, body) = (&store, body.clone());
        async move { store.put_bytes(&key(&format!("p/{i}")), body).await }
    }))
    .await
    .unwrap();
    let s = store.stats();
    assert_eq!(s.requests(Op::Put), 8);
    assert_eq!(s.requests(Op::Any), 8);
    assert_eq!(s.delays_injected, 8);
    assert_eq!(s.faults_injected, 0);
    assert_eq!(s.bytes_uploaded, 8_000);
    assert_eq!(s.max_in_flight, 8);
    assert_eq!(s.max_in_flight_of(Op::Put), 8);
    assert_eq!(s.max_in_flight_of(Op::Get), 0);
    assert_eq!(s.max_keys_writing, 8);
    assert_eq!(s.max_bytes_in_flight, 8_000);
    assert_eq!((s.in_flight, s.keys_writing, s.bytes_in_flight), (0, 0, 0));

    store.reset_stats();
    assert_eq!(store.stats().max_in_flight, 0);
    let k = key("m");
    let id = store
        .create_multipart(&k, PutOptions::default())
        .await
        .unwrap();
    let parts = future::try_join_all((1..=4).map(|n| {
        let (store, k, id, body) = (&store, &k, &id, body.clone());
        async move {
            let n = PartNumber::new(n).unwrap();
            store.upload_part(k, id, n, body.into()).await
        }
    }))
    .await
    .unwrap();
    store.complete_multipart(&k, &id, &parts).await.unwrap();
    let s = store.stats();
    assert_eq!(s.max_in_flight_of(Op::UploadPart), 4);
    assert_eq!(
        s.max_keys_writing, 1,
        "parts of one key are one file in flight"
    );
    assert_eq!(s.max_bytes_in_flight, 4_000);
    assert_eq!(s.requests(Op::CreateMultipart), 1);
    assert_eq!(s.requests(Op::CompleteMultipart), 1);

    store.clear_rules();
    store.reset_stats();
    let resp = store.get(&k, GetOptions::default()).await.unwrap();
    assert_eq!(
        store.stats().in_flight,
        1,
        "a get is in flight until its body ends"
    );
    let got: Vec<Bytes> = resp.body.try_collect().await.unwrap();
    assert_eq!(got.iter().map(Bytes::len).sum::<usize>(), 4_000);
    let s = store.stats();
    assert_eq!((s.in_flight, s.bytes_downloaded), (0, 4_000));
    let resp = store.get(&k, GetOptions::default()).await.unwrap();
    drop(resp);
    assert_eq!(
        store.stats().in_flight,
        0,
        "dropping a body ends the flight"
    );
}
