//! [`CosConfig`]: where the bucket is and who we are.

use std::fmt;
use std::time::Duration;

use haul_core::{Error, Result};
use haul_http::CredentialVars;

/// The variables [`CosConfig::from_env`] reads, named in authentication errors.
pub(crate) const COS_VARS: CredentialVars = CredentialVars {
    key_id: "COS_SECRET_ID",
    secret: "COS_SECRET_KEY",
    token: "COS_SECURITY_TOKEN",
    region: "COS_REGION",
};

/// About 48.82 TB: COS's largest object (10,000 parts of 5 GB).
pub const DEFAULT_MAX_OBJECT_SIZE: u64 = 10_000 * (5 << 30);

/// Everything a [`CosStore`](crate::CosStore) needs to reach one bucket.
///
/// `Debug` prints the SecretId but never the SecretKey or the security
/// token.
#[derive(Clone, PartialEq, Eq)]
pub struct CosConfig {
    /// The bucket as COS names it, `<BucketName>-<APPID>`
    /// (`examplebucket-1250000000`); keys are object keys within it.
    pub bucket: String,
    /// The region (`ap-guangzhou`, ...).
    pub region: String,
    /// The SecretId (not secret; named in error messages).
    pub secret_id: String,
    /// The SecretKey.
    pub secret_key: String,
    /// The token of temporary credentials, sent as `x-cos-security-token`.
    pub security_token: Option<String>,
    /// `scheme://host[:port][/base]` of a private deployment or an emulator;
    /// `None` for Tencent Cloud (`https://<bucket>.cos.<region>.myqcloud.com`).
    pub endpoint: Option<String>,
    /// Address the bucket in the path (`host/<bucket>/<key>`, the bucket in
    /// the signed path too), as the SDKs' `ForcePathStyle` does, rather than
    /// in the host name (`<bucket>.host/<key>`). [`with_endpoint`](Self::with_endpoint)
    /// and [`from_env`](Self::from_env) with `COS_ENDPOINT` turn it on.
    pub force_path_style: bool,
    /// How long a request signature stays valid (its KeyTime). Default one
    /// hour: long enough for a 5 GB part on a slow link.
    pub sign_validity: Duration,
    /// The largest object the service accepts.
    pub max_object_size_bytes: u64,
    /// Requests run at once: sizes the connection pool.
    pub concurrency: usize,
    /// `x-cos-storage-class` of new objects (`STANDARD_IA`, `ARCHIVE`, ...).
    pub storage_class: Option<String>,
    /// `x-cos-server-side-encryption` of new objects: `AES256` (SSE-COS).
    pub sse: Option<String>,
    /// `x-cos-acl` of new objects (`private`, `public-read`, ...).
    pub acl: Option<String>,
}

impl CosConfig {
    /// The headers a new object carries (PutObject, CopyObject,
    /// InitiateMultipartUpload) for the class, encryption and ACL asked.
    pub(crate) fn write_headers(&self, call: &haul_http::send::Call<'_>) -> Vec<(String, String)> {
        let creates = match call.method {
            http::Method::PUT => call.query.is_empty(),
            http::Method::POST => call.query.iter().any(|(k, _)| *k == "uploads"),
            _ => false,
        };
        if !creates || call.key.is_none() {
            return Vec::new();
        }
        [
            ("x-cos-storage-class", &self.storage_class),
            ("x-cos-server-side-encryption", &self.sse),
            ("x-cos-acl", &self.acl),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k.to_owned(), v)))
        .collect()
    }

    /// A configuration for `bucket` (`name-appid`) in `region` of Tencent
    /// Cloud with permanent keys.
    pub fn new(
        bucket: impl Into<String>,
        region: impl Into<String>,
        secret_id: impl Into<String>,
        secret_key: impl Into<String>,
    ) -> Self {
        Self {
            bucket: bucket.into(),
            region: region.into(),
            secret_id: secret_id.into(),
            secret_key: secret_key.into(),
            security_token: None,
            endpoint: None,
            force_path_style: false,
            sign_validity: Duration::from_hours(1),
            max_object_size_bytes: DEFAULT_MAX_OBJECT_SIZE,
            concurrency: 16,
            storage_class: None,
            sse: None,
            acl: None,
        }
    }

    /// Sends to `endpoint` (`scheme://host[:port]`), with the bucket in the
    /// path as `ForcePathStyle` does.
    #[must_use]
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self.force_path_style = true;
        self
    }

    /// Reads the configuration for `bucket` from the environment:
    /// `COS_SECRET_ID` and `COS_SECRET_KEY` (required), `COS_SECURITY_TOKEN`
    /// (temporary keys), `COS_REGION` (required without `COS_ENDPOINT`) and
    /// `COS_ENDPOINT` (a private deployment, path-style).
    ///
    /// Fails with [`Error::Unauthenticated`] when the keys are missing and
    /// [`Error::InvalidInput`] when neither region nor endpoint is set.
    pub fn from_env(bucket: impl Into<String>) -> Result<Self> {
        Self::from_lookup(bucket.into(), |k| std::env::var(k).ok())
    }

    /// [`from_env`](Self::from_env) over any variable lookup (for tests).
    pub(crate) fn from_lookup(
        bucket: String,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Self> {
        let var = |k: &str| var(k).filter(|v| !v.trim().is_empty());
        let (Some(id), Some(key)) = (var("COS_SECRET_ID"), var("COS_SECRET_KEY")) else {
            return Err(Error::Unauthenticated {
                key: bucket,
                source: "no COS credentials: set COS_SECRET_ID and COS_SECRET_KEY".into(),
            });
        };
        let endpoint = var("COS_ENDPOINT");
        let region = match (var("COS_REGION"), &endpoint) {
            (Some(r), _) => r,
            // A private deployment's region only names the deployment.
            (None, Some(_)) => "default".to_owned(),
            (None, None) => {
                return Err(Error::invalid(
                    bucket,
                    "no COS region: set COS_REGION (ap-guangzhou, ...) or COS_ENDPOINT",
                ));
            }
        };
        let mut cfg = Self::new(bucket, region, id, key);
        cfg.security_token = var("COS_SECURITY_TOKEN");
        if let Some(e) = endpoint {
            cfg = cfg.with_endpoint(e);
        }
        Ok(cfg)
    }
}

