//! The conformance suite every [`ObjectStore`] implementation must pass.
//!
//! Each case is an `async fn(&dyn ObjectStore) -> Outcome` that panics on
//! failure, and returns [`Skip`] with its reason when the store lacks what
//! the case needs (a [`Capabilities`](haul_core::Capabilities) flag, or an
//! ETag to condition on); a skip is never a pass: a store's test module
//! declares the cases it skips ([`conformance_tests!`](crate::conformance_tests)),
//! and a case that skips undeclared, or runs though declared skipped, fails. Every case works under its own unique
//! prefix (`conformance/<case>/<unique>/`), so all of them can run at once
//! against one store, and again against a store that keeps old runs' objects.
//! Multipart cases size their parts from `min_part_size_bytes` (non-last parts
//! exactly that), so give a fast suite a store with a small minimum.
//!
//! The usual way to run it is [`conformance_tests!`](crate::conformance_tests),
//! which makes one `#[tokio::test]` per case; [`run_case`] and [`CASES`] serve
//! custom harnesses.

#![allow(
    clippy::missing_panics_doc,
    reason = "every case panics on failure: that is how it reports, as said above"
)]

mod attrs;
mod basic;
mod keys;
mod list;
mod multipart;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::StreamExt;
use futures::future::BoxFuture;
use haul_core::checksum::compute;
use haul_core::{ChecksumKind, Key, ObjectStore, ObjectStoreExt, PartNumber, PayloadStream};

pub use attrs::attributes_round_trip;
pub use basic::{
    conditional_get, copy_object, delete_missing_key, error_classification, payload_checksums,
    put_checksums, put_get_head_delete, ranges, streamed_put, zero_byte_object,
};
pub use keys::{long_keys, odd_keys};
pub use list::{list_delimiter, list_prefix_pagination};
pub use multipart::{
    concurrent_upload_parts, multipart_abort, multipart_complete_refusals, multipart_out_of_order,
    multipart_zero_byte, streamed_parts, upload_part_copy_ranges,
};

/// Asserts that a result is an error matching a pattern.
macro_rules! assert_err {
    ($res:expr, $pat:pat, $($ctx:tt)+) => {
        match $res {
            Err($pat) => {}
            Err(e) => panic!(
                "{}: expected {}, got error {e:?}",
                format!($($ctx)+),
                stringify!($pat)
            ),
            Ok(_) => panic!(
                "{}: expected {}, got success",
                format!($($ctx)+),
                stringify!($pat)
            ),
        }
    };
}
pub(crate) use assert_err;

/// Declares the case list once: [`CASES`] and [`run_case`] come from it.
macro_rules! cases {
    ($($case:ident),* $(,)?) => {
        /// The name of every case, in the order [`run_all`] runs them. Each is
        /// also the name of its function in this module.
        pub const CASES: &[&str] = &[$(stringify!($case)),*];

        /// Runs the case called `name` against `store`.
        ///
        /// # Panics
        /// When the case fails, or when no case is called `name`.
        pub fn run_case<'a>(name: &str, store: &'a dyn ObjectStore) -> BoxFuture<'a, Outcome> {
            match name {
                $(stringify!($case) => Box::pin($case(store)),)*
                other => panic!("no conformance case called {other:?}"),
            }
        }
    };
}

cases!(
    put_get_head_delete,
    delete_missing_key,
    zero_byte_object,
    ranges,
    conditional_get,
    put_checksums,
    payload_checksums,
    copy_object,
    attributes_round_trip,
    error_classification,
    list_prefix_pagination,
    list_delimiter,
    multipart_out_of_order,
    multipart_complete_refusals,
    multipart_abort,
    multipart_zero_byte,
    upload_part_copy_ranges,
    concurrent_upload_parts,
    streamed_parts,
    streamed_put,
    odd_keys,
    long_keys,
);

/// Why a case did not apply to a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Skip(pub &'static str);

impl std::fmt::Display for Skip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// A case's end: it ran (and passed), or it did not apply.
pub type Outcome = Result<(), Skip>;

/// Runs every case against `store`, one after another, and returns those
/// that were skipped, with why.
///
/// # Panics
/// When a case fails.
pub async fn run_all(store: &dyn ObjectStore) -> Vec<(&'static str, Skip)> {
    let mut skipped = Vec::new();
    for name in CASES {
        if let Err(skip) = run_case(name, store).await {
            skipped.push((*name, skip));
        }
    }
    skipped
}

/// Checks what a case did against what the store's tests declared: a case
/// declared skipped must skip (with any reason), any other must run.
///
/// # Panics
/// When they differ.
pub fn expect(case: &str, outcome: Outcome, declared_skipped: bool) {
    match (outcome, declared_skipped) {
        (Ok(()), false) => {}
        (Err(skip), true) => eprintln!("conformance case {case} skipped: {skip}"),
        (Err(skip), false) => panic!(
            "conformance case {case} skipped ({skip}) but this store must run it: declare it in `skip` if that is right"
        ),
        (Ok(()), true) => {
            panic!("conformance case {case} is declared skipped but ran: take it out of `skip`")
        }
    }
}

