//! ls, stat, jobs and cleanup: reading stores and the journal.

use std::time::{SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use haul_core::{Key, ListEntry, ListOptions, ObjectMeta, UploadId};
use haul_engine::{Engine, TransferConfig};
use haul_journal::{FileState, JobId};
use serde_json::json;

use crate::args::{CleanupArgs, Global, JobsAction, JobsArgs, LsArgs, ReportFormat, StatArgs};
use crate::error::CliError;
use crate::location::{Location, open_bucket, open_local, reopen};
use crate::settings::ConfigFile;
use crate::sides::open_journal;
use crate::size::human;

fn secs(t: Option<SystemTime>) -> u64 {
    t.and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs())
}

/// RFC 3339 UTC time from seconds since the epoch.
fn rfc3339(secs: u64) -> String {
    haul_core::time::rfc3339(UNIX_EPOCH + std::time::Duration::from_secs(secs))
}

fn meta_json(m: &ObjectMeta) -> serde_json::Value {
    json!({
        "key": m.key.as_str(),
        "size": m.size,
        "last_modified": m.last_modified.map(|t| rfc3339(secs(Some(t)))),
        "etag": m.etag,
        "checksums": m.checksums.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "version": m.version,
        "attrs": {
            "content_type": m.attrs.content_type,
            "content_encoding": m.attrs.content_encoding,
            "cache_control": m.attrs.cache_control,
            "content_disposition": m.attrs.content_disposition,
            "metadata": m.attrs.metadata,
        },
    })
}

/// `haul ls`.
pub(crate) async fn ls(g: &Global, a: LsArgs) -> Result<u8, CliError> {
    let config = ConfigFile::load()?;
    if let Some(store) = crate::buckets::bucketless(&a.target) {
        return crate::buckets::list(g, store, &config).await;
    }
    // Keys of a bucket location print relative to the bucket.
    let (store, prefix, bucket_part) = match Location::parse(&a.target, &config)? {
        Location::Local(p) => {
            if !p.is_dir() {
                return Err(CliError::usage(format!("{}: not a directory", p.display())));
            }
            (open_local(&p, true)?, String::new(), String::new())
        }
        Location::Bucket { store, bucket, key } => {
            let prefix = if key.is_empty() || key.ends_with('/') {
                key
            } else {
                format!("{key}/")
            };
            let o = open_bucket(&store, &bucket, &config)?;
            (o.store, format!("{}{prefix}", o.base), o.base)
        }
    };
    let shown = |k: &str| k.strip_prefix(bucket_part.as_str()).unwrap_or(k).to_owned();
    let opts = ListOptions {
        delimiter: (!a.recursive).then(|| "/".to_owned()),
        ..ListOptions::default()
    };
    let mut list = store.list(&prefix, opts);
    let mut count = 0u64;
    let mut unusable = 0u64;
    while let Some(entry) = list.next().await {
        let entry = entry?;
        count += 1;
        match entry {
            ListEntry::Unusable(u) => {
                unusable += u64::from(u.fails);
                if g.json {
                    outln!(
                        "{}",
                        json!({"unusable": shown(&u.name), "reason": u.reason, "fails": u.fails})
                    );
                } else if u.fails || !g.quiet {
                    let what = if u.fails { "error" } else { "skipped" };
                    eprintln!("{what}: {}: {}", shown(&u.name), u.reason);
                }
            }
            ListEntry::Prefix(p) if g.json => outln!("{}", json!({"prefix": shown(&p)})),
            ListEntry::Prefix(p) => outln!("{:>30} {}", "PRE", shown(&p)),
            ListEntry::Object(m) if g.json => outln!("{}", meta_json(&m)),
            ListEntry::Object(m) if a.long => outln!(
                "{:>12} {} {}",
                m.size,
                rfc3339(secs(m.last_modified)),
                shown(m.key.as_str())
            ),
            ListEntry::Object(m) => outln!("{}", shown(m.key.as_str())),
        }
    }
    if count == 0 && !g.quiet && !g.json {
        eprintln!("(nothing under {})", a.target);
    }
    // Entries that cannot be keys are listed on stderr and make the exit 1.
    Ok(u8::from(unusable > 0))
}

