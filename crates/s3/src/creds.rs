//! Where a request's credentials come from: static keys, none (anonymous),
//! or the AWS credential chain of the `aws-config` crate, resolved on first
//! use, cached, and refreshed before the credentials expire.
//!
//! The chain is tried in the AWS SDKs' order: environment variables, the
//! shared config and credentials files (profile `AWS_PROFILE`, else
//! `default`; `role_arn` + `source_profile`, `credential_process`, SSO),
//! web identity (`AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN`), ECS
//! container credentials, and EC2 instance metadata (IMDSv2). A profile
//! named on the command line or on a remote is the only source tried.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use aws_config::ecs::EcsCredentialsProvider;
use aws_config::environment::credentials::EnvironmentVariableCredentialsProvider;
use aws_config::imds::credentials::ImdsCredentialsProvider;
use aws_config::meta::region::ProvideRegion;
use aws_config::profile::{ProfileFileCredentialsProvider, ProfileFileRegionProvider};
use aws_config::provider_config::ProviderConfig;
use aws_config::web_identity_token::WebIdentityTokenCredentialsProvider;
use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use aws_types::region::Region;
use haul_core::{Error, Result};

/// The longest ahead of their expiry that credentials are replaced.
const MAX_MARGIN: Duration = Duration::from_mins(5);

/// How requests are signed.
#[derive(Clone)]
pub(crate) enum Source {
    /// Keys given in the environment or the configuration: no look-up.
    Static(Credentials),
    /// No signature at all (public buckets).
    Anonymous,
    /// The AWS credential chain, shared by every store of the process that
    /// names the same profile and region.
    Chain(Arc<Chain>),
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Static(c) => write!(f, "Static({})", c.access_key_id()),
            Self::Anonymous => f.write_str("Anonymous"),
            Self::Chain(c) => write!(f, "Chain({})", c.label()),
        }
    }
}

impl Source {
    /// The credentials to sign with now (`None`: send unsigned).
    pub(crate) async fn current(&self, what: &str) -> Result<Option<Credentials>> {
        match self {
            Self::Static(c) => Ok(Some(c.clone())),
            Self::Anonymous => Ok(None),
            Self::Chain(chain) => chain.current(what).await.map(Some),
        }
    }

    /// Forgets `stale` (refused by the store as expired) so the next
    /// request fetches new ones; false when there is nothing to refresh.
    pub(crate) async fn invalidate(&self, stale: Option<&Credentials>) -> bool {
        match (self, stale) {
            (Self::Chain(chain), Some(stale)) => {
                chain.invalidate(stale).await;
                true
            }
            _ => false,
        }
    }

    /// The credentials to presign with without waiting: static keys, or
    /// the chain's cached ones.
    pub(crate) fn cached(&self) -> Option<Credentials> {
        match self {
            Self::Static(c) => Some(c.clone()),
            Self::Anonymous => None,
            Self::Chain(chain) => chain.cached(),
        }
    }
}

/// Credentials with when they were fetched.
struct Held {
    creds: Credentials,
    fetched: SystemTime,
}

impl Held {
    /// Whether they are good to sign with at `now`: not within the margin
    /// of their expiry (a quarter of their lifetime, at most 5 minutes).
    fn fresh(&self, now: SystemTime) -> bool {
        let Some(expiry) = self.creds.expiry() else {
            return true;
        };
        let life = expiry.duration_since(self.fetched).unwrap_or_default();
        let margin = (life / 4).min(MAX_MARGIN);
        now + margin < expiry
    }
}

/// A source of the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Environment,
    /// A named profile, or `None`: `AWS_PROFILE`, else `default`.
    Profile(Option<String>),
    WebIdentity,
    Container,
    InstanceMetadata,
}

/// One source: its name in errors, and its provider once built.
struct Slot {
    name: String,
    kind: Kind,
    built: OnceLock<SharedCredentialsProvider>,
}

