//! App tokens: fetched from the client credentials, cached until shortly
//! before they expire, fetched by one caller at a time.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use haul_core::{Error, Result};
use serde::Deserialize;

use crate::core::Core;
use crate::error::{Answer, map_answer};

/// A cached token and when to stop using it (`None`: it never expires).
#[derive(Debug, Clone)]
pub(crate) struct Token {
    value: String,
    refresh_at: Option<Instant>,
}

/// The cache.
#[derive(Debug, Default)]
pub(crate) struct Tokens {
    cached: Mutex<Option<Token>>,
    fetching: tokio::sync::Mutex<()>,
}

#[derive(Debug, Deserialize)]
struct Granted {
    access_token: String,
    #[serde(default)]
    expires_in: u64,
}

/// When to refresh a token valid for `secs`: a tenth of its life (at most
/// ten minutes) before it ends.
fn refresh_at(now: Instant, secs: u64) -> Option<Instant> {
    (secs > 0).then(|| {
        let margin = (secs / 10).clamp(1, 600);
        now + Duration::from_secs(secs.saturating_sub(margin).max(1))
    })
}

impl Tokens {
    fn current(&self) -> Option<String> {
        let g = self.cached.lock().unwrap_or_else(PoisonError::into_inner);
        g.as_ref()
            .filter(|t| t.refresh_at.is_none_or(|at| Instant::now() < at))
            .map(|t| t.value.clone())
    }

    /// Drops `token` from the cache (the service refused it).
    pub(crate) fn invalidate(&self, token: &str) {
        let mut g = self.cached.lock().unwrap_or_else(PoisonError::into_inner);
        if g.as_ref().is_some_and(|t| t.value == token) {
            *g = None;
        }
    }
}

impl Core {
    /// A token to call with, and whether it was fetched just now (a
    /// refused fresh token is not worth fetching again).
    pub(crate) async fn token(&self, key: &str) -> Result<(String, bool)> {
        if let Some(t) = &self.cfg.app_token {
            return Ok((t.clone(), true));
        }
        if let Some(t) = self.tokens.current() {
            return Ok((t, false));
        }
        let _one = self.tokens.fetching.lock().await;
        if let Some(t) = self.tokens.current() {
            return Ok((t, false));
        }
        let token = self.fetch_token(key).await?;
        let value = token.value.clone();
        *self
            .tokens
            .cached
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(token);
        Ok((value, true))
    }

    /// `POST {org}/{app}/token` with the client credentials.
    async fn fetch_token(&self, key: &str) -> Result<Token> {
        let mut body = serde_json::json!({
            "grant_type": "client_credentials",
            "client_id": self.cfg.client_id,
            "client_secret": self.cfg.client_secret,
        });
        if let Some(ttl) = self.cfg.token_ttl_secs {
            body["ttl"] = ttl.into();
        }
        let url = format!("{}/token", self.cfg.app_url());
        let started = Instant::now();
        let resp = self
            .http
            .post(&url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::ACCEPT, "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| haul_http::map_transport(&e, key))?;
        let status = resp.status().as_u16();
        let text = haul_http::response::read_small(resp, key, self.stall).await?;
        if !(200..300).contains(&status) {
            let answer = Answer::parse(status, &text);
            return Err(match status {
                400 | 401 | 403 => Error::Unauthenticated {
                    key: key.to_owned(),
                    source: format!(
                        "{} {}; Easemob refused the client credentials of client id {:?} for {}#{}: check EASEMOB_CLIENT_ID and EASEMOB_CLIENT_SECRET",
                        answer.error, answer.description, self.cfg.client_id, self.cfg.org, self.cfg.app
                    )
                    .trim_start()
                    .to_owned()
                    .into(),
                },
                404 => Error::not_found(
                    key,
                    format!(
                        "Easemob has no app {}#{} on {}: check EASEMOB_APPKEY (or EASEMOB_ORG and EASEMOB_APP) and EASEMOB_HOST",
                        self.cfg.org, self.cfg.app, self.cfg.host
                    ),
                ),
                _ => map_answer(&answer, None, key, self.who()),
            });
        }
        let granted: Granted = serde_json::from_slice(&text).map_err(|e| {
            Error::transient(key, format!("unreadable token answer from Easemob: {e}"))
        })?;
        Ok(Token {
            value: granted.access_token,
            refresh_at: refresh_at(started, granted.expires_in),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_margin() {
        let now = Instant::now();
        assert_eq!(refresh_at(now, 0), None);
        assert_eq!(refresh_at(now, 7200), Some(now + Duration::from_mins(110)));
        assert_eq!(refresh_at(now, 100), Some(now + Duration::from_secs(90)));
        assert_eq!(refresh_at(now, 1), Some(now + Duration::from_secs(1)));
    }
}