/// `haul stat`.
pub(crate) async fn stat(g: &Global, a: StatArgs) -> Result<u8, CliError> {
    let config = ConfigFile::load()?;
    let (store, key) = match Location::parse(&a.target, &config)? {
        Location::Local(p) => {
            let abs = std::path::absolute(&p).unwrap_or(p);
            let parent = abs
                .parent()
                .map(std::path::Path::to_path_buf)
                .unwrap_or_default();
            let name = abs
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (open_local(&parent, true)?, name)
        }
        Location::Bucket { store, bucket, key } => {
            let o = open_bucket(&store, &bucket, &config)?;
            (o.store, format!("{}{key}", o.base))
        }
    };
    let key = Key::new(key).map_err(|e| CliError::usage(format!("{}: {e}", a.target)))?;
    let m = store.head(&key).await?;
    if g.json {
        outln!("{}", meta_json(&m));
    } else {
        outln!("key:           {}", m.key);
        outln!("size:          {} ({})", m.size, human(m.size));
        if let Some(t) = m.last_modified {
            outln!("last modified: {}", rfc3339(secs(Some(t))));
        }
        if let Some(e) = &m.etag {
            outln!("etag:          {e}");
        }
        for c in &m.checksums {
            outln!("checksum:      {c}");
        }
        if let Some(v) = &m.version {
            outln!("version:       {v}");
        }
    }
    Ok(0)
}

/// `haul jobs [list | show JOB | forget JOB | report JOB]`.
pub(crate) async fn jobs(g: &Global, a: JobsArgs) -> Result<u8, CliError> {
    let journal = open_journal(g)?;
    match a.action.unwrap_or(JobsAction::List) {
        JobsAction::List => {
            for j in journal.list_jobs()? {
                let spec: serde_json::Value = serde_json::from_str(&j.spec).unwrap_or_default();
                if g.json {
                    outln!(
                        "{}",
                        json!({"job_id": j.id.0, "state": j.state.as_str(), "op": spec["op"],
                               "src": spec["src"], "dst": spec["dst"], "files_total": j.files_total,
                               "files_done": j.files_done, "files_skipped": j.files_skipped,
                               "files_failed": j.files_failed, "bytes_total": j.bytes_total,
                               "updated_at": rfc3339(j.updated_at as u64)})
                    );
                } else {
                    outln!(
                        "{:>5}  {:<11} {:<5} {}/{} files ({} failed) {:>10}  {} {} -> {} {}",
                        j.id,
                        j.state.as_str(),
                        spec["op"].as_str().unwrap_or("?"),
                        j.files_done + j.files_skipped,
                        j.files_total,
                        j.files_failed,
                        human(j.bytes_total),
                        rfc3339(j.updated_at as u64),
                        spec["src"].as_str().unwrap_or(""),
                        spec["src_prefix"].as_str().unwrap_or(""),
                        spec["dst"].as_str().unwrap_or(""),
                    );
                }
            }
        }
        JobsAction::Show { job } => {
            let row = journal.job(JobId(job))?;
            if g.json {
                outln!(
                    "{}",
                    json!({"job_id": row.id.0, "state": row.state.as_str(),
                           "files_total": row.files_total, "files_done": row.files_done,
                           "files_skipped": row.files_skipped, "files_failed": row.files_failed,
                           "bytes_total": row.bytes_total,
                           "updated_at": rfc3339(row.updated_at as u64)})
                );
            } else {
                outln!(
                    "job {} {} ({} files)",
                    row.id,
                    row.state.as_str(),
                    row.files_total
                );
            }
            crate::worker::show_workers(g, &journal, JobId(job))?;
            for f in journal.files(JobId(job))? {
                let parts = if f.state == FileState::Active {
                    journal.parts(f.id)?.len()
                } else {
                    0
                };
                if g.json {
                    outln!(
                        "{}",
                        json!({"file": f.id.0, "state": f.state.as_str(),
                               "action": f.action.as_str(), "src": f.src, "dst": f.dst,
                               "size": f.size, "parts_done": parts, "error": f.error})
                    );
                    continue;
                }
                let parts = if f.state == FileState::Active {
                    format!(" {parts} parts done")
                } else {
                    String::new()
                };
                let err = f.error.map(|e| format!(" — {e}")).unwrap_or_default();
                outln!(
                    "{:<8} {:<6} {} -> {} ({}){parts}{err}",
                    f.state.as_str(),
                    f.action.as_str(),
                    f.src,
                    f.dst,
                    human(f.size)
                );
            }
        }
        JobsAction::Report {
            job,
            format,
            output,
        } => {
            let row = journal.job(JobId(job))?;
            let files = journal.audit(JobId(job))?;
            let report = crate::report::Report::new(&row, &files);
            let text = match format {
                ReportFormat::Json => report.json(),
                ReportFormat::Csv => report.csv(),
                ReportFormat::Html => report.html(),
            };
            match output {
                Some(path) => std::fs::write(&path, text)
                    .map_err(|e| CliError::failed(format!("writing {}: {e}", path.display())))?,
                None => crate::output::stdout(format_args!("{text}"), false),
            }
        }
        JobsAction::Forget { job } => {
            journal.job(JobId(job))?;
            journal.forget_job(JobId(job)).await?;
            if !g.quiet {
                eprintln!("forgot job {job}");
            }
        }
    }
    Ok(0)
}

