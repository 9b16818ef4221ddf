//! The config file (`$HAUL_CONFIG`, else `$XDG_CONFIG_HOME/haul/config.toml`)
//! merged with flags into engine settings.
//!
//! ```toml
//! [remotes.backup]
//! type = "s3"
//! endpoint = "http://127.0.0.1:9000"
//! region = "us-east-1"
//! access_key_id_env = "BACKUP_KEY"       # or access_key_id = "..."
//! secret_access_key_env = "BACKUP_SECRET"
//! force_path_style = true
//!
//! [transfer]
//! chunk_size = "32MiB"
//! file_parallel_limit = 8
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;

use haul_engine::{Concurrency, OnError, TransferConfig};
use serde::Deserialize;

use crate::args::{ConcurrencyArg, Knobs, OnErrorArg, VerifyArg};
use crate::{CliError, size};

/// A named remote. `Debug` hides the inline secrets.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(clippy::struct_excessive_bools)] // one switch per setting of the config file
pub(crate) struct Remote {
    /// The provider (`s3`).
    #[serde(rename = "type")]
    pub(crate) kind: String,
    pub(crate) endpoint: Option<String>,
    pub(crate) region: Option<String>,
    #[serde(alias = "secret_id")]
    pub(crate) access_key_id: Option<String>,
    #[serde(alias = "secret_id_env")]
    pub(crate) access_key_id_env: Option<String>,
    #[serde(alias = "secret_key")]
    pub(crate) secret_access_key: Option<String>,
    #[serde(alias = "secret_key_env")]
    pub(crate) secret_access_key_env: Option<String>,
    #[serde(alias = "security_token")]
    pub(crate) session_token: Option<String>,
    #[serde(alias = "security_token_env")]
    pub(crate) session_token_env: Option<String>,
    #[serde(default)]
    pub(crate) force_path_style: bool,
    /// S3: the AWS profile whose credentials to use (when the remote has no
    /// keys of its own).
    pub(crate) profile: Option<String>,
    /// S3: send requests unsigned (a public bucket).
    #[serde(default)]
    pub(crate) anonymous: bool,
    /// S3/COS: storage class of new objects.
    pub(crate) storage_class: Option<String>,
    /// S3/COS: server-side encryption (`AES256`, S3 also `aws:kms`).
    pub(crate) sse: Option<String>,
    /// S3: the KMS key of SSE-KMS.
    pub(crate) sse_kms_key_id: Option<String>,
    /// S3: the SSE-C key, inline or from the named variable.
    pub(crate) sse_c_key: Option<String>,
    pub(crate) sse_c_key_env: Option<String>,
    /// S3/COS: canned ACL of new objects.
    pub(crate) acl: Option<String>,
    /// S3: the bucket is requester-pays.
    #[serde(default)]
    pub(crate) request_payer: bool,
    /// S3: send parts as they are read (aws-chunked, CRC32C trailer);
    /// `false` gathers each part first.
    pub(crate) stream_parts: Option<bool>,
    /// Qiniu: upload host override.
    pub(crate) up_host: Option<String>,
    /// Qiniu: rs host override.
    pub(crate) rs_host: Option<String>,
    /// Qiniu: rsf host override.
    pub(crate) rsf_host: Option<String>,
    /// Qiniu: the download domain bound to the bucket.
    pub(crate) download_domain: Option<String>,
    /// Qiniu: the bucket is private (downloads use signed URLs).
    #[serde(default)]
    pub(crate) private: bool,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |v: &Option<String>| v.as_ref().map(|_| "REDACTED");
        f.debug_struct("Remote")
            .field("kind", &self.kind)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("access_key_id_env", &self.access_key_id_env)
            .field("secret_access_key", &hidden(&self.secret_access_key))
            .field("secret_access_key_env", &self.secret_access_key_env)
            .field("session_token", &hidden(&self.session_token))
            .field("session_token_env", &self.session_token_env)
            .field("profile", &self.profile)
            .field("anonymous", &self.anonymous)
            .field("storage_class", &self.storage_class)
            .field("sse", &self.sse)
            .field("sse_kms_key_id", &self.sse_kms_key_id)
            .field("sse_c_key", &hidden(&self.sse_c_key))
            .field("sse_c_key_env", &self.sse_c_key_env)
            .field("acl", &self.acl)
            .field("request_payer", &self.request_payer)
            .finish_non_exhaustive()
    }
}

impl Remote {
    /// A secret given inline or through the named environment variable.
    pub(crate) fn secret(
        name: &str,
        inline: Option<&String>,
        env: Option<&String>,
    ) -> Result<Option<String>, CliError> {
        if let Some(v) = inline {
            return Ok(Some(v.clone()));
        }
        match env {
            Some(var) => std::env::var(var).map(Some).map_err(|_| {
                CliError::usage(format!(
                    "remote setting {name}_env names {var}, which is not set"
                ))
            }),
            None => Ok(None),
        }
    }
}

/// The whole config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConfigFile {
    #[serde(default)]
    pub(crate) remotes: BTreeMap<String, Remote>,
    #[serde(default)]
    pub(crate) transfer: BTreeMap<String, toml::Value>,
}

