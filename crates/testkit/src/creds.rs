//! `CredsServer`: the places AWS credentials come from on a cloud machine,
//! on one loopback port, minting short-lived keys that an
//! [`S3Server`](haul_serve::S3Server)'s [`KeyRing`] accepts until they
//! expire:
//!
//! * EC2 instance metadata, IMDSv2 (`AWS_EC2_METADATA_SERVICE_ENDPOINT`):
//!   `PUT /latest/api/token` with a TTL header, then the role listing and
//!   the role's credentials JSON under
//!   `/latest/meta-data/iam/security-credentials/`, each refused without a
//!   token it issued;
//! * ECS container credentials (`AWS_CONTAINER_CREDENTIALS_FULL_URI`):
//!   `GET /container/credentials`, checking `Authorization` when a token
//!   is set;
//! * IAM Identity Center (`AWS_ENDPOINT_URL_SSO`): `GetRoleCredentials`
//!   for a bearer token from the SSO token cache;
//! * STS (`AWS_ENDPOINT_URL_STS`): `AssumeRoleWithWebIdentity` (checking
//!   the web identity token) and `AssumeRole` (remembering which key signed
//!   it), answered as STS's XML.
//!
//! Every fetch is counted by source, so a test can tell how many times a
//! job refreshed its credentials.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use haul_core::time::rfc3339;
use haul_serve::KeyRing;

use crate::emu::{Reply, Req, Runtime, parse_urlencoded};

/// A kind of credential source the server stands in for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CredSource {
    /// EC2 instance metadata (IMDSv2).
    Imds,
    /// ECS container credentials.
    Container,
    /// STS `AssumeRoleWithWebIdentity`.
    WebIdentity,
    /// STS `AssumeRole`.
    AssumeRole,
    /// Keys minted for a `credential_process` script ([`CredsServer::mint`]).
    Process,
    /// IAM Identity Center (SSO) `GetRoleCredentials`.
    Sso,
}

impl CredSource {
    fn tag(self) -> &'static str {
        match self {
            Self::Imds => "IMDS",
            Self::Container => "ECS",
            Self::WebIdentity => "WEBID",
            Self::AssumeRole => "ROLE",
            Self::Process => "PROC",
            Self::Sso => "SSO",
        }
    }
}

/// Keys minted by a [`CredsServer`] (and accepted by its ring until
/// `expires`).
#[derive(Clone)]
pub struct Minted {
    /// The access key id (`ASIA<SOURCE><n>`).
    pub access_key_id: String,
    /// The secret key.
    pub secret_access_key: String,
    /// The session token.
    pub session_token: String,
    /// When the server stops accepting them.
    pub expires: SystemTime,
}

impl std::fmt::Debug for Minted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Minted")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

impl Minted {
    /// `Expiration` as AWS writes it: `2026-12-07T01:02:03Z`.
    #[must_use]
    pub fn expiration(&self) -> String {
        rfc3339(self.expires)
    }

    /// The JSON a `credential_process` prints.
    #[must_use]
    pub fn process_json(&self) -> String {
        format!(
            r#"{{"Version":1,"AccessKeyId":"{}","SecretAccessKey":"{}","SessionToken":"{}","Expiration":"{}"}}"#,
            self.access_key_id,
            self.secret_access_key,
            self.session_token,
            self.expiration()
        )
    }
}

/// The role name the instance metadata lists.
pub const ROLE: &str = "haul-test-role";

struct State {
    ring: KeyRing,
    lifetime: Duration,
    minted: AtomicU64,
    fetches: Mutex<HashMap<CredSource, u64>>,
    imds_tokens: Mutex<HashSet<String>>,
    web_identity_token: Mutex<Option<String>>,
    container_auth: Mutex<Option<String>>,
    assume_role_callers: Mutex<Vec<String>>,
    sso_token: Mutex<Option<String>>,
    /// The secret keys and session tokens handed out, to look for in logs.
    secrets: Mutex<Vec<String>>,
    /// How many of the next keys the ring takes as already expired.
    dead_on_arrival: AtomicU64,
    /// Requests each new key is good for (0: no limit).
    uses: AtomicU64,
    /// The region instance metadata gives (`None`: 404, as off EC2).
    instance_region: Mutex<Option<String>>,
}

impl State {
    fn mint(&self, source: CredSource) -> Minted {
        let n = self.minted.fetch_add(1, Ordering::Relaxed) + 1;
        *self
            .fetches
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(source)
            .or_default() += 1;
        let m = Minted {
            access_key_id: format!("ASIA{}{n:06}", source.tag()),
            secret_access_key: format!("secret/{}/{n}/{:x}", source.tag(), rand::random::<u64>()),
            session_token: format!("token-{}-{n}-{:x}", source.tag(), rand::random::<u64>()),
            expires: SystemTime::now() + self.lifetime,
        };
        self.secrets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend([m.secret_access_key.clone(), m.session_token.clone()]);
        let dead = self
            .dead_on_arrival
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok();
        let uses = Some(self.uses.load(Ordering::Relaxed)).filter(|n| *n > 0);
        self.ring.add_for(
            &m.access_key_id,
            &m.secret_access_key,
            Some(&m.session_token),
            Some(if dead {
                SystemTime::UNIX_EPOCH
            } else {
                m.expires
            }),
            uses,
        );
        m
    }
}

