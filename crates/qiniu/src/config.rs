//! [`QiniuConfig`]: where the bucket is and who we are.

use std::fmt;
use std::time::Duration;

use haul_core::{Error, Result};

/// The up, rs and rsf base URLs of one Kodo region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionHosts {
    /// Uploads (form and resumable).
    pub up: String,
    /// Management: stat, copy, move, delete, batch.
    pub rs: String,
    /// Listing.
    pub rsf: String,
}

impl RegionHosts {
    /// The default hosts of `region` (`z0`, `z1`, `z2`, `na0`, `as0`,
    /// `cn-east-2`, … and the `cn-east-1`-style aliases of the first five),
    /// after go-sdk `storage/region.go`. Regions without a legacy `qbox.me`
    /// host follow the newer `<service>-<region>.qiniuapi.com` pattern.
    #[must_use]
    pub fn of(region: &str) -> Self {
        let id = match region {
            "cn-east-1" => "z0",
            "cn-north-1" => "z1",
            "cn-south-1" => "z2",
            "us-north-1" => "na0",
            "ap-southeast-1" => "as0",
            other => other,
        };
        let (rs, rsf) = match id {
            "z0" => ("rs.qbox.me".to_owned(), "rsf.qbox.me".to_owned()),
            "z1" | "z2" | "na0" | "as0" => {
                (format!("rs-{id}.qbox.me"), format!("rsf-{id}.qbox.me"))
            }
            other => (
                format!("rs-{other}.qiniuapi.com"),
                format!("rsf-{other}.qiniuapi.com"),
            ),
        };
        let up = if id == "z0" {
            "up.qiniup.com".to_owned()
        } else {
            format!("up-{id}.qiniup.com")
        };
        Self {
            up: format!("https://{up}"),
            rs: format!("https://{rs}"),
            rsf: format!("https://{rsf}"),
        }
    }
}

/// `scheme://host[:port]` from a host or a URL, without a trailing `/`.
fn base_url(value: &str, default_scheme: &str) -> String {
    let v = value.trim().trim_end_matches('/');
    if v.contains("://") {
        v.to_owned()
    } else {
        format!("{default_scheme}://{v}")
    }
}

/// Everything a [`QiniuStore`](crate::QiniuStore) needs to reach one bucket.
///
/// `Debug` prints the access key but never the secret key.
#[derive(Clone, PartialEq, Eq)]
pub struct QiniuConfig {
    /// The bucket; keys are object keys within it.
    pub bucket: String,
    /// The access key (not secret; named in error messages).
    pub access_key: String,
    /// The secret key.
    pub secret_key: String,
    /// The region id (`z0`, ...), for messages; the hosts below are what
    /// requests go to.
    pub region: String,
    /// Base URL of the up (upload) host.
    pub up_url: String,
    /// Base URL of the rs (management) host.
    pub rs_url: String,
    /// Base URL of the rsf (listing) host.
    pub rsf_url: String,
    /// Base URL of a domain bound to the bucket, for downloads; without one
    /// `get` is [`Error::InvalidInput`].
    pub download_url: Option<String>,
    /// The bucket is private: downloads go through signed URLs.
    pub private: bool,
    /// How long each upload token is valid. Every upload request carries a
    /// token minted for it, so a long upload never presents a stale one.
    pub token_lifetime: Duration,
    /// How long a signed download URL is valid.
    pub download_lifetime: Duration,
    /// Requests run at once: sizes the connection pool.
    pub concurrency: usize,
}

impl QiniuConfig {
    /// A configuration for `bucket` in region `z0` with the given keys and
    /// no download domain.
    pub fn new(
        bucket: impl Into<String>,
        access_key: impl Into<String>,
        secret_key: impl Into<String>,
    ) -> Self {
        let hosts = RegionHosts::of("z0");
        Self {
            bucket: bucket.into(),
            access_key: access_key.into(),
            secret_key: secret_key.into(),
            region: "z0".to_owned(),
            up_url: hosts.up,
            rs_url: hosts.rs,
            rsf_url: hosts.rsf,
            download_url: None,
            private: false,
            token_lifetime: Duration::from_hours(1),
            download_lifetime: Duration::from_hours(1),
            concurrency: 16,
        }
    }

    /// Switches to `region`'s default hosts.
    #[must_use]
    pub fn with_region(mut self, region: impl Into<String>) -> Self {
        self.region = region.into();
        let hosts = RegionHosts::of(&self.region);
        self.up_url = hosts.up;
        self.rs_url = hosts.rs;
        self.rsf_url = hosts.rsf;
        self
    }

    /// Sets the download domain (a host, taken as `http://host`, or a URL).
    #[must_use]
    pub fn with_download_domain(mut self, domain: &str) -> Self {
        self.download_url = Some(base_url(domain, "http"));
        self
    }