fn config_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("HAUL_CONFIG").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("haul/config.toml"))
}

impl ConfigFile {
    /// Loads the config file; a missing default file is an empty config, a
    /// missing `$HAUL_CONFIG` or a malformed file is an error.
    pub(crate) fn load() -> Result<Self, CliError> {
        let Some(path) = config_path() else {
            return Ok(Self::default());
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e)
                if e.kind() == std::io::ErrorKind::NotFound
                    && std::env::var_os("HAUL_CONFIG").is_none() =>
            {
                return Ok(Self::default());
            }
            Err(e) => return Err(CliError::usage(format!("{}: {e}", path.display()))),
        };
        toml::from_str(&text).map_err(|e| {
            CliError::usage(format!(
                "{}: {}",
                path.display(),
                e.message().lines().next().unwrap_or("invalid TOML")
            ))
        })
    }

    /// Engine settings: defaults, then `[transfer]`, then flags. The
    /// stores opened after this are put in the layers they give (retry
    /// policy, limits).
    pub(crate) fn transfer_config(&self, knobs: &Knobs) -> Result<TransferConfig, CliError> {
        // The command line tunes its concurrency unless told a number.
        let mut c = TransferConfig {
            concurrency: Concurrency::Auto,
            ..TransferConfig::default()
        };
        for (name, value) in &self.transfer {
            apply_file_knob(&mut c, name, value)
                .map_err(|e| CliError::usage(format!("[transfer] {name}: {e}")))?;
        }
        apply_flags(&mut c, knobs);
        c.validate().map_err(CliError::usage)?;
        crate::layers::set_layers(c.layers());
        Ok(c)
    }
}

fn as_size(v: &toml::Value) -> Result<u64, String> {
    match v {
        toml::Value::Integer(i) => u64::try_from(*i).map_err(|_| "must not be negative".into()),
        toml::Value::String(s) => size::parse_size(s),
        _ => Err("expected a size like \"16MiB\" or a number of bytes".into()),
    }
}

fn as_count<T: TryFrom<i64>>(v: &toml::Value) -> Result<T, String> {
    v.as_integer()
        .and_then(|i| T::try_from(i).ok())
        .ok_or_else(|| "expected a non-negative integer".into())
}

fn apply_file_knob(c: &mut TransferConfig, name: &str, v: &toml::Value) -> Result<(), String> {
    match name {
        "concurrency" => {
            let text = match v {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(i) => i.to_string(),
                _ => return Err("expected \"auto\" or a positive number".into()),
            };
            set_concurrency(c, crate::args::parse_concurrency(&text)?);
        }
        "file_parallel_limit" => {
            c.file_parallel_limit = as_count(v)?;
            c.concurrency = Concurrency::Fixed;
        }
        "chunk_parallel_limit" => {
            c.chunk_parallel_limit = as_count(v)?;
            c.concurrency = Concurrency::Fixed;
        }
        "chunk_retry_times" => c.chunk_retry_times = as_count(v)?,
        "chunk_size" => c.chunk_size = as_size(v)?,
        "slice_size" => c.slice_size = as_size(v)?,
        "copy_chunk_parallel_limit" => c.copy_chunk_parallel_limit = as_count(v)?,
        "copy_chunk_size" => c.copy_chunk_size = as_size(v)?,
        "copy_slice_size" => c.copy_slice_size = as_size(v)?,
        "upload_queue_size" => c.upload_queue_size = as_count(v)?,
        "max_inflight_bytes" => c.max_inflight_bytes = as_size(v)?,
        "bwlimit" => c.bwlimit_bytes_per_sec = as_size(v)?,
        "tpslimit" => c.tpslimit_per_sec = as_count(v)?,
        "verify" => {
            c.verify_read_back = match v.as_str() {
                Some("read-back") => true,
                Some("reported") => false,
                _ => return Err("expected \"reported\" or \"read-back\"".into()),
            }
        }
        "sums_ahead" => {
            c.sums_ahead = v.as_bool().ok_or("expected true or false")?;
        }
        "checksum_cache" => {
            c.checksum_cache = v.as_bool().ok_or("expected true or false")?;
        }
        "allow_size_only" => {
            c.allow_size_only = v.as_bool().ok_or("expected true or false")?;
        }
        "upload_check_content_md5" => {
            c.upload_check_content_md5 = v.as_bool().ok_or("expected true or false")?;
        }
        "progress_interval" => {
            c.progress_interval =
                size::parse_duration(v.as_str().ok_or("expected a duration like \"500ms\"")?)?;
        }
        "on_error" => {
            c.on_error = match v.as_str() {
                Some("continue") => OnError::Continue,
                Some("abort") => OnError::Abort,
                _ => return Err("expected \"continue\" or \"abort\"".into()),
            };
        }
        _ => return Err("unknown setting".into()),
    }
    Ok(())
}