impl Slot {
    fn new(kind: Kind) -> Self {
        let name = match &kind {
            Kind::Environment => "environment".to_owned(),
            Kind::Profile(Some(p)) => format!("profile {p}"),
            Kind::Profile(None) => "profile default".to_owned(),
            Kind::WebIdentity => "web identity".to_owned(),
            Kind::Container => "container".to_owned(),
            Kind::InstanceMetadata => "instance metadata".to_owned(),
        };
        Self {
            name,
            kind,
            built: OnceLock::new(),
        }
    }
}

/// The chains of the process, by profile and region.
type Chains = HashMap<(Option<String>, String), Arc<Chain>>;

/// The AWS credential chain for one profile and region, cached.
pub(crate) struct Chain {
    profile: Option<String>,
    region: String,
    held: tokio::sync::Mutex<Option<Held>>,
    /// A copy of the held credentials for synchronous readers (presigning).
    last: Mutex<Option<Credentials>>,
    /// The sources, each provider built when first tried and kept (with
    /// its parsed profile files and IMDS session).
    slots: OnceLock<Vec<Slot>>,
    /// Region and HTTP client for the providers, made when first needed:
    /// keys in the environment or a profile's file cost no HTTP client.
    conf: OnceLock<ProviderConfig>,
    fetches: AtomicU64,
}

impl Chain {
    /// The process-wide chain for `profile` (None: the default chain) and
    /// `region`: every store of one job shares its cache.
    pub(crate) fn shared(profile: Option<&str>, region: &str) -> Arc<Self> {
        static CHAINS: OnceLock<Mutex<Chains>> = OnceLock::new();
        let key = (profile.map(str::to_owned), region.to_owned());
        let mut map = CHAINS
            .get_or_init(Mutex::default)
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(map.entry(key).or_insert_with(|| {
            Arc::new(Self {
                profile: profile.map(str::to_owned),
                region: region.to_owned(),
                held: tokio::sync::Mutex::new(None),
                last: Mutex::new(None),
                slots: OnceLock::new(),
                conf: OnceLock::new(),
                fetches: AtomicU64::new(0),
            })
        }))
    }

    fn label(&self) -> String {
        match &self.profile {
            Some(p) => format!("profile {p}"),
            None => "default chain".to_owned(),
        }
    }

