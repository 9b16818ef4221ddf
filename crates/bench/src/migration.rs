//! [`run_migration`]: the whole migration path — list, read, write, verify —
//! through [`haul_engine`], with per-part latencies measured at the
//! destination by a [`haul_layers::Timing`] layer.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures::StreamExt;
use haul_core::{Key, ObjectStore, PutOptions};
use haul_engine::{Endpoint, Engine, Event, JobRequest, TransferConfig};
use haul_journal::Journal;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use crate::cleanup::{Written, cleanup};
use crate::report::{Cleanup, RequestKind, RequestLatency, rfc3339};
use crate::run::{generate, unique_prefix};
use crate::stats::{Completion, LatencyHistogram, LatencySummary, Throughput, sorted_nanos};
use crate::{BenchError, Result};
use haul_layers::{Recorder, Timing, TimingLog};

/// What the migration bench measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MigrationReport {
    /// The haul version that measured.
    pub haul_version: String,
    /// When it started (RFC 3339, UTC).
    pub started_at: String,
    /// The source store and prefix copied.
    pub source: String,
    /// The destination store and the unique prefix written.
    pub destination: String,
    /// `Some((count, size))` when the source objects were generated.
    pub generated: Option<(u64, u64)>,
    /// Files the engine finished.
    pub files_done: u64,
    /// Files that failed (each is in `failures`).
    pub files_failed: u64,
    /// Parts finished (multipart uploads and part copies).
    pub parts: u64,
    /// End-to-end throughput, from the engine's events (bytes as parts
    /// and single-request files finished).
    pub throughput: Throughput,
    /// Latency of every part written (`upload_part` and `upload_part_copy`
    /// at the destination); `None` when no file went multipart.
    pub part_latency: Option<LatencySummary>,
    /// Latency per kind of write request at the destination.
    pub by_request: Vec<RequestLatency>,
    /// Part latencies (single puts and copies when there were no parts), binned.
    pub histogram: LatencyHistogram,
    /// Requests and parts the engine retried.
    pub retries: u64,
    /// Failed files: destination key and error line.
    pub failures: Vec<(String, String)>,
    /// What was deleted at the end (the copies, and generated sources).
    pub cleanup: Cleanup,
}

/// `prefix` with a `/` after it when it is a non-empty "directory" name.
fn dir(prefix: &str) -> String {
    if prefix.is_empty() || prefix.ends_with('/') {
        prefix.to_owned()
    } else {
        format!("{prefix}/")
    }
}

