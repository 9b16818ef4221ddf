//! The command line, as clap types only; `settings` turns them into engine
//! settings.
//!
//! Over 600 lines: every command's arguments with their help text (which
//! is also the manual page), kept in one file so that the whole command
//! line reads in one place and no command module defines another's flags.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const EXIT_CODES: &str = "\
Exit codes:
  0    every file done (or skipped)
  1    some files failed (each is listed)
  2    usage or configuration error
  3    verification failed: what arrived is not what left
  130  interrupted (the resume command is printed)";

const CHECK_EXIT_CODES: &str = "\
Exit codes:
  0    identical (keys compared by size only are listed and counted, not failed)
  1    something differs, is missing on either side, or could not be compared
  2    usage or configuration error";

/// haul: parallel, resumable, verified copies between disks and object stores.
#[derive(Debug, Parser)]
#[command(name = "haul", version, after_help = EXIT_CODES, max_term_width = 100)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
    #[command(flatten)]
    pub(crate) global: Global,
}

/// Flags every command takes.
#[derive(Debug, Args)]
pub(crate) struct Global {
    /// Print nothing but errors.
    #[arg(short, long, global = true)]
    pub(crate) quiet: bool,
    /// Print JSON lines: one per file finished, failed or skipped, then a summary.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// More logging (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub(crate) verbose: u8,
    /// The journal: a SQLite file, or a postgres:// URL shared by workers
    /// (default: $HAUL_JOURNAL, else $XDG_DATA_HOME/haul/journal.db). TLS
    /// as libpq's ?sslmode=disable|prefer|require|verify-ca|verify-full, with
    /// &sslrootcert=FILE for the CAs to trust; verify-full is the safe one.
    #[arg(long, global = true, value_name = "PATH|URL")]
    pub(crate) journal: Option<PathBuf>,
    /// Longest wait for a connection, for an answer to begin and for a body
    /// to move (default: $HAUL_TIMEOUT, else 60s). A request that timed out
    /// is sent once more, then its file fails.
    #[arg(long, global = true, value_name = "DURATION", value_parser = crate::size::parse_duration)]
    pub(crate) timeout: Option<std::time::Duration>,
    /// Serve Prometheus metrics on http://ADDR/metrics while a job
    /// (cp, mv, sync, rm, resume) runs (e.g. 127.0.0.1:9184; port 0 picks
    /// one, printed on standard error).
    #[arg(long, global = true, value_name = "ADDR")]
    pub(crate) metrics: Option<String>,
    #[command(flatten)]
    pub(crate) s3: S3Flags,
}

/// How S3 stores sign and where they go, as the AWS CLI's flags have it;
/// they win over the environment and a remote's settings. `Debug` hides
/// the SSE-C key.
#[derive(Clone, Args, Default)]
pub(crate) struct S3Flags {
    /// S3: use this profile of the shared AWS config and credentials files
    /// (its keys, role, SSO login or credential_process, and its region).
    #[arg(long, global = true, value_name = "NAME")]
    pub(crate) profile: Option<String>,
    /// S3: send requests unsigned, for public buckets.
    #[arg(long, global = true)]
    pub(crate) no_sign_request: bool,
    /// S3: the region to sign for (default: $AWS_REGION, else the profile's).
    #[arg(long, global = true, value_name = "REGION")]
    pub(crate) region: Option<String>,
    /// S3: the endpoint of an S3-compatible service (default: $AWS_ENDPOINT_URL).
    #[arg(long, global = true, value_name = "URL")]
    pub(crate) endpoint_url: Option<String>,
    /// S3/COS: storage class of new objects (STANDARD_IA, GLACIER_IR,
    /// DEEP_ARCHIVE, ...; COS: STANDARD_IA, ARCHIVE, ...).
    #[arg(long, global = true, value_name = "CLASS")]
    pub(crate) storage_class: Option<String>,
    /// S3/COS: server-side encryption of new objects: AES256, or aws:kms (S3).
    #[arg(long, global = true, value_name = "ALGORITHM")]
    pub(crate) sse: Option<String>,
    /// S3: the KMS key of SSE-KMS (implies --sse aws:kms).
    #[arg(long, global = true, value_name = "KEY_ID")]
    pub(crate) sse_kms_key_id: Option<String>,
    /// S3: SSE-C key (32 bytes, or their base64) for every object written,
    /// read or copied (the copy source uses the same key); default
    /// $HAUL_SSE_C_KEY.
    #[arg(
        long,
        global = true,
        value_name = "KEY",
        env = "HAUL_SSE_C_KEY",
        hide_env_values = true
    )]
    pub(crate) sse_c_key: Option<String>,
    /// S3/COS: canned ACL of new objects (private, public-read,
    /// bucket-owner-full-control, ...).
    #[arg(long, global = true, value_name = "ACL")]
    pub(crate) acl: Option<String>,
    /// S3: pay for requests to a requester-pays bucket (`requester`).
    #[arg(long, global = true, value_name = "WHO", value_parser = ["requester"])]
    pub(crate) request_payer: Option<String>,
}

