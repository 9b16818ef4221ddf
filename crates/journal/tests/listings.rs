//! Listing tasks: a job's listing split into parts that workers lease like
//! files. Claims are disjoint; a batch of files goes in with its task's
//! cursor in one transaction; a task taken over continues after its cursor
//! while the old owner's late batches and end are refused, so no file is
//! planned twice. The shared-journal cases need PostgreSQL
//! (`--include-ignored`).

use std::collections::BTreeSet;
use std::time::Duration;

use haul_journal::{
    JobId, JobState, Journal, JournalError, ListingState, ListingTask, NewFile, NewListing,
};

mod common;
use common::Db;

fn files(prefix: &str, range: std::ops::Range<u32>) -> Vec<NewFile> {
    range
        .map(|i| NewFile::copy(format!("{prefix}f{i}"), format!("d/{prefix}f{i}"), 10))
        .collect()
}

async fn planned(url: &str, tasks: u32) -> (Journal, JobId) {
    let j = Journal::open(url).unwrap();
    let job = j.create_job("{}").await.unwrap();
    j.add_listings(
        job,
        (0..tasks)
            .map(|i| NewListing::prefix(format!("p{i}/"), format!("d/p{i}/")))
            .collect(),
    );
    // The same range again is left as it is.
    j.add_listings(job, vec![NewListing::prefix("p0/", "d/p0/")]);
    j.set_job_state(job, JobState::Running);
    j.flush().await.unwrap();
    (j, job)
}

/// Every planned source key of the job, checking none is there twice.
fn planned_keys(j: &Journal, job: JobId) -> BTreeSet<String> {
    let all = j.files(job).unwrap();
    let keys: BTreeSet<String> = all.iter().map(|f| f.src.clone()).collect();
    assert_eq!(keys.len(), all.len(), "a file planned twice");
    keys
}

async fn expire(url: &str, task: &ListingTask) {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let conn = tokio::spawn(conn);
    let n = client
        .execute(
            "UPDATE listings SET lease_until = 0 WHERE id = $1",
            &[&task.id.0],
        )
        .await
        .unwrap();
    assert_eq!(n, 1);
    drop(client);
    let _ = conn.await;
}

#[tokio::test]
#[ignore = "needs postgres"]
async fn listing_tasks_are_claimed_disjointly_and_a_lost_lease_fences_batch_and_cursor() {
    let db = Db::postgres();
    let url = db.location();
    let (a, job) = planned(&url, 4).await;
    let b = Journal::open(&url).unwrap();
    let mut claimed = Vec::new();
    for j in [&a, &b, &a, &b] {
        claimed.push(j.next_listing(job, true).await.unwrap().unwrap());
    }
    let ids: BTreeSet<_> = claimed.iter().map(|t| t.id).collect();
    assert_eq!(ids.len(), 4, "each task claimed once: {claimed:?}");
    assert_eq!(a.listings(job).unwrap().len(), 4);

    // A journals a first batch of its task, then loses the lease and B,
    // with nothing else to claim, takes the task over after A's cursor.
    let t = claimed[0].clone();
    a.listed(&t, files("p0/", 0..3), "p0/f2".into())
        .await
        .unwrap();
    expire(&url, &t).await;
    let taken = b.next_listing(job, true).await.unwrap().unwrap();
    assert_eq!(taken.id, t.id);
    assert_eq!(taken.cursor.as_deref(), Some("p0/f2"));
    assert!(taken.epoch > t.epoch);

    // A's late batch and its end are refused whole: no file, no cursor.
    let err = a
        .listed(&t, files("p0/", 3..9), "p0/f8".into())
        .await
        .unwrap_err();
    assert!(
        matches!(err, JournalError::ListingLost(id) if id == t.id),
        "{err}"
    );
    assert!(a.listing_lost(t.id));
    let err = a.finish_listing(&t, None).await.unwrap_err();
    assert!(matches!(err, JournalError::ListingLost(_)), "{err}");
    let row = |j: &Journal| {
        j.listings(job)
            .unwrap()
            .into_iter()
            .find(|l| l.id == t.id)
            .unwrap()
    };
    let now = row(&b);
    assert_eq!(
        (now.state, now.cursor.as_deref(), now.files),
        (ListingState::Pending, Some("p0/f2"), 3)
    );
    assert_eq!(now.owner.as_deref(), b.worker_name());
    assert_eq!(planned_keys(&b, job).len(), 3);

    // B continues after the cursor and ends the task.
    b.listed(&taken, files("p0/", 3..6), "p0/f5".into())
        .await
        .unwrap();
    b.finish_listing(&taken, None).await.unwrap();
    let done = row(&a);
    assert_eq!(
        (done.state, done.cursor.as_deref(), done.files),
        (ListingState::Done, Some("p0/f5"), 6)
    );
    let keys = planned_keys(&a, job);
    assert_eq!(
        keys,
        files("p0/", 0..6).into_iter().map(|f| f.src).collect()
    );

    // The job is not done while a task is still to list, whoever ends.
    b.set_job_state(job, JobState::Done);
    b.flush().await.unwrap();
    assert_eq!(b.job(job).unwrap().state, JobState::Running);
    for (j, t) in [(&b, &claimed[1]), (&a, &claimed[2]), (&b, &claimed[3])] {
        j.listed(
            t,
            files(&t.range.prefix, 0..2),
            format!("{}f1", t.range.prefix),
        )
        .await
        .unwrap();
        j.finish_listing(t, None).await.unwrap();
    }
    assert!(a.next_listing(job, true).await.unwrap().is_none());
    a.set_job_state(job, JobState::Done);
    a.flush().await.unwrap();
    let job_row = a.job(job).unwrap();
    // Every file is still pending: the job runs on until they are done.
    assert_eq!(
        (job_row.state, job_row.files_total),
        (JobState::Running, 12)
    );
}

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

both!(a_task_reopened_continues_after_its_cursor);

async fn a_task_reopened_continues_after_its_cursor(url: &str) {
    let job;
    let first;
    {
        let (j, id) = planned(url, 2).await;
        job = id;
        j.set_lease(Duration::from_millis(300));
        first = j.next_listing(job, true).await.unwrap().unwrap();
        j.listed(&first, files(&first.range.prefix, 0..4), "x".into())
            .await
            .unwrap();
        if j.is_shared() {
            // Holds the other task too, so that only expiry frees them.
            let second = j.next_listing(job, true).await.unwrap().unwrap();
            assert_ne!(second.id, first.id);
        }
        // Dies here: no end, no release (on PostgreSQL the lease runs out).
    }
    let j = Journal::open(url).unwrap();
    let again = j.next_listing(job, true).await.unwrap().unwrap();
    assert_eq!((again.id, again.cursor.as_deref()), (first.id, Some("x")));
    assert_eq!(again.range, first.range);
    j.listed(&again, files(&again.range.prefix, 4..5), "y".into())
        .await
        .unwrap();
    j.finish_listing(&again, None).await.unwrap();
    let other = j.next_listing(job, true).await.unwrap().unwrap();
    assert_ne!(other.id, first.id);
    j.finish_listing(&other, Some("listing failed".into()))
        .await
        .unwrap();
    assert!(j.next_listing(job, true).await.unwrap().is_none());
    let rows = j.listings(job).unwrap();
    assert_eq!(
        rows.iter().map(|l| (l.state, l.files)).collect::<Vec<_>>(),
        [(ListingState::Done, 5), (ListingState::Failed, 0)]
    );
    assert_eq!(rows[1].error.as_deref(), Some("listing failed"));
    assert_eq!(planned_keys(&j, job).len(), 5);
}
