//! The conformance suite every [`ObjectStore`] implementation must pass.
//!
//! Each case is an `async fn(&dyn ObjectStore)` that panics on failure and
//! returns early only when the store's [`Capabilities`](haul_core::Capabilities)
//! say it lacks what the case needs. Every case works under its own unique
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
        pub fn run_case<'a>(name: &str, store: &'a dyn ObjectStore) -> BoxFuture<'a, ()> {
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

/// Runs every case against `store`, one after another.
///
/// # Panics
/// When a case fails.
pub async fn run_all(store: &dyn ObjectStore) {
    for name in CASES {
        run_case(name, store).await;
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
/// The argument is an expression evaluated afresh in every test, whose value
/// is a future (an `async` block or a call to an `async fn`) resolving to
/// something that derefs to a store: `Arc<dyn ObjectStore>`,
/// `Arc<MyStore>`, or a [`Guarded`](crate::Guarded) that also keeps a
/// temporary directory alive. A synchronous factory is wrapped in
/// `async { ... }`. Invoke it once per module; the tests run on a two-worker
/// multi-threaded runtime, and the calling crate needs no tokio dependency of
/// its own (it must depend on this crate under its own name, `haul_testkit`).
///
/// ```ignore
/// use std::sync::Arc;
/// use haul_testkit::{Guarded, MemoryStore};
///
/// mod memory {
///     haul_testkit::conformance_tests!(async {
///         std::sync::Arc::new(haul_testkit::MemoryStore::with_min_part_size(1024))
///     });
/// }
///
/// mod local {
///     async fn store() -> haul_testkit::Guarded<tempfile::TempDir> {
///         let dir = tempfile::tempdir().unwrap();
///         let store = std::sync::Arc::new(haul_local::LocalStore::new(dir.path()));
///         haul_testkit::Guarded::new(store, dir)
///     }
///     haul_testkit::conformance_tests!(store());
/// }
/// ```
#[macro_export]
macro_rules! conformance_tests {
    ($factory:expr) => {
        $crate::conformance_tests!(@cases ($factory)
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
    };
    (@cases ($factory:expr) $($case:ident),* $(,)?) => {
        $(
            #[$crate::__private::tokio::test(
                crate = "::haul_testkit::__private::tokio",
                flavor = "multi_thread",
                worker_threads = 2
            )]
            async fn $case() {
                let store = $factory.await;
                $crate::conformance::$case(&*store).await;
            }
        )*

        #[test]
        fn conformance_cases_complete() {
            assert_eq!(
                &[$(stringify!($case)),*][..],
                $crate::conformance::CASES,
                "conformance_tests! and conformance::CASES list different cases"
            );
        }
    };
}
