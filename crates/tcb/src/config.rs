//! [`TcbConfig`]: which mini program and CloudBase environment.

use std::fmt;

use haul_core::{Error, Result};

/// WeChat's API host.
pub const DEFAULT_API_URL: &str = "https://api.weixin.qq.com";

/// Everything a [`TcbStore`](crate::TcbStore) needs.
///
/// `Debug` prints the appid but never the secret or a token.
#[derive(Clone, PartialEq, Eq)]
pub struct TcbConfig {
    /// The mini program's appid (not secret; named in messages).
    pub appid: String,
    /// The AppSecret, exchanged for access tokens.
    pub secret: String,
    /// The CloudBase environment id.
    pub env: String,
    /// The storage bucket of the environment (as in
    /// `cloud://<env>.<bucket>/<path>`); learned from the first upload when
    /// not given, and needed to read or delete a path before any upload.
    pub bucket: Option<String>,
    /// Base URL of the API host, without the trailing `/`.
    pub api_url: String,
    /// An access token to use as it is (from a token service shared by the
    /// app's other programs); never refreshed.
    pub access_token: Option<String>,
    /// How long the download URLs asked for stay valid, in seconds.
    pub download_max_age_secs: u64,
    /// Requests run at once: sizes the connection pool.
    pub concurrency: usize,
}

impl TcbConfig {
    /// A configuration for `env` of mini program `appid`.
    pub fn new(
        appid: impl Into<String>,
        secret: impl Into<String>,
        env: impl Into<String>,
    ) -> Self {
        Self {
            appid: appid.into(),
            secret: secret.into(),
            env: env.into(),
            bucket: None,
            api_url: DEFAULT_API_URL.to_owned(),
            access_token: None,
            download_max_age_secs: 7200,
            concurrency: 16,
        }
    }

    /// Reads the configuration from the environment:
    ///
    /// * `TCB_ENV` (required), `TCB_BUCKET` (optional);
    /// * `TCB_APPID` and `TCB_APPSECRET`, or `TCB_ACCESS_TOKEN` (a token
    ///   from the app's token service: fetching a new one with the secret
    ///   replaces the token the app's other programs use, after 5 minutes);
    /// * `TCB_API_URL` (default [`DEFAULT_API_URL`]).
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// [`from_env`](Self::from_env) over any variable lookup.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let var = |k: &str| {
            var(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let Some(env) = var("TCB_ENV") else {
            return Err(Error::invalid(
                "tcb",
                "no CloudBase environment: set TCB_ENV",
            ));
        };
        let token = var("TCB_ACCESS_TOKEN");
        let (appid, secret) = match (var("TCB_APPID"), var("TCB_APPSECRET")) {
            (Some(a), Some(s)) => (a, s),
            (a, _) if token.is_some() => (a.unwrap_or_default(), String::new()),
            _ => {
                return Err(Error::Unauthenticated {
                    key: "tcb".to_owned(),
                    source: "no WeChat credentials: set TCB_APPID and TCB_APPSECRET (or TCB_ACCESS_TOKEN)".into(),
                });
            }
        };
        let mut cfg = Self::new(appid, secret, env);
        cfg.access_token = token;
        cfg.bucket = var("TCB_BUCKET");
        if let Some(u) = var("TCB_API_URL") {
            u.trim_end_matches('/').clone_into(&mut cfg.api_url);
        }
        Ok(cfg)
    }
}

impl fmt::Debug for TcbConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcbConfig")
            .field("appid", &self.appid)
            .field("secret", &"REDACTED")
            .field("env", &self.env)
            .field("bucket", &self.bucket)
            .field("api_url", &self.api_url)
            .field(
                "access_token",
                &self.access_token.as_ref().map(|_| "REDACTED"),
            )
            .field("download_max_age_secs", &self.download_max_age_secs)
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
        let c = TcbConfig::from_lookup(lookup(&[
            ("TCB_ENV", "prod-1"),
            ("TCB_APPID", "wx1"),
            ("TCB_APPSECRET", "topsecret"),
            ("TCB_API_URL", "http://127.0.0.1:1/"),
        ]))
        .unwrap();
        assert_eq!(
            (c.env.as_str(), c.api_url.as_str(), c.bucket.as_deref()),
            ("prod-1", "http://127.0.0.1:1", None)
        );
        let d = format!("{c:?}");
        assert!(d.contains("wx1") && !d.contains("topsecret"), "{d}");
        let e =
            TcbConfig::from_lookup(lookup(&[("TCB_ENV", "e"), ("TCB_APPID", "wx")])).unwrap_err();
        assert!(e.to_string().contains("TCB_APPSECRET"), "{e}");
        assert!(
            TcbConfig::from_lookup(lookup(&[]))
                .unwrap_err()
                .to_string()
                .contains("TCB_ENV")
        );
        let t = TcbConfig::from_lookup(lookup(&[("TCB_ENV", "e"), ("TCB_ACCESS_TOKEN", "tok")]))
            .unwrap();
        assert!(!format!("{t:?}").contains("tok\""));
    }
}
