//! The journal's behaviour: batching, barriers, queries, locks, corruption.
//! Every case about what the journal records runs on both backends: SQLite
//! in a temporary directory, and a throwaway PostgreSQL (ignored unless
//! `initdb` is installed: run with `--include-ignored`).

use haul_core::{Checksum, ChecksumKind};
use haul_journal::{
    FileAudit, FileId, FileState, JobState, Journal, JournalError, NewFile, ObjectSums, PartRow,
};

mod common;
use common::Db;

/// One case, twice: `case::sqlite` and `case::postgres`.
macro_rules! both {
    ($($case:ident),* $(,)?) => {$(
        mod $case {
            #[tokio::test]
            async fn sqlite() {
                let db = super::Db::sqlite();
                super::$case(&db.location()).await;
            }
            #[tokio::test]
            #[ignore = "needs postgres"]
            async fn postgres() {
                let db = super::Db::postgres();
                super::$case(&db.location()).await;
            }
        }
    )*};
}

both!(
    plan_parts_and_states_survive_reopen,
    reset_and_forget,
    unknown_files_wait_for_a_requeue_and_locations_are_kept,
    many_planned_files_keep_their_order_and_parts_batch,
    checksums_are_kept_per_version_and_store,
    audit_facts_are_kept_per_file,
);

fn part(n: u32) -> PartRow {
    PartRow {
        number: n,
        offset: u64::from(n - 1) * 10,
        len: 10,
        etag: format!("etag{n}"),
        crc32c: Some("crc32c:00000000".into()),
        md5: None,
        native: Some("crc64xz:0000000000000001".into()),
    }
}

async fn plan_parts_and_states_survive_reopen(path: &str) {
    let job;
    {
        let j = Journal::open(path).unwrap();
        job = j.create_job("{\"spec\":1}").await.unwrap();
        j.add_files(
            job,
            (0..2500)
                .map(|i| NewFile::copy(format!("s{i}"), format!("d{i}"), i))
                .collect(),
        );
        j.set_job_state(job, JobState::Running);
        j.flush().await.unwrap();
        let first = j.files_to_do(job, FileId(0), 10, false).unwrap();
        assert_eq!(first.len(), 10);
        assert_eq!(first[0].src, "s0");
        let f = first[3].id;
        j.start_upload(f, "up-1", 10).await.unwrap();
        for n in [2, 1, 3] {
            j.part_done(f, part(n));
        }
        j.set_file_state(first[0].id, FileState::Done, Some("crc32c:ab".into()), None);
        j.set_file_state(first[1].id, FileState::Failed, None, Some("boom".into()));
        j.flush().await.unwrap();
    }
    let j = Journal::open(path).unwrap();
    let row = j.job(job).unwrap();
    assert_eq!(row.spec, "{\"spec\":1}");
    assert_eq!(row.state, JobState::Running);
    assert_eq!(row.files_total, 2500);
    assert_eq!(row.files_done, 1);
    assert_eq!(row.files_failed, 1);
    assert_eq!(row.bytes_total, (0..2500u64).sum::<u64>());
    let files = j.files(job).unwrap();
    let f = &files[3];
    assert_eq!(f.upload_id.as_deref(), Some("up-1"));
    assert_eq!(f.part_size, Some(10));
    assert_eq!(f.state, FileState::Active);
    let parts = j.parts(f.id).unwrap();
    assert_eq!(
        parts.iter().map(|p| p.number).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(parts[1], part(2));
    let failed = j.failed_files(job).unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].error.as_deref(), Some("boom"));
    // Paging skips done and failed files unless asked.
    let todo = j.files_to_do(job, FileId(0), 5000, false).unwrap();
    assert_eq!(todo.len(), 2498);
    assert_eq!(
        j.files_to_do(job, FileId(0), 5000, true).unwrap().len(),
        2499
    );
    assert_eq!(j.latest_unfinished_job().unwrap(), Some(job));
    assert_eq!(j.open_uploads().unwrap().len(), 1);
}