impl S3Flags {
    /// What a job records of these flags so a resume opens its stores
    /// alike: every setting but the SSE-C key, which is a secret; that one
    /// is recorded only as used (`sse_c`), so a resume asks for it again.
    pub(crate) fn to_record(&self) -> std::collections::BTreeMap<String, String> {
        let mut out = std::collections::BTreeMap::new();
        let fields = [
            ("profile", &self.profile),
            ("region", &self.region),
            ("endpoint_url", &self.endpoint_url),
            ("storage_class", &self.storage_class),
            ("sse", &self.sse),
            ("sse_kms_key_id", &self.sse_kms_key_id),
            ("acl", &self.acl),
            ("request_payer", &self.request_payer),
        ];
        for (name, value) in fields {
            if let Some(v) = value {
                out.insert(name.to_owned(), v.clone());
            }
        }
        if self.no_sign_request {
            out.insert("no_sign_request".to_owned(), "true".to_owned());
        }
        if self.sse_c_key.is_some() {
            out.insert("sse_c".to_owned(), "true".to_owned());
        }
        out
    }

    /// Fills what was not given now from a job's record: flags given now
    /// win. A job that wrote with an SSE-C key needs it given again.
    pub(crate) fn complete_from(
        &mut self,
        job: impl std::fmt::Display,
        record: &std::collections::BTreeMap<String, String>,
    ) -> Result<(), String> {
        let get = |name: &str| record.get(name).cloned();
        let fields = [
            (&mut self.profile, "profile"),
            (&mut self.region, "region"),
            (&mut self.endpoint_url, "endpoint_url"),
            (&mut self.storage_class, "storage_class"),
            (&mut self.sse, "sse"),
            (&mut self.sse_kms_key_id, "sse_kms_key_id"),
            (&mut self.acl, "acl"),
            (&mut self.request_payer, "request_payer"),
        ];
        for (field, name) in fields {
            if field.is_none() {
                *field = get(name);
            }
        }
        self.no_sign_request |= record.contains_key("no_sign_request");
        if record.contains_key("sse_c") && self.sse_c_key.is_none() {
            return Err(format!(
                "job {job} wrote its objects with an SSE-C key, which the journal does not keep: give it again (--sse-c-key or HAUL_SSE_C_KEY)"
            ));
        }
        Ok(())
    }
}

