//! [`S3Config`]: where the bucket is and who we are.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use haul_core::{Error, Result};

/// 5 TiB: the long-standing S3 object size limit (newer AWS pages say 48.8 TiB).
pub const DEFAULT_MAX_OBJECT_SIZE: u64 = 5 << 40;

/// Everything an [`S3Store`](crate::S3Store) needs to reach one bucket.
///
/// `Debug` prints the access key id but never the secret key or the
/// session token.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Config {
    /// `scheme://host[:port][/base]` of an S3-compatible service; `None` for
    /// AWS (`https://s3.<region>.amazonaws.com`).
    pub endpoint: Option<String>,
    /// The signing region (`us-east-1`, ...).
    pub region: String,
    /// The bucket; keys are object keys within it.
    pub bucket: String,
    /// The access key id (not secret; named in error messages).
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
    /// The session token of temporary credentials.
    pub session_token: Option<String>,
    /// Address the bucket in the path (`host/bucket/key`) rather than the
    /// host name (`bucket.host/key`). Path style is also used, whatever this
    /// says, for IP-address and `localhost` endpoints and for bucket names
    /// that are not valid host labels.
    pub force_path_style: bool,
    /// Sign the hex SHA-256 of every body instead of sending
    /// `UNSIGNED-PAYLOAD` (bodies are then hashed once more before sending;
    /// integrity is covered either way by the checksum headers).
    pub signed_payload: bool,
    /// Send parts while they are read, as `aws-chunked` bodies with the
    /// CRC32C in a trailer (what AWS's SDKs do), so a part in flight holds
    /// a few chunks of memory rather than its size. Default on; off
    /// (`HAUL_S3_STREAM_PARTS=0`, or `stream_parts = false` on a remote)
    /// gathers each part and sends its CRC32C as a header, for servers
    /// without trailer support or whose `aws-chunked` decoding costs more
    /// than the memory (Garage hashes such bodies again: about twice its CPU).
    /// Ignored with [`signed_payload`](Self::signed_payload).
    pub stream_parts: bool,
    /// The largest object the service accepts.
    pub max_object_size_bytes: u64,
    /// Requests run at once: sizes the connection pool.
    pub concurrency: usize,
    /// Longest from sending a request to the answer's headers (uploading the
    /// request body included), and longest an answer body may go without a
    /// byte, before the request fails as a retryable stall. Default 60 s.
    pub stall_timeout: Duration,
}

impl S3Config {
    /// A configuration for `bucket` on AWS with the given static credentials.
    pub fn new(
        bucket: impl Into<String>,
        region: impl Into<String>,
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
    ) -> Self {
        Self {
            endpoint: None,
            region: region.into(),
            bucket: bucket.into(),
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
            session_token: None,
            force_path_style: false,
            signed_payload: false,
            stream_parts: true,
            max_object_size_bytes: DEFAULT_MAX_OBJECT_SIZE,
            concurrency: 16,
            stall_timeout: haul_http::ClientOptions::default().stall_timeout,
        }
    }

    /// Sets the endpoint of an S3-compatible service.
    #[must_use]
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// Reads the configuration for `bucket` the way the AWS CLI does.
    ///
    /// * Endpoint: `AWS_ENDPOINT_URL_S3`, else `AWS_ENDPOINT_URL`, else AWS.
    /// * Region: `AWS_REGION`, else `AWS_DEFAULT_REGION`, else the profile's
    ///   `region` in `~/.aws/config` (`AWS_CONFIG_FILE`), else `us-east-1`.
    /// * Credentials: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
    ///   `AWS_SESSION_TOKEN`; when the key pair is not in the environment, the
    ///   `AWS_PROFILE` (else `default`) section of `~/.aws/credentials`
    ///   (`AWS_SHARED_CREDENTIALS_FILE`).
    ///
    /// Fails with [`Error::Unauthenticated`] when no credentials are found.
    pub fn from_env(bucket: impl Into<String>) -> Result<Self> {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        Self::from_lookup(bucket.into(), |k| std::env::var(k).ok(), home.as_deref())
    }