    fn cached(&self) -> Option<Credentials> {
        self.last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    async fn current(&self, what: &str) -> Result<Credentials> {
        let mut held = self.held.lock().await;
        if let Some(h) = held.as_ref()
            && h.fresh(SystemTime::now())
        {
            return Ok(h.creds.clone());
        }
        let (creds, from) = self.fetch(what).await?;
        let n = self.fetches.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(
            source = %from,
            access_key_id = creds.access_key_id(),
            expires = ?creds.expiry().map(httpdate::fmt_http_date),
            refresh = n > 0,
            "AWS credentials fetched"
        );
        *self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(creds.clone());
        *held = Some(Held {
            creds: creds.clone(),
            fetched: SystemTime::now(),
        });
        Ok(creds)
    }

    async fn invalidate(&self, stale: &Credentials) {
        let mut held = self.held.lock().await;
        // Only the refused ones: another request may have fetched anew.
        if held.as_ref().is_some_and(|h| same(&h.creds, stale)) {
            *held = None;
        }
    }

    /// The sources to try, in order: the named profile only, or the whole
    /// default chain.
    fn slots(&self) -> &[Slot] {
        self.slots.get_or_init(|| {
            if let Some(p) = &self.profile {
                return vec![Slot::new(Kind::Profile(Some(p.clone())))];
            }
            let default_profile = std::env::var("AWS_PROFILE")
                .ok()
                .filter(|p| !p.trim().is_empty())
                .unwrap_or_else(|| "default".to_owned());
            [
                Kind::Environment,
                Kind::Profile(None),
                Kind::WebIdentity,
                Kind::Container,
                Kind::InstanceMetadata,
            ]
            .into_iter()
            .map(|k| {
                let mut slot = Slot::new(k);
                if slot.kind == Kind::Profile(None) {
                    slot.name = format!("profile {default_profile}");
                }
                slot
            })
            .collect()
        })
    }

    /// The configuration the providers share (region, HTTP client), made
    /// when the first provider beyond the environment is.
    fn conf(&self) -> &ProviderConfig {
        self.conf.get_or_init(|| {
            let http = aws_smithy_http_client::Builder::new()
                .tls_provider(Provider::Rustls(CryptoMode::Ring))
                .build_https();
            ProviderConfig::without_region()
                .with_region(Some(Region::new(self.region.clone())))
                .with_http_client(http)
        })
    }

    /// The provider of `slot`, built on first use and kept (with its
    /// parsed files and IMDS session).
    fn provider<'a>(&self, slot: &'a Slot) -> &'a SharedCredentialsProvider {
        slot.built.get_or_init(|| match &slot.kind {
            Kind::Environment => {
                SharedCredentialsProvider::new(EnvironmentVariableCredentialsProvider::new())
            }
            Kind::Profile(name) => {
                let b = ProfileFileCredentialsProvider::builder().configure(self.conf());
                SharedCredentialsProvider::new(match name {
                    Some(n) => b.profile_name(n).build(),
                    None => b.build(),
                })
            }
            Kind::WebIdentity => SharedCredentialsProvider::new(
                WebIdentityTokenCredentialsProvider::builder()
                    .configure(self.conf())
                    .build(),
            ),
            Kind::Container => SharedCredentialsProvider::new(
                EcsCredentialsProvider::builder()
                    .configure(self.conf())
                    .build(),
            ),
            Kind::InstanceMetadata => SharedCredentialsProvider::new(
                ImdsCredentialsProvider::builder()
                    .configure(self.conf())
                    .build(),
            ),
        })
    }

    /// Tries each provider in turn; the first that has credentials wins.
    async fn fetch(&self, what: &str) -> Result<(Credentials, String)> {
        let mut tried = Vec::new();
        for slot in self.slots() {
            let name = &slot.name;
            match self.provider(slot).provide_credentials().await {
                Ok(c) => return Ok((c, name.clone())),
                Err(e @ CredentialsError::CredentialsNotLoaded(_)) => {
                    tracing::debug!(source = %name, reason = %chain_text(&e), "no credentials here");
                    tried.push(name.as_str());
                }
                Err(e) => {
                    return Err(Error::Unauthenticated {
                        key: what.to_owned(),
                        source: format!("credentials from {name}: {}", chain_text(&e)).into(),
                    });
                }
            }
        }
        Err(Error::Unauthenticated {
            key: what.to_owned(),
            source: format!(
                "no credentials: tried {} (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, \
                 name a profile with --profile or AWS_PROFILE, or give the remote its keys)",
                tried.join(", ")
            )
            .into(),
        })
    }
}

/// Whether two credentials are the same key and token.
fn same(a: &Credentials, b: &Credentials) -> bool {
    a.access_key_id() == b.access_key_id() && a.session_token() == b.session_token()
}

/// An error and its causes, `: `-separated (the SDK's errors say little at
/// the top and the cause below).
fn chain_text(e: &dyn StdError) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = s.source();
    }
    out
}

/// The region of `profile` (else `AWS_PROFILE`, else `default`) in the
/// shared config file, read by `aws-config`.
pub(crate) fn profile_region(profile: Option<&str>) -> Option<String> {
    let b = ProfileFileRegionProvider::builder();
    let provider = match profile {
        Some(p) => b.profile_name(p).build(),
        None => b.build(),
    };
    block_on(async move { provider.region().await.map(|r| r.as_ref().to_owned()) }).flatten()
}

/// How long the instance metadata service may take to answer the region
/// question: on a machine that is no cloud instance, nothing answers.
const IMDS_REGION_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

