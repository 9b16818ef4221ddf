//! [`KeyRing`]: the keys an [`S3Server`](crate::S3Server) accepts, each
//! with its session token and expiry, and the buckets anyone may read.
//!
//! Tests of credential sources hand out keys through a stand-in (instance
//! metadata, STS, ...) that adds each to the ring as it mints it, and take
//! the fixed key away: the server then accepts only what that source gave,
//! refuses a key past its expiry with `ExpiredToken`, and refuses a
//! request whose `x-amz-security-token` is not the key's token.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use s3s::auth::{S3Auth, SecretKey};
use s3s::path::S3Path;
use s3s::{S3Result, s3_error};

/// One accepted key.
#[derive(Clone)]
struct Entry {
    secret: String,
    token: Option<String>,
    expires: Option<SystemTime>,
    /// Requests left before the key counts as expired (`None`: no limit).
    uses: Option<u64>,
}

#[derive(Default)]
struct Inner {
    keys: HashMap<String, Entry>,
    public: HashSet<String>,
}

/// The keys a server accepts; clones share one ring.
#[derive(Clone, Default)]
pub struct KeyRing {
    inner: Arc<Mutex<Inner>>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.lock();
        let mut ids: Vec<_> = inner.keys.keys().collect();
        ids.sort();
        f.debug_struct("KeyRing")
            .field("access_key_ids", &ids)
            .field("public", &inner.public)
            .finish()
    }
}

impl KeyRing {
    /// An empty ring: nothing is accepted until added.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Accepts `access_key` with `secret`; with `token`, only requests
    /// carrying it as `x-amz-security-token`; with `expires`, only until then.
    pub fn add(
        &self,
        access_key: &str,
        secret: &str,
        token: Option<&str>,
        expires: Option<SystemTime>,
    ) {
        self.add_for(access_key, secret, token, expires, None);
    }

    /// [`add`](Self::add), the key expiring after `uses` requests as well:
    /// a key that expires in the middle of a job, without a clock.
    pub fn add_for(
        &self,
        access_key: &str,
        secret: &str,
        token: Option<&str>,
        expires: Option<SystemTime>,
        uses: Option<u64>,
    ) {
        self.lock().keys.insert(
            access_key.to_owned(),
            Entry {
                secret: secret.to_owned(),
                token: token.map(str::to_owned),
                expires,
                uses,
            },
        );
    }

    /// Stops accepting `access_key`.
    pub fn remove(&self, access_key: &str) {
        self.lock().keys.remove(access_key);
    }

    /// Lets unsigned requests read (list, head, get) `bucket`.
    pub fn allow_anonymous_reads(&self, bucket: &str) {
        self.lock().public.insert(bucket.to_owned());
    }

    fn entry(&self, access_key: &str) -> Option<Entry> {
        self.lock().keys.get(access_key).cloned()
    }

    /// Counts one request of `access_key`; false once its uses ran out.
    fn spend(&self, access_key: &str) -> bool {
        let mut inner = self.lock();
        let Some(uses) = inner.keys.get_mut(access_key).and_then(|e| e.uses.as_mut()) else {
            return true;
        };
        if *uses == 0 {
            return false;
        }
        *uses -= 1;
        true
    }
}

#[async_trait::async_trait]
impl S3Auth for KeyRing {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        let Some(e) = self.entry(access_key) else {
            return Err(s3_error!(
                InvalidAccessKeyId,
                "The AWS Access Key Id you provided does not exist in our records."
            ));
        };
        if e.expires.is_some_and(|t| t <= SystemTime::now()) || !self.spend(access_key) {
            return Err(s3_error!(ExpiredToken, "The provided token has expired."));
        }
        Ok(SecretKey::from(e.secret))
    }
}

/// Operations an anonymous reader of a public bucket may run.
const READS: [&str; 6] = [
    "GetObject",
    "HeadObject",
    "ListObjects",
    "ListObjectsV2",
    "HeadBucket",
    "GetBucketLocation",
];

#[async_trait::async_trait]
impl s3s::access::S3Access for KeyRing {
    async fn check(&self, cx: &mut s3s::access::S3AccessContext<'_>) -> S3Result<()> {
        let Some(creds) = cx.credentials() else {
            let bucket = match cx.s3_path() {
                S3Path::Bucket { bucket } | S3Path::Object { bucket, .. } => Some(&**bucket),
                S3Path::Root => None,
            };
            let public = bucket.is_some_and(|b| self.lock().public.contains(b));
            if public && READS.contains(&cx.s3_op().name()) {
                return Ok(());
            }
            return Err(s3_error!(AccessDenied, "Signature is required"));
        };
        let Some(e) = self.entry(&creds.access_key) else {
            return Err(s3_error!(InvalidAccessKeyId));
        };
        let sent = cx
            .headers()
            .get("x-amz-security-token")
            .and_then(|v| v.to_str().ok());
        if e.token.is_some() && sent != e.token.as_deref() {
            return Err(s3_error!(
                InvalidToken,
                "The provided token is malformed or otherwise invalid."
            ));
        }
        Ok(())
    }
}
