//! The one place that knows every provider: it maps a location's store name
//! (a scheme such as `s3`, or a remote's `type`) to a store.

use std::sync::Arc;

use haul_core::ObjectStore;
use haul_cos::{CosConfig, CosStore};
use haul_qiniu::{QiniuConfig, QiniuStore};
use haul_s3::{ObjectOptions, S3Config, S3Endpoint, S3Store, SseCustomerKey};

use crate::args::S3Flags;
use crate::error::CliError;
use crate::settings::{ConfigFile, Remote};

/// The URL schemes haul knows.
pub(crate) const SCHEMES: [&str; 6] = ["s3", "cos", "qiniu", "nos", "easemob", "tcb"];

/// Connections per store: enough for the default 16 files × 16 parts to
/// reuse warm connections.
const POOL: usize = 64;

/// The command line's S3 flags (completed from the job's record on a
/// resume), set before any store is opened.
static S3_FLAGS: std::sync::RwLock<Option<S3Flags>> = std::sync::RwLock::new(None);

/// Records the S3 flags for every S3 store opened later.
pub(crate) fn set_s3_flags(flags: S3Flags) {
    *S3_FLAGS
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(flags);
}

/// The S3 flags in force.
pub(crate) fn s3_flags() -> S3Flags {
    S3_FLAGS
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
        .unwrap_or_default()
}

/// A bucket location's store (in its layers), the key prefix that
/// addresses the bucket in it, and the id the journal keeps to reopen it.
pub(crate) struct Opened {
    /// The store.
    pub(crate) store: Arc<dyn ObjectStore>,
    /// `bucket/` for endpoint-wide stores (S3), `""` for per-bucket ones.
    pub(crate) base: String,
    /// `s3://`, `cos://bucket`, `NAME:` or `NAME:bucket`. Never a secret.
    pub(crate) id: String,
}

fn usage(e: impl std::fmt::Display) -> CliError {
    CliError::usage(e.to_string())
}

/// The provider type and the remote (if any) behind a store name.
fn resolve<'a>(
    store: &'a str,
    config: &'a ConfigFile,
) -> Result<(&'a str, Option<&'a Remote>), CliError> {
    if SCHEMES.contains(&store) {
        return Ok((store, None));
    }
    let remote = config
        .remotes
        .get(store)
        .ok_or_else(|| CliError::usage(format!("unknown remote {store:?}")))?;
    Ok((remote.kind.as_str(), Some(remote)))
}

/// Opens `bucket` of the store called `store` (a scheme or a remote's name).
///
/// S3 stores span the endpoint (keys are `bucket/key`), so copies between
/// its buckets run server-side; COS stores are one bucket each.
pub(crate) fn open(store: &str, bucket: &str, config: &ConfigFile) -> Result<Opened, CliError> {
    let (kind, remote) = resolve(store, config)?;
    let named = |scheme_id: String| {
        if remote.is_some() {
            format!(
                "{store}:{}",
                scheme_id.split_once("://").map_or("", |(_, b)| b)
            )
        } else {
            scheme_id
        }
    };
    match kind {
        "s3" => {
            let cfg = s3_config(store, "", remote)?;
            let s = S3Endpoint::new(S3Config {
                concurrency: POOL,
                ..cfg
            })
            .map_err(usage)?;
            Ok(Opened {
                store: Arc::new(s),
                base: format!("{bucket}/"),
                id: named("s3://".into()),
            })
        }
        "cos" => {
            let cfg = cos_config(store, bucket, remote)?;
            let s = CosStore::new(CosConfig {
                concurrency: POOL,
                ..cfg
            })
            .map_err(usage)?;
            Ok(Opened {
                store: Arc::new(s) as Arc<dyn ObjectStore>,
                base: String::new(),
                id: named(format!("cos://{bucket}")),
            })
        }
        "qiniu" => {
            let cfg = qiniu_config(store, bucket, remote)?;
            let s = QiniuStore::new(QiniuConfig {
                concurrency: POOL,
                ..cfg
            })
            .map_err(usage)?;
            Ok(Opened {
                store: Arc::new(s) as Arc<dyn ObjectStore>,
                base: String::new(),
                id: named(format!("qiniu://{bucket}")),
            })
        }
        "nos" | "easemob" | "tcb" => {
            let var = messaging_vars(kind, store, bucket, remote)?;
            let s: Arc<dyn ObjectStore> = match kind {
                "nos" => Arc::new(
                    haul_nos::NosStore::new(haul_nos::NosConfig::from_lookup(var).map_err(usage)?)
                        .map_err(usage)?,
                ),
                "easemob" => Arc::new(
                    haul_easemob::EasemobStore::new(
                        haul_easemob::EasemobConfig::from_lookup(var).map_err(usage)?,
                    )
                    .map_err(usage)?,
                ),
                _ => Arc::new(
                    haul_tcb::TcbStore::new(haul_tcb::TcbConfig::from_lookup(var).map_err(usage)?)
                        .map_err(usage)?,
                ),
            };
            Ok(Opened {
                store: s,
                base: String::new(),
                id: named(format!("{kind}://{bucket}")),
            })
        }
        other => Err(CliError::usage(format!(
            "remote {store:?}: unknown type {other:?} (this build knows {})",
            SCHEMES.map(|s| format!("{s:?}")).join(", ")
        ))),
    }
}

