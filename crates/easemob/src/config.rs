//! [`EasemobConfig`]: which app, and how we prove who we are.

use std::fmt;

use haul_core::{Error, Result};

/// Easemob's default REST host.
pub const DEFAULT_HOST: &str = "https://a1.easemob.com";

/// Everything an [`EasemobStore`](crate::EasemobStore) needs.
///
/// `Debug` prints the client id but never the client secret or a token.
#[derive(Clone, PartialEq, Eq)]
pub struct EasemobConfig {
    /// Base URL of the REST host (`https://a1.easemob.com`, an Agora Chat
    /// host, ...), without the trailing `/`.
    pub host: String,
    /// The org name (the part of the app key before `#`).
    pub org: String,
    /// The app name (the part after `#`).
    pub app: String,
    /// The client id (not secret; named in messages).
    pub client_id: String,
    /// The client secret, exchanged for app tokens.
    pub client_secret: String,
    /// An app token to use as it is instead of client credentials (Agora
    /// Chat's are minted outside); never refreshed.
    pub app_token: Option<String>,
    /// The `ttl` asked for app tokens, in seconds (`None`: the app's
    /// default, 60 days).
    pub token_ttl_secs: Option<u64>,
    /// Upload with `restrict-access`, so downloads need the share secret.
    pub restrict: bool,
    /// Requests run at once: sizes the connection pool.
    pub concurrency: usize,
}

impl EasemobConfig {
    /// A configuration for `org`/`app` on the default host, restricted
    /// uploads, tokens from the client credentials.
    pub fn new(
        org: impl Into<String>,
        app: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        Self {
            host: DEFAULT_HOST.to_owned(),
            org: org.into(),
            app: app.into(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            app_token: None,
            token_ttl_secs: None,
            restrict: true,
            concurrency: 16,
        }
    }

    /// Reads the configuration from the environment:
    ///
    /// * `EASEMOB_APPKEY` (`org#app`) or `EASEMOB_ORG` and `EASEMOB_APP`;
    /// * `EASEMOB_CLIENT_ID` and `EASEMOB_CLIENT_SECRET`, or
    ///   `EASEMOB_APP_TOKEN` (a ready app token, e.g. Agora Chat's);
    /// * `EASEMOB_HOST` (default [`DEFAULT_HOST`]; a host means
    ///   `https://host`);
    /// * `EASEMOB_RESTRICT=0` to upload without `restrict-access`.
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
        let (org, app) = match var("EASEMOB_APPKEY")
            .and_then(|k| k.split_once('#').map(|(o, a)| (o.to_owned(), a.to_owned())))
        {
            Some(pair) => pair,
            None => match (var("EASEMOB_ORG"), var("EASEMOB_APP")) {
                (Some(o), Some(a)) => (o, a),
                _ => {
                    return Err(Error::invalid(
                        "easemob",
                        "no Easemob app: set EASEMOB_APPKEY (org#app) or EASEMOB_ORG and EASEMOB_APP",
                    ));
                }
            },
        };
        let token = var("EASEMOB_APP_TOKEN");
        let (id, secret) = match (var("EASEMOB_CLIENT_ID"), var("EASEMOB_CLIENT_SECRET")) {
            (Some(i), Some(s)) => (i, s),
            _ if token.is_some() => (String::new(), String::new()),
            _ => {
                return Err(Error::Unauthenticated {
                    key: "easemob".to_owned(),
                    source: "no Easemob credentials: set EASEMOB_CLIENT_ID and EASEMOB_CLIENT_SECRET (or EASEMOB_APP_TOKEN)".into(),
                });
            }
        };
        let mut cfg = Self::new(org, app, id, secret);
        cfg.app_token = token;
        if let Some(h) = var("EASEMOB_HOST") {
            let h = h.trim_end_matches('/');
            cfg.host = if h.contains("://") {
                h.to_owned()
            } else {
                format!("https://{h}")
            };
        }
        if let Some(v) = var("EASEMOB_RESTRICT") {
            cfg.restrict = !matches!(v.to_ascii_lowercase().as_str(), "0" | "false" | "no");
        }
        Ok(cfg)
    }

    /// `{host}/{org}/{app}`, the base of every call.
    #[must_use]
    pub fn app_url(&self) -> String {
        format!("{}/{}/{}", self.host, self.org, self.app)
    }
}

impl fmt::Debug for EasemobConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EasemobConfig")
            .field("host", &self.host)
            .field("org", &self.org)
            .field("app", &self.app)
            .field("client_id", &self.client_id)
            .field("client_secret", &"REDACTED")
            .field("app_token", &self.app_token.as_ref().map(|_| "REDACTED"))
            .field("token_ttl_secs", &self.token_ttl_secs)
            .field("restrict", &self.restrict)
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
        let c = EasemobConfig::from_lookup(lookup(&[
            ("EASEMOB_APPKEY", "org1#app1"),
            ("EASEMOB_CLIENT_ID", "YXA6id"),
            ("EASEMOB_CLIENT_SECRET", "YXA6secret"),
            ("EASEMOB_HOST", "a61.easemob.com/"),
            ("EASEMOB_RESTRICT", "0"),
        ]))
        .unwrap();
        assert_eq!(c.app_url(), "https://a61.easemob.com/org1/app1");
        assert!(!c.restrict);
        let d = format!("{c:?}");
        assert!(d.contains("YXA6id") && !d.contains("YXA6secret"), "{d}");
        let e = EasemobConfig::from_lookup(lookup(&[("EASEMOB_ORG", "o"), ("EASEMOB_APP", "a")]))
            .unwrap_err();
        assert!(e.to_string().contains("EASEMOB_CLIENT_SECRET"), "{e}");
        let t = EasemobConfig::from_lookup(lookup(&[
            ("EASEMOB_ORG", "o"),
            ("EASEMOB_APP", "a"),
            ("EASEMOB_APP_TOKEN", "tok-secret"),
        ]))
        .unwrap();
        assert!(!format!("{t:?}").contains("tok-secret"));
        assert!(EasemobConfig::from_lookup(lookup(&[])).is_err());
    }
}