/// Instance metadata, container credentials and STS on one loopback port.
/// Stops when dropped.
pub struct CredsServer {
    state: Arc<State>,
    addr: SocketAddr,
    _rt: Runtime,
}

impl std::fmt::Debug for CredsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredsServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl CredsServer {
    /// Starts a server whose keys `ring` accepts for `lifetime` each.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    #[must_use]
    pub fn start(ring: KeyRing, lifetime: Duration) -> Self {
        let state = Arc::new(State {
            ring,
            lifetime,
            minted: AtomicU64::new(0),
            fetches: Mutex::default(),
            imds_tokens: Mutex::default(),
            web_identity_token: Mutex::default(),
            container_auth: Mutex::default(),
            assume_role_callers: Mutex::default(),
            sso_token: Mutex::default(),
            secrets: Mutex::default(),
            dead_on_arrival: AtomicU64::new(0),
            uses: AtomicU64::new(0),
            instance_region: Mutex::new(None),
        });
        let rt = Runtime::start("creds-server");
        let s = Arc::clone(&state);
        let addr = rt.listen(Arc::new(move |req| handle(&s, &req)));
        Self {
            state,
            addr,
            _rt: rt,
        }
    }

    /// `http://127.0.0.1:PORT`: `AWS_EC2_METADATA_SERVICE_ENDPOINT` and
    /// `AWS_ENDPOINT_URL_STS`.
    #[must_use]
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `AWS_CONTAINER_CREDENTIALS_FULL_URI`.
    #[must_use]
    pub fn container_uri(&self) -> String {
        format!("http://{}/container/credentials", self.addr)
    }

    /// Makes `AssumeRoleWithWebIdentity` accept only `token`.
    pub fn expect_web_identity_token(&self, token: &str) {
        *self
            .state
            .web_identity_token
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(token.to_owned());
    }

    /// Makes the container endpoint want `Authorization: value`.
    pub fn expect_container_authorization(&self, value: &str) {
        *self
            .state
            .container_auth
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(value.to_owned());
    }

    /// Makes `GetRoleCredentials` (SSO) accept only the bearer `token`.
    pub fn expect_sso_token(&self, token: &str) {
        *self
            .state
            .sso_token
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(token.to_owned());
    }

    /// Makes the next `n` keys handed out expired at the S3 server from
    /// the start, though their `Expiration` says otherwise: credentials
    /// that expire in flight, without waiting for a clock.
    pub fn expire_next_on_arrival(&self, n: u64) {
        self.state.dead_on_arrival.store(n, Ordering::Relaxed);
    }

    /// Makes each key handed out from now on expire at the S3 server after
    /// `n` requests (their `Expiration` unchanged): keys that run out in the
    /// middle of a multipart upload, at a request that can be counted.
    pub fn expire_keys_after_requests(&self, n: u64) {
        self.state.uses.store(n, Ordering::Relaxed);
    }

    /// Makes instance metadata give `region` as the instance's own.
    pub fn set_instance_region(&self, region: &str) {
        *self
            .state
            .instance_region
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(region.to_owned());
    }

    /// Mints keys as if `source` handed them out (for a `credential_process`
    /// script to print), accepted by the ring until they expire.
    #[must_use]
    pub fn mint(&self, source: CredSource) -> Minted {
        self.state.mint(source)
    }

