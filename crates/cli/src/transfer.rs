//! cp, mv, sync, rm and resume: resolve locations into engine endpoints, run
//! the job, render it, and turn Ctrl-C into a clean, resumable stop.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use haul_core::ObjectStore;
use haul_engine::{
    CompareMode, Endpoint, Engine, JobHandle, JobRequest, Operation, TransferConfig,
};
use haul_journal::{JobId, Journal};

use crate::CliError;
use crate::args::{CpArgs, Global, Knobs, ResumeArgs, RmArgs, SyncArgs};
use crate::location::{Location, open_bucket, open_local, reopen};
use crate::output::Output;
use crate::settings::ConfigFile;

/// Opens the journal the flags or environment name.
pub(crate) fn open_journal(g: &Global) -> Result<Arc<Journal>, CliError> {
    let path = match &g.journal {
        Some(p) => p.clone(),
        None => Journal::default_path()?,
    };
    Ok(Arc::new(Journal::open(path)?))
}

/// A store and prefix resolved from a location, for one side of a job.
pub(crate) struct Side {
    pub(crate) store: Arc<dyn ObjectStore>,
    pub(crate) prefix: String,
    pub(crate) id: String,
}

impl Side {
    pub(crate) fn endpoint(self) -> Endpoint {
        Endpoint::new(self.store, self.prefix, self.id)
    }
}

fn dir_prefix(key: &str) -> String {
    if key.is_empty() || key.ends_with('/') {
        key.to_owned()
    } else {
        format!("{key}/")
    }
}

/// The source side: a single file/object, or a tree with `recursive`.
pub(crate) fn source(
    loc: &Location,
    recursive: bool,
    follow: bool,
    config: &ConfigFile,
) -> Result<(Side, bool), CliError> {
    match loc {
        Location::Local(path) => {
            let meta = std::fs::metadata(path).map_err(|e| {
                CliError::usage(format!("{}: cannot read source: {e}", path.display()))
            })?;
            if meta.is_dir() {
                if !recursive {
                    return Err(CliError::usage(format!(
                        "{}: is a directory (use -r to copy its contents)",
                        path.display()
                    )));
                }
                let root = std::path::absolute(path).unwrap_or_else(|_| path.clone());
                Ok((side_local(&root, String::new(), follow)?, false))
            } else {
                let root = parent_of(path);
                let name = loc
                    .basename()
                    .ok_or_else(|| CliError::usage(format!("{}: no file name", path.display())))?;
                Ok((side_local(&root, name, follow)?, true))
            }
        }
        Location::Bucket { store, bucket, key } => {
            let o = open_bucket(store, bucket, config)?;
            if recursive {
                Ok((
                    Side {
                        store: o.store,
                        prefix: format!("{}{}", o.base, dir_prefix(key)),
                        id: o.id,
                    },
                    false,
                ))
            } else if key.is_empty() || key.ends_with('/') {
                Err(CliError::usage(format!(
                    "{}: names a prefix, not an object (use -r)",
                    display(loc)
                )))
            } else {
                Ok((
                    Side {
                        store: o.store,
                        prefix: format!("{}{key}", o.base),
                        id: o.id,
                    },
                    true,
                ))
            }
        }
    }
}

fn parent_of(path: &Path) -> PathBuf {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    abs.parent()
        .map_or_else(|| PathBuf::from("/"), Path::to_path_buf)
}

fn side_local(root: &Path, prefix: String, follow: bool) -> Result<Side, CliError> {
    Ok(Side {
        store: open_local(root, follow)?,
        prefix,
        id: root.to_string_lossy().into_owned(),
    })
}

fn display(loc: &Location) -> String {
    match loc {
        Location::Local(p) => p.display().to_string(),
        Location::Bucket { store, bucket, key } if store == "s3" => format!("s3://{bucket}/{key}"),
        Location::Bucket { store, bucket, key } => format!("{store}:{bucket}/{key}"),
    }
}

/// The destination side: for a single source, the destination object (a
/// directory or prefix gets the source's name appended).
pub(crate) fn destination(
    loc: &Location,
    single: bool,
    src_name: Option<String>,
    config: &ConfigFile,
) -> Result<Side, CliError> {
    match loc {
        Location::Local(path) => {
            if !single {
                let root = std::path::absolute(path).unwrap_or_else(|_| path.clone());
                return side_local(&root, String::new(), false);
            }
            let as_dir = path.is_dir() || path.to_string_lossy().ends_with('/');
            let file = if as_dir {
                path.join(src_name.unwrap_or_default())
            } else {
                path.clone()
            };
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .ok_or_else(|| CliError::usage(format!("{}: no file name", path.display())))?;
            side_local(&parent_of(&file), name, false)
        }
        Location::Bucket { store, bucket, key } => {
            let o = open_bucket(store, bucket, config)?;
            let key = if single {
                if key.is_empty() || key.ends_with('/') {
                    format!("{key}{}", src_name.unwrap_or_default())
                } else {
                    key.clone()
                }
            } else {
                dir_prefix(key)
            };
            Ok(Side {
                store: o.store,
                prefix: format!("{}{key}", o.base),
                id: o.id,
            })
        }
    }
}

