//! [`run_embedded`]: a benchmark that needs no endpoint — it starts haul's
//! own S3 server ([`haul_serve::S3Server`]) on loopback over a temporary
//! directory, with fresh random keys, and benchmarks it through an
//! [`S3Store`], like `haul bench` without a target.

use std::sync::Arc;

use haul_s3::{S3Config, S3Store};
use haul_serve::S3Server;

use crate::{BenchConfig, BenchError, BenchReport, Result, run};

/// The bucket the embedded server gets.
pub const EMBEDDED_BUCKET: &str = "haul-bench";

fn random_hex(len: usize) -> String {
    (0..len)
        .map(|_| char::from_digit(rand::random_range(0..16u32), 16).unwrap_or('0'))
        .collect()
}

/// Benchmarks an embedded `haul serve` endpoint with `cfg`: starts the
/// server on `127.0.0.1` (ephemeral port) over a temporary directory with
/// random keys, creates the bucket [`EMBEDDED_BUCKET`], runs [`run`], then
/// stops the server and removes the directory.
///
/// The report's target names the endpoint and says it was embedded. The
/// server runs in this process (2 threads) and stores objects on the local
/// disk, so the numbers measure haul's client and the embedded server
/// together on this machine.
pub async fn run_embedded(cfg: BenchConfig) -> Result<BenchReport> {
    let dir = tempfile::Builder::new()
        .prefix("haul-bench-")
        .tempdir()
        .map_err(|e| BenchError::io("temporary directory for the embedded endpoint", e))?;
    let ak = format!("HAUL{}", random_hex(16).to_uppercase());
    let sk = random_hex(40);
    let server = S3Server::start_with(dir.path(), "127.0.0.1:0", &ak, &sk)
        .map_err(|e| BenchError::io("starting the embedded S3 endpoint", e))?;
    let result = async {
        server
            .create_bucket(EMBEDDED_BUCKET)
            .map_err(|e| BenchError::io("creating the embedded bucket", e))?;
        let mut s3 = S3Config::new(EMBEDDED_BUCKET, server.region(), &ak, &sk)
            .with_endpoint(server.endpoint());
        s3.force_path_style = true;
        s3.concurrency = cfg.concurrency.max(1);
        let store = Arc::new(S3Store::new(s3)?);
        let mut report = run(store, cfg).await?;
        report.target = format!(
            "embedded haul serve at {} (s3://{EMBEDDED_BUCKET}, temporary directory)",
            server.endpoint()
        );
        Ok(report)
    }
    .await;
    // Stopping joins the server's thread: keep that off the async workers.
    let _ = tokio::task::spawn_blocking(move || drop(server)).await;
    drop(dir);
    result
}

/// [`run_embedded`] with [`BenchConfig::default`]: 10 s of 1 MiB PUTs at
/// concurrency 16 — what `haul bench` does with no arguments.
pub async fn run_default() -> Result<BenchReport> {
    run_embedded(BenchConfig::default()).await
}
