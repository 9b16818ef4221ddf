//! `haul demo`: haul's main job end to end on an embedded endpoint — upload
//! with a progress bar, an interruption and a resume from the journal, a
//! bucket-to-bucket copy, a download, and a byte-for-byte verification.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use haul_core::ObjectStore;
use haul_engine::{Endpoint, Engine, Event, JobRequest, Summary, TransferConfig};
use haul_journal::Journal;
use haul_s3::{S3Config, S3Endpoint};

use crate::args::{DemoArgs, Global};
use crate::error::CliError;
use crate::output::Output;
use crate::size::human;

const SMALL_FILES: u64 = 200;
const BUCKET: &str = "haul-demo";
const COPY_BUCKET: &str = "haul-demo-copy";

/// Writes `len` pseudo-random bytes (xorshift, fast and incompressible).
fn write_random(path: &Path, len: u64, seed: u64) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut f = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let mut x = seed | 1;
    let mut left = len;
    let mut buf = vec![0u8; 1 << 16];
    while left > 0 {
        for chunk in buf.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let b = x.to_le_bytes();
            chunk.copy_from_slice(&b[..chunk.len()]);
        }
        let n = left.min(buf.len() as u64) as usize;
        f.write_all(&buf[..n])?;
        left -= n as u64;
    }
    f.flush()
}

fn sample(dir: &Path, size: u64) -> Result<(u64, u64), CliError> {
    let io = |e: std::io::Error| CliError::failed(format!("{}: {e}", dir.display()));
    std::fs::create_dir_all(dir.join("small")).map_err(io)?;
    let big = size * 3 / 4;
    write_random(&dir.join("big.bin"), big, 7).map_err(io)?;
    let each = (size - big) / SMALL_FILES;
    for i in 0..SMALL_FILES {
        write_random(
            &dir.join(format!("small/file-{i:03}.dat")),
            each + i,
            i + 11,
        )
        .map_err(io)?;
    }
    Ok((
        SMALL_FILES + 1,
        big + each * SMALL_FILES + (0..SMALL_FILES).sum::<u64>(),
    ))
}

struct Phase {
    name: &'static str,
    summary: Summary,
    parts: u64,
    methods: Vec<&'static str>,
}

async fn run_phase(
    g: &Global,
    name: &'static str,
    start: impl std::future::Future<Output = Result<haul_engine::JobHandle, haul_engine::EngineError>>,
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<Event>,
    interrupt_after_parts: Option<u64>,
) -> Result<Phase, CliError> {
    let handle = start.await?;
    let canceller = handle.canceller();
    let out = Output::new(g);
    let mut join = tokio::spawn(handle.join());
    let (mut parts, mut methods) = (0, Vec::new());
    let mut cut = false;
    loop {
        tokio::select! {
            Some(ev) = rx.recv() => {
                out.event(&ev);
                match &ev {
                    Event::PartDone { .. } => {
                        parts += 1;
                        // Interrupt mid-object: the large file has parts done and parts to go.
                        if !cut && interrupt_after_parts.is_some_and(|n| parts >= n) {
                            cut = true;
                            canceller.cancel();
                        }
                    }
                    Event::FileDone { method, .. } if !methods.contains(method) => methods.push(*method),
                    _ => {}
                }
            }
            res = &mut join => {
                while let Ok(ev) = rx.try_recv() {
                    if matches!(ev, Event::PartDone { .. }) { parts += 1; }
                }
                let summary = res.map_err(|e| CliError::failed(e.to_string()))??;
                out.finish();
                return Ok(Phase { name, summary, parts, methods });
            }
        }
    }
}

fn report(g: &Global, p: &Phase, extra: &str) {
    if g.quiet {
        return;
    }
    let c = &p.summary.counts;
    let rate = c.bytes_transferred as f64 / c.elapsed_s.max(1e-3);
    eprintln!(
        "  {:<10} {:>4} files {:>10} in {:>6.2}s = {:>10}/s, {:>4} parts, methods {:?}{extra}",
        p.name,
        c.files_done,
        human(c.bytes_transferred),
        c.elapsed_s,
        human(rate as u64),
        p.parts,
        p.methods
    );
}

fn identical(a: &Path, b: &Path) -> std::io::Result<bool> {
    use std::io::Read as _;
    let (mut fa, mut fb) = (std::fs::File::open(a)?, std::fs::File::open(b)?);
    if fa.metadata()?.len() != fb.metadata()?.len() {
        return Ok(false);
    }
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let n = fa.read(&mut ba)?;
        if n == 0 {
            return Ok(true);
        }
        fb.read_exact(&mut bb[..n])?;
        if ba[..n] != bb[..n] {
            return Ok(false);
        }
    }
}

fn verify_tree(orig: &Path, copy: &Path) -> Result<(u64, u64, Vec<String>), CliError> {
    let mut stack = vec![PathBuf::new()];
    let (mut files, mut bytes, mut bad) = (0, 0, Vec::new());
    while let Some(rel) = stack.pop() {
        let dir = std::fs::read_dir(orig.join(&rel))
            .map_err(|e| CliError::failed(format!("{}: {e}", orig.display())))?;
        for entry in dir.flatten() {
            let r = rel.join(entry.file_name());
            if entry.path().is_dir() {
                stack.push(r);
            } else {
                files += 1;
                bytes += entry.metadata().map_or(0, |m| m.len());
                if !identical(&orig.join(&r), &copy.join(&r)).unwrap_or(false) {
                    bad.push(r.display().to_string());
                }
            }
        }
    }
    Ok((files, bytes, bad))
}

