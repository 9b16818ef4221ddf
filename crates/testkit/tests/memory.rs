//! The conformance suite against [`MemoryStore`], with a small and with S3's
//! minimum part size, directly and through a rule-less [`FaultStore`].

use std::sync::Arc;

use haul_core::ObjectStore;
use haul_testkit::{FaultStore, MemoryStore};

/// Small parts keep the multipart cases quick.
mod small_parts {
    haul_testkit::conformance_tests!(
        async { std::sync::Arc::new(haul_testkit::MemoryStore::with_min_part_size(4 * 1024)) },
        skip {
            streamed_put: "a memory store gathers a streamed body",
        }
    );
}

/// A counting wrapper must be transparent.
mod through_fault_store {
    fn store() -> std::sync::Arc<dyn haul_core::ObjectStore> {
        let inner = std::sync::Arc::new(haul_testkit::MemoryStore::with_min_part_size(1024));
        std::sync::Arc::new(haul_testkit::FaultStore::new(inner, 1))
    }
    haul_testkit::conformance_tests!(
        async { store() },
        skip {
            streamed_put: "a memory store gathers a streamed body",
        }
    );
}

/// S3's real 5 MiB minimum, every case in one test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_part_minimum_all_cases() {
    let store = MemoryStore::new();
    assert_eq!(store.capabilities().min_part_size_bytes, 5 << 20);
    let skipped = haul_testkit::conformance::run_all(&store).await;
    let names: Vec<&str> = skipped.iter().map(|(case, _)| *case).collect();
    assert_eq!(names, ["streamed_put"], "{skipped:?}");
    assert!(
        store.keys().is_empty(),
        "cases clean up: {:?}",
        store.keys()
    );
    assert!(store.pending_uploads().is_empty());
}

/// Cases run at once against one store do not disturb each other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_cases_concurrently_on_one_store() {
    let store: Arc<dyn ObjectStore> = Arc::new(FaultStore::new(
        Arc::new(MemoryStore::with_min_part_size(512)),
        3,
    ));
    let runs = haul_testkit::conformance::CASES
        .iter()
        .map(|name| haul_testkit::conformance::run_case(name, &*store));
    futures::future::join_all(runs).await;
}
