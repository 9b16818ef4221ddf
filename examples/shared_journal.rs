//! Measures the PostgreSQL journal against the SQLite one: the engine's
//! journal overhead for a copy of N small files into a MemoryStore, the
//! planning rate (rows written in the planner's batches of 1,000, a
//! barrier after each), and files claimed per second by W workers
//! (engines on their own connections) draining one job of small files
//! from a MemoryStore into another.
//!
//! ```text
//! cargo run --release --example shared_journal -- POSTGRES_URL [FILES] [PLAN_ROWS] [CLAIM_FILES] [WORKERS]
//! ```
//! Defaults: 10,000 files, 1,000,000 planned rows, 100,000 files claimed by 8 workers.

use std::sync::Arc;
use std::time::Instant;

use haul::core::{Key, ObjectStore, PutOptions};
use haul::engine::{Endpoint, Engine, JobRequest, TransferConfig};
use haul::journal::{JobState, Journal, NewFile};
use haul::testkit::MemoryStore;

async fn filled(n: usize) -> Arc<dyn ObjectStore> {
    let src = MemoryStore::new();
    for i in 0..n {
        let key = Key::new(format!("d{:03}/f{i:06}", i / 1000)).expect("key");
        src.put(
            &key,
            format!("file {i}").into_bytes().into(),
            PutOptions::default(),
        )
        .await
        .expect("put");
    }
    Arc::new(src)
}

/// `putmany`: one job copying every object of `src`; seconds.
async fn copy(src: &Arc<dyn ObjectStore>, journal: Journal) -> f64 {
    let dst: Arc<dyn ObjectStore> = Arc::new(MemoryStore::new());
    let engine = Engine::new(Arc::new(journal), TransferConfig::default());
    let t = Instant::now();
    let s = engine
        .start(JobRequest::copy(
            Endpoint::new(Arc::clone(src), "", "src"),
            Endpoint::new(dst, "", "mem"),
        ))
        .await
        .expect("start")
        .join()
        .await
        .expect("join");
    assert!(s.is_success());
    t.elapsed().as_secs_f64()
}

/// Rows per second written as the planner writes them.
async fn plan_rate(journal: &Journal, rows: u64) -> f64 {
    let job = journal.create_job("{}").await.expect("job");
    let t = Instant::now();
    let mut i = 0;
    while i < rows {
        let n = 1000.min(rows - i);
        journal.add_files(
            job,
            (i..i + n)
                .map(|k| NewFile::copy(format!("d{:04}/f{k:08}", k / 1000), "x", k))
                .collect(),
        );
        journal.flush().await.expect("flush");
        i += n;
    }
    let secs = t.elapsed().as_secs_f64();
    journal.forget_job(job).await.expect("forget");
    rows as f64 / secs
}

/// Files per second W workers finish of one planned job.
async fn claim_rate(url: &str, files: usize, workers: usize) -> f64 {
    let src = filled(files).await;
    let dst: Arc<dyn ObjectStore> = Arc::new(MemoryStore::new());
    let planner = Engine::new(
        Arc::new(Journal::open(url).expect("journal")),
        TransferConfig::default(),
    );
    let handle = planner
        .start(JobRequest {
            plan_only: true,
            ..JobRequest::copy(
                Endpoint::new(Arc::clone(&src), "", "src"),
                Endpoint::new(Arc::clone(&dst), "", "mem"),
            )
        })
        .await
        .expect("plan");
    let job = handle.job_id();
    handle.join().await.expect("planned");
    let t = Instant::now();
    let mut running = Vec::new();
    for _ in 0..workers {
        let e = Engine::new(
            Arc::new(Journal::open(url).expect("journal")),
            TransferConfig::default(),
        );
        running.push(
            e.work(
                job,
                Endpoint::new(Arc::clone(&src), "", "src"),
                Endpoint::new(Arc::clone(&dst), "", "mem"),
            )
            .expect("work"),
        );
    }
    let mut done = 0;
    for h in running {
        done += h.join().await.expect("worker").counts.files_done;
    }
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(done, files as u64);
    let row = planner.journal().job(job).expect("job");
    assert_eq!(row.state, JobState::Done);
    files as f64 / secs
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .ok_or("usage: shared_journal POSTGRES_URL [FILES] [PLAN_ROWS] [CLAIM_FILES] [WORKERS]")?;
    let files: usize = args.next().map_or(Ok(10_000), |a| a.parse())?;
    let plan_rows: u64 = args.next().map_or(Ok(1_000_000), |a| a.parse())?;
    let claim_files: usize = args.next().map_or(Ok(100_000), |a| a.parse())?;
    let workers: usize = args.next().map_or(Ok(8), |a| a.parse())?;
    let shown = haul::journal::redact_url(&url);
    let dir = tempfile::tempdir()?;

    let src = filled(files).await;
    let (mut lite, mut pg) = (Vec::new(), Vec::new());
    for r in 0..3 {
        lite.push(copy(&src, Journal::open(dir.path().join(format!("j{r}.db")))?).await);
        pg.push(copy(&src, Journal::open(&url)?).await);
    }
    let (lite, pg) = (median(lite), median(pg));
    println!(
        "putmany {files} files into a MemoryStore: SQLite {lite:.2}s, PostgreSQL {pg:.2}s (median of 3; {shown})"
    );

    let sqlite = Journal::open(dir.path().join("plan.db"))?;
    let lite = plan_rate(&sqlite, plan_rows).await;
    let pgj = Journal::open(&url)?;
    let pg = plan_rate(&pgj, plan_rows).await;
    println!("planning {plan_rows} rows: SQLite {lite:.0} rows/s, PostgreSQL {pg:.0} rows/s");

    let rate = claim_rate(&url, claim_files, workers).await;
    println!("{workers} workers finished {claim_files} files: {rate:.0} files/s");
    Ok(())
}