impl std::fmt::Debug for S3Flags {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Flags")
            .field("profile", &self.profile)
            .field("no_sign_request", &self.no_sign_request)
            .field("region", &self.region)
            .field("endpoint_url", &self.endpoint_url)
            .field("storage_class", &self.storage_class)
            .field("sse", &self.sse)
            .field("sse_kms_key_id", &self.sse_kms_key_id)
            .field("sse_c_key", &self.sse_c_key.as_ref().map(|_| "REDACTED"))
            .field("acl", &self.acl)
            .field("request_payer", &self.request_payer)
            .finish()
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Copy files or objects: file→object, object→file, object→object.
    Cp(CpArgs),
    /// Copy only what differs; optionally delete what the source lacks.
    Sync(SyncArgs),
    /// Compare two trees without copying: what is missing on either side,
    /// what differs, what is identical.
    #[command(after_help = CHECK_EXIT_CODES)]
    Check(CheckArgs),
    /// Copy, verify, then delete the source.
    Mv(CpArgs),
    /// Delete objects (batched).
    Rm(RmArgs),
    /// List objects (or files).
    Ls(LsArgs),
    /// Show one object's metadata.
    Stat(StatArgs),
    /// Make a bucket.
    Mb(MbArgs),
    /// Remove a bucket (refused when not empty, unless --force).
    Rb(RbArgs),
    /// Write one object to standard output (same as `haul cp SRC -`).
    Cat(StatArgs),
    /// Resume an interrupted job (the latest unfinished one by default).
    Resume(ResumeArgs),
    /// Inspect the journal's jobs: list, show, forget, report (an audit
    /// report as JSON, CSV or HTML).
    Jobs(JobsArgs),
    /// Work on jobs of a shared (postgres://) journal beside other workers.
    Worker(WorkerArgs),
    /// Abort multipart uploads the journal knows were abandoned.
    Cleanup(CleanupArgs),
    /// Serve a local directory as an S3-compatible endpoint.
    Serve(ServeArgs),
    /// Run haul's main job end to end on an embedded endpoint.
    Demo(DemoArgs),
    /// Measure throughput and latency of a store, or of a migration path.
    Bench(BenchArgs),
    /// Print the manual page (roff), or write one per command into DIR.
    Man {
        /// Write haul.1 and haul-COMMAND.1 here instead.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Print shell completions.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// Knobs, named as the COS SDK names them.
#[derive(Debug, Clone, Args, Default)]
pub(crate) struct Knobs {
    /// Requests in flight: `auto` tunes them while the job runs (from 16,
    /// up while throughput grows, down when the store throttles), `N` fixes
    /// N files and N parts per file. An explicit --file-parallel-limit or
    /// --chunk-parallel-limit fixes them too [default: auto].
    #[arg(long, value_name = "auto|N", value_parser = parse_concurrency)]
    pub(crate) concurrency: Option<ConcurrencyArg>,
    /// Files in flight at once [default: 16].
    #[arg(long, value_name = "N")]
    pub(crate) file_parallel_limit: Option<usize>,
    /// Parts in flight per file [default: 16].
    #[arg(long, value_name = "N")]
    pub(crate) chunk_parallel_limit: Option<usize>,
    /// Attempts per part after request retries [default: 3].
    #[arg(long, value_name = "N")]
    pub(crate) chunk_retry_times: Option<u32>,
    /// Part size for multipart transfers [default: 16MiB].
    #[arg(long, value_name = "SIZE", value_parser = crate::size::parse_size)]
    pub(crate) chunk_size: Option<u64>,
    /// Objects above this go multipart [default: 16MiB].
    #[arg(long, value_name = "SIZE", value_parser = crate::size::parse_size)]
    pub(crate) slice_size: Option<u64>,
    /// Parts in flight per server-side copy [default: 32].
    #[arg(long, value_name = "N")]
    pub(crate) copy_chunk_parallel_limit: Option<usize>,
    /// Part size for server-side part copies [default: 128MiB].
    #[arg(long, value_name = "SIZE", value_parser = crate::size::parse_size)]
    pub(crate) copy_chunk_size: Option<u64>,
    /// Server-side copies up to this are one CopyObject; above, part copy [default: 5GiB].
    #[arg(long, value_name = "SIZE", value_parser = crate::size::parse_size)]
    pub(crate) copy_slice_size: Option<u64>,
    /// How often progress updates (500ms, 2s) [default: 500ms]; given
    /// with --json, a `progress` line is printed that often.
    #[arg(long, value_name = "DURATION", value_parser = crate::size::parse_duration)]
    pub(crate) progress_interval: Option<std::time::Duration>,
    /// Compute and send Content-MD5 on every write.
    #[arg(long)]
    pub(crate) upload_check_content_md5: bool,
    /// Bandwidth limit in bytes per second (e.g. 50M); 0 = none.
    #[arg(long, value_name = "SIZE", value_parser = crate::size::parse_size)]
    pub(crate) bwlimit: Option<u64>,
    /// Requests per second; 0 = none.
    #[arg(long, value_name = "N")]
    pub(crate) tpslimit: Option<u64>,
    /// Memory for part buffers in flight [default: 512MiB].
    #[arg(long, value_name = "SIZE", value_parser = crate::size::parse_size)]
    pub(crate) max_inflight_bytes: Option<u64>,
    /// What a failed file does to the job.
    #[arg(long, value_enum, value_name = "MODE")]
    pub(crate) on_error: Option<OnErrorArg>,
    /// How to verify when the destination reports no comparable checksum:
    /// `reported` compares sizes then (and says so), `read-back` reads the
    /// object back and compares its CRC32C [default: reported].
    #[arg(long, value_enum, value_name = "MODE")]
    pub(crate) verify: Option<VerifyArg>,
    /// Let mv delete a source verified by size only.
    #[arg(long)]
    pub(crate) allow_size_only: bool,
}

/// `--concurrency`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConcurrencyArg {
    /// Tuned while the job runs.
    Auto,
    /// N files, N parts per file.
    Fixed(usize),
}

pub(crate) fn parse_concurrency(s: &str) -> Result<ConcurrencyArg, String> {
    if s.eq_ignore_ascii_case("auto") {
        return Ok(ConcurrencyArg::Auto);
    }
    match s.parse::<usize>() {
        Ok(n) if n > 0 => Ok(ConcurrencyArg::Fixed(n)),
        _ => Err(format!("{s:?}: expected auto or a positive number")),
    }
}

/// `--verify`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum VerifyArg {
    /// Compare what the destination reports (sizes when nothing else).
    Reported,
    /// Read the object back when the destination reports no checksum.
    ReadBack,
}

