//! The shared `ObjectStore` conformance suite, run against `LocalStore`:
//! one test per case, each in a fresh temporary directory.

use std::sync::Arc;

use haul_local::LocalStore;
use haul_testkit::Guarded;
use tempfile::TempDir;

fn store() -> Guarded<TempDir> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = LocalStore::new(dir.path().join("root")).expect("a local store");
    Guarded::new(Arc::new(store), dir)
}

haul_testkit::conformance_tests!(
    async { store() },
    skip {
        attributes_round_trip: "a file keeps its modification time, not headers or user metadata",
        put_checksums: "a file system has no checksum of its own to check",
    }
);
