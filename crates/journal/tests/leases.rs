//! The shared journal's leases: disjoint claims, fencing of a worker that
//! lost its lease, a dead worker's files taken over, leases given back on
//! interrupt, a job ending with its last worker, and URLs whose password
//! shows nowhere. Needs PostgreSQL (`--include-ignored`).

use std::time::Duration;

use haul_journal::{FileId, FileState, JobState, Journal, JournalError, NewFile, PartRow};

mod common;
use common::Db;

fn part(n: u32) -> PartRow {
    PartRow {
        number: n,
        offset: u64::from(n - 1) * 10,
        len: 10,
        etag: format!("etag{n}"),
        crc32c: None,
        md5: None,
        native: None,
    }
}

async fn planned(url: &str, n: u64) -> (Journal, haul_journal::JobId) {
    let j = Journal::open(url).unwrap();
    let job = j.create_job("{}").await.unwrap();
    j.add_files(
        job,
        (0..n)
            .map(|i| NewFile::copy(format!("f{i:04}"), format!("f{i:04}"), 100))
            .collect(),
    );
    j.set_job_state(job, JobState::Running);
    j.flush().await.unwrap();
    (j, job)
}

/// Ends every lease on `file` as if its holder had been silent past it.
async fn expire(url: &str, file: FileId) {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let task = tokio::spawn(conn);
    let n = client
        .execute("UPDATE files SET lease_until = 0 WHERE id = $1", &[&file.0])
        .await
        .unwrap();
    assert_eq!(n, 1);
    drop(client);
    let _ = task.await;
}

#[tokio::test]
#[ignore = "needs postgres"]
async fn claims_are_disjoint_and_a_worker_that_lost_its_lease_is_fenced() {
    let db = Db::postgres();
    let url = db.location();
    let (a, job) = planned(&url, 50).await;
    let b = Journal::open(&url).unwrap();
    let mine = a.next_files(job, FileId(0), 20, false).await.unwrap();
    let theirs = b.next_files(job, FileId(0), 20, false).await.unwrap();
    assert_eq!((mine.len(), theirs.len()), (20, 20));
    assert!(mine.iter().all(|f| theirs.iter().all(|g| g.id != f.id)));
    assert_ne!(a.worker_name(), b.worker_name());

    // A starts an upload and records a part; then its lease ends and B
    // takes the file over.
    let f = mine[0].id;
    a.start_upload(f, "up-1", 10).await.unwrap();
    a.part_done(f, part(1));
    a.flush_file(f).await.unwrap();
    expire(&url, f).await;
    let taken = b.next_files(job, FileId(0), 1, false).await.unwrap();
    assert_eq!(taken.iter().map(|r| r.id).collect::<Vec<_>>(), [f]);
    assert_eq!(taken[0].upload_id.as_deref(), Some("up-1"));
    assert_eq!(b.parts(f).unwrap(), [part(1)]);

    // A's late writes are refused: a part, the barrier before complete,
    // the file's end.
    a.part_done(f, part(2));
    let err = a.flush_file(f).await.unwrap_err();
    assert!(
        matches!(err, JournalError::LeaseLost(id) if id == f),
        "{err}"
    );
    a.set_file_state(f, FileState::Done, Some("crc32c:aa".into()), None);
    a.flush().await.unwrap();
    assert_eq!(b.parts(f).unwrap(), [part(1)]);
    assert_eq!(b.file(f).unwrap().unwrap().state, FileState::Active);
    let err = a.start_upload(f, "up-2", 10).await.unwrap_err();
    assert!(matches!(err, JournalError::LeaseLost(_)), "{err}");
    assert_eq!(
        b.file(f).unwrap().unwrap().upload_id.as_deref(),
        Some("up-1")
    );

    // B, the holder, records and finishes.
    b.part_done(f, part(2));
    b.flush_file(f).await.unwrap();
    assert_eq!(b.parts(f).unwrap().len(), 2);
    b.set_file_state(f, FileState::Done, Some("crc32c:bb".into()), None);
    b.flush().await.unwrap();
    let row = a.file(f).unwrap().unwrap();
    assert_eq!(row.state, FileState::Done);
    assert_eq!(row.checksum.as_deref(), Some("crc32c:bb"));
    let leases = a.leases(job).unwrap();
    assert_eq!(leases.len(), 39);
    assert!(leases.iter().all(|l| l.file != f && l.expires_in_ms > 0));
}

