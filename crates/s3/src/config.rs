//! [`S3Config`]: where the bucket is and who we are.

use std::fmt;
use std::time::Duration;

use haul_core::Result;

/// 5 TiB: the long-standing S3 object size limit (newer AWS pages say 48.8 TiB).
pub const DEFAULT_MAX_OBJECT_SIZE: u64 = 5 << 40;

/// Everything an [`S3Store`](crate::S3Store) needs to reach one bucket.
///
/// `Debug` prints the access key id but never the secret key or the
/// session token.
#[derive(Clone, PartialEq, Eq)]
#[allow(clippy::struct_excessive_bools)] // independent switches, as the AWS CLI has them
pub struct S3Config {
    /// `scheme://host[:port][/base]` of an S3-compatible service; `None` for
    /// AWS (`https://s3.<region>.amazonaws.com`).
    pub endpoint: Option<String>,
    /// The signing region (`us-east-1`, ...).
    pub region: String,
    /// The bucket; keys are object keys within it.
    pub bucket: String,
    /// The access key id (not secret; named in error messages). Empty:
    /// no static keys, so credentials come from the AWS credential chain
    /// (or [`profile`](Self::profile)), resolved on the first request,
    /// cached, and refreshed before they expire.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
    /// The session token of temporary credentials.
    pub session_token: Option<String>,
    /// The shared-config profile whose credentials to use when no static
    /// keys are given; `None`: the whole default chain.
    pub profile: Option<String>,
    /// Storage class, encryption, ACL and requester-pays of the objects
    /// written and read.
    pub object: crate::options::ObjectOptions,
    /// Send every request unsigned (public buckets): no `Authorization`
    /// header, whatever keys are set.
    pub anonymous: bool,
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
            profile: None,
            anonymous: false,
            object: crate::options::ObjectOptions::default(),
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
    ///   `region` in the shared config file (read by `aws-config`), else
    ///   `us-east-1`.
    /// * Credentials: `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` (with
    ///   `AWS_SESSION_TOKEN`) are used as they are, with no look-up; without
    ///   them the keys are left empty and the AWS credential chain is
    ///   resolved on the first request (see [`S3Config::access_key_id`]).
    ///
    /// Performs no network I/O; never fails for want of credentials (the
    /// first request does, naming every source it tried).
    pub fn from_env(bucket: impl Into<String>) -> Result<Self> {
        Ok(Self::from_lookup(bucket.into(), |k| std::env::var(k).ok()))
    }

    /// [`from_env`](Self::from_env) over any variable lookup (for tests).
    pub(crate) fn from_lookup(bucket: String, var: impl Fn(&str) -> Option<String>) -> Self {
        let var = |k: &str| var(k).filter(|v| !v.trim().is_empty());
        let (ak, sk, token) = match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
            (Some(ak), Some(sk)) => (ak, sk, var("AWS_SESSION_TOKEN")),
            _ => (String::new(), String::new(), None),
        };
        // Last, without keys at hand (an instance role, most likely): the
        // instance's own region, as the AWS SDKs ask for it.
        let region = var("AWS_REGION")
            .or_else(|| var("AWS_DEFAULT_REGION"))
            .or_else(|| crate::creds::profile_region(None))
            .or_else(|| ak.is_empty().then(crate::creds::imds_region).flatten())
            .unwrap_or_else(|| "us-east-1".to_owned());
        let mut cfg = Self::new(bucket, region, ak, sk);
        cfg.session_token = token;
        cfg.endpoint = var("AWS_ENDPOINT_URL_S3").or_else(|| var("AWS_ENDPOINT_URL"));
        if let Some(v) = var("HAUL_S3_STREAM_PARTS") {
            cfg.stream_parts = !matches!(v.trim(), "0" | "false" | "no" | "off");
        }
        cfg
    }

    /// Uses the credentials of `profile` in the shared config and
    /// credentials files (and the profile's region when `region` is not
    /// set), instead of any static keys.
    #[must_use]
    pub fn with_profile(mut self, profile: impl Into<String>, region: Option<&str>) -> Self {
        let profile = profile.into();
        self.region = region
            .map(str::to_owned)
            .or_else(|| crate::creds::profile_region(Some(&profile)))
            .unwrap_or_else(|| "us-east-1".to_owned());
        self.access_key_id.clear();
        self.secret_access_key.clear();
        self.session_token = None;
        self.profile = Some(profile);
        self
    }
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
            .field("profile", &self.profile)
            .field("anonymous", &self.anonymous)
            .field("object", &self.object)
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
        );
        assert_eq!(c.access_key_id, "AK");
        assert_eq!(c.session_token.as_deref(), Some("TOK"));
        assert_eq!(c.region, "eu-west-1");
        assert_eq!(c.endpoint.as_deref(), Some("http://s3only:9000"));
    }

    #[test]
    fn no_keys_means_the_chain_later() {
        let c = S3Config::from_lookup(
            "b".into(),
            lookup(&[
                ("AWS_REGION", "eu-west-3"),
                ("AWS_ACCESS_KEY_ID", "only-half"),
            ]),
        );
        assert!(c.access_key_id.is_empty() && c.secret_access_key.is_empty());
        assert_eq!(c.region, "eu-west-3");
    }
}