/// Writes `count` objects of `size` bytes under `prefix` (untimed).
async fn generate_objects(
    store: &Arc<dyn ObjectStore>,
    prefix: &str,
    (count, size): (u64, u64),
    concurrency: usize,
    written: &Written,
) -> Result<()> {
    let caps = store.capabilities();
    if size > caps.max_single_put_bytes {
        return Err(BenchError::Config(format!(
            "generated objects of {size} bytes exceed {store}'s single-put limit of {} bytes",
            caps.max_single_put_bytes
        )));
    }
    let data = generate(size as usize + 4096, 7);
    futures::stream::iter(0..count)
        .map(|i| {
            let key = Key::new(format!("{prefix}obj-{i:08}"));
            let data = data.clone();
            async move {
                let key = key?;
                written.add(key.clone());
                let off = (i * 61 % 4096) as usize;
                let body = data.slice(off..off + size as usize).into();
                store.put(&key, body, PutOptions::default()).await?;
                Ok::<_, BenchError>(())
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<()>>>()?;
    Ok(())
}

/// Events received, with when they arrived.
#[derive(Default)]
struct Seen {
    completions: Vec<Completion>,
    parts: u64,
}

fn absorb(seen: &mut Seen, t0: Instant, event: &Event) {
    let at = t0.elapsed();
    match event {
        Event::PartDone { len, .. } => {
            seen.parts += 1;
            seen.completions.push(Completion {
                at,
                bytes: *len,
                objects: 0,
            });
        }
        Event::FileDone { size, method, .. } => {
            // Multipart files' bytes were counted part by part.
            let bytes = if matches!(*method, "multipart" | "part-copy") {
                0
            } else {
                *size
            };
            seen.completions.push(Completion {
                at,
                bytes,
                objects: 1,
            });
        }
        _ => {}
    }
}

/// Copies a prefix from `src` to `dst` through the engine and measures it.
///
/// With `generate = Some((count, size))`, first writes `count` objects of
/// `size` bytes under a unique prefix below `src.prefix` (untimed) and copies
/// those; otherwise copies what is under `src.prefix` as it is. The copies go
/// under a unique prefix below `dst.prefix`. Afterwards the copies, and the
/// generated sources, are deleted; an existing source is never touched.
///
/// Per-part latency is measured at the destination (a [`haul_layers::Timing`] layer
/// around `dst.store`: the engine reports parts finishing, not starting).
/// When `src` and `dst` share one store, the same wrapper serves both so the
/// engine still copies server-side.
pub async fn run_migration(
    engine_cfg: TransferConfig,
    src: Endpoint,
    dst: Endpoint,
    generate: Option<(u64, u64)>,
) -> Result<MigrationReport> {
    engine_cfg.validate().map_err(BenchError::Config)?;
    let started_at = rfc3339(SystemTime::now());
    let tag = unique_prefix("");
    let src_written = Written::default();
    let src_prefix = match generate {
        Some(_) => format!("{}{tag}", dir(&src.prefix)),
        None => src.prefix.clone(),
    };
    let dst_prefix = format!("{}{tag}", dir(&dst.prefix));
    let same = Arc::ptr_eq(&src.store, &dst.store);
    let timing = Arc::new(TimingLog::default());
    let dst_store: Arc<dyn ObjectStore> = Arc::new(Timing::new(
        Arc::clone(&dst.store),
        Arc::clone(&timing) as Arc<dyn Recorder>,
    ));
    let src_store = if same {
        Arc::clone(&dst_store)
    } else {
        Arc::clone(&src.store)
    };
    let dst_written = Written::default();

    let outcome = async {
        if let Some(g) = generate {
            let par = engine_cfg.file_parallel_limit;
            generate_objects(&src.store, &src_prefix, g, par, &src_written).await?;
        }
        let journal = Arc::new(Journal::open_ephemeral()?);
        let (tx, mut rx) = mpsc::unbounded_channel();
        let engine = Engine::new(journal, engine_cfg.clone()).with_events(tx);
        let (done_tx, mut done_rx) = oneshot::channel::<()>();
        let t0 = Instant::now();
        let collector = tokio::spawn(async move {
            let mut seen = Seen::default();
            loop {
                tokio::select! {
                    ev = rx.recv() => match ev {
                        Some(ev) => absorb(&mut seen, t0, &ev),
                        None => break,
                    },
                    _ = &mut done_rx => {
                        while let Ok(ev) = rx.try_recv() {
                            absorb(&mut seen, t0, &ev);
                        }
                        break;
                    }
                }
            }
            seen
        });
        let req = JobRequest::copy(
            Endpoint::new(src_store, src_prefix.clone(), src.location.clone()),
            Endpoint::new(dst_store, dst_prefix.clone(), dst.location.clone()),
        );
        let summary = engine.start(req).await?.join().await;
        let elapsed = t0.elapsed();
        drop(engine);
        let _ = done_tx.send(());
        let seen = collector
            .await
            .map_err(|e| BenchError::Config(format!("event collector failed: {e}")))?;
        Ok::<_, BenchError>((summary?, seen, elapsed))
    }
    .await;

    let mut cleaned = cleanup(&*dst.store, &dst_prefix, &dst_written).await;
    if generate.is_some() {
        let c = cleanup(&*src.store, &src_prefix, &src_written).await;
        cleaned.deleted += c.deleted;
        cleaned.errors += c.errors;
        cleaned.aborted_uploads += c.aborted_uploads;
    }
    let (summary, seen, elapsed) = outcome?;
    let timings: Vec<(RequestKind, Duration)> = timing
        .timings()
        .into_iter()
        .filter(|t| t.ok)
        .filter_map(|t| Some((RequestKind::written(t.op)?, t.latency)))
        .collect();
    let mut kinds: Vec<RequestKind> = timings.iter().map(|t| t.0).collect();
    kinds.sort_unstable();
    kinds.dedup();
    let latencies = |pick: &dyn Fn(RequestKind) -> bool| -> Vec<Duration> {
        timings.iter().filter(|t| pick(t.0)).map(|t| t.1).collect()
    };
    let by_request = kinds
        .iter()
        .filter_map(|&k| {
            Some(RequestLatency {
                request: k,
                latency: LatencySummary::of(&latencies(&|x| x == k))?,
            })
        })
        .collect();
    let part_kinds = |k| matches!(k, RequestKind::UploadPart | RequestKind::UploadPartCopy);
    let parts = latencies(&part_kinds);
    let hist_src = if parts.is_empty() {
        latencies(&|k| matches!(k, RequestKind::Put | RequestKind::Copy))
    } else {
        parts.clone()
    };
    Ok(MigrationReport {
        haul_version: env!("CARGO_PKG_VERSION").to_owned(),
        started_at,
        source: format!("{} {}", src.store, src_prefix),
        destination: format!("{} {}", dst.store, dst_prefix),
        generated: generate,
        files_done: summary.counts.files_done,
        files_failed: summary.counts.files_failed,
        parts: seen.parts,
        throughput: Throughput::of(&seen.completions, elapsed),
        part_latency: LatencySummary::of(&parts),
        by_request,
        histogram: LatencyHistogram::of_sorted_nanos(&sorted_nanos(&hist_src)),
        retries: summary.counts.retries,
        failures: summary.failures,
        cleanup: cleaned,
    })
}