#[tokio::test]
#[ignore = "needs postgres"]
async fn a_dead_workers_files_are_taken_when_its_lease_expires() {
    let db = Db::postgres();
    let url = db.location();
    let (a, job) = planned(&url, 3).await;
    a.set_lease(Duration::from_millis(300));
    let held = a.next_files(job, FileId(0), 10, false).await.unwrap();
    assert_eq!(held.len(), 3);
    let b = Journal::open(&url).unwrap();
    // A dies holding everything (dropped: no renewals, no release). B's
    // claim waits for the leases to run out rather than ending early.
    drop(a);
    let got = b.next_files(job, FileId(0), 10, false).await.unwrap();
    assert_eq!(got.len(), 3);
    for f in &got {
        b.set_file_state(f.id, FileState::Done, None, None);
    }
    b.set_job_state(job, JobState::Done);
    b.flush().await.unwrap();
    assert!(
        b.next_files(job, FileId(0), 10, false)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(b.job(job).unwrap().state, JobState::Done);
    let workers = b.workers(job).unwrap();
    assert_eq!(workers.len(), 2);
    let me = workers
        .iter()
        .find(|w| Some(w.id.as_str()) == b.worker_name())
        .unwrap();
    assert_eq!((me.files_done, me.bytes_done), (3, 300));
}

#[tokio::test]
#[ignore = "needs postgres"]
async fn an_interrupted_worker_gives_its_leases_back_and_the_last_one_ends_the_job() {
    let db = Db::postgres();
    let url = db.location();
    let (a, job) = planned(&url, 4).await;
    let b = Journal::open(&url).unwrap();
    let ha = a.next_files(job, FileId(0), 2, false).await.unwrap();
    let hb = b.next_files(job, FileId(0), 2, false).await.unwrap();
    assert_eq!((ha.len(), hb.len()), (2, 2));
    // A finishes one file and is interrupted: its other file is free at once.
    a.set_file_state(ha[0].id, FileState::Done, None, None);
    a.set_job_state(job, JobState::Interrupted);
    a.flush().await.unwrap();
    assert_eq!(a.job(job).unwrap().state, JobState::Running);
    let again = b.next_files(job, FileId(0), 5, false).await.unwrap();
    assert_eq!(again.iter().map(|f| f.id).collect::<Vec<_>>(), [ha[1].id]);
    // B ending with a file still unfinished leaves the job running...
    for f in &hb {
        b.set_file_state(f.id, FileState::Done, None, None);
    }
    b.set_job_state(job, JobState::Done);
    b.flush().await.unwrap();
    assert_eq!(b.job(job).unwrap().state, JobState::Running);
    // ... and its last file failing ends it failed.
    b.set_file_state(ha[1].id, FileState::Failed, None, Some("boom".into()));
    b.set_job_state(job, JobState::Done);
    b.flush().await.unwrap();
    let row = b.job(job).unwrap();
    assert_eq!(
        (row.state, row.files_done, row.files_failed),
        (JobState::Failed, 3, 1)
    );
    // A failed file is retried once per run above the cursor, never twice.
    let retry = b.next_files(job, FileId(0), 5, true).await.unwrap();
    assert_eq!(retry.len(), 1);
    assert!(
        b.next_files(job, retry[0].id, 5, true)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
#[ignore = "needs postgres"]
async fn the_password_shows_in_no_message() {
    let db = Db::postgres();
    let server = db.server().unwrap();
    let pw = server.password();
    let j = Journal::open(db.location()).unwrap();
    assert!(!j.path().display().to_string().contains(pw));
    assert!(j.path().display().to_string().contains(":***@"));
    let wrong = db.location().replace(pw, "not-the-password");
    let err = Journal::open(&wrong).unwrap_err().to_string();
    assert!(!err.contains("not-the-password"), "{err}");
    assert!(err.contains("***"), "{err}");
    let nodb = db.location().replace("/haul", "/no_such_db");
    let err = Journal::open(&nodb).unwrap_err().to_string();
    assert!(!err.contains(pw), "{err}");
    assert!(err.contains("no_such_db"), "{err}");
}

#[tokio::test]
#[ignore = "needs postgres"]
async fn a_schema_from_a_newer_haul_is_refused() {
    let db = Db::postgres();
    let url = db.location();
    drop(Journal::open(&url).unwrap());
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let task = tokio::spawn(conn);
    client
        .execute("UPDATE haul_schema SET version = 999", &[])
        .await
        .unwrap();
    drop(client);
    let _ = task.await;
    let err = Journal::open(&url).unwrap_err();
    assert!(
        matches!(err, JournalError::TooNew { found: 999, .. }),
        "{err}"
    );
}
