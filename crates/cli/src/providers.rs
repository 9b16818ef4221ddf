//! The one place that knows every provider: it maps a store name from a
//! location (`s3`, or a remote's `type`) to a store.

use std::sync::Arc;

use haul_core::ObjectStore;
use haul_s3::{S3Config, S3Endpoint, S3Store};

use crate::CliError;
use crate::settings::{ConfigFile, Remote};

/// Connections per store: enough for the default 16 files × 16 parts to
/// reuse warm connections.
const POOL: usize = 64;

/// Opens the store called `store` (`s3` or a remote's name). Its keys are
/// `bucket/key`, so copies between its buckets run server-side.
pub(crate) fn open(store: &str, config: &ConfigFile) -> Result<Arc<dyn ObjectStore>, CliError> {
    let bucket = "";
    let cfg = if store == "s3" {
        S3Config::from_env(bucket).map_err(|e| CliError::usage(e.to_string()))?
    } else {
        let remote = config
            .remotes
            .get(store)
            .ok_or_else(|| CliError::usage(format!("unknown remote {store:?}")))?;
        match remote.kind.as_str() {
            "s3" => s3_remote(store, bucket, remote)?,
            other => {
                return Err(CliError::usage(format!(
                    "remote {store:?}: unknown type {other:?} (this build knows \"s3\")"
                )));
            }
        }
    };
    let cfg = S3Config {
        concurrency: POOL,
        ..cfg
    };
    S3Endpoint::new(cfg)
        .map(|s| Arc::new(s) as Arc<dyn ObjectStore>)
        .map_err(|e| CliError::usage(e.to_string()))
}

fn s3_remote(name: &str, bucket: &str, r: &Remote) -> Result<S3Config, CliError> {
    let key = Remote::secret(
        "access_key_id",
        r.access_key_id.as_ref(),
        r.access_key_id_env.as_ref(),
    )?
    .ok_or_else(|| CliError::usage(format!("remote {name:?}: no access_key_id")))?;
    let secret = Remote::secret(
        "secret_access_key",
        r.secret_access_key.as_ref(),
        r.secret_access_key_env.as_ref(),
    )?
    .ok_or_else(|| CliError::usage(format!("remote {name:?}: no secret_access_key")))?;
    let mut cfg = S3Config::new(
        bucket,
        r.region.clone().unwrap_or_else(|| "us-east-1".into()),
        key,
        secret,
    );
    cfg.endpoint.clone_from(&r.endpoint);
    cfg.force_path_style = r.force_path_style;
    cfg.session_token = Remote::secret(
        "session_token",
        r.session_token.as_ref(),
        r.session_token_env.as_ref(),
    )?;
    Ok(cfg)
}

/// Incomplete multipart uploads the server holds under `bucket/prefix`, one
/// line each.
pub(crate) async fn list_uploads(
    store: &str,
    bucket: &str,
    prefix: &str,
    config: &ConfigFile,
) -> Result<Vec<String>, CliError> {
    let cfg = if store == "s3" {
        S3Config::from_env(bucket).map_err(|e| CliError::usage(e.to_string()))?
    } else {
        let remote = config
            .remotes
            .get(store)
            .ok_or_else(|| CliError::usage(format!("unknown remote {store:?}")))?;
        s3_remote(store, bucket, remote)?
    };
    let s3 = S3Store::new(cfg).map_err(|e| CliError::usage(e.to_string()))?;
    Ok(s3
        .list_multipart_uploads(prefix)
        .await?
        .into_iter()
        .map(|u| format!("{bucket}/{} {}", u.key, u.upload_id))
        .collect())
}
