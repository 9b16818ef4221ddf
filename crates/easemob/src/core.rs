//! Calls to Easemob: uploads to `chatfiles`, downloads by uuid with the
//! share secret, every call with a bearer app token (fetched again once
//! when the service refuses a cached one).

use std::future::Future;
use std::time::Duration;

use haul_core::{Error, GetOptions, GetResponse, Key, ObjectMeta, PutOptions, PutOutcome, Result};
use haul_http::fetch::{get_url, probe_url};
use haul_http::form::{FileBody, MultipartForm};
use haul_http::locations::Locations;
use haul_http::size::too_large;
use haul_http::unrepeatable::{
    build_unrepeatable_client, outcome_unknown, read_answer, send_unrepeatable,
};
use haul_http::{ClientOptions, CredentialVars, ErrorContext, build_client};
use http::{HeaderMap, HeaderValue, Method};

use crate::error::{Who, error_from_response};
use crate::token::Tokens;
use crate::{EasemobConfig, FileRef, MAX_UPLOAD_BYTES};

/// The store's name in messages.
pub(crate) const NAME: &str = "Easemob";

const VARS: CredentialVars = CredentialVars {
    key_id: "EASEMOB_CLIENT_ID",
    secret: "EASEMOB_CLIENT_SECRET",
    token: "EASEMOB_APP_TOKEN",
    region: "EASEMOB_HOST",
};

/// The last path segment of `key`, for the `filename` of the upload.
fn file_name(key: &Key) -> &str {
    match key.as_str().rsplit('/').next() {
        Some(n) if !n.is_empty() => n,
        _ => "file",
    }
}

fn value(key: &str, v: &str) -> Result<HeaderValue> {
    HeaderValue::from_str(v).map_err(|e| Error::invalid(key, format!("bad header value: {e}")))
}

/// The shared state of an [`EasemobStore`](crate::EasemobStore).
#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) cfg: EasemobConfig,
    pub(crate) caps: haul_core::Capabilities,
    pub(crate) http: reqwest::Client,
    upload_http: reqwest::Client,
    pub(crate) tokens: Tokens,
    pub(crate) locations: Locations,
    pub(crate) stall: Duration,
}

impl Core {
    pub(crate) fn new(cfg: EasemobConfig) -> Result<Self> {
        reqwest::Url::parse(&cfg.host).map_err(|e| {
            Error::invalid("easemob", format!("bad Easemob host {:?}: {e}", cfg.host))
        })?;
        let opts = ClientOptions {
            concurrency: cfg.concurrency,
            ..ClientOptions::default()
        };
        Ok(Self {
            caps: crate::capabilities(),
            http: build_client(&opts)?,
            upload_http: build_unrepeatable_client(&opts)?,
            tokens: Tokens::default(),
            locations: Locations::default(),
            stall: opts.stall_timeout,
            cfg,
        })
    }

