//! Each fault on its own, through an `S3Store`: the client sees a retryable
//! error (or, where haul-s3 resends on a fresh connection, a success), never
//! a short or wrong answer.

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use haul_core::{
    ByteRange, ChecksumKind, Error, GetOptions, Key, MultiHasher, ObjectStore, ObjectStoreExt,
    Payload, PayloadStream,
};
use haul_testkit::{ProxyFault, ProxyFaultKind, ProxyRule};

use crate::rig::{KIB, MIB, Rig, STALL, data};

fn key(s: &str) -> Key {
    Key::new(s).expect("key")
}

/// A GET's body, read to the end.
async fn read_all(store: &dyn ObjectStore, k: &Key, opts: GetOptions) -> haul_core::Result<Bytes> {
    let resp = store.get(k, opts).await?;
    let chunks: Vec<Bytes> = resp.body.try_collect().await?;
    Ok(chunks.concat().into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_bodies_are_retryable_errors_never_short_successes() {
    let rig = Rig::new(&["bkt"], 1);
    let body = data(3 * MIB + 17, 9);
    let store = rig.bucket("bkt");
    store
        .put_bytes(&key("obj"), body.clone())
        .await
        .expect("put");

    rig.proxy.set_rules(vec![
        ProxyRule::always(ProxyFault::TruncateBody).method("GET"),
    ]);
    let whole = read_all(&store, &key("obj"), GetOptions::default()).await;
    let e = whole.expect_err("a cut body is an error");
    assert!(e.is_retryable(), "{e:?}");
    assert!(e.to_string().contains("obj"), "names the key: {e}");
    let ranged = GetOptions {
        range: Some(ByteRange::at(MIB, MIB)),
        ..GetOptions::default()
    };
    let e = read_all(&store, &key("obj"), ranged.clone())
        .await
        .expect_err("a cut range is an error");
    assert!(e.is_retryable(), "{e:?}");
    let e = store.get_bytes(&key("obj")).await.expect_err("get_bytes");
    assert!(e.is_retryable(), "{e:?}");
    assert_eq!(rig.proxy.stats().injected(ProxyFaultKind::TruncateBody), 3);

    // A HEAD has no body to cut; the rule does not apply.
    assert_eq!(
        store.head(&key("obj")).await.expect("head").size,
        body.len() as u64
    );
    rig.proxy.clear_rules();
    let got = read_all(&store, &key("obj"), ranged).await.expect("range");
    assert!(got == body[MIB as usize..2 * MIB as usize]);
    let stats = rig.proxy.stats();
    assert_eq!(stats.injected(ProxyFaultKind::TruncateBody), 3, "{stats}");
    assert_eq!(stats.faults_injected(), 3, "{stats}");

    // An error answer cut short is not the error it would have said (a 404
    // may be NoSuchKey or NoSuchUpload): it is a transport failure.
    rig.proxy.set_rules(vec![
        ProxyRule::always(ProxyFault::TruncateBody).method("GET"),
    ]);
    let e = store
        .get_bytes(&key("missing"))
        .await
        .expect_err("a cut error answer");
    assert!(e.is_retryable(), "{e:?}");
    assert!(e.to_string().contains("cut short"), "{e}");
    assert!(rig.proxy.stats().injected(ProxyFaultKind::TruncateBody) > 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_down_and_internal_error_are_s3_errors_on_a_kept_connection() {
    let rig = Rig::new(&["bkt"], 2);
    let store = rig.bucket("bkt");
    store
        .put_bytes(&key("k"), data(1000, 1))
        .await
        .expect("put");

    rig.proxy.set_rules(vec![ProxyRule::first(
        1,
        ProxyFault::SlowDown {
            retry_after: Some(Duration::from_millis(2500)),
        },
    )]);
    let e = store.head(&key("k")).await.expect_err("503");
    assert!(
        matches!(e, Error::RateLimited { retry_after: Some(d), .. } if d == Duration::from_secs(3)),
        "SlowDown with Retry-After rounded up to whole seconds: {e:?}"
    );
    // The body of a refused PUT is read and thrown away: the next request
    // on the same connection works.
    rig.proxy.set_rules(vec![ProxyRule::first(
        1,
        ProxyFault::SlowDown { retry_after: None },
    )]);
    let e = store
        .put_bytes(&key("k2"), data(2 * MIB, 2))
        .await
        .expect_err("503");
    assert!(
        matches!(
            e,
            Error::RateLimited {
                retry_after: None,
                ..
            }
        ),
        "{e:?}"
    );
    rig.proxy
        .set_rules(vec![ProxyRule::first(1, ProxyFault::InternalError)]);
    let e = store.get_bytes(&key("k")).await.expect_err("500");
    assert!(matches!(e, Error::Transient { .. }), "{e:?}");
    assert!(e.to_string().contains("InternalError"), "{e}");
    assert!(
        store.head(&key("k2")).await.is_err(),
        "the refused PUT never happened"
    );

    let stats = rig.proxy.stats();
    assert_eq!(stats.injected(ProxyFaultKind::SlowDown), 2, "{stats}");
    assert_eq!(stats.injected(ProxyFaultKind::InternalError), 1, "{stats}");
    assert_eq!(stats.forwarded, stats.requests - 3, "{stats}");
    // Errors answered on a kept connection do not cost a connection each.
    // The pool hands a connection back asynchronously, so a request that
    // starts first opens a new one (CI saw 5 requests on 3 connections);
    // at least one reuse is what proves the connection survived an error.
    assert!(
        stats.connections < stats.requests,
        "kept-alive connections: {stats}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resets_before_and_after_the_server_saw_the_request() {
    let rig = Rig::new(&["bkt"], 3);
    let store = rig.bucket("bkt");
    let body = data(MIB, 3);
    store.put_bytes(&key("k"), body.clone()).await.expect("put");

    // One reset: haul-s3 resends an idempotent request once on a fresh
    // connection (as after a stale pooled one).
    rig.proxy.set_rules(vec![
        ProxyRule::first(1, ProxyFault::ResetBefore).method("HEAD"),
    ]);
    rig.proxy.reset_stats();
    assert_eq!(store.head(&key("k")).await.expect("resent").size, MIB);
    let stats = rig.proxy.stats();
    assert_eq!((stats.requests, stats.forwarded), (2, 1), "{stats}");

    // Two in a row: a retryable error for the engine to retry.
    rig.proxy.set_rules(vec![
        ProxyRule::first(2, ProxyFault::ResetBefore).method("GET"),
    ]);
    let e = store.get_bytes(&key("k")).await.expect_err("reset twice");
    assert!(matches!(e, Error::Transient { .. }), "{e:?}");

    // The server stored the PUT; the answer was lost, the resend succeeds.
    rig.proxy.set_rules(vec![
        ProxyRule::first(1, ProxyFault::ResetAfter).method("PUT"),
    ]);
    rig.proxy.reset_stats();
    let other = data(MIB + 1, 4);
    store
        .put_bytes(&key("k3"), other.clone())
        .await
        .expect("resent put");
    let stats = rig.proxy.stats();
    assert_eq!((stats.requests, stats.forwarded), (2, 2), "{stats}");
    assert_eq!(stats.injected(ProxyFaultKind::ResetAfter), 1, "{stats}");

    // A POST is not resent: CreateMultipartUpload reached the server, the
    // client sees a retryable error.
    rig.proxy.set_rules(vec![
        ProxyRule::first(1, ProxyFault::ResetAfter).method("POST"),
    ]);
    let e = store
        .create_multipart(&key("mp"), haul_core::PutOptions::default())
        .await
        .expect_err("answer lost");
    assert!(e.is_retryable(), "{e:?}");

    rig.proxy.clear_rules();
    assert!(store.get_bytes(&key("k3")).await.expect("get") == other);
    assert!(store.get_bytes(&key("k")).await.expect("get") == body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalls_longer_than_the_stall_timeout_fail_fast_shorter_ones_pass() {
    let rig = Rig::with_stall(&["bkt"], 4, STALL);
    let store = rig.bucket("bkt");
    let body = data(256 * KIB, 5);
    store.put_bytes(&key("k"), body.clone()).await.expect("put");
    let long = STALL * 5;

    rig.proxy.set_rules(vec![
        ProxyRule::always(ProxyFault::StallBody(long)).method("GET"),
    ]);
    let started = Instant::now();
    let e = store.get_bytes(&key("k")).await.expect_err("stalled body");
    assert!(e.is_retryable(), "{e:?}");
    assert!(
        started.elapsed() < long,
        "gave up before the stall ended: {e}"
    );

    rig.proxy.set_rules(vec![
        ProxyRule::always(ProxyFault::Delay(long)).method("HEAD"),
    ]);
    let started = Instant::now();
    let e = store.head(&key("k")).await.expect_err("no answer");
    assert!(e.is_retryable(), "{e:?}");
    assert!(
        started.elapsed() < long,
        "gave up before the delay ended: {e}"
    );

    rig.proxy.set_rules(vec![
        ProxyRule::always(ProxyFault::StallBody(STALL / 4)).method("GET"),
        ProxyRule::always(ProxyFault::Delay(STALL / 4)),
    ]);
    assert!(store.get_bytes(&key("k")).await.expect("slow but alive") == body);
    let stats = rig.proxy.stats();
    assert_eq!(stats.injected(ProxyFaultKind::StallBody), 2, "{stats}");
    assert_eq!(stats.injected(ProxyFaultKind::Delay), 2, "{stats}");
    assert_eq!(stats.fired_by_rule, vec![1, 1], "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_share_kept_alive_connections_and_large_bodies_stream() {
    let rig = Rig::new(&["bkt"], 5);
    let store = rig.bucket("bkt");
    let body = data(24 * MIB, 6);
    store
        .put_bytes(&key("big"), body.clone())
        .await
        .expect("put");
    for _ in 0..20 {
        store.head(&key("big")).await.expect("head");
    }
    assert!(store.get_bytes(&key("big")).await.expect("get") == body);
    let stats = rig.proxy.stats();
    assert_eq!(stats.requests, 22, "{stats}");
    assert_eq!(stats.requests_of("head"), 20, "{stats}");
    // The client's pool hands a connection back asynchronously, so a
    // request that starts first opens another (CI saw 22 requests on 4
    // connections); most requests must still ride a kept connection.
    assert!(stats.connections * 2 <= stats.requests, "{stats}");
    assert_eq!(stats.faults_injected(), 0, "{stats}");
}

/// `len` bytes of `body` as a part body streamed in 64 KiB chunks, its
/// CRC32C computed on the way (so sent in an aws-chunked trailer).
fn streamed(k: &Key, body: &Bytes) -> PayloadStream {
    let chunks: Vec<haul_core::Result<Bytes>> = body
        .chunks(64 * KIB as usize)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let stream = futures::stream::iter(chunks).boxed();
    PayloadStream::new(
        k.as_str(),
        body.len() as u64,
        &[ChecksumKind::Crc32c],
        stream,
    )
}

/// A body with its CRC32C, sent in a header.
fn hashed(body: &Bytes) -> Payload {
    let mut h = MultiHasher::new(&[ChecksumKind::Crc32c]);
    h.update(body);
    Payload::from(body.clone()).with_checksums(h.finish())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_corrupted_on_the_way_are_bad_digest_and_replace_nothing() {
    let rig = Rig::new(&["bkt"], 8);
    let store = rig.bucket("bkt");
    let k = key("corrupt me");
    let (old, new) = (data(256 * KIB, 1), data(256 * KIB, 2));
    store.put_bytes(&k, old.clone()).await.expect("put");

    let corrupt_first = |path: &str| {
        vec![
            ProxyRule::first(1, ProxyFault::CorruptRequest)
                .method("PUT")
                .path_contains(path),
        ]
    };
    rig.proxy.set_rules(corrupt_first("/bkt/"));
    let e = store
        .put(&k, hashed(&new), haul_core::PutOptions::default())
        .await
        .expect_err("a put corrupted on the way");
    assert!(matches!(e, Error::Integrity { .. }), "{e:?}");
    assert!(
        e.to_string().contains("corrupt me"),
        "names the object: {e}"
    );
    assert!(
        store.get_bytes(&k).await.expect("get") == old,
        "the refused put replaced nothing"
    );

    // Part 1 streamed (CRC32C in the aws-chunked trailer), part 2 gathered
    // (CRC32C in a header); each re-sent corrupted, each refused, and the
    // parts uploaded first are what completes.
    let (p1, p2) = (data(6 * MIB, 3), data(2 * MIB + 5, 4));
    let id = store
        .create_multipart(&k, haul_core::PutOptions::default())
        .await
        .expect("create");
    let n = |i| haul_core::PartNumber::new(i).expect("part number");
    let first = store
        .upload_part_stream(&k, &id, n(1), streamed(&k, &p1))
        .await
        .expect("part 1");
    let second = store
        .upload_part(&k, &id, n(2), hashed(&p2))
        .await
        .expect("part 2");
    assert!(
        first.checksum.is_some(),
        "the server reports what it verified"
    );

    rig.proxy.set_rules(corrupt_first("partNumber=1"));
    let e = store
        .upload_part_stream(&k, &id, n(1), streamed(&k, &new))
        .await
        .expect_err("a streamed part corrupted on the way");
    assert!(matches!(e, Error::Integrity { .. }), "{e:?}");
    let again = store
        .upload_part_stream(&k, &id, n(1), streamed(&k, &p1))
        .await
        .expect("part 1 again");
    assert_eq!(again.etag, first.etag);
    rig.proxy.set_rules(corrupt_first("partNumber=2"));
    let e = store
        .upload_part(&k, &id, n(2), hashed(&new))
        .await
        .expect_err("a gathered part corrupted on the way");
    assert!(matches!(e, Error::Integrity { .. }), "{e:?}");

    store
        .complete_multipart(&k, &id, &[first, second])
        .await
        .expect("complete with the parts that arrived whole");
    let whole: Bytes = [p1, p2].concat().into();
    assert!(store.get_bytes(&k).await.expect("get") == whole);
    let stats = rig.proxy.stats();
    assert_eq!(stats.injected(ProxyFaultKind::CorruptRequest), 3, "{stats}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parts_with_their_sums_ahead_are_checked_by_the_server() {
    let rig = Rig::new(&["bkt"], 8);
    let store = rig.bucket("bkt");
    let k = key("ahead");
    let (p1, p2) = (data(6 * MIB, 5), data(MIB + 3, 6));
    let ahead = |b: &Bytes, sums_of: &Bytes| {
        streamed(&k, b).with_known_sums(hashed(sums_of).checksums().to_vec())
    };
    let id = store
        .create_multipart(&k, haul_core::PutOptions::default())
        .await
        .expect("create");
    let n = |i| haul_core::PartNumber::new(i).expect("part number");
    // The sum goes first, a header the server checks the bytes against:
    // a byte flipped on the way, or a sum of other bytes, is refused.
    rig.proxy.set_rules(vec![
        ProxyRule::first(1, ProxyFault::CorruptRequest)
            .method("PUT")
            .path_contains("partNumber=1"),
    ]);
    let e = store
        .upload_part_stream(&k, &id, n(1), ahead(&p1, &p1))
        .await
        .expect_err("corrupted on the way");
    assert!(matches!(e, Error::Integrity { .. }), "{e:?}");
    rig.proxy.clear_rules();
    let e = store
        .upload_part_stream(&k, &id, n(1), ahead(&p1, &p2))
        .await
        .expect_err("a sum of other bytes");
    assert!(matches!(e, Error::Integrity { .. }), "{e:?}");
    let first = store
        .upload_part_stream(&k, &id, n(1), ahead(&p1, &p1))
        .await
        .expect("part 1");
    let second = store
        .upload_part_stream(&k, &id, n(2), ahead(&p2, &p2))
        .await
        .expect("part 2");
    store
        .complete_multipart(&k, &id, &[first, second])
        .await
        .expect("complete");
    let whole: Bytes = [p1, p2].concat().into();
    assert!(store.get_bytes(&k).await.expect("get") == whole);
}