/// The variables a messaging store reads, from the location and the remote
/// (when there is one) or the environment: `nos://LABEL/name` (the label is
/// only a name; NOS keeps no buckets), `easemob://ORG#APP/name`,
/// `tcb://ENV/path`.
fn messaging_vars(
    kind: &str,
    name: &str,
    bucket: &str,
    remote: Option<&Remote>,
) -> Result<impl Fn(&str) -> Option<String> + use<>, CliError> {
    let (id_var, secret_var, host_var, bucket_var) = match kind {
        "nos" => (
            "YUNXIN_APP_KEY",
            "YUNXIN_APP_SECRET",
            "YUNXIN_API_URL",
            None,
        ),
        "easemob" => (
            "EASEMOB_CLIENT_ID",
            "EASEMOB_CLIENT_SECRET",
            "EASEMOB_HOST",
            Some("EASEMOB_APPKEY"),
        ),
        _ => ("TCB_APPID", "TCB_APPSECRET", "TCB_API_URL", Some("TCB_ENV")),
    };
    let mut fixed: Vec<(&'static str, String)> = Vec::new();
    if let Some(v) = bucket_var.filter(|_| !bucket.is_empty()) {
        fixed.push((v, bucket.to_owned()));
    }
    let from_remote = remote.is_some();
    if let Some(r) = remote {
        let (id, secret, _) = keys(name, r)?;
        fixed.push((id_var, id));
        fixed.push((secret_var, secret));
        if let Some(ep) = &r.endpoint {
            fixed.push((host_var, ep.clone()));
        }
    }
    Ok(move |var: &str| {
        if let Some((_, v)) = fixed.iter().find(|(k, _)| *k == var) {
            return Some(v.clone());
        }
        // A remote's credentials never mix with the environment's.
        if from_remote && (var == id_var || var == secret_var) {
            return None;
        }
        std::env::var(var).ok()
    })
}

/// The endpoint-wide S3 store behind `store` (a scheme or remote), for
/// bucket operations; other providers cannot make or remove buckets here.
pub(crate) fn bucket_admin(store: &str, config: &ConfigFile) -> Result<S3Endpoint, CliError> {
    let (kind, remote) = resolve(store, config)?;
    if kind != "s3" {
        return Err(CliError::usage(format!(
            "{store}: bucket operations are supported for S3 stores only, not {kind}"
        )));
    }
    let cfg = s3_config(store, "", remote)?;
    S3Endpoint::new(cfg).map_err(usage)
}

/// The secrets of a remote: inline, or from the named variables.
fn keys(name: &str, r: &Remote) -> Result<(String, String, Option<String>), CliError> {
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
    let token = Remote::secret(
        "session_token",
        r.session_token.as_ref(),
        r.session_token_env.as_ref(),
    )?;
    Ok((key, secret, token))
}

fn s3_config(name: &str, bucket: &str, remote: Option<&Remote>) -> Result<S3Config, CliError> {
    let flags = s3_flags();
    let mut cfg = match remote {
        None => S3Config::from_env(bucket).map_err(usage)?,
        Some(r) => remote_s3_config(name, bucket, r)?,
    };
    if let Some(p) = &flags.profile {
        let region = flags
            .region
            .as_deref()
            .or(remote.and_then(|r| r.region.as_deref()));
        cfg = cfg.with_profile(p.clone(), region);
    }
    if let Some(region) = &flags.region {
        cfg.region.clone_from(region);
    }
    if let Some(ep) = &flags.endpoint_url {
        cfg.endpoint = Some(ep.clone());
    }
    cfg.anonymous = cfg.anonymous || flags.no_sign_request;
    cfg.object = object_options(&flags, remote)?;
    Ok(cfg)
}

/// Storage class, encryption, ACL and requester-pays: the remote's
/// defaults, overridden by the command line's flags.
fn object_options(flags: &S3Flags, remote: Option<&Remote>) -> Result<ObjectOptions, CliError> {
    let pick = |flag: &Option<String>, field: fn(&Remote) -> &Option<String>| {
        flag.clone()
            .or_else(|| remote.and_then(|r| field(r).clone()))
    };
    let sse_c = match &flags.sse_c_key {
        Some(k) => Some(k.clone()),
        None => match remote {
            Some(r) => Remote::secret("sse_c_key", r.sse_c_key.as_ref(), r.sse_c_key_env.as_ref())?,
            None => None,
        },
    };
    let opts = ObjectOptions {
        storage_class: pick(&flags.storage_class, |r| &r.storage_class),
        sse: pick(&flags.sse, |r| &r.sse),
        sse_kms_key_id: pick(&flags.sse_kms_key_id, |r| &r.sse_kms_key_id),
        sse_c_key: sse_c
            .map(|k| SseCustomerKey::parse(&k))
            .transpose()
            .map_err(CliError::usage)?,
        acl: pick(&flags.acl, |r| &r.acl),
        request_payer: flags.request_payer.is_some() || remote.is_some_and(|r| r.request_payer),
    };
    opts.validate().map_err(CliError::usage)?;
    Ok(opts)
}

/// A remote's S3 configuration: its own keys, else its `profile`, else the
/// AWS credential chain; `anonymous = true` signs nothing.
fn remote_s3_config(name: &str, bucket: &str, r: &Remote) -> Result<S3Config, CliError> {
    let has_keys = r.access_key_id.is_some() || r.access_key_id_env.is_some();
    let region = r.region.clone().unwrap_or_else(|| "us-east-1".into());
    let mut cfg = if has_keys {
        let (key, secret, token) = keys(name, r)?;
        let mut cfg = S3Config::new(bucket, region, key, secret);
        cfg.session_token = token;
        cfg
    } else if let Some(p) = &r.profile {
        S3Config::new(bucket, "", "", "").with_profile(p.clone(), r.region.as_deref())
    } else {
        S3Config::new(bucket, region, "", "")
    };
    cfg.endpoint.clone_from(&r.endpoint);
    cfg.force_path_style = r.force_path_style;
    cfg.anonymous = r.anonymous;
    if let Some(stream) = r.stream_parts {
        cfg.stream_parts = stream;
    }
    Ok(cfg)
}

fn cos_config(name: &str, bucket: &str, remote: Option<&Remote>) -> Result<CosConfig, CliError> {
    let mut cfg = cos_store_config(name, bucket, remote)?;
    cos_object_options(&mut cfg, remote)?;
    Ok(cfg)
}

fn cos_store_config(
    name: &str,
    bucket: &str,
    remote: Option<&Remote>,
) -> Result<CosConfig, CliError> {
    let Some(r) = remote else {
        return CosConfig::from_env(bucket).map_err(usage);
    };
    let (id, key, token) = keys(name, r)?;
    let region = r.region.clone().ok_or_else(|| {
        CliError::usage(format!("remote {name:?}: no region (e.g. ap-guangzhou)"))
    })?;
    let mut cfg = CosConfig::new(bucket, region, id, key);
    if let Some(ep) = &r.endpoint {
        cfg = cfg.with_endpoint(ep.clone());
    }
    cfg.force_path_style = cfg.force_path_style || r.force_path_style;
    cfg.security_token = token;
    Ok(cfg)
}

/// COS's equivalents of the S3 object flags (storage class, SSE-COS, ACL),
/// the flags winning over the remote's settings. The S3-only ones (KMS,
/// SSE-C, requester pays) are for the S3 side of a copy and not used here.
fn cos_object_options(cfg: &mut CosConfig, remote: Option<&Remote>) -> Result<(), CliError> {
    let flags = s3_flags();
    let pick = |flag: &Option<String>, field: fn(&Remote) -> &Option<String>| {
        flag.clone()
            .or_else(|| remote.and_then(|r| field(r).clone()))
    };
    cfg.storage_class = pick(&flags.storage_class, |r| &r.storage_class);
    cfg.sse = pick(&flags.sse, |r| &r.sse);
    cfg.acl = pick(&flags.acl, |r| &r.acl);
    if cfg.sse.as_deref().is_some_and(|s| s != "AES256") {
        return Err(CliError::usage(
            "COS: --sse takes AES256 (SSE-COS) only".to_owned(),
        ));
    }
    Ok(())
}

fn qiniu_config(
    name: &str,
    bucket: &str,
    remote: Option<&Remote>,
) -> Result<QiniuConfig, CliError> {
    let Some(r) = remote else {
        return QiniuConfig::from_env(bucket).map_err(usage);
    };
    let (ak, sk, _) = keys(name, r)?;
    // The remote's fields under the names QiniuConfig reads from the environment.
    let lookup = |var: &str| -> Option<String> {
        match var {
            "QINIU_ACCESS_KEY" => Some(ak.clone()),
            "QINIU_SECRET_KEY" => Some(sk.clone()),
            "QINIU_REGION" => r.region.clone(),
            "QINIU_UP_HOST" => r.up_host.clone(),
            "QINIU_RS_HOST" => r.rs_host.clone(),
            "QINIU_RSF_HOST" => r.rsf_host.clone(),
            "QINIU_DOWNLOAD_DOMAIN" => r.download_domain.clone(),
            "QINIU_PRIVATE" => r.private.then(|| "1".to_owned()),
            _ => None,
        }
    };
    QiniuConfig::from_lookup(bucket.to_owned(), lookup).map_err(usage)
}

/// Incomplete multipart uploads the server holds under `bucket/prefix`, one
/// line each.
pub(crate) async fn list_uploads(
    store: &str,
    bucket: &str,
    prefix: &str,
    config: &ConfigFile,
) -> Result<Vec<String>, CliError> {
    let (kind, remote) = resolve(store, config)?;
    let uploads = match kind {
        "s3" => {
            let s3 = S3Store::new(s3_config(store, bucket, remote)?).map_err(usage)?;
            crate::layers::retry_policy()
                .run(0, || s3.list_multipart_uploads(prefix))
                .await?
                .into_iter()
                .map(|u| (u.key.to_string(), u.upload_id.0))
                .collect::<Vec<_>>()
        }
        "cos" => {
            let cos = CosStore::new(cos_config(store, bucket, remote)?).map_err(usage)?;
            crate::layers::retry_policy()
                .run(0, || cos.list_multipart_uploads(prefix))
                .await?
                .into_iter()
                .map(|u| (u.key.to_string(), u.upload_id.0))
                .collect()
        }
        other => return Err(CliError::usage(format!("{other}: cannot list uploads"))),
    };
    Ok(uploads
        .into_iter()
        .map(|(k, id)| format!("{bucket}/{k} {id}"))
        .collect())
}