    /// [`from_env`](Self::from_env) over any variable lookup (for tests).
    pub(crate) fn from_lookup(
        bucket: String,
        var: impl Fn(&str) -> Option<String>,
        home: Option<&Path>,
    ) -> Result<Self> {
        let var = |k: &str| var(k).filter(|v| !v.trim().is_empty());
        let profile = var("AWS_PROFILE").unwrap_or_else(|| "default".to_owned());
        let aws_file = |env: &str, name: &str| {
            var(env)
                .map(PathBuf::from)
                .or_else(|| home.map(|h| h.join(".aws").join(name)))
        };
        let region = var("AWS_REGION")
            .or_else(|| var("AWS_DEFAULT_REGION"))
            .or_else(|| {
                let file = aws_file("AWS_CONFIG_FILE", "config")?;
                let section = if profile == "default" {
                    "default".to_owned()
                } else {
                    format!("profile {profile}")
                };
                ini_value(&std::fs::read_to_string(file).ok()?, &section, "region")
            })
            .unwrap_or_else(|| "us-east-1".to_owned());
        let (ak, sk, token) = if let (Some(ak), Some(sk)) =
            (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY"))
        {
            (ak, sk, var("AWS_SESSION_TOKEN"))
        } else {
            let file = aws_file("AWS_SHARED_CREDENTIALS_FILE", "credentials");
            let text = file.as_ref().and_then(|f| std::fs::read_to_string(f).ok());
            let get = |k: &str| text.as_deref().and_then(|t| ini_value(t, &profile, k));
            let (Some(ak), Some(sk)) = (get("aws_access_key_id"), get("aws_secret_access_key"))
            else {
                let where_ = file.map_or_else(
                    || "~/.aws/credentials".to_owned(),
                    |f| f.display().to_string(),
                );
                return Err(Error::Unauthenticated {
                    key: bucket,
                    source: format!(
                        "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, \
                         or add profile [{profile}] to {where_}"
                    )
                    .into(),
                });
            };
            (ak, sk, get("aws_session_token"))
        };
        let mut cfg = Self::new(bucket, region, ak, sk);
        cfg.session_token = token;
        cfg.endpoint = var("AWS_ENDPOINT_URL_S3").or_else(|| var("AWS_ENDPOINT_URL"));
        if let Some(v) = var("HAUL_S3_STREAM_PARTS") {
            cfg.stream_parts = !matches!(v.trim(), "0" | "false" | "no" | "off");
        }
        Ok(cfg)
    }
}

/// `key = value` in `[section]` of an INI file (AWS credentials/config).
fn ini_value(text: &str, section: &str, key: &str) -> Option<String> {
    let mut in_section = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_section = name.trim() == section;
            continue;
        }
        if in_section
            && let Some((k, v)) = line.split_once('=')
            && k.trim().eq_ignore_ascii_case(key)
        {
            return Some(v.trim().to_owned());
        }
    }
    None
}

impl fmt::Debug for S3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("bucket", &self.bucket)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"REDACTED")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "REDACTED"),
            )
            .field("force_path_style", &self.force_path_style)
            .field("signed_payload", &self.signed_payload)
            .field("stream_parts", &self.stream_parts)
            .field("max_object_size_bytes", &self.max_object_size_bytes)
            .field("concurrency", &self.concurrency)
            .field("stall_timeout", &self.stall_timeout)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn debug_hides_secrets() {
        let mut c = S3Config::new("b", "us-east-1", "AKIDVISIBLE", "very-secret-key");
        c.session_token = Some("token-secret".into());
        let d = format!("{c:?}");
        assert!(d.contains("AKIDVISIBLE"));
        assert!(
            !d.contains("very-secret-key") && !d.contains("token-secret"),
            "{d}"
        );
    }

    #[test]
    fn env_wins() {
        let c = S3Config::from_lookup(
            "b".into(),
            lookup(&[
                ("AWS_ACCESS_KEY_ID", "AK"),
                ("AWS_SECRET_ACCESS_KEY", "SK"),
                ("AWS_SESSION_TOKEN", "TOK"),
                ("AWS_DEFAULT_REGION", "eu-west-1"),
                ("AWS_ENDPOINT_URL", "http://generic:9000"),
                ("AWS_ENDPOINT_URL_S3", "http://s3only:9000"),
            ]),
            None,
        )
        .expect("config");
        assert_eq!(c.access_key_id, "AK");
        assert_eq!(c.session_token.as_deref(), Some("TOK"));
        assert_eq!(c.region, "eu-west-1");
        assert_eq!(c.endpoint.as_deref(), Some("http://s3only:9000"));
    }

    #[test]
    fn profile_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let creds = dir.path().join("creds");
        std::fs::write(
            &creds,
            "[default]\naws_access_key_id = DEF\naws_secret_access_key = DEFS\n\n\
             [work]\n# comment\naws_access_key_id=WORK\naws_secret_access_key = WORKS\naws_session_token = WT\n",
        )
        .expect("write");
        let config = dir.path().join("config");
        std::fs::write(&config, "[profile work]\nregion = ap-south-1\n").expect("write");
        let creds_s = creds.display().to_string();
        let config_s = config.display().to_string();
        let c = S3Config::from_lookup(
            "b".into(),
            lookup(&[
                ("AWS_PROFILE", "work"),
                ("AWS_SHARED_CREDENTIALS_FILE", &creds_s),
                ("AWS_CONFIG_FILE", &config_s),
            ]),
            None,
        )
        .expect("config");
        assert_eq!(
            (c.access_key_id.as_str(), c.secret_access_key.as_str()),
            ("WORK", "WORKS")
        );
        assert_eq!(c.session_token.as_deref(), Some("WT"));
        assert_eq!(c.region, "ap-south-1");
        let c = S3Config::from_lookup(
            "b".into(),
            lookup(&[("AWS_SHARED_CREDENTIALS_FILE", &creds_s)]),
            None,
        )
        .expect("default profile");
        assert_eq!(c.access_key_id, "DEF");
        assert_eq!(c.region, "us-east-1");
        let e =
            S3Config::from_lookup("b".into(), lookup(&[]), Some(dir.path())).expect_err("no creds");
        assert!(matches!(e, Error::Unauthenticated { .. }));
        assert!(e.to_string().contains("AWS_ACCESS_KEY_ID"), "{e}");
    }
}
