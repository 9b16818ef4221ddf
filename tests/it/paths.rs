//! Downloads of hostile keys stay inside the destination directory: the
//! engine copies from a store holding keys like `../../x` and `/etc/x` into a
//! local directory; those files fail with a clear error, the others arrive,
//! and nothing is written outside.

use std::sync::Arc;

use haul::core::{Key, ObjectStore, ObjectStoreExt};
use haul::engine::{Endpoint, Engine, JobRequest, TransferConfig};
use haul::journal::Journal;
use haul::local::LocalStore;
use haul::testkit::MemoryStore;

#[tokio::test]
async fn hostile_keys_never_leave_the_destination() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("a/b/dest");
    let src = Arc::new(MemoryStore::new());
    let hostile = [
        "../../escape1",
        "../escape2",
        "x/../../../escape3",
        "/etc/escape4",
        "//escape5",
        "ok/..\\..\\escape6",
        "ok/./escape7",
    ];
    for k in hostile.iter().chain(&["ok/fine.txt", "%2e%2e/literal"]) {
        src.put_bytes(&Key::new(*k).unwrap(), "data".into())
            .await
            .unwrap();
    }
    let local: Arc<dyn ObjectStore> = Arc::new(LocalStore::new(&dest).unwrap());
    let engine = Engine::new(
        Arc::new(Journal::open_ephemeral().unwrap()),
        TransferConfig::default(),
    );
    let s = engine
        .start(JobRequest::copy(
            Endpoint::new(src, "", "mem"),
            Endpoint::new(local, "", "dir"),
        ))
        .await
        .unwrap()
        .join()
        .await
        .unwrap();
    assert_eq!(s.counts.files_done, 2, "{s:?}");
    assert_eq!(s.counts.files_failed, hostile.len() as u64, "{s:?}");
    for (key, err) in &s.failures {
        assert!(hostile.contains(&key.as_str()), "{key}");
        assert!(
            err.starts_with(key.as_str()),
            "the error names the key: {err}"
        );
    }
    assert_eq!(std::fs::read(dest.join("ok/fine.txt")).unwrap(), b"data");
    assert_eq!(std::fs::read(dest.join("%2e%2e/literal")).unwrap(), b"data");
    // Nothing anywhere above or beside the destination.
    let mut found = Vec::new();
    let mut stack = vec![tmp.path().to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                found.push(p);
            }
        }
    }
    found.sort();
    assert_eq!(
        found,
        [dest.join("%2e%2e/literal"), dest.join("ok/fine.txt")],
        "only the two safe files exist"
    );
    assert!(!std::path::Path::new("/etc/escape4").exists());
}
