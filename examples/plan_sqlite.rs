//! Planning rate into a SQLite journal: KEYS objects of a MemoryStore
//! under PREFIXES prefixes planned by one process (`--submit`'s path:
//! plan, transfer nothing), the median of three runs. For checking that
//! the planner's speed on SQLite holds from one version to the next.
//!
//! ```text
//! cargo run --release --example plan_sqlite -- [KEYS] [PREFIXES]
//! ```
//! Defaults: 200,000 keys under 400 prefixes.

use std::sync::Arc;
use std::time::Instant;

use haul::core::{Key, ObjectStore, PutOptions};
use haul::engine::{Endpoint, Engine, JobRequest, TransferConfig};
use haul::journal::Journal;
use haul::testkit::MemoryStore;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let keys: usize = args.next().map_or(Ok(200_000), |a| a.parse())?;
    let prefixes: usize = args.next().map_or(Ok(400), |a| a.parse())?;
    let src = MemoryStore::new();
    for i in 0..keys {
        let key = Key::new(format!("p{:05}/f{i:08}", i % prefixes))?;
        src.put(&key, b"x".to_vec().into(), PutOptions::default())
            .await?;
    }
    let src: Arc<dyn ObjectStore> = Arc::new(src);
    let dst: Arc<dyn ObjectStore> = Arc::new(MemoryStore::new());
    let dir = tempfile::tempdir()?;
    let mut runs = Vec::new();
    for r in 0..3 {
        let journal = Arc::new(Journal::open(dir.path().join(format!("j{r}.db")))?);
        let engine = Engine::new(journal, TransferConfig::default());
        let t = Instant::now();
        let handle = engine
            .start(JobRequest {
                plan_only: true,
                ..JobRequest::copy(
                    Endpoint::new(Arc::clone(&src), "", "src"),
                    Endpoint::new(Arc::clone(&dst), "", "mem"),
                )
            })
            .await?;
        let summary = handle.join().await?;
        runs.push(t.elapsed().as_secs_f64());
        assert_eq!(summary.counts.files_total, keys as u64);
    }
    let mut sorted = runs.clone();
    sorted.sort_by(f64::total_cmp);
    let secs = sorted[1];
    println!(
        "{keys} keys under {prefixes} prefixes into SQLite: {secs:.2} s, {:.0} keys/s (median of 3: {runs:.2?})",
        keys as f64 / secs
    );
    Ok(())
}
