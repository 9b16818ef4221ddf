//! Peak memory of a seekable upload: one local file (1 GiB unless told)
//! uploaded in 16 MiB parts, 16 in flight, to `haul serve` running as a
//! process of its own (so the server's memory is not counted), once in each
//! of the three ways a part can be sent:
//!
//! * `sums-ahead` (the default for a local file): the part's range is hashed
//!   in one pass, then sent as a plain known-length body read from the file
//!   again, its CRC32C in a header;
//! * `trailing`: read once and sent as it is read, aws-chunked, the CRC32C
//!   in a trailer;
//! * `gathered`: the part read into memory first, then sent.
//!
//! ```text
//! cargo build --release --bin haul --example part_memory
//! target/release/examples/part_memory [SIZE_MIB [MODE]]
//! ```
//!
//! Each mode runs in a process of its own (the example starts itself once
//! per mode), so no mode inherits another's allocations. Each line gives
//! that process's peak resident memory (`VmHWM`, Linux only), what it held
//! before the upload began, and the difference per part in flight.

use std::io::{BufRead as _, Write as _};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use haul::core::ObjectStore;
use haul::engine::{Endpoint, Engine, JobRequest, TransferConfig};
use haul::journal::Journal;
use haul::local::LocalStore;
use haul::s3::{S3Config, S3Store};

const PART: u64 = 16 << 20;
const IN_FLIGHT: usize = 16;

/// `VmHWM` (peak) or `VmRSS` (now) of this process, in bytes.
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kib| kib * 1024)
}

/// Resets the peak to what is resident now.
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The `export NAME=value` lines `haul serve` prints.
type Vars = Vec<(String, String)>;

/// Starts `haul serve` (beside this example's binary) over `root`; returns
/// the child and the variables it printed.
fn serve(
    root: &std::path::Path,
) -> Result<(std::process::Child, Vars), Box<dyn std::error::Error>> {
    let exe = std::env::current_exe()?;
    let haul = exe
        .parent()
        .and_then(|d| d.parent())
        .map(|d| d.join("haul"))
        .filter(|p| p.exists())
        .ok_or("build the haul binary first: cargo build --release --bin haul")?;
    let mut child = Command::new(haul)
        .args(["serve", "--addr", "127.0.0.1:0", "--root"])
        .arg(root)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let out = child.stdout.take().ok_or("no stdout")?;
    let mut vars = Vec::new();
    for line in std::io::BufReader::new(out).lines() {
        let line = line?;
        if let Some((k, v)) = line.strip_prefix("export ").and_then(|l| l.split_once('=')) {
            vars.push((k.to_owned(), v.to_owned()));
        }
        if vars.len() == 4 {
            break;
        }
    }
    Ok((child, vars))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // As the `haul` binary does, before any thread starts (run with
    // `GLIBC_TUNABLES=glibc.malloc.arena_max=8` to see glibc's defaults).
    haul::alloc::tune();
    tokio::runtime::Runtime::new()?.block_on(run())
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mib: u64 = std::env::args().nth(1).map_or(Ok(1024), |a| a.parse())?;
    let Some(mode) = std::env::args().nth(2) else {
        println!(
            "{mib} MiB in {} MiB parts, {IN_FLIGHT} in flight",
            PART >> 20
        );
        for mode in ["sums-ahead", "trailing", "gathered"] {
            let out = Command::new(std::env::current_exe()?)
                .args([mib.to_string(), mode.to_owned()])
                .output()?;
            std::io::stdout().write_all(&out.stdout)?;
            if !out.status.success() {
                return Err(String::from_utf8_lossy(&out.stderr).into_owned().into());
            }
        }
        return Ok(());
    };
    let mode = mode.as_str();
    let tmp = std::env::temp_dir().join(format!("haul-part-memory-{}", std::process::id()));
    let (src_dir, root) = (tmp.join("src"), tmp.join("root"));
    std::fs::create_dir_all(&src_dir)?;
    std::fs::create_dir_all(root.join("bucket"))?;
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(src_dir.join("big"))?);
        let mut block = vec![0u8; 1 << 20];
        for i in 0..mib {
            for (j, b) in block.iter_mut().enumerate() {
                *b = (i as usize * 31 + j * 7) as u8;
            }
            f.write_all(&block)?;
        }
    }
    let (mut server, vars) = serve(&root)?;
    let var = |k: &str| {
        vars.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    {
        let mut cfg = S3Config::new(
            "bucket",
            var("AWS_REGION"),
            var("AWS_ACCESS_KEY_ID"),
            var("AWS_SECRET_ACCESS_KEY"),
        )
        .with_endpoint(var("AWS_ENDPOINT_URL"));
        cfg.force_path_style = true;
        cfg.stream_parts = mode != "gathered";
        let dst: Arc<dyn ObjectStore> = Arc::new(S3Store::new(cfg)?);
        let src: Arc<dyn ObjectStore> = Arc::new(LocalStore::new(&src_dir)?);
        let config = TransferConfig {
            chunk_size: PART,
            slice_size: PART,
            chunk_parallel_limit: IN_FLIGHT,
            sums_ahead: mode == "sums-ahead",
            ..TransferConfig::default()
        };
        let engine = Engine::new(Arc::new(Journal::open_ephemeral()?), config);
        let before = status_kib("VmRSS:");
        reset_peak();
        let started = Instant::now();
        let summary = engine
            .start(JobRequest::copy(
                Endpoint::new(src, "", src_dir.display().to_string()),
                Endpoint::new(dst, format!("{mode}/"), "s3://bucket"),
            ))
            .await?
            .join()
            .await?;
        let secs = started.elapsed().as_secs_f64();
        let top = status_kib("VmHWM:");
        let peak = top.saturating_sub(before);
        if !summary.is_success() {
            return Err(format!("{mode}: {:?}", summary.failures).into());
        }
        let mib = |b: u64| b as f64 / 1_048_576.0;
        println!(
            "{mode:>10}: peak RSS {:>6.1} MiB ({:.1} MiB before the upload; {:>5.2} MiB more per part in flight), {secs:.2} s",
            mib(top),
            mib(before),
            mib(peak) / IN_FLIGHT as f64,
        );
    }
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}