/// `--on-error`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum OnErrorArg {
    /// Record it and carry on.
    Continue,
    /// Stop at the first failure.
    Abort,
}

/// Attributes set on every uploaded object.
#[derive(Debug, Clone, Args, Default)]
pub(crate) struct AttrFlags {
    /// Content-Type for every uploaded object (default: guessed from the name).
    #[arg(long, value_name = "TYPE")]
    pub(crate) content_type: Option<String>,
    /// User metadata for every uploaded object (repeatable).
    #[arg(long = "metadata", value_name = "K=V", value_parser = parse_kv)]
    pub(crate) metadata: Vec<(String, String)>,
    /// Cache-Control for every uploaded object.
    #[arg(long, value_name = "VALUE")]
    pub(crate) cache_control: Option<String>,
    /// Content-Disposition for every uploaded object.
    #[arg(long, value_name = "VALUE")]
    pub(crate) content_disposition: Option<String>,
}

fn parse_kv(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err(format!("{text:?}: expected KEY=VALUE")),
    }
}

impl AttrFlags {
    /// The engine's overrides.
    pub(crate) fn overrides(&self) -> haul_engine::AttrOverrides {
        haul_engine::AttrOverrides {
            content_type: self.content_type.clone(),
            cache_control: self.cache_control.clone(),
            content_disposition: self.content_disposition.clone(),
            metadata: self.metadata.iter().cloned().collect(),
        }
    }
}

/// What a transfer selects, and whether it only pretends.
#[derive(Debug, Args)]
pub(crate) struct Filters {
    /// Only keys matching this glob (repeatable).
    #[arg(long, value_name = "GLOB")]
    pub(crate) include: Vec<String>,
    /// Never keys matching this glob (repeatable).
    #[arg(long, value_name = "GLOB")]
    pub(crate) exclude: Vec<String>,
    /// Show what would be done; do nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Skip symbolic links in a local source (each is counted and reported)
    /// instead of copying what they point to.
    #[arg(long)]
    pub(crate) no_follow_symlinks: bool,
    /// Take only the keys of shard I of N (by a stable hash of the key):
    /// N machines, each with its own journal, split one listing.
    #[arg(long, value_name = "I/N", conflicts_with = "shard_count")]
    pub(crate) shard: Option<haul_engine::Shard>,
    /// Split into N shards, this one being $JOB_COMPLETION_INDEX (a
    /// Kubernetes Indexed Job's pod index).
    #[arg(long, value_name = "N")]
    pub(crate) shard_count: Option<u32>,
    /// Plan the job into the journal, print its id and stop: `haul worker`
    /// processes run it.
    #[arg(long, conflicts_with = "dry_run")]
    pub(crate) submit: bool,
}

#[derive(Debug, Args)]
pub(crate) struct WorkerArgs {
    /// The job to work on (default: every job with work left, waiting for
    /// one when there is none).
    pub(crate) job: Option<i64>,
    /// How long a claimed file stays this worker's without a renewal
    /// (renewed three times per lease) [default: $HAUL_LEASE_MS, else 60s].
    #[arg(long, value_name = "DURATION", value_parser = crate::size::parse_duration)]
    pub(crate) lease: Option<std::time::Duration>,
    #[command(flatten)]
    pub(crate) knobs: Knobs,
}