async fn reset_and_forget(path: &str) {
    let j = Journal::open(path).unwrap();
    let job = j.create_job("{}").await.unwrap();
    j.add_files(job, vec![NewFile::copy("a", "a", 30)]);
    j.flush().await.unwrap();
    let f = j.files(job).unwrap()[0].id;
    j.start_upload(f, "u", 10).await.unwrap();
    j.part_done(f, part(1));
    j.part_done(f, part(2));
    j.forget_parts(f, vec![2]);
    j.flush().await.unwrap();
    assert_eq!(j.parts(f).unwrap().len(), 1);
    j.reset_file(f, 40, Some(7), None);
    j.flush().await.unwrap();
    let row = j.file(f).unwrap().unwrap();
    assert_eq!((row.size, row.mtime_ns, row.upload_id), (40, Some(7), None));
    assert_eq!(row.state, FileState::Pending);
    assert!(j.parts(f).unwrap().is_empty());
    j.set_file_state(f, FileState::Done, None, None);
    j.set_job_state(job, JobState::Done);
    j.flush().await.unwrap();
    assert_eq!(j.latest_unfinished_job().unwrap(), None);
    j.forget_job(job).await.unwrap();
    assert!(matches!(j.job(job), Err(JournalError::NoSuchJob(_))));
    assert!(j.list_jobs().unwrap().is_empty());
}

#[tokio::test]
async fn second_holder_of_a_job_gets_running_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.db");
    let a = Journal::open(&path).unwrap();
    let b = Journal::open(&path).unwrap();
    let job = a.create_job("{}").await.unwrap();
    let lock = a.lock_job(job).unwrap();
    let err = b.lock_job(job).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("job {job} is running (pid {})", std::process::id())
    );
    drop(lock);
    b.lock_job(job).unwrap();
}

#[test]
fn corrupt_journal_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.db");
    std::fs::write(&path, vec![b'x'; 8192]).unwrap();
    let err = Journal::open(&path).unwrap_err();
    assert!(matches!(err, JournalError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("corrupt"), "{err}");
}

#[test]
fn unwritable_location_is_a_clear_error() {
    let err = Journal::open("/proc/haul/journal.db").unwrap_err();
    assert!(err.to_string().contains("/proc/haul"), "{err}");
}

#[tokio::test]
async fn ephemeral_journal_works_and_cleans_up() {
    let j = Journal::open_ephemeral().unwrap();
    let dir = j.path().parent().unwrap().to_path_buf();
    let job = j.create_job("{}").await.unwrap();
    j.add_files(job, vec![NewFile::copy("a", "b", 1)]);
    j.flush().await.unwrap();
    assert_eq!(j.files(job).unwrap().len(), 1);
    drop(j);
    assert!(!dir.exists());
}

async fn unknown_files_wait_for_a_requeue_and_locations_are_kept(path: &str) {
    let j = Journal::open(path).unwrap();
    let job = j.create_job("{}").await.unwrap();
    j.add_files(
        job,
        vec![NewFile::copy("a", "a", 1), NewFile::copy("b", "b", 1)],
    );
    j.flush().await.unwrap();
    let files = j.files(job).unwrap();
    j.set_file_state(
        files[0].id,
        FileState::Unknown,
        None,
        Some("answer lost".into()),
    );
    j.set_location(files[1].id, "https://nos.example/b".into());
    j.set_file_state(files[1].id, FileState::Done, None, None);
    j.flush().await.unwrap();
    assert!(j.files_to_do(job, FileId(0), 10, true).unwrap().is_empty());
    assert_eq!(j.files_in_state(job, FileState::Unknown).unwrap().len(), 1);
    assert_eq!(
        j.file(files[1].id).unwrap().unwrap().location.as_deref(),
        Some("https://nos.example/b")
    );
    j.requeue_unknown(job).await.unwrap();
    assert_eq!(j.files_to_do(job, FileId(0), 10, false).unwrap().len(), 1);
}

#[tokio::test]
async fn the_journal_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.db");
    let j = Journal::open(&path).unwrap();
    let job = j.create_job("{}").await.unwrap();
    j.add_files(job, vec![NewFile::copy("a", "b", 1)]);
    j.flush().await.unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600);
    let wal = dir.path().join("j.db-wal");
    if wal.exists() {
        assert_eq!(mode(&wal), 0o600);
    }
    drop(j);
    // An older journal readable by others is tightened when opened.
    let old = dir.path().join("old.db");
    drop(Journal::open(&old).unwrap());
    std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o644)).unwrap();
    drop(Journal::open(&old).unwrap());
    assert_eq!(mode(&old), 0o600);
}

