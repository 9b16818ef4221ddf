//! Resumes a job that `copy_dir` started, by id, from the journal.
//!
//! ```text
//! cargo run --example resume_job -- JOB [--journal PATH]
//! ```
//!
//! The job's spec in the journal names the source and destination
//! directories; only the files and parts still missing are sent.

use std::sync::Arc;

use haul::core::ObjectStore;
use haul::engine::{Endpoint, Engine, TransferConfig};
use haul::journal::{JobId, Journal};
use haul::local::LocalStore;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let journal = match args.iter().position(|a| a == "--journal") {
        Some(i) if i + 1 < args.len() => {
            let p = args.remove(i + 1);
            args.remove(i);
            Journal::open(p)?
        }
        _ => Journal::open(Journal::default_path()?)?,
    };
    let job: JobId = args
        .first()
        .ok_or("usage: resume_job JOB [--journal PATH]")?
        .parse()?;
    let engine = Engine::new(Arc::new(journal), TransferConfig::default());
    let spec = engine.spec(job)?;
    let src: Arc<dyn ObjectStore> = Arc::new(LocalStore::new(&spec.src)?);
    let dst = if spec.src == spec.dst {
        Arc::clone(&src)
    } else {
        Arc::new(LocalStore::new(&spec.dst)?)
    };
    let summary = engine
        .resume(
            job,
            Endpoint::new(src, "", spec.src.clone()),
            Endpoint::new(dst, "", spec.dst.clone()),
        )?
        .join()
        .await?;
    println!("{}", serde_json::to_string(&summary)?);
    Ok(())
}
