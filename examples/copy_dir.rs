//! Copies a directory (or a prefix of one) into a store — here another
//! directory through the local store — with a progress line, journaled so a
//! crash can be resumed with the `resume_job` example.
//!
//! ```text
//! cargo run --example copy_dir -- SRC_ROOT SRC_PREFIX DST_ROOT DST_PREFIX \
//!     [--journal PATH] [--part-size BYTES] [--parallel N] [--bwlimit BYTES_PER_S] \
//!     [--tpslimit REQ_PER_S] [--print-parts]
//! ```
//!
//! When SRC_ROOT and DST_ROOT are the same directory, one store serves both
//! ends and large objects are copied part by part server-side.

use std::io::Write as _;
use std::sync::Arc;

use haul::core::ObjectStore;
use haul::engine::{Endpoint, Engine, Event, JobRequest, TransferConfig};
use haul::journal::Journal;
use haul::local::LocalStore;

fn flag(args: &mut Vec<String>, name: &str) -> Option<String> {
    let i = args.iter().position(|a| a == name)?;
    args.remove(i);
    (i < args.len()).then(|| args.remove(i))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let journal = match flag(&mut args, "--journal") {
        Some(p) => Journal::open(p)?,
        None => Journal::open(Journal::default_path()?)?,
    };
    let mut config = TransferConfig::default();
    if let Some(v) = flag(&mut args, "--part-size") {
        config.chunk_size = v.parse()?;
        config.slice_size = config.chunk_size;
        config.copy_chunk_size = config.chunk_size;
        config.copy_slice_size = config.chunk_size;
    }
    if let Some(v) = flag(&mut args, "--parallel") {
        config.chunk_parallel_limit = v.parse()?;
        config.copy_chunk_parallel_limit = config.chunk_parallel_limit;
    }
    if let Some(v) = flag(&mut args, "--bwlimit") {
        config.bwlimit_bytes_per_sec = v.parse()?;
    }
    if let Some(v) = flag(&mut args, "--tpslimit") {
        config.tpslimit_per_sec = v.parse()?;
    }
    let print_parts = args.iter().any(|a| a == "--print-parts");
    args.retain(|a| a != "--print-parts");
    let [src_root, src_prefix, dst_root, dst_prefix] = <[String; 4]>::try_from(args)
        .map_err(|_| "usage: copy_dir SRC_ROOT SRC_PREFIX DST_ROOT DST_PREFIX [options]")?;
    let src: Arc<dyn ObjectStore> = Arc::new(LocalStore::new(&src_root)?);
    let dst = if src_root == dst_root {
        Arc::clone(&src)
    } else {
        Arc::new(LocalStore::new(&dst_root)?)
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let engine = Engine::new(Arc::new(journal), config).with_events(tx);
    let handle = engine
        .start(JobRequest::copy(
            Endpoint::new(src, src_prefix, src_root),
            Endpoint::new(dst, dst_prefix, dst_root),
        ))
        .await?;
    println!("job {}", handle.job_id());
    let printer = tokio::spawn(async move {
        while let Some(ev) = rx.recv().await {
            match ev {
                Event::PartDone { dst, number, .. } if print_parts => {
                    println!("part {dst} {number}");
                }
                Event::Progress(s) => {
                    eprint!(
                        "\r{}/{} files, {:.1}/{:.1} MiB, {} retries   ",
                        s.files_done + s.files_skipped,
                        s.files_total,
                        s.bytes_transferred as f64 / 1_048_576.0,
                        s.bytes_total as f64 / 1_048_576.0,
                        s.retries
                    );
                }
                _ => {}
            }
            let _ = std::io::stdout().flush();
        }
    });
    let summary = handle.join().await?;
    printer.abort();
    eprintln!();
    println!("{}", serde_json::to_string(&summary)?);
    if summary.is_success() {
        Ok(())
    } else {
        Err(format!("{} files failed", summary.counts.files_failed).into())
    }
}