/// The region of the cloud instance this runs on, from its metadata
/// service (IMDSv2, `AWS_EC2_METADATA_SERVICE_ENDPOINT`); `None` when it is
/// disabled (`AWS_EC2_METADATA_DISABLED=true`) or does not answer within
/// half a second.
pub(crate) fn imds_region() -> Option<String> {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let conf = ProviderConfig::without_region().with_http_client(http);
    let client = aws_config::imds::Client::builder()
        .configure(&conf)
        .connect_timeout(IMDS_REGION_WAIT)
        .read_timeout(IMDS_REGION_WAIT)
        .max_attempts(1)
        .build();
    let provider = aws_config::imds::region::ImdsRegionProvider::builder()
        .configure(&conf)
        .imds_client(client)
        .build();
    block_on(async move { provider.region().await.map(|r| r.as_ref().to_owned()) }).flatten()
}

/// Runs `f` to completion on a runtime of its own in a scoped thread: the
/// configuration is built synchronously, from inside a runtime or not.
fn block_on<F>(f: F) -> Option<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    std::thread::scope(|s| {
        s.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()
                .map(|rt| rt.block_on(f))
        })
        .join()
        .ok()
        .flatten()
    })
}

/// Whether `e` is the store refusing credentials that expired (S3's
/// `ExpiredToken`, `TokenRefreshRequired`, or a 403 saying so).
pub(crate) fn is_expired(e: &Error) -> bool {
    let Error::Unauthenticated { source, .. } = e else {
        return false;
    };
    let text = source.to_string();
    text.contains("ExpiredToken")
        || text.contains("TokenRefreshRequired")
        || text.to_ascii_lowercase().contains("expired")
}

/// Whether `e`, the answer to a HEAD, may be the store refusing expired
/// credentials: a HEAD answer has no body, so a bare 400 or 403 is all S3
/// says then.
pub(crate) fn may_be_expired_head(e: &Error) -> bool {
    let text = e.to_string();
    matches!(
        e,
        Error::InvalidInput { .. }
            | Error::PermissionDenied { .. }
            | Error::Unauthenticated { .. }
            | Error::Provider { .. }
    ) && (text.contains("HTTP 400") || text.contains("HTTP 403"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(expiry: Option<SystemTime>) -> Credentials {
        Credentials::new("AK", "SK", Some("T".into()), expiry, "test")
    }

    #[test]
    fn fresh_until_the_margin() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_hours(1000);
        let short = Held {
            creds: creds(Some(t0 + Duration::from_secs(4))),
            fetched: t0,
        };
        assert!(short.fresh(t0 + Duration::from_secs(2)));
        assert!(!short.fresh(t0 + Duration::from_secs(3)));
        let hour = Held {
            creds: creds(Some(t0 + Duration::from_hours(1))),
            fetched: t0,
        };
        assert!(hour.fresh(t0 + Duration::from_mins(54)));
        assert!(!hour.fresh(t0 + Duration::from_mins(56)));
        let forever = Held {
            creds: creds(None),
            fetched: t0,
        };
        assert!(forever.fresh(t0 + Duration::from_hours(10_000)));
    }

    #[test]
    fn expired_errors() {
        let e = |s: &str| Error::Unauthenticated {
            key: "k".into(),
            source: s.to_owned().into(),
        };
        assert!(is_expired(&e(
            "400 ExpiredToken: The provided token has expired."
        )));
        assert!(is_expired(&e("400 TokenRefreshRequired")));
        assert!(!is_expired(&e("403 InvalidAccessKeyId")));
        assert!(!is_expired(&Error::invalid("k", "ExpiredToken")));
    }

    #[test]
    fn bare_head_refusals() {
        let bare = Error::InvalidInput {
            key: "k".into(),
            message: "HTTP 400 Bad Request".into(),
        };
        assert!(may_be_expired_head(&bare));
        let missing = Error::NotFound {
            key: "k".into(),
            source: "HTTP 404 Not Found".into(),
        };
        assert!(!may_be_expired_head(&missing));
    }

    #[test]
    fn debug_shows_no_secret() {
        let s = Source::Static(Credentials::new(
            "AKID",
            "sekrit",
            Some("tok".into()),
            None,
            "t",
        ));
        let d = format!("{s:?}");
        assert!(
            d.contains("AKID") && !d.contains("sekrit") && !d.contains("tok"),
            "{d}"
        );
    }
}
