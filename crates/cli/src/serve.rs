//! `haul serve`: an S3-compatible endpoint over a local directory.

use std::path::Path;

use haul_serve::{REGION, S3Server};

use crate::args::{Global, ServeArgs};
use crate::error::CliError;

/// A random key of `len` hex digits.
pub(crate) fn random_key(len: usize) -> String {
    (0..len)
        .map(|_| char::from_digit(rand::random_range(0..16u32), 16).unwrap_or('0'))
        .collect()
}

/// Starts the endpoint over `root` with keys from the environment
/// (`HAUL_SERVE_ACCESS_KEY`, `HAUL_SERVE_SECRET_KEY`) or fresh random ones.
pub(crate) fn start(root: &Path, addr: &str) -> Result<S3Server, CliError> {
    std::fs::create_dir_all(root)
        .map_err(|e| CliError::usage(format!("{}: {e}", root.display())))?;
    let ak = std::env::var("HAUL_SERVE_ACCESS_KEY")
        .unwrap_or_else(|_| format!("HAUL{}", random_key(16).to_uppercase()));
    let sk = std::env::var("HAUL_SERVE_SECRET_KEY").unwrap_or_else(|_| random_key(40));
    S3Server::start_with(root, addr, &ak, &sk)
        .map_err(|e| CliError::usage(format!("cannot serve on {addr}: {e}")))
}

/// `haul serve`: runs until Ctrl-C.
pub(crate) async fn serve(g: &Global, a: ServeArgs) -> Result<u8, CliError> {
    let server = start(&a.root, &a.addr)?;
    let root = std::path::absolute(&a.root).unwrap_or(a.root.clone());
    if !g.quiet {
        eprintln!(
            "serving {} (each directory is a bucket) at {}; Ctrl-C stops",
            root.display(),
            server.endpoint()
        );
    }
    // The keys are printed on purpose: they were made for this endpoint.
    outln!("export AWS_ENDPOINT_URL={}", server.endpoint());
    outln!("export AWS_ACCESS_KEY_ID={}", server.access_key());
    outln!("export AWS_SECRET_ACCESS_KEY={}", server.secret_key());
    outln!("export AWS_REGION={REGION}");
    let _ = tokio::signal::ctrl_c().await;
    drop(server);
    Ok(0)
}