/// `haul cleanup`: aborts uploads the journal knows were abandoned.
pub(crate) async fn cleanup(g: &Global, a: CleanupArgs) -> Result<u8, CliError> {
    let config = ConfigFile::load()?;
    let journal = open_journal(g)?;
    let engine = Engine::new(journal.clone(), TransferConfig::default());
    let now = secs(Some(SystemTime::now())) as i64;
    let mut aborted = 0;
    let mut failed = 0;
    for (job, file) in journal.open_uploads()? {
        if let Some(age) = a.older_than
            && now - job.updated_at < age.as_secs() as i64
        {
            continue;
        }
        if journal.lock_job(job.id).is_err() {
            continue; // running right now
        }
        // On a shared journal: a file a live worker holds is being worked on.
        if journal.is_shared()
            && journal
                .leases(job.id)?
                .iter()
                .any(|l| l.file == file.id && l.expires_in_ms > 0)
        {
            continue;
        }
        let spec = engine.spec(job.id)?;
        let Some(upload) = file.upload_id.clone() else {
            continue;
        };
        let store = reopen(&spec.dst, &config)?;
        let key = Key::new(file.dst.clone())?;
        match store.abort_multipart(&key, &UploadId(upload.clone())).await {
            Ok(()) | Err(haul_core::Error::NoSuchUpload { .. }) => {
                journal.reset_file(file.id, file.size, file.mtime_ns, file.src_version.clone());
                aborted += 1;
                if !g.quiet {
                    outln!("aborted upload {upload} of {} (job {})", file.dst, job.id);
                }
            }
            Err(e) => {
                failed += 1;
                eprintln!("error: {e}");
            }
        }
    }
    journal.flush().await?;
    if let Some(loc) = a.list {
        match Location::parse(&loc, &config)? {
            Location::Bucket { store, bucket, key } => {
                for u in crate::providers::list_uploads(&store, &bucket, &key, &config).await? {
                    outln!("{u}");
                }
            }
            Location::Local(_) => {
                return Err(CliError::usage("--list takes a bucket location"));
            }
        }
    }
    if !g.quiet {
        eprintln!("{aborted} abandoned uploads aborted, {failed} failed");
    }
    Ok(u8::from(failed > 0))
}