/// A prefix no other case or run uses: `conformance/<case>/<unique>/`.
pub(crate) fn unique_prefix(case: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "conformance/{case}/{nanos:x}-{:x}-{}/",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A key the case knows to be valid.
pub(crate) fn key(s: impl Into<String>) -> Key {
    let s = s.into();
    Key::new(s.clone()).unwrap_or_else(|e| panic!("conformance key {s:?}: {e}"))
}

/// A part number the case knows to be valid.
pub(crate) fn part(n: u32) -> PartNumber {
    PartNumber::new(n).unwrap_or_else(|e| panic!("part {n}: {e}"))
}

/// `len` pseudo-random bytes, different for each `seed` (fast even unoptimised).
pub(crate) fn data(seed: u64, len: usize) -> Bytes {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out.into()
}

/// The size of non-last parts: the store's minimum (at least one byte).
pub(crate) fn part_size(store: &dyn ObjectStore) -> usize {
    store.capabilities().min_part_size_bytes.max(1) as usize
}

/// Lowercase hex MD5.
pub(crate) fn md5_hex(data: &[u8]) -> String {
    compute(ChecksumKind::Md5, data).to_hex()
}

/// Reads a whole object, panicking with the key on failure.
pub(crate) async fn read(store: &dyn ObjectStore, k: &Key) -> Bytes {
    store
        .get_bytes(k)
        .await
        .unwrap_or_else(|e| panic!("get {k:?}: {e}"))
}

/// Writes a whole object, panicking with the key on failure.
pub(crate) async fn write(store: &dyn ObjectStore, k: &Key, body: Bytes) {
    store
        .put_bytes(k, body)
        .await
        .unwrap_or_else(|e| panic!("put {k:?}: {e}"));
}

/// The `len` bytes of `body` as a [`PayloadStream`] hashed with `kinds`,
/// in uneven chunks (1 byte, 7 bytes, then 64 KiB at a time), failing with
/// a transient "source reset" after `fail_after` bytes when given.
pub(crate) fn stream_of(
    k: &Key,
    len: u64,
    body: &Bytes,
    kinds: &[ChecksumKind],
    fail_after: Option<usize>,
) -> PayloadStream {
    let end = fail_after.unwrap_or(body.len()).min(body.len());
    let mut items: Vec<haul_core::Result<Bytes>> = Vec::new();
    let mut at = 0;
    for step in [1, 7].into_iter().chain(std::iter::repeat(64 << 10)) {
        if at >= end {
            break;
        }
        let to = (at + step).min(end);
        items.push(Ok(body.slice(at..to)));
        at = to;
    }
    if fail_after.is_some() {
        items.push(Err(haul_core::Error::transient(k.as_str(), "source reset")));
    }
    PayloadStream::new(k.as_str(), len, kinds, futures::stream::iter(items).boxed())
}

/// Asserts two byte strings are equal without printing megabytes.
pub(crate) fn assert_same(got: &[u8], want: &[u8], what: &str) {
    assert!(
        got == want,
        "{what}: got {} bytes (md5 {}), want {} bytes (md5 {})",
        got.len(),
        md5_hex(got),
        want.len(),
        md5_hex(want)
    );
}

/// Deletes `k` where the store can delete by key (see
/// [`Capabilities::delete`](haul_core::Capabilities::delete)); elsewhere
/// the object stays, as it would for any user of that store.
pub(crate) async fn remove(store: &dyn ObjectStore, k: &Key) {
    if store.capabilities().delete {
        store
            .delete(k)
            .await
            .unwrap_or_else(|e| panic!("delete {k:?}: {e}"));
    }
}

/// Deletes everything under `prefix`, in batches the store accepts.
pub(crate) async fn cleanup(store: &dyn ObjectStore, prefix: &str) {
    let keys: Vec<Key> = store
        .list_all(prefix)
        .await
        .unwrap_or_else(|e| panic!("list {prefix:?} for cleanup: {e}"))
        .into_iter()
        .map(|m| m.key)
        .collect();
    let batch = store.capabilities().batch_delete_max.max(1);
    for chunk in keys.chunks(batch) {
        let results = store
            .delete_many(chunk)
            .await
            .unwrap_or_else(|e| panic!("delete_many under {prefix:?}: {e}"));
        assert_eq!(results.len(), chunk.len(), "one result per key");
        for (k, r) in chunk.iter().zip(results) {
            r.unwrap_or_else(|e| panic!("delete {k:?}: {e}"));
        }
    }
}

/// Makes one `#[tokio::test]` per conformance case, plus a test that the
/// macro and [`conformance::CASES`](crate::conformance::CASES) agree.
///
/// The first argument is an expression evaluated afresh in every test,
/// whose value is a future (an `async` block or a call to an `async fn`)
/// resolving to something that derefs to a store: `Arc<dyn ObjectStore>`,
/// `Arc<MyStore>`, or a [`Guarded`](crate::Guarded) that also keeps a
/// temporary directory alive. A synchronous factory is wrapped in
/// `async { ... }`. Invoke it once per module; the tests run on a two-worker
/// multi-threaded runtime, and the calling crate needs no tokio dependency of
/// its own (it must depend on this crate under its own name, `haul_testkit`).
///
/// A store that lacks what some cases need declares them, with why:
/// `skip { case: "reason", ... }`. Those become ignored tests whose reason
/// the test run prints; run with `--include-ignored`, each checks that its
/// case does skip on this store. A case not declared must run: one that
/// skips fails with its reason.
///
/// ```ignore
/// mod memory {
///     haul_testkit::conformance_tests!(async {
///         std::sync::Arc::new(haul_testkit::MemoryStore::with_min_part_size(1024))
///     });
/// }
///
/// mod kodo {
///     haul_testkit::conformance_tests!(store(), skip {
///         attributes_round_trip: "Kodo keeps no user metadata",
///     });
/// }
/// ```
#[macro_export]
macro_rules! conformance_tests {
    ($factory:expr) => {
        $crate::conformance_tests!(@cases ($) $factory, {});
    };
    ($factory:expr, skip { $($skip:ident : $why:literal),* $(,)? }) => {
        $crate::conformance_tests!(@cases ($) $factory, { $($skip : $why),* });
    };
    (@cases ($d:tt) $factory:expr, { $($skip:ident : $why:literal),* }) => {
        macro_rules! __haul_conformance_case {
            $(
                ($skip) => {
                    #[$crate::__private::tokio::test(
                        crate = "::haul_testkit::__private::tokio",
                        flavor = "multi_thread",
                        worker_threads = 2
                    )]
                    #[ignore = $why]
                    async fn $skip() {
                        let store = $factory.await;
                        let outcome = $crate::conformance::$skip(&*store).await;
                        $crate::conformance::expect(stringify!($skip), outcome, true);
                    }
                };
            )*
            ($d case:ident) => {
                #[$crate::__private::tokio::test(
                    crate = "::haul_testkit::__private::tokio",
                    flavor = "multi_thread",
                    worker_threads = 2
                )]
                async fn $d case() {
                    let store = $factory.await;
                    let outcome = $crate::conformance::$d case(&*store).await;
                    $crate::conformance::expect(stringify!($d case), outcome, false);
                }
            };
        }

        __haul_conformance_case!(put_get_head_delete);
        __haul_conformance_case!(delete_missing_key);
        __haul_conformance_case!(zero_byte_object);
        __haul_conformance_case!(ranges);
        __haul_conformance_case!(conditional_get);
        __haul_conformance_case!(put_checksums);
        __haul_conformance_case!(payload_checksums);
        __haul_conformance_case!(copy_object);
        __haul_conformance_case!(attributes_round_trip);
        __haul_conformance_case!(error_classification);
        __haul_conformance_case!(list_prefix_pagination);
        __haul_conformance_case!(list_delimiter);
        __haul_conformance_case!(multipart_out_of_order);
        __haul_conformance_case!(multipart_complete_refusals);
        __haul_conformance_case!(multipart_abort);
        __haul_conformance_case!(multipart_zero_byte);
        __haul_conformance_case!(upload_part_copy_ranges);
        __haul_conformance_case!(concurrent_upload_parts);
        __haul_conformance_case!(streamed_parts);
        __haul_conformance_case!(streamed_put);
        __haul_conformance_case!(odd_keys);
        __haul_conformance_case!(long_keys);

        #[test]
        fn conformance_cases_complete() {
            let listed: &[&str] = &["put_get_head_delete", "delete_missing_key", "zero_byte_object", "ranges", "conditional_get", "put_checksums", "payload_checksums", "copy_object", "attributes_round_trip", "error_classification", "list_prefix_pagination", "list_delimiter", "multipart_out_of_order", "multipart_complete_refusals", "multipart_abort", "multipart_zero_byte", "upload_part_copy_ranges", "concurrent_upload_parts", "streamed_parts", "streamed_put", "odd_keys", "long_keys"];
            assert_eq!(
                listed,
                $crate::conformance::CASES,
                "conformance_tests! and conformance::CASES list different cases"
            );
            for case in [$(stringify!($skip)),*] {
                assert!(
                    $crate::conformance::CASES.contains(&case),
                    "`skip` names {case}, which is no conformance case"
                );
            }
        }
    };
}