/// Source and destination in the same bucket share one store, so copies
/// between them run server-side.
fn share_store(src: &Side, dst: &mut Side) {
    if src.id == dst.id && !src.id.is_empty() {
        dst.store = Arc::clone(&src.store);
    }
}

/// Whether two resolved sides name the same object (`single`) or tree:
/// one file or directory on disk however it is spelled (same device and
/// inode), or the same key or prefix of the same bucket.
fn same_target(src: &Side, dst: &Side, single: bool, locs: (&Location, &Location)) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    match locs {
        (Location::Local(_), Location::Local(_)) => {
            let path = |side: &Side| {
                if single {
                    Path::new(&side.id).join(&side.prefix)
                } else {
                    PathBuf::from(&side.id)
                }
            };
            match (std::fs::metadata(path(src)), std::fs::metadata(path(dst))) {
                (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
                _ => false,
            }
        }
        (Location::Bucket { .. }, Location::Bucket { .. }) => {
            src.id == dst.id && src.prefix == dst.prefix
        }
        _ => false,
    }
}

#[allow(clippy::struct_excessive_bools)] // independent switches of one job
struct Plan {
    op: Operation,
    src: String,
    dst: String,
    recursive: bool,
    compare: CompareMode,
    delete: bool,
    max_delete: Option<u64>,
    include: Vec<String>,
    exclude: Vec<String>,
    dry_run: bool,
    no_follow_symlinks: bool,
    attrs: haul_engine::AttrOverrides,
}

async fn start(g: &Global, p: Plan, knobs: &Knobs) -> Result<u8, CliError> {
    let config = ConfigFile::load()?;
    let transfer = config.transfer_config(knobs)?;
    let src_loc = Location::parse(&p.src, &config)?;
    let dst_loc = Location::parse(&p.dst, &config)?;
    let (src, single) = source(&src_loc, p.recursive, !p.no_follow_symlinks, &config)?;
    let mut dst = destination(&dst_loc, single, src_loc.basename(), &config)?;
    if same_target(&src, &dst, single, (&src_loc, &dst_loc)) {
        if p.op == Operation::Move {
            return Err(CliError::usage(format!(
                "{}: source and destination are the same {}; mv would delete it",
                p.src,
                if single { "file" } else { "directory" }
            )));
        }
        if !g.quiet {
            eprintln!(
                "{}: source and destination are the same; nothing to do",
                p.src
            );
        }
        if g.json {
            return Ok(Output::new(g).summary(&haul_engine::Summary::default()));
        }
        return Ok(0);
    }
    share_store(&src, &mut dst);
    let req = JobRequest {
        op: p.op,
        src: src.endpoint(),
        dst: dst.endpoint(),
        single,
        compare: p.compare,
        delete_extraneous: p.delete,
        max_delete: p.max_delete,
        include: p.include,
        exclude: p.exclude,
        dry_run: p.dry_run,
        attrs: p.attrs,
        store_options: crate::providers::s3_flags().to_record(),
    };
    let journal = open_journal(g)?;
    run_job(g, journal, transfer, |engine| async move {
        engine.start(req).await
    })
    .await
}

/// Runs a job to its end, rendering events; Ctrl-C cancels it cleanly.
async fn run_job<F, Fut>(
    g: &Global,
    journal: Arc<Journal>,
    transfer: TransferConfig,
    begin: F,
) -> Result<u8, CliError>
where
    F: FnOnce(Engine) -> Fut,
    Fut: std::future::Future<Output = Result<JobHandle, haul_engine::EngineError>>,
{
    // Registered before the job starts, so an early Ctrl-C is never fatal.
    let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .map_err(|e| CliError::failed(format!("cannot handle Ctrl-C: {e}")))?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let engine = Engine::new(journal, transfer).with_events(tx);
    let handle = begin(engine).await?;
    let canceller = handle.canceller();
    let out = Output::new(g);
    let mut join = tokio::spawn(handle.join());
    let mut interrupted = false;
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Some(ev) => out.event(&ev),
                None => break,
            },
            _ = sigint.recv(), if !interrupted => {
                interrupted = true;
                canceller.cancel();
                eprintln!("\ninterrupting: finishing the parts in flight…");
            }
            res = &mut join => {
                while let Ok(ev) = rx.try_recv() {
                    out.event(&ev);
                }
                let summary = res.map_err(|e| CliError::failed(e.to_string()))??;
                return Ok(out.summary(&summary));
            }
        }
    }
    let summary = join.await.map_err(|e| CliError::failed(e.to_string()))??;
    Ok(out.summary(&summary))
}

