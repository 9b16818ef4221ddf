//! [`NosConfig`]: who we are to Yunxin and how uploads are made.

use std::fmt;

use haul_core::{Error, Result};

/// Yunxin's IM server API in mainland China.
pub const DEFAULT_API_URL: &str = "https://api.netease.im/nimserver";
/// Yunxin's IM server API in Singapore (overseas apps).
pub const SG_API_URL: &str = "https://api-sg.netease.im/nimserver";
/// The shortest `expireSec` Yunxin accepts: one day.
pub const MIN_EXPIRE_SECS: u64 = 86_400;
/// The longest `tag` Yunxin keeps.
pub const MAX_TAG_CHARS: usize = 32;
/// The longest `type` Yunxin keeps (longer ones are treated as absent).
pub(crate) const MAX_TYPE_CHARS: usize = 128;

/// Everything a [`NosStore`](crate::NosStore) needs.
///
/// `Debug` prints the app key but never the app secret.
#[derive(Clone, PartialEq, Eq)]
pub struct NosConfig {
    /// The app key (`AppKey` header; not secret, named in messages).
    pub app_key: String,
    /// The app secret, which signs every request's `CheckSum`.
    pub app_secret: String,
    /// Base URL of the IM server API, without the trailing `/`.
    pub api_url: String,
    /// `ishttps`: ask for `https://` download URLs.
    pub https_urls: bool,
    /// `expireSec`: how long NOS keeps each upload (at least
    /// [`MIN_EXPIRE_SECS`]); `None` leaves it to the app's default.
    pub expire_secs: Option<u64>,
    /// `tag`: a label (at most [`MAX_TAG_CHARS`]) that Yunxin's cleanup job
    /// (`/job/nos/del.action`) selects uploads by.
    pub tag: Option<String>,
    /// Bodies up to this size go base64-encoded to `upload.action`; larger
    /// ones as a file to `fileUpload.action`.
    pub base64_max_bytes: u64,
    /// Requests run at once: sizes the connection pool.
    pub concurrency: usize,
}

impl NosConfig {
    /// A configuration for the mainland API with https URLs, the app's
    /// default expiry, no tag, and base64 uploads up to 256 KiB.
    pub fn new(app_key: impl Into<String>, app_secret: impl Into<String>) -> Self {
        Self {
            app_key: app_key.into(),
            app_secret: app_secret.into(),
            api_url: DEFAULT_API_URL.to_owned(),
            https_urls: true,
            expire_secs: None,
            tag: None,
            base64_max_bytes: 256 << 10,
            concurrency: 16,
        }
    }

    /// Reads the configuration from the environment:
    ///
    /// * `YUNXIN_APP_KEY`, `YUNXIN_APP_SECRET` (required);
    /// * `YUNXIN_API_URL` (default [`DEFAULT_API_URL`]; `sg` means
    ///   [`SG_API_URL`]);
    /// * `YUNXIN_NOS_EXPIRE_SEC` (at least 86400), `YUNXIN_NOS_TAG`,
    ///   `YUNXIN_NOS_HTTPS` (`0`/`false` for `http://` URLs).
    ///
    /// Fails with [`Error::Unauthenticated`] when the key or secret is
    /// missing, [`Error::InvalidInput`] when a value is out of range.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// [`from_env`](Self::from_env) over any variable lookup (tests,
    /// remotes in a configuration file).
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let var = |k: &str| {
            var(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let (Some(key), Some(secret)) = (var("YUNXIN_APP_KEY"), var("YUNXIN_APP_SECRET")) else {
            return Err(Error::Unauthenticated {
                key: "nos".to_owned(),
                source: "no Yunxin credentials: set YUNXIN_APP_KEY and YUNXIN_APP_SECRET".into(),
            });
        };
        let mut cfg = Self::new(key, secret);
        if let Some(url) = var("YUNXIN_API_URL") {
            cfg.api_url = if url.eq_ignore_ascii_case("sg") {
                SG_API_URL.to_owned()
            } else {
                url.trim_end_matches('/').to_owned()
            };
        }
        if let Some(v) = var("YUNXIN_NOS_EXPIRE_SEC") {
            let secs = v.parse().map_err(|_| {
                Error::invalid(
                    "nos",
                    format!("YUNXIN_NOS_EXPIRE_SEC={v:?} is not a number of seconds"),
                )
            })?;
            cfg.expire_secs = Some(secs);
        }
        cfg.tag = var("YUNXIN_NOS_TAG");
        if let Some(v) = var("YUNXIN_NOS_HTTPS") {
            cfg.https_urls = !matches!(v.to_ascii_lowercase().as_str(), "0" | "false" | "no");
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks the values Yunxin would refuse, before any request.
    pub fn validate(&self) -> Result<()> {
        if let Some(s) = self.expire_secs.filter(|s| *s < MIN_EXPIRE_SECS) {
            return Err(Error::invalid(
                "nos",
                format!("NOS expireSec must be at least {MIN_EXPIRE_SECS} (one day), not {s}"),
            ));
        }
        if let Some(t) = self
            .tag
            .as_ref()
            .filter(|t| t.chars().count() > MAX_TAG_CHARS)
        {
            return Err(Error::invalid(
                "nos",
                format!("NOS tag {t:?} is longer than {MAX_TAG_CHARS} characters"),
            ));
        }
        reqwest::Url::parse(&self.api_url).map_err(|e| {
            Error::invalid("nos", format!("bad Yunxin API URL {:?}: {e}", self.api_url))
        })?;
        Ok(())
    }
}

impl fmt::Debug for NosConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NosConfig")
            .field("app_key", &self.app_key)
            .field("app_secret", &"REDACTED")
            .field("api_url", &self.api_url)
            .field("https_urls", &self.https_urls)
            .field("expire_secs", &self.expire_secs)
            .field("tag", &self.tag)
            .field("base64_max_bytes", &self.base64_max_bytes)
            .field("concurrency", &self.concurrency)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(vars: &[(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        let vars = vars.to_vec();
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn environment() {
        let c = NosConfig::from_lookup(lookup(&[
            ("YUNXIN_APP_KEY", "key1"),
            ("YUNXIN_APP_SECRET", "secret-value"),
            ("YUNXIN_API_URL", "sg"),
            ("YUNXIN_NOS_EXPIRE_SEC", "172800"),
            ("YUNXIN_NOS_TAG", "haul"),
            ("YUNXIN_NOS_HTTPS", "false"),
        ]))
        .unwrap();
        assert_eq!(c.api_url, SG_API_URL);
        assert_eq!(c.expire_secs, Some(172_800));
        assert_eq!(c.tag.as_deref(), Some("haul"));
        assert!(!c.https_urls);
        let d = format!("{c:?}");
        assert!(d.contains("key1") && !d.contains("secret-value"), "{d}");

        let e = NosConfig::from_lookup(lookup(&[("YUNXIN_APP_KEY", "k")])).unwrap_err();
        assert!(matches!(e, Error::Unauthenticated { .. }));
        assert!(e.to_string().contains("YUNXIN_APP_SECRET"), "{e}");
        let e = NosConfig::from_lookup(lookup(&[
            ("YUNXIN_APP_KEY", "k"),
            ("YUNXIN_APP_SECRET", "s"),
            ("YUNXIN_NOS_EXPIRE_SEC", "3600"),
        ]))
        .unwrap_err();
        assert!(e.to_string().contains("at least 86400"), "{e}");
        let long = NosConfig {
            tag: Some("x".repeat(33)),
            ..NosConfig::new("k", "s")
        };
        assert!(long.validate().is_err());
    }
}