impl fmt::Debug for CosConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CosConfig")
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("secret_id", &self.secret_id)
            .field("secret_key", &"REDACTED")
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| "REDACTED"),
            )
            .field("endpoint", &self.endpoint)
            .field("force_path_style", &self.force_path_style)
            .field("sign_validity", &self.sign_validity)
            .field("max_object_size_bytes", &self.max_object_size_bytes)
            .field("concurrency", &self.concurrency)
            .field("storage_class", &self.storage_class)
            .field("sse", &self.sse)
            .field("acl", &self.acl)
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
    fn class_encryption_and_acl_on_new_objects_only() {
        use haul_http::send::Call;
        use http::Method;
        let mut c = CosConfig::new("b-125", "ap-guangzhou", "id", "key");
        c.storage_class = Some("STANDARD_IA".into());
        c.sse = Some("AES256".into());
        c.acl = Some("private".into());
        let names = |call: &Call<'_>| -> Vec<String> {
            c.write_headers(call).into_iter().map(|(k, _)| k).collect()
        };
        let all = [
            "x-cos-storage-class",
            "x-cos-server-side-encryption",
            "x-cos-acl",
        ];
        assert_eq!(names(&Call::new(Method::PUT, Some("k"))), all);
        assert_eq!(
            names(&Call::new(Method::POST, Some("k")).query("uploads", "")),
            all
        );
        let part = Call::new(Method::PUT, Some("k"))
            .query("partNumber", "1")
            .query("uploadId", "u");
        assert!(names(&part).is_empty());
        assert!(names(&Call::new(Method::GET, Some("k"))).is_empty());
        assert!(names(&Call::new(Method::PUT, None)).is_empty());
    }

    #[test]
    fn debug_hides_secrets() {
        let mut c = CosConfig::new("b-125", "ap-guangzhou", "AKIDVISIBLE", "very-secret-key");
        c.security_token = Some("token-secret".into());
        let d = format!("{c:?}");
        assert!(d.contains("AKIDVISIBLE"));
        assert!(
            !d.contains("very-secret-key") && !d.contains("token-secret"),
            "{d}"
        );
    }

    #[test]
    fn from_env() {
        let c = CosConfig::from_lookup(
            "b-125".into(),
            lookup(&[
                ("COS_SECRET_ID", "ID"),
                ("COS_SECRET_KEY", "KEY"),
                ("COS_SECURITY_TOKEN", "TOK"),
                ("COS_REGION", "ap-shanghai"),
            ]),
        )
        .expect("config");
        assert_eq!(
            (
                c.secret_id.as_str(),
                c.secret_key.as_str(),
                c.region.as_str()
            ),
            ("ID", "KEY", "ap-shanghai")
        );
        assert_eq!(c.security_token.as_deref(), Some("TOK"));
        assert!(c.endpoint.is_none() && !c.force_path_style);
        let c = CosConfig::from_lookup(
            "b-125".into(),
            lookup(&[
                ("COS_SECRET_ID", "ID"),
                ("COS_SECRET_KEY", "KEY"),
                ("COS_ENDPOINT", "http://127.0.0.1:9000"),
            ]),
        )
        .expect("endpoint without region");
        assert!(c.force_path_style);
        assert_eq!(c.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        let e = CosConfig::from_lookup("b".into(), lookup(&[("COS_SECRET_ID", "ID")]))
            .expect_err("no key");
        assert!(matches!(e, Error::Unauthenticated { .. }));
        assert!(e.to_string().contains("COS_SECRET_KEY"), "{e}");
        let e = CosConfig::from_lookup(
            "b".into(),
            lookup(&[("COS_SECRET_ID", "ID"), ("COS_SECRET_KEY", "K")]),
        )
        .expect_err("no region");
        assert!(e.to_string().contains("COS_REGION"), "{e}");
    }
}