    /// Reads the configuration for `bucket` from the environment:
    ///
    /// * `QINIU_ACCESS_KEY`, `QINIU_SECRET_KEY` (required);
    /// * `QINIU_REGION` (default `z0`) chooses the default hosts;
    /// * `QINIU_UP_HOST`, `QINIU_RS_HOST`, `QINIU_RSF_HOST` override them (a
    ///   host means `https://host`; full URLs such as
    ///   `http://127.0.0.1:9000` are taken as they are);
    /// * `QINIU_DOWNLOAD_DOMAIN`, a domain bound to the bucket (a host means
    ///   `http://host`);
    /// * `QINIU_PRIVATE=1` (or `true`) for a private bucket.
    ///
    /// Fails with [`Error::Unauthenticated`] when a key is missing.
    pub fn from_env(bucket: impl Into<String>) -> Result<Self> {
        Self::from_lookup(bucket.into(), |k| std::env::var(k).ok())
    }

    /// [`from_env`](Self::from_env) over any variable lookup (for tests
    /// and for remotes defined in a configuration file).
    pub fn from_lookup(bucket: String, var: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let var = |k: &str| var(k).filter(|v| !v.trim().is_empty());
        let (Some(ak), Some(sk)) = (var("QINIU_ACCESS_KEY"), var("QINIU_SECRET_KEY")) else {
            return Err(Error::Unauthenticated {
                key: bucket,
                source: "no Qiniu credentials: set QINIU_ACCESS_KEY and QINIU_SECRET_KEY".into(),
            });
        };
        let mut cfg = Self::new(bucket, ak.trim(), sk.trim());
        if let Some(region) = var("QINIU_REGION") {
            cfg = cfg.with_region(region.trim());
        }
        if let Some(up) = var("QINIU_UP_HOST") {
            cfg.up_url = base_url(&up, "https");
        }
        if let Some(rs) = var("QINIU_RS_HOST") {
            cfg.rs_url = base_url(&rs, "https");
        }
        if let Some(rsf) = var("QINIU_RSF_HOST") {
            cfg.rsf_url = base_url(&rsf, "https");
        }
        if let Some(d) = var("QINIU_DOWNLOAD_DOMAIN") {
            cfg = cfg.with_download_domain(&d);
        }
        cfg.private = var("QINIU_PRIVATE").is_some_and(|v| {
            matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes")
        });
        Ok(cfg)
    }
}

impl fmt::Debug for QiniuConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QiniuConfig")
            .field("bucket", &self.bucket)
            .field("access_key", &self.access_key)
            .field("secret_key", &"REDACTED")
            .field("region", &self.region)
            .field("up_url", &self.up_url)
            .field("rs_url", &self.rs_url)
            .field("rsf_url", &self.rsf_url)
            .field("download_url", &self.download_url)
            .field("private", &self.private)
            .field("token_lifetime", &self.token_lifetime)
            .field("download_lifetime", &self.download_lifetime)
            .field("concurrency", &self.concurrency)
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
    fn region_hosts() {
        let z0 = RegionHosts::of("z0");
        assert_eq!(z0.up, "https://up.qiniup.com");
        assert_eq!(z0.rs, "https://rs.qbox.me");
        assert_eq!(z0.rsf, "https://rsf.qbox.me");
        assert_eq!(RegionHosts::of("cn-east-1"), z0);
        let z1 = RegionHosts::of("z1");
        assert_eq!(
            (z1.up.as_str(), z1.rs.as_str(), z1.rsf.as_str()),
            (
                "https://up-z1.qiniup.com",
                "https://rs-z1.qbox.me",
                "https://rsf-z1.qbox.me"
            )
        );
        let e2 = RegionHosts::of("cn-east-2");
        assert_eq!(e2.up, "https://up-cn-east-2.qiniup.com");
        assert_eq!(e2.rs, "https://rs-cn-east-2.qiniuapi.com");
        assert_eq!(RegionHosts::of("na0").rsf, "https://rsf-na0.qbox.me");
    }

    #[test]
    fn environment() {
        let c = QiniuConfig::from_lookup(
            "photos".into(),
            lookup(&[
                ("QINIU_ACCESS_KEY", "AK"),
                ("QINIU_SECRET_KEY", "SK-secret"),
                ("QINIU_REGION", "z2"),
                ("QINIU_RS_HOST", "http://127.0.0.1:9001/"),
                ("QINIU_DOWNLOAD_DOMAIN", "cdn.example.com"),
                ("QINIU_PRIVATE", "1"),
            ]),
        )
        .unwrap();
        assert_eq!(c.up_url, "https://up-z2.qiniup.com");
        assert_eq!(c.rs_url, "http://127.0.0.1:9001");
        assert_eq!(c.rsf_url, "https://rsf-z2.qbox.me");
        assert_eq!(c.download_url.as_deref(), Some("http://cdn.example.com"));
        assert!(c.private);
        let d = format!("{c:?}");
        assert!(d.contains("\"AK\"") && !d.contains("SK-secret"), "{d}");
        let e = QiniuConfig::from_lookup("b".into(), lookup(&[("QINIU_ACCESS_KEY", "AK")]))
            .unwrap_err();
        assert!(matches!(e, Error::Unauthenticated { .. }));
        assert!(e.to_string().contains("QINIU_SECRET_KEY"), "{e}");
    }
}
