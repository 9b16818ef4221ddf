//! Measures what the journal costs: copies N small files from a local
//! directory into a MemoryStore with the journal on disk (WAL, synchronous =
//! NORMAL), the same without the checksum cache's records, and with an
//! ephemeral journal (synchronous = OFF, deleted after), alternating, and
//! prints the median wall time of each.
//!
//! ```text
//! cargo run --release --example journal_overhead -- [FILES] [REPS]
//! ```

use std::sync::Arc;
use std::time::Instant;

use haul::core::ObjectStore;
use haul::engine::{Endpoint, Engine, JobRequest, TransferConfig};
use haul::journal::Journal;
use haul::local::LocalStore;
use haul::testkit::MemoryStore;

async fn once(src: &Arc<dyn ObjectStore>, journal: Journal, checksum_cache: bool) -> f64 {
    let dst: Arc<dyn ObjectStore> = Arc::new(MemoryStore::new());
    let config = TransferConfig {
        checksum_cache,
        ..TransferConfig::default()
    };
    let engine = Engine::new(Arc::new(journal), config);
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

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let files: usize = args.next().map_or(Ok(10_000), |a| a.parse())?;
    let reps: usize = args.next().map_or(Ok(5), |a| a.parse())?;
    let dir = tempfile::tempdir()?;
    for i in 0..files {
        let d = dir.path().join(format!("d{:03}", i / 1000));
        std::fs::create_dir_all(&d)?;
        std::fs::write(d.join(format!("f{i:06}")), format!("file {i}"))?;
    }
    let src: Arc<dyn ObjectStore> = Arc::new(LocalStore::new(dir.path())?);
    let jdir = tempfile::tempdir()?;
    let (mut on, mut bare, mut off) = (Vec::new(), Vec::new(), Vec::new());
    for r in 0..reps {
        let disk = |n: &str| Journal::open(jdir.path().join(format!("{n}{r}.db")));
        on.push(once(&src, disk("j")?, true).await);
        bare.push(once(&src, disk("n")?, false).await);
        off.push(once(&src, Journal::open_ephemeral()?, true).await);
    }
    let (on, bare, off) = (median(on), median(bare), median(off));
    println!(
        "{files} files: journal on disk {on:.3}s ({bare:.3}s without the checksum cache), ephemeral {off:.3}s (median of {reps}); overhead {:.1}%",
        (on / off - 1.0) * 100.0
    );
    Ok(())
}