/// One store for the whole endpoint: keys are `bucket/key`, so the copy
/// between buckets runs server-side.
fn endpoint(server: &haul_serve::S3Server) -> Result<Arc<dyn ObjectStore>, CliError> {
    let cfg = S3Config::new(
        "",
        server.region(),
        server.access_key(),
        server.secret_key(),
    )
    .with_endpoint(server.endpoint());
    Ok(Arc::new(S3Endpoint::new(cfg)?))
}

/// `haul demo`.
pub(crate) async fn demo(g: &Global, a: DemoArgs) -> Result<u8, CliError> {
    let dir = a
        .dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("haul-demo-{}", std::process::id())));
    let _cleanup = (a.dir.is_none()).then(|| RemoveOnDrop(dir.clone()));
    let t0 = Instant::now();
    let data = dir.join("data");
    let (nfiles, nbytes) = sample(&data, a.size)?;
    // Parts small enough that the large file has many, S3's 5 MiB at least.
    let part = (a.size * 3 / 4 / 16).clamp(5 << 20, 16 << 20);
    let big_parts = (a.size * 3 / 4).div_ceil(part);
    let server = crate::serve::start(&dir.join("buckets"), "127.0.0.1:0")?;
    for b in [BUCKET, COPY_BUCKET] {
        server
            .create_bucket(b)
            .map_err(|e| CliError::failed(format!("bucket {b}: {e}")))?;
    }
    if !g.quiet {
        eprintln!(
            "haul demo: {nfiles} files, {} (one large file, {SMALL_FILES} small ones) in {}\n          embedded S3 endpoint {}",
            human(nbytes),
            data.display(),
            server.endpoint()
        );
    }
    let journal = Arc::new(Journal::open(dir.join("journal.db"))?);
    let config = TransferConfig {
        chunk_size: part,
        slice_size: part,
        chunk_parallel_limit: 4,
        file_parallel_limit: 8,
        copy_chunk_size: part,
        copy_slice_size: part,
        progress_interval: std::time::Duration::from_millis(100),
        ..TransferConfig::default()
    };
    let local: Arc<dyn ObjectStore> = crate::location::open_local(&data, false)?;
    let s3 = endpoint(&server)?;
    let ep = |s: &Arc<dyn ObjectStore>, p: &str, id: &str| Endpoint::new(Arc::clone(s), p, id);
    let engine = |tx| Engine::new(Arc::clone(&journal), config.clone()).with_events(tx);

    // 1. Upload, interrupted midway.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let e = engine(tx);
    let req = JobRequest::copy(ep(&local, "", "data"), ep(&s3, "haul-demo/data/", "s3"));
    let up = run_phase(
        g,
        "upload",
        e.start(req),
        &mut rx,
        Some((big_parts / 3).max(1)),
    )
    .await?;
    let job = haul_journal::JobId(up.summary.job_id);
    if !g.quiet {
        eprintln!(
            "\n  interrupted the upload (job {job}) after {}; resuming it from the journal as a new process would",
            human(up.summary.counts.bytes_transferred)
        );
    }
    report(g, &up, " (interrupted)");
    // 2. Resume from the journal with a fresh engine.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let e = engine(tx);
    let fut = std::future::ready(e.resume(
        job,
        ep(&local, "", "data"),
        ep(&s3, "haul-demo/data/", "s3"),
    ));
    let resumed = run_phase(g, "resume", fut, &mut rx, None).await?;
    report(
        g,
        &resumed,
        &format!(
            ", {} kept from before, {} re-sent",
            human(resumed.summary.counts.bytes_resumed),
            human(resumed.summary.counts.bytes_resent)
        ),
    );
    // 3. Bucket to bucket.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let e = engine(tx);
    let req = JobRequest::copy(
        ep(&s3, "haul-demo/data/", "s3"),
        ep(&s3, "haul-demo-copy/data/", "s3"),
    );
    let copied = run_phase(g, "copy", e.start(req), &mut rx, None).await?;
    report(g, &copied, "");
    // 4. Download.
    let down_dir = dir.join("download");
    let down: Arc<dyn ObjectStore> = crate::location::open_local(&down_dir, false)?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let e = engine(tx);
    let req = JobRequest::copy(
        ep(&s3, "haul-demo-copy/data/", "s3"),
        ep(&down, "", "download"),
    );
    let downloaded = run_phase(g, "download", e.start(req), &mut rx, None).await?;
    report(g, &downloaded, "");
    // 5. Verify byte for byte, independently of the engine's own checks.
    let (files, bytes, bad) = verify_tree(&data, &down_dir)?;
    let ok = bad.is_empty()
        && [&resumed, &copied, &downloaded]
            .iter()
            .all(|p| p.summary.is_success());
    if !g.quiet {
        eprintln!(
            "  verify     {files} files, {} compared byte for byte with the originals: {}",
            human(bytes),
            if ok { "identical" } else { "MISMATCH" }
        );
        for b in &bad {
            eprintln!("error: {b}: downloaded copy differs from the original");
        }
    }
    if g.json {
        outln!(
            "{}",
            serde_json::json!({
                "type": "demo", "verified": ok, "files": files, "bytes": bytes,
                "bytes_resumed": resumed.summary.counts.bytes_resumed,
                "bytes_resent": resumed.summary.counts.bytes_resent,
                "upload_parts": up.parts + resumed.parts,
                "elapsed_s": t0.elapsed().as_secs_f64(),
            })
        );
    } else if !g.quiet {
        eprintln!(
            "done in {:.1}s: verified {}",
            t0.elapsed().as_secs_f64(),
            if ok { "OK" } else { "FAILED" }
        );
    }
    drop(server);
    Ok(if ok { 0 } else { 3 })
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