#[derive(Debug, Args)]
pub(crate) struct CpArgs {
    /// Source: a path, s3://bucket/key, REMOTE:bucket/key, or - for standard input.
    pub(crate) src: String,
    /// Destination; - writes one object to standard output.
    pub(crate) dst: String,
    /// Copy a directory or prefix (its contents go under the destination).
    #[arg(short, long)]
    pub(crate) recursive: bool,
    #[command(flatten)]
    pub(crate) filters: Filters,
    #[command(flatten)]
    pub(crate) attrs: AttrFlags,
    #[command(flatten)]
    pub(crate) knobs: Knobs,
}

#[derive(Debug, Args)]
#[allow(clippy::struct_excessive_bools)] // independent flags
pub(crate) struct SyncArgs {
    /// Source directory or prefix.
    pub(crate) src: String,
    /// Destination directory or prefix.
    pub(crate) dst: String,
    /// Compare content checksums instead of size and time.
    #[arg(long, conflicts_with = "size_only")]
    pub(crate) checksum: bool,
    /// Compare sizes only.
    #[arg(long)]
    pub(crate) size_only: bool,
    /// Delete destination objects the source lacks.
    #[arg(long)]
    pub(crate) delete: bool,
    /// Refuse to delete more than N objects.
    #[arg(long, value_name = "N")]
    pub(crate) max_delete: Option<u64>,
    #[command(flatten)]
    pub(crate) filters: Filters,
    #[command(flatten)]
    pub(crate) attrs: AttrFlags,
    #[command(flatten)]
    pub(crate) knobs: Knobs,
}

#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// Source directory or prefix.
    pub(crate) src: String,
    /// Destination directory or prefix.
    pub(crate) dst: String,
    /// Read both sides and compare their CRC32C (for keys of equal size),
    /// whatever the listings report.
    #[arg(long)]
    pub(crate) download: bool,
    /// Keys compared at once.
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub(crate) checkers: usize,
}

#[derive(Debug, Args)]
pub(crate) struct RmArgs {
    /// What to delete: an object, or a prefix with -r.
    pub(crate) target: String,
    /// Delete everything under the prefix.
    #[arg(short, long)]
    pub(crate) recursive: bool,
    /// Refuse to delete more than N objects.
    #[arg(long, value_name = "N")]
    pub(crate) max_delete: Option<u64>,
    /// Show what would be deleted; delete nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
}

#[derive(Debug, Args)]
pub(crate) struct LsArgs {
    /// A directory, bucket or prefix; `s3://` (or `REMOTE:`) alone lists buckets.
    pub(crate) target: String,
    /// List everything below, not one level.
    #[arg(short, long)]
    pub(crate) recursive: bool,
    /// Long format: size, time, key.
    #[arg(short, long)]
    pub(crate) long: bool,
}