/// The flags given to `haul resume`, over the job's recorded settings: the
/// ones a resume may change (limits, retries, error mode), each only when it
/// was given, whatever its value (a flag equal to the default still wins).
/// The stores reopened after this are put in the layers the result gives.
pub(crate) fn apply_resume_flags(c: &mut TransferConfig, k: &Knobs) -> Result<(), CliError> {
    let given = Knobs {
        file_parallel_limit: k.file_parallel_limit,
        chunk_parallel_limit: k.chunk_parallel_limit,
        chunk_retry_times: k.chunk_retry_times,
        copy_chunk_parallel_limit: k.copy_chunk_parallel_limit,
        concurrency: k.concurrency,
        bwlimit: k.bwlimit,
        tpslimit: k.tpslimit,
        max_inflight_bytes: k.max_inflight_bytes,
        on_error: k.on_error,
        verify: k.verify,
        allow_size_only: k.allow_size_only,
        ..Knobs::default()
    };
    apply_flags(c, &given);
    c.validate().map_err(CliError::usage)?;
    crate::layers::set_layers(c.layers());
    Ok(())
}

/// `--concurrency` (or `concurrency =`): auto, or N files and N parts.
fn set_concurrency(c: &mut TransferConfig, v: ConcurrencyArg) {
    match v {
        ConcurrencyArg::Auto => c.concurrency = Concurrency::Auto,
        ConcurrencyArg::Fixed(n) => {
            c.concurrency = Concurrency::Fixed;
            c.file_parallel_limit = n;
            c.chunk_parallel_limit = n;
            c.copy_chunk_parallel_limit = n;
        }
    }
}

fn apply_flags(c: &mut TransferConfig, k: &Knobs) {
    fn set<T: Copy>(dst: &mut T, v: Option<T>) {
        if let Some(v) = v {
            *dst = v;
        }
    }
    if let Some(v) = k.concurrency {
        set_concurrency(c, v);
    }
    // Explicit limits always win over tuning.
    if k.file_parallel_limit.is_some()
        || k.chunk_parallel_limit.is_some()
        || k.copy_chunk_parallel_limit.is_some()
    {
        c.concurrency = Concurrency::Fixed;
    }
    set(&mut c.file_parallel_limit, k.file_parallel_limit);
    set(&mut c.chunk_parallel_limit, k.chunk_parallel_limit);
    set(&mut c.chunk_retry_times, k.chunk_retry_times);
    set(&mut c.chunk_size, k.chunk_size);
    set(&mut c.slice_size, k.slice_size);
    set(
        &mut c.copy_chunk_parallel_limit,
        k.copy_chunk_parallel_limit,
    );
    set(&mut c.copy_chunk_size, k.copy_chunk_size);
    set(&mut c.copy_slice_size, k.copy_slice_size);
    set(&mut c.progress_interval, k.progress_interval);
    set(&mut c.bwlimit_bytes_per_sec, k.bwlimit);
    set(&mut c.tpslimit_per_sec, k.tpslimit);
    set(&mut c.max_inflight_bytes, k.max_inflight_bytes);
    if k.upload_check_content_md5 {
        c.upload_check_content_md5 = true;
    }
    if let Some(mode) = k.verify {
        c.verify_read_back = matches!(mode, VerifyArg::ReadBack);
    }
    if k.allow_size_only {
        c.allow_size_only = true;
    }
    if let Some(mode) = k.on_error {
        c.on_error = match mode {
            OnErrorArg::Continue => OnError::Continue,
            OnErrorArg::Abort => OnError::Abort,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_a_remotes_secrets() {
        let r = Remote {
            kind: "s3".into(),
            access_key_id: Some("AKIDVISIBLE".into()),
            secret_access_key: Some("very-secret".into()),
            session_token: Some("token-secret".into()),
            sse_c_key: Some("0123456789abcdef0123456789abcdef".into()),
            ..Remote::default()
        };
        let d = format!("{r:?}");
        assert!(d.contains("AKIDVISIBLE"), "{d}");
        for secret in ["very-secret", "token-secret", "0123456789abcdef"] {
            assert!(!d.contains(secret), "{d}");
        }
        let flags = crate::args::S3Flags {
            sse_c_key: Some("0123456789abcdef0123456789abcdef".into()),
            ..crate::args::S3Flags::default()
        };
        assert!(!format!("{flags:?}").contains("0123456789abcdef"));
    }

    #[test]
    fn a_resume_flag_equal_to_the_default_still_wins() {
        let defaults = TransferConfig::default();
        let mut recorded = TransferConfig {
            file_parallel_limit: 4,
            slice_size: 1 << 30,
            ..TransferConfig::default()
        };
        let given = Knobs {
            file_parallel_limit: Some(defaults.file_parallel_limit),
            slice_size: Some(1 << 20),
            ..Knobs::default()
        };
        apply_resume_flags(&mut recorded, &given).unwrap();
        assert_eq!(recorded.file_parallel_limit, defaults.file_parallel_limit);
        // How files are split is the job's own: a resume keeps it.
        assert_eq!(recorded.slice_size, 1 << 30);
        // Flags not given leave the recorded value.
        let mut recorded = TransferConfig {
            chunk_parallel_limit: 3,
            ..TransferConfig::default()
        };
        apply_resume_flags(&mut recorded, &Knobs::default()).unwrap();
        assert_eq!(recorded.chunk_parallel_limit, 3);
    }
}