/// `haul cp` and `haul mv`.
pub(crate) async fn cp(g: &Global, a: CpArgs, op: Operation) -> Result<u8, CliError> {
    if a.src == "-" || a.dst == "-" {
        if op != Operation::Copy || a.recursive {
            return Err(CliError::usage(
                "`-` (standard input or output) works with a plain cp of one object",
            ));
        }
        return crate::stream::cp(g, &a).await;
    }
    start(
        g,
        Plan {
            op,
            src: a.src,
            dst: a.dst,
            recursive: a.recursive,
            compare: CompareMode::Always,
            delete: false,
            max_delete: None,
            include: a.filters.include,
            exclude: a.filters.exclude,
            dry_run: a.filters.dry_run,
            no_follow_symlinks: a.filters.no_follow_symlinks,
            attrs: a.attrs.overrides(),
        },
        &a.knobs,
    )
    .await
}

/// `haul sync`.
pub(crate) async fn sync(g: &Global, a: SyncArgs) -> Result<u8, CliError> {
    let compare = if a.checksum {
        CompareMode::Checksum
    } else if a.size_only {
        CompareMode::SizeOnly
    } else {
        CompareMode::SizeMtime
    };
    start(
        g,
        Plan {
            op: Operation::Sync,
            src: a.src,
            dst: a.dst,
            recursive: true,
            compare,
            delete: a.delete,
            max_delete: a.max_delete,
            include: a.filters.include,
            exclude: a.filters.exclude,
            dry_run: a.filters.dry_run,
            no_follow_symlinks: a.filters.no_follow_symlinks,
            attrs: a.attrs.overrides(),
        },
        &a.knobs,
    )
    .await
}

/// `haul rm`.
pub(crate) async fn rm(g: &Global, a: RmArgs) -> Result<u8, CliError> {
    let config = ConfigFile::load()?;
    let loc = Location::parse(&a.target, &config)?;
    let (side, single) = source(&loc, a.recursive, false, &config)?;
    let transfer = config.transfer_config(&Knobs::default())?;
    let ep = side.endpoint();
    let req = JobRequest {
        op: Operation::Delete,
        single,
        max_delete: a.max_delete,
        dry_run: a.dry_run,
        ..JobRequest::copy(ep.clone(), ep)
    };
    let journal = open_journal(g)?;
    run_job(g, journal, transfer, |engine| async move {
        engine.start(req).await
    })
    .await
}

/// `haul resume [JOB]`.
pub(crate) async fn resume(g: &Global, a: ResumeArgs) -> Result<u8, CliError> {
    let config = ConfigFile::load()?;
    let journal = open_journal(g)?;
    let job = match a.job {
        Some(j) => JobId(j),
        None => journal
            .latest_unfinished_job()?
            .ok_or_else(|| CliError::usage("no unfinished job in the journal"))?,
    };
    let probe = Engine::new(Arc::clone(&journal), TransferConfig::default());
    let spec = probe.spec(job)?;
    // The stores open as the job first opened them, flags given now winning.
    let mut flags = crate::providers::s3_flags();
    flags
        .complete_from(job, &spec.store_options)
        .map_err(CliError::usage)?;
    crate::providers::set_s3_flags(flags);
    let mut transfer = spec.config.clone();
    // Flags given now win over the job's recorded settings.
    crate::settings::apply_resume_flags(&mut transfer, &a.knobs)?;
    transfer.resend_unknown = a.resend_unknown;
    let src = reopen(&spec.src, &config)?;
    let dst = if spec.dst == spec.src {
        Arc::clone(&src)
    } else {
        reopen(&spec.dst, &config)?
    };
    let (s, d) = (
        Endpoint::new(src, spec.src_prefix.clone(), spec.src.clone()),
        Endpoint::new(dst, spec.dst_prefix.clone(), spec.dst.clone()),
    );
    run_job(g, journal, transfer, move |engine| async move {
        engine.resume(job, s, d)
    })
    .await
}
