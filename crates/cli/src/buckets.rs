//! Buckets: `haul ls s3://` lists them, `haul mb` makes one, `haul rb`
//! removes an empty one (or empties it first with `--force`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use haul_core::Error;

use haul_engine::{Endpoint, Engine, JobRequest, Operation};
use serde_json::json;

use crate::args::{Global, MbArgs, RbArgs};
use crate::error::CliError;
use crate::layers::retry_policy;
use crate::location::Location;
use crate::providers::bucket_admin;
use crate::settings::ConfigFile;

/// The store name of a location that names no bucket (`s3://`, `REMOTE:`).
pub(crate) fn bucketless(target: &str) -> Option<&str> {
    if let Some(scheme) = target.strip_suffix("://") {
        return Some(scheme);
    }
    target.strip_suffix(':').filter(|n| {
        n.len() > 1
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    })
}

/// `haul ls s3://`: the buckets.
pub(crate) async fn list(g: &Global, store: &str, config: &ConfigFile) -> Result<u8, CliError> {
    let admin = bucket_admin(store, config)?;
    for b in retry_policy().run(0, || admin.list_buckets()).await? {
        if g.json {
            outln!("{}", json!({ "bucket": b }));
        } else {
            outln!("{b}");
        }
    }
    Ok(0)
}

fn bucket_of(text: &str, config: &ConfigFile) -> Result<(String, String), CliError> {
    match Location::parse(text, config)? {
        Location::Bucket { store, bucket, key } if key.is_empty() => Ok((store, bucket)),
        _ => Err(CliError::usage(format!(
            "{text}: expected a bucket (s3://NAME or REMOTE:NAME)"
        ))),
    }
}

/// `haul mb`.
pub(crate) async fn mb(g: &Global, a: MbArgs) -> Result<u8, CliError> {
    let config = ConfigFile::load()?;
    let (store, bucket) = bucket_of(a.bucket.trim_end_matches('/'), &config)?;
    let admin = bucket_admin(&store, &config)?;
    let tries = AtomicU32::new(0);
    let made = retry_policy()
        .run(0, || {
            tries.fetch_add(1, Ordering::Relaxed);
            admin.create_bucket(&bucket, a.region.as_deref())
        })
        .await;
    match made {
        Ok(()) => {}
        // A retry after an answer lost on the way: the first try made it.
        Err(Error::AlreadyExists { source, .. })
            if tries.load(Ordering::Relaxed) > 1
                && source.to_string().contains("BucketAlreadyOwnedByYou") => {}
        Err(e) => return Err(CliError::usage(e.to_string())),
    }
    if !g.quiet {
        eprintln!("made bucket {bucket}");
    }
    Ok(0)
}

/// `haul rb`.
pub(crate) async fn rb(g: &Global, a: RbArgs) -> Result<u8, CliError> {
    let config = ConfigFile::load()?;
    let (store, bucket) = bucket_of(a.bucket.trim_end_matches('/'), &config)?;
    let admin = bucket_admin(&store, &config)?;
    let empty = retry_policy()
        .run(0, || admin.bucket_is_empty(&bucket))
        .await
        .map_err(|e| CliError::usage(e.to_string()))?;
    if !empty {
        if !a.force {
            return Err(CliError::usage(format!(
                "bucket {bucket} is not empty; `haul rb --force` deletes its objects first"
            )));
        }
        let opened = crate::location::open_bucket(&store, &bucket, &config)?;
        let ep = Endpoint::layered(Arc::clone(&opened.store), opened.base.clone(), opened.id);
        let req = JobRequest {
            op: Operation::Delete,
            max_delete: a.max_delete,
            ..JobRequest::copy(ep.clone(), ep)
        };
        let transfer = config.transfer_config(&crate::args::Knobs::default())?;
        let engine = Engine::new(crate::sides::open_journal(g)?, transfer);
        let summary = engine.start(req).await?.join().await?;
        if !summary.is_success() {
            return Ok(crate::output::Output::new(g).summary(&summary));
        }
    }
    let removed = retry_policy().run(0, || admin.delete_bucket(&bucket)).await;
    match removed {
        // NotFound: the bucket was there a moment ago (the emptiness check
        // found it), so a retry after an answer lost on the way (ours, or
        // the transport's own) finds it gone, which is what was asked.
        Ok(()) | Err(Error::NotFound { .. }) => {}
        Err(e) => return Err(CliError::usage(e.to_string())),
    }
    if !g.quiet {
        eprintln!("removed bucket {bucket}");
    }
    Ok(0)
}