#[derive(Debug, Args)]
pub(crate) struct MbArgs {
    /// The bucket: s3://NAME or REMOTE:NAME.
    pub(crate) bucket: String,
    /// The region to create it in (default: the configured one).
    #[arg(long)]
    pub(crate) region: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct RbArgs {
    /// The bucket: s3://NAME or REMOTE:NAME.
    pub(crate) bucket: String,
    /// Delete every object first.
    #[arg(long)]
    pub(crate) force: bool,
    /// With --force: refuse to delete more than N objects.
    #[arg(long, value_name = "N")]
    pub(crate) max_delete: Option<u64>,
}

#[derive(Debug, Args)]
pub(crate) struct StatArgs {
    /// One object or file.
    pub(crate) target: String,
}

#[derive(Debug, Args)]
pub(crate) struct ResumeArgs {
    /// The job id (default: the latest unfinished job).
    pub(crate) job: Option<i64>,
    /// Send again files whose upload to a non-idempotent store (NOS,
    /// Easemob, CloudBase) was sent but whose answer was lost: they may
    /// already be there, so this may store a duplicate.
    #[arg(long)]
    pub(crate) resend_unknown: bool,
    #[command(flatten)]
    pub(crate) knobs: Knobs,
}

#[derive(Debug, Args)]
pub(crate) struct JobsArgs {
    #[command(subcommand)]
    pub(crate) action: Option<JobsAction>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum JobsAction {
    /// Every job, newest first.
    List,
    /// One job's files and their state.
    Show {
        /// The job id.
        job: i64,
    },
    /// Delete a job from the journal (its uploads are not aborted: see cleanup).
    Forget {
        /// The job id.
        job: i64,
    },
    /// An audit report of a job from the journal: per object its source and
    /// destination, size, method (put, multipart, part-copy, copy), the
    /// checksum kinds compared (or "size only"), retries, bytes re-sent,
    /// whether it was resumed, start, end and throughput.
    Report {
        /// The job id.
        job: i64,
        /// json: one document (the job and one object per file); csv: a
        /// header and a row per file; html: one self-contained page with a
        /// throughput-over-time chart and the slowest objects.
        #[arg(long, value_enum, default_value = "json")]
        format: ReportFormat,
        /// Write the report to FILE instead of standard output.
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

/// `haul jobs report --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ReportFormat {
    /// One JSON document.
    Json,
    /// Comma-separated values, one row per file.
    Csv,
    /// One self-contained HTML page.
    Html,
}

#[derive(Debug, Args)]
pub(crate) struct CleanupArgs {
    /// Only uploads of jobs not updated for this long (e.g. 7d).
    #[arg(long, value_name = "DURATION", value_parser = crate::size::parse_duration)]
    pub(crate) older_than: Option<std::time::Duration>,
    /// Also list incomplete uploads the server holds under this prefix (s3://bucket/prefix).
    #[arg(long, value_name = "LOCATION")]
    pub(crate) list: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// The directory to serve (each subdirectory is a bucket).
    #[arg(long, default_value = ".")]
    pub(crate) root: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9000")]
    pub(crate) addr: String,
}

/// `--workload`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum WorkloadArg {
    /// One PUT per object.
    Put,
    /// GETs of objects written before the run.
    Get,
    /// 50% GET, 20% HEAD, 30% PUT.
    Mixed,
    /// Multipart uploads, parts in parallel.
    Multipart,
    /// Server-side copies.
    Copy,
}

#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// The bucket or prefix to load (default: an embedded endpoint, so it runs anywhere).
    pub(crate) target: Option<String>,
    /// What to send.
    #[arg(long, value_enum, default_value = "put")]
    pub(crate) workload: WorkloadArg,
    /// Object size.
    #[arg(long, default_value = "1MiB", value_parser = crate::size::parse_size)]
    pub(crate) size: u64,
    /// Stop after this many objects (else after --duration).
    #[arg(long, value_name = "N")]
    pub(crate) objects: Option<u64>,
    /// Run for this long.
    #[arg(long, default_value = "10s", value_parser = crate::size::parse_duration)]
    pub(crate) duration: std::time::Duration,
    /// Run at concurrency 1, 2, 4 … up to --concurrency (the benchmark's
    /// requests in flight: `--concurrency N`, 16 when not a number).
    #[arg(long)]
    pub(crate) sweep: bool,
    /// Part size for the multipart workload.
    #[arg(long, default_value = "8MiB", value_parser = crate::size::parse_size)]
    pub(crate) part_size: u64,
    /// Write a report: FILE.html (self-contained) or FILE.svg.
    #[arg(long, value_name = "FILE")]
    pub(crate) report: Option<std::path::PathBuf>,
    /// Migration path: copy from this prefix through the engine…
    #[arg(long, value_name = "SRC", requires = "to")]
    pub(crate) from: Option<String>,
    /// …to this one, reporting per-part latency and end-to-end throughput.
    #[arg(long, value_name = "DST", requires = "from")]
    pub(crate) to: Option<String>,
    /// With --from: generate COUNT objects of SIZE there first (e.g. 100:4MiB).
    #[arg(long, value_name = "COUNT:SIZE")]
    pub(crate) generate: Option<String>,
    #[command(flatten)]
    pub(crate) knobs: Knobs,
}

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Size of the sample data set.
    #[arg(long, default_value = "256MiB", value_parser = crate::size::parse_size)]
    pub(crate) size: u64,
    /// Where to put the sample data and the served buckets (default: a temp dir).
    #[arg(long)]
    pub(crate) dir: Option<PathBuf>,
}
