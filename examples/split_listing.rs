//! Planning rate of a large listing into PostgreSQL: KEYS objects of a
//! MemoryStore under PREFIXES common prefixes, planned by W workers that
//! only list (each an engine on its own connections, leasing the job's
//! listing tasks), for each W given; the median of three runs each. With
//! `HAUL_LISTING_TASKS=0` the job is not split: one process lists it all
//! (the planner before listing tasks), whatever W.
//!
//! ```text
//! cargo run --release --example split_listing -- POSTGRES_URL [KEYS] [PREFIXES] [W...]
//! ```
//! Defaults: 200,000 keys under 400 prefixes, 1 and 4 workers.

use std::sync::Arc;
use std::time::Instant;

use haul::core::{Key, ObjectStore, PutOptions};
use haul::engine::{Endpoint, Engine, JobRequest, TransferConfig};
use haul::journal::Journal;
use haul::testkit::MemoryStore;

async fn filled(keys: usize, prefixes: usize) -> Arc<dyn ObjectStore> {
    let src = MemoryStore::new();
    for i in 0..keys {
        let key = Key::new(format!("p{:05}/f{i:08}", i % prefixes)).expect("key");
        src.put(&key, b"x".to_vec().into(), PutOptions::default())
            .await
            .expect("put");
    }
    Arc::new(src)
}

/// Seconds from submitting the job to its last key planned.
async fn plan(url: &str, src: &Arc<dyn ObjectStore>, keys: usize, workers: usize) -> f64 {
    let dst: Arc<dyn ObjectStore> = Arc::new(MemoryStore::new());
    let ends = || {
        (
            Endpoint::new(Arc::clone(src), "", "src"),
            Endpoint::new(Arc::clone(&dst), "", "mem"),
        )
    };
    let submitter = Engine::new(
        Arc::new(Journal::open(url).expect("journal")),
        TransferConfig::default(),
    );
    let t = Instant::now();
    let (s, d) = ends();
    let handle = submitter
        .start(JobRequest {
            plan_only: true,
            ..JobRequest::copy(s, d)
        })
        .await
        .expect("submit");
    let job = handle.job_id();
    handle.join().await.expect("submitted");
    let mut listers = tokio::task::JoinSet::new();
    for _ in 0..workers {
        let e = Engine::new(
            Arc::new(Journal::open(url).expect("journal")),
            TransferConfig::default(),
        );
        let (s, d) = ends();
        listers.spawn(async move { e.list(job, s, d).await.expect("list") });
    }
    while let Some(done) = listers.join_next().await {
        done.expect("lister");
    }
    let secs = t.elapsed().as_secs_f64();
    let journal = submitter.journal();
    assert_eq!(journal.job(job).expect("job").files_total, keys as u64);
    journal.forget_job(job).await.expect("forget");
    secs
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
        .ok_or("usage: split_listing POSTGRES_URL [KEYS] [PREFIXES] [W...]")?;
    let keys: usize = args.next().map_or(Ok(200_000), |a| a.parse())?;
    let prefixes: usize = args.next().map_or(Ok(400), |a| a.parse())?;
    let mut workers: Vec<usize> = args.map(|a| a.parse()).collect::<Result<_, _>>()?;
    if workers.is_empty() {
        workers = vec![1, 4];
    }
    let split = std::env::var("HAUL_LISTING_TASKS").map_or(true, |v| v.trim() != "0");
    let src = filled(keys, prefixes).await;
    for w in workers {
        let runs: Vec<f64> = {
            let mut v = Vec::new();
            for _ in 0..3 {
                v.push(plan(&url, &src, keys, w).await);
            }
            v
        };
        let secs = median(runs.clone());
        let how = if split {
            format!("{w} listing workers")
        } else {
            "one process, not split".to_owned()
        };
        println!(
            "{keys} keys under {prefixes} prefixes, {how}: {secs:.2} s, {:.0} keys/s (median of 3: {runs:.2?})",
            keys as f64 / secs
        );
    }
    Ok(())
}