    pub(crate) fn who(&self) -> Who<'_> {
        Who {
            client_id: &self.cfg.client_id,
            app: &self.cfg.app,
        }
    }

    fn ctx<'a>(&'a self, key: &'a str) -> ErrorContext<'a> {
        ErrorContext::new(key)
            .access_key_id(&self.cfg.client_id)
            .vars(VARS)
    }

    /// Runs `call` with a token; when the service refuses a cached token,
    /// fetches a new one and runs it once more (a refused call did nothing).
    async fn authed<T, F, Fut>(&self, key: &str, call: F) -> Result<T>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let (token, fresh) = self.token(key).await?;
        match call(token.clone()).await {
            Err(Error::Unauthenticated { .. }) if !fresh => {
                self.tokens.invalidate(&token);
                let (token, _) = self.token(key).await?;
                call(token).await
            }
            other => other,
        }
    }

    /// The file `key` names: one this store uploaded, or a
    /// `uuid[?share-secret=...]` (or a chatfiles URL).
    pub(crate) fn resolve(&self, key: &Key) -> Result<FileRef> {
        let found = match self.locations.get(key.as_str()) {
            Some(loc) => FileRef::parse(&loc),
            None => FileRef::parse(key.as_str()),
        };
        found.ok_or_else(|| {
            Error::not_found(
                key.as_str(),
                "Easemob keeps no names: read a file by the uuid?share-secret=... its upload returned",
            )
        })
    }

    pub(crate) async fn put(
        &self,
        key: &Key,
        body: FileBody,
        opts: PutOptions,
    ) -> Result<PutOutcome> {
        let k = key.as_str();
        if body.len() > MAX_UPLOAD_BYTES {
            return Err(too_large(k, body.len(), NAME, MAX_UPLOAD_BYTES));
        }
        let file_type = opts
            .content_type
            .as_deref()
            .unwrap_or("application/octet-stream");
        let (body, content_type) =
            MultipartForm::new().finish_body("file", file_name(key), file_type, body);
        let url = format!("{}/chatfiles", self.cfg.app_url());
        let answer = self
            .authed(k, |token| {
                let (body, url, content_type) = (&body, &url, &content_type);
                async move {
                    let mut h = HeaderMap::new();
                    h.insert(
                        http::header::AUTHORIZATION,
                        value(k, &format!("Bearer {token}"))?,
                    );
                    h.insert(http::header::CONTENT_TYPE, value(k, content_type)?);
                    h.insert(
                        http::header::ACCEPT,
                        HeaderValue::from_static("application/json"),
                    );
                    if self.cfg.restrict {
                        h.insert("restrict-access", HeaderValue::from_static("true"));
                    }
                    let resp =
                        send_unrepeatable(&self.upload_http, Method::POST, url, h, body, k, NAME)
                            .await?;
                    if !resp.status().is_success() {
                        return Err(error_from_response(resp, k, self.who()).await);
                    }
                    read_answer(resp, k, NAME, self.stall).await
                }
            })
            .await?;
        let v: serde_json::Value = serde_json::from_slice(&answer).unwrap_or_default();
        let entity = &v["entities"][0];
        let Some(uuid) = entity["uuid"]
            .as_str()
            .filter(|u| FileRef::parse(u).is_some())
        else {
            return Err(outcome_unknown(
                k,
                NAME,
                &format!(
                    "the answer names no uuid: {}",
                    String::from_utf8_lossy(&answer[..answer.len().min(200)])
                ),
            ));
        };
        let file = FileRef {
            uuid: uuid.to_owned(),
            share_secret: entity["share-secret"]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        };
        let location = file.to_string();
        self.locations.remember(k, &location);
        Ok(PutOutcome {
            location: Some(location),
            ..PutOutcome::default()
        })
    }

    /// Headers of a download of `file` with `token`.
    fn download_headers(
        key: &str,
        file: &FileRef,
        token: &str,
        thumbnail: bool,
    ) -> Result<HeaderMap> {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::AUTHORIZATION,
            value(key, &format!("Bearer {token}"))?,
        );
        h.insert(
            http::header::ACCEPT,
            HeaderValue::from_static("application/octet-stream"),
        );
        if let Some(s) = &file.share_secret {
            h.insert("share-secret", value(key, s)?);
        }
        if thumbnail {
            h.insert("thumbnail", HeaderValue::from_static("true"));
        }
        Ok(h)
    }

    fn file_url(&self, file: &FileRef) -> String {
        format!("{}/chatfiles/{}", self.cfg.app_url(), file.uuid)
    }

    pub(crate) async fn get(
        &self,
        key: &Key,
        opts: GetOptions,
        thumbnail: bool,
    ) -> Result<GetResponse> {
        let file = self.resolve(key)?;
        let url = self.file_url(&file);
        let ctx = self.ctx(key.as_str());
        self.authed(key.as_str(), |token| {
            let (file, url, opts) = (&file, &url, &opts);
            async move {
                let h = Self::download_headers(key.as_str(), file, &token, thumbnail)?;
                get_url(&self.http, url, &h, key, opts, &ctx, self.stall).await
            }
        })
        .await
    }

    pub(crate) async fn head(&self, key: &Key) -> Result<ObjectMeta> {
        let file = self.resolve(key)?;
        let url = self.file_url(&file);
        let ctx = self.ctx(key.as_str());
        self.authed(key.as_str(), |token| {
            let (file, url) = (&file, &url);
            async move {
                let h = Self::download_headers(key.as_str(), file, &token, false)?;
                probe_url(&self.http, url, &h, key, &ctx).await
            }
        })
        .await
    }
}