    /// How many times `source` handed out credentials.
    #[must_use]
    pub fn fetches(&self, source: CredSource) -> u64 {
        self.state
            .fetches
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&source)
            .copied()
            .unwrap_or(0)
    }

    /// Every secret key and session token handed out so far (to check
    /// that none reaches a log, an error or `--json`).
    #[must_use]
    pub fn secrets(&self) -> Vec<String> {
        self.state
            .secrets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The access key ids that signed each `AssumeRole`, in order.
    #[must_use]
    pub fn assume_role_callers(&self) -> Vec<String> {
        self.state
            .assume_role_callers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

const CREDS_PATH: &str = "/latest/meta-data/iam/security-credentials/";

/// Whether `req` carries an IMDSv2 session token this emulator handed out.
fn imds_token_known(state: &State, req: &Req) -> bool {
    req.header("x-aws-ec2-metadata-token").is_some_and(|t| {
        state
            .imds_tokens
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(t)
    })
}

fn handle(state: &State, req: &Req) -> Reply {
    match (req.method.as_str(), req.path.as_str()) {
        ("PUT", "/latest/api/token") => {
            let Some(ttl) = req
                .header("x-aws-ec2-metadata-token-ttl-seconds")
                .and_then(|t| t.parse::<u64>().ok())
                .filter(|t| (1..=21_600).contains(t))
            else {
                return Reply::empty(400);
            };
            let token = format!("imds-token-{:x}", rand::random::<u64>());
            state
                .imds_tokens
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(token.clone());
            text(200, &token).with_header("x-aws-ec2-metadata-token-ttl-seconds", ttl.to_string())
        }
        ("GET", "/latest/meta-data/placement/region") => {
            let known = imds_token_known(state, req);
            let region = state
                .instance_region
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            match (known, region) {
                (false, _) => Reply::empty(401),
                (true, Some(r)) => text(200, &r),
                (true, None) => Reply::empty(404),
            }
        }
        ("GET", p) if p.starts_with(CREDS_PATH) => {
            let known = imds_token_known(state, req);
            if !known {
                return Reply::empty(401);
            }
            match &p[CREDS_PATH.len()..] {
                "" => text(200, ROLE),
                r if r == ROLE => {
                    let m = state.mint(CredSource::Imds);
                    Reply::json(
                        200,
                        &serde_json::json!({
                            "Code": "Success",
                            "LastUpdated": rfc3339(SystemTime::now()),
                            "Type": "AWS-HMAC",
                            "AccessKeyId": m.access_key_id,
                            "SecretAccessKey": m.secret_access_key,
                            "Token": m.session_token,
                            "Expiration": m.expiration(),
                        }),
                    )
                }
                _ => Reply::empty(404),
            }
        }
        ("GET", "/container/credentials") => {
            let want = state
                .container_auth
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            if want.is_some() && req.header("authorization") != want.as_deref() {
                return Reply::empty(403);
            }
            let m = state.mint(CredSource::Container);
            Reply::json(
                200,
                &serde_json::json!({
                    "AccessKeyId": m.access_key_id,
                    "SecretAccessKey": m.secret_access_key,
                    "Token": m.session_token,
                    "Expiration": m.expiration(),
                }),
            )
        }
        ("GET", "/federation/credentials") => {
            let want = state
                .sso_token
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            if req.header("x-amz-sso_bearer_token") != want.as_deref() {
                return Reply::json(
                    401,
                    &serde_json::json!({"message": "Session token not found or invalid"}),
                )
                .with_header("x-amzn-errortype", "UnauthorizedException");
            }
            let m = state.mint(CredSource::Sso);
            let millis = m
                .expires
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis());
            Reply::json(
                200,
                &serde_json::json!({"roleCredentials": {
                    "accessKeyId": m.access_key_id,
                    "secretAccessKey": m.secret_access_key,
                    "sessionToken": m.session_token,
                    "expiration": millis,
                }}),
            )
        }
        ("POST", "/") => sts(state, req),
        _ => Reply::empty(404),
    }
}

/// STS's query API: the form body names the action.
fn sts(state: &State, req: &Req) -> Reply {
    let form = parse_urlencoded(&String::from_utf8_lossy(&req.body));
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let action = get("Action").unwrap_or_default();
    let (source, result) = match action.as_str() {
        "AssumeRoleWithWebIdentity" => {
            let want = state
                .web_identity_token
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            if want.is_some() && get("WebIdentityToken") != want {
                return sts_error(
                    400,
                    "InvalidIdentityToken",
                    "the web identity token is not valid",
                );
            }
            (CredSource::WebIdentity, "AssumeRoleWithWebIdentity")
        }
        "AssumeRole" => {
            let caller = req
                .header("authorization")
                .and_then(|a| a.split("Credential=").nth(1))
                .and_then(|c| c.split('/').next())
                .map(str::to_owned);
            let Some(caller) = caller else {
                return sts_error(
                    403,
                    "MissingAuthenticationToken",
                    "AssumeRole must be signed",
                );
            };
            state
                .assume_role_callers
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(caller);
            (CredSource::AssumeRole, "AssumeRole")
        }
        _ => return sts_error(400, "InvalidAction", "unknown action"),
    };
    let role = get("RoleArn").unwrap_or_default();
    let m = state.mint(source);
    let xml = format!(
        "<{result}Response xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
         <{result}Result><Credentials>\
         <AccessKeyId>{}</AccessKeyId><SecretAccessKey>{}</SecretAccessKey>\
         <SessionToken>{}</SessionToken><Expiration>{}</Expiration>\
         </Credentials><AssumedRoleUser><Arn>{role}/haul</Arn>\
         <AssumedRoleId>AROATEST:haul</AssumedRoleId></AssumedRoleUser>\
         </{result}Result><ResponseMetadata><RequestId>req-1</RequestId>\
         </ResponseMetadata></{result}Response>",
        m.access_key_id,
        m.secret_access_key,
        m.session_token,
        m.expiration()
    );
    Reply::Answer {
        status: 200,
        headers: vec![("content-type".into(), "text/xml".into())],
        body: xml.into(),
    }
}

fn sts_error(status: u16, code: &str, message: &str) -> Reply {
    Reply::Answer {
        status,
        headers: vec![("content-type".into(), "text/xml".into())],
        body: format!(
            "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>\
             <Message>{message}</Message></Error><RequestId>req-1</RequestId></ErrorResponse>"
        )
        .into(),
    }
}

fn text(status: u16, body: &str) -> Reply {
    Reply::Answer {
        status,
        headers: vec![("content-type".into(), "text/plain".into())],
        body: body.to_owned().into(),
    }
}