async fn many_planned_files_keep_their_order_and_parts_batch(path: &str) {
    let j = Journal::open(path).unwrap();
    let job = j.create_job("{}").await.unwrap();
    for chunk in 0..4u64 {
        j.add_files(
            job,
            (0..5000)
                .map(|i| NewFile::copy(format!("k{:06}", chunk * 5000 + i), "d", 1))
                .collect(),
        );
    }
    j.flush().await.unwrap();
    let files = j.files(job).unwrap();
    assert_eq!(files.len(), 20_000);
    assert!(
        files
            .windows(2)
            .all(|w| w[0].src < w[1].src && w[0].id < w[1].id)
    );
    let f = files[7].id;
    j.start_upload(f, "u", 10).await.unwrap();
    for n in 1..=3000 {
        j.part_done(f, part(n));
    }
    // A part recorded twice keeps its last record.
    j.part_done(
        f,
        PartRow {
            etag: "again".into(),
            ..part(5)
        },
    );
    j.flush_file(f).await.unwrap();
    let parts = j.parts(f).unwrap();
    assert_eq!(parts.len(), 3000);
    assert_eq!(parts[4].etag, "again");
    assert_eq!(parts[2999], part(3000));
    j.set_file_state(f, FileState::Done, Some("crc32c:01".into()), None);
    j.flush().await.unwrap();
    assert!(j.parts(f).unwrap().is_empty());
    assert_eq!(j.job(job).unwrap().files_done, 1);
    assert_eq!(
        j.next_files(job, FileId(0), 10, false).await.unwrap().len(),
        10
    );
}

async fn checksums_are_kept_per_version_and_store(path: &str) {
    let j = Journal::open(path).unwrap();
    let crc = |v| Checksum::from_crc(ChecksumKind::Crc32c, v);
    let md5 = Checksum::from_hex(ChecksumKind::Md5, "d41d8cd98f00b204e9800998ecf8427e").unwrap();
    let record = |store: &str, etag: &str, sums: Vec<Checksum>| ObjectSums {
        store: store.into(),
        key: "a/b.bin".into(),
        size: 10,
        etag: etag.into(),
        sums,
    };
    j.record_sums(record("s3://one", "e1", vec![crc(1), md5.clone()]));
    j.record_sums(record("file:///data", "e1", vec![crc(2)]));
    j.flush().await.unwrap();
    let mut got = j.sums_of("s3://one", "a/b.bin", 10, "e1").unwrap();
    got.sort_by_key(Checksum::kind);
    assert_eq!(got, vec![crc(1), md5]);
    assert_eq!(
        j.sums_of("file:///data", "a/b.bin", 10, "e1").unwrap(),
        vec![crc(2)]
    );
    // Another size or ETag is another version: nothing is known of it.
    assert!(
        j.sums_of("s3://one", "a/b.bin", 11, "e1")
            .unwrap()
            .is_empty()
    );
    assert!(
        j.sums_of("s3://one", "a/b.bin", 10, "e2")
            .unwrap()
            .is_empty()
    );
    // A new version replaces every kind recorded of the old one.
    j.record_sums(record("s3://one", "e2", vec![crc(3)]));
    j.flush().await.unwrap();
    assert!(
        j.sums_of("s3://one", "a/b.bin", 10, "e1")
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        j.sums_of("s3://one", "a/b.bin", 10, "e2").unwrap(),
        vec![crc(3)]
    );
    // Kept across reopening.
    drop(j);
    let j = Journal::open(path).unwrap();
    assert_eq!(
        j.sums_of("file:///data", "a/b.bin", 10, "e1").unwrap(),
        vec![crc(2)]
    );
}

async fn audit_facts_are_kept_per_file(path: &str) {
    let j = Journal::open(path).unwrap();
    let job = j.create_job("{}").await.unwrap();
    j.add_files(
        job,
        vec![NewFile::copy("a", "a", 30), NewFile::copy("b", "b", 5)],
    );
    j.flush().await.unwrap();
    let files = j.files(job).unwrap();
    let audit = FileAudit {
        method: Some("multipart".into()),
        verified: Some("crc32c+md5".into()),
        retries: 3,
        retry_causes: Some("transient=2,timeout=1".into()),
        resent_bytes: 20,
        resumed: true,
        resumed_bytes: 10,
        started_ms: Some(1_700_000_000_000),
        ended_ms: Some(1_700_000_001_500),
    };
    j.set_file_audit(files[0].id, audit.clone());
    j.set_file_state(files[0].id, FileState::Done, Some("crc32c:ab".into()), None);
    j.flush().await.unwrap();
    drop(j);
    let j = Journal::open(path).unwrap();
    let rows = j.audit(job).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].file.src, "a");
    assert_eq!(rows[0].file.state, FileState::Done);
    assert_eq!(rows[0].audit, audit);
    // A file that never ended has nothing recorded.
    assert_eq!(rows[1].audit, FileAudit::default());
}
