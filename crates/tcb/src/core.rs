//! Calls to CloudBase: the JSON API with its access token (fetched again
//! once when refused), the two-step upload, download URLs and deletes.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use haul_core::{Error, GetOptions, GetResponse, Key, ObjectMeta, PutOptions, PutOutcome, Result};
use haul_http::fetch::{get_url, probe_url};
use haul_http::form::{FileBody, MultipartForm, encode_component};
use haul_http::response::read_small;
use haul_http::size::too_large;
use haul_http::unrepeatable::{build_unrepeatable_client, send_unrepeatable};
use haul_http::{ClientOptions, ErrorContext, build_client, error_from_response, map_transport};
use http::{HeaderMap, HeaderValue, Method};
use serde_json::{Value, json};

use crate::error::{is_missing, map_errcode, token_refused};
use crate::{MAX_BATCH, MAX_UPLOAD_BYTES, TcbConfig};

/// The store's name in messages.
pub(crate) const NAME: &str = "CloudBase";

/// A cached access token and when to stop using it.
#[derive(Debug, Clone)]
struct Token {
    value: String,
    refresh_at: Instant,
}

/// The shared state of a [`TcbStore`](crate::TcbStore).
#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) cfg: TcbConfig,
    pub(crate) caps: haul_core::Capabilities,
    http: reqwest::Client,
    upload_http: reqwest::Client,
    token: Mutex<Option<Token>>,
    fetching: tokio::sync::Mutex<()>,
    /// Learned from an upload's `file_id` when not configured.
    bucket: Mutex<Option<String>>,
    /// File id → (download URL, use until).
    urls: Mutex<HashMap<String, (String, Instant)>>,
    stall: Duration,
}

impl Core {
    pub(crate) fn new(cfg: TcbConfig) -> Result<Self> {
        reqwest::Url::parse(&cfg.api_url)
            .map_err(|e| Error::invalid("tcb", format!("bad API URL {:?}: {e}", cfg.api_url)))?;
        let opts = ClientOptions {
            concurrency: cfg.concurrency,
            ..ClientOptions::default()
        };
        Ok(Self {
            caps: crate::capabilities(),
            http: build_client(&opts)?,
            upload_http: build_unrepeatable_client(&opts)?,
            token: Mutex::new(None),
            fetching: tokio::sync::Mutex::new(()),
            bucket: Mutex::new(cfg.bucket.clone()),
            urls: Mutex::new(HashMap::new()),
            stall: opts.stall_timeout,
            cfg,
        })
    }

    fn ctx<'a>(&'a self, key: &'a str) -> ErrorContext<'a> {
        ErrorContext::new(key).access_key_id(&self.cfg.appid)
    }

    fn cached_token(&self) -> Option<String> {
        let g = self.token.lock().unwrap_or_else(PoisonError::into_inner);
        g.as_ref()
            .filter(|t| Instant::now() < t.refresh_at)
            .map(|t| t.value.clone())
    }

    /// Drops `token` from the cache (the service refused it).
    fn forget_token(&self, token: &str) {
        let mut g = self.token.lock().unwrap_or_else(PoisonError::into_inner);
        if g.as_ref().is_some_and(|t| t.value == token) {
            *g = None;
        }
    }

    /// A token to call with, and whether it was fetched just now.
    async fn access_token(&self, key: &str) -> Result<(String, bool)> {
        if let Some(t) = &self.cfg.access_token {
            return Ok((t.clone(), true));
        }
        if let Some(t) = self.cached_token() {
            return Ok((t, false));
        }
        let _one = self.fetching.lock().await;
        if let Some(t) = self.cached_token() {
            return Ok((t, false));
        }
        let url = format!(
            "{}/cgi-bin/token?grant_type=client_credential&appid={}&secret={}",
            self.cfg.api_url,
            encode_component(&self.cfg.appid),
            encode_component(&self.cfg.secret)
        );
        let started = Instant::now();
        let resp = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| map_transport(&e, key))?;
        let v = self.json_answer(resp, key).await.map_err(|e| match e {
            Error::Provider { code, message, .. } => {
                map_errcode(code.parse().unwrap_or(-1), &message, key, &self.cfg.appid)
            }
            e => e,
        })?;
        let Some(value) = v["access_token"].as_str().filter(|t| !t.is_empty()) else {
            return Err(Error::transient(
                key,
                "WeChat's token answer has no access_token",
            ));
        };
        let secs = v["expires_in"].as_u64().unwrap_or(7200);
        let margin = (secs / 10).clamp(1, 300);
        let token = Token {
            value: value.to_owned(),
            refresh_at: started + Duration::from_secs(secs.saturating_sub(margin).max(1)),
        };
        *self.token.lock().unwrap_or_else(PoisonError::into_inner) = Some(token);
        Ok((value.to_owned(), true))
    }

    /// Parses a JSON answer; a non-zero `errcode` is an error (HTTP 200 or not).
    async fn json_answer(&self, resp: reqwest::Response, key: &str) -> Result<Value> {
        if !resp.status().is_success() {
            return Err(error_from_response(resp, &self.ctx(key)).await);
        }
        let text = read_small(resp, key, self.stall).await?;
        let v: Value = serde_json::from_slice(&text)
            .map_err(|e| Error::transient(key, format!("unreadable answer from WeChat: {e}")))?;
        match v["errcode"].as_i64().unwrap_or(0) {
            0 => Ok(v),
            code => Err(Error::Provider {
                key: key.to_owned(),
                code: code.to_string(),
                message: v["errmsg"].as_str().unwrap_or("").to_owned(),
                retryable: false,
            }),
        }
    }

    /// `POST /tcb/{op}` with `body`; a refused cached token is replaced
    /// once (a refused call did nothing, so sending it again is safe).
    async fn api(&self, op: &str, body: &Value, key: &str) -> Result<Value> {
        let (mut token, mut fresh) = self.access_token(key).await?;
        loop {
            let url = format!(
                "{}/tcb/{op}?access_token={}",
                self.cfg.api_url,
                encode_component(&token)
            );
            let resp = self
                .http
                .post(&url)
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(body.to_string())
                .send()
                .await
                .map_err(|e| map_transport(&e, key))?;
            match self.json_answer(resp, key).await {
                Err(Error::Provider { code, .. })
                    if !fresh && code.parse().is_ok_and(token_refused) =>
                {
                    self.forget_token(&token);
                    (token, fresh) = self.access_token(key).await?;
                }
                Err(Error::Provider { code, message, .. }) => {
                    return Err(map_errcode(
                        code.parse().unwrap_or(-1),
                        &message,
                        key,
                        &self.cfg.appid,
                    ));
                }
                other => return other,
            }
        }
    }

    /// The file id of `key`: the key itself when it is a `cloud://` id,
    /// else `cloud://<env>.<bucket>/<key>`.
    pub(crate) fn file_id(&self, key: &Key) -> Result<String> {
        let k = key.as_str();
        if k.starts_with("cloud://") {
            return Ok(k.to_owned());
        }
        let bucket = self
            .bucket
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        match bucket {
            Some(b) => Ok(format!("cloud://{}.{b}/{k}", self.cfg.env)),
            None => Err(Error::invalid(
                k,
                "the CloudBase bucket is unknown until the first upload: set TCB_BUCKET (cloud://<env>.<bucket>/...) or read by the cloud:// file id",
            )),
        }
    }

    fn learn_bucket(&self, file_id: &str) {
        let prefix = format!("cloud://{}.", self.cfg.env);
        if let Some((bucket, _)) = file_id
            .strip_prefix(&prefix)
            .and_then(|r| r.split_once('/'))
        {
            let mut g = self.bucket.lock().unwrap_or_else(PoisonError::into_inner);
            if g.is_none() {
                *g = Some(bucket.to_owned());
            }
        }
    }

    fn forget_url(&self, file_id: &str) {
        self.urls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(file_id);
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
        if k.starts_with("cloud://") {
            return Err(Error::invalid(
                k,
                "upload to a path, not to a cloud:// file id",
            ));
        }
        // Step 1: a ticket for the path. Nothing is stored yet, so a lost
        // answer is an ordinary, retryable failure.
        let ticket = self
            .api("uploadfile", &json!({ "env": self.cfg.env, "path": k }), k)
            .await?;
        let field = |n: &str| {
            ticket[n]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| Error::transient(k, format!("uploadfile answer without {n}")))
        };
        let (url, token, auth, file_id, cos_file_id) = (
            field("url")?,
            field("token")?,
            field("authorization")?,
            field("file_id")?,
            field("cos_file_id")?,
        );
        // Step 2: the COS form POST, sent once.
        let mut form = MultipartForm::new();
        form.text("key", k)
            .text("Signature", &auth)
            .text("x-cos-security-token", &token)
            .text("x-cos-meta-fileid", &cos_file_id);
        let file_type = opts
            .content_type
            .as_deref()
            .unwrap_or("application/octet-stream");
        let name = k.rsplit('/').next().unwrap_or("file");
        let (payload, ct) = form.finish_body("file", name, file_type, body);
        let mut h = HeaderMap::new();
        h.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_str(&ct).map_err(|e| Error::invalid(k, e.to_string()))?,
        );
        let resp =
            send_unrepeatable(&self.upload_http, Method::POST, &url, h, &payload, k, NAME).await?;
        if !resp.status().is_success() {
            return Err(error_from_response(resp, &self.ctx(k)).await);
        }
        let etag = resp
            .headers()
            .get(http::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(haul_http::xml::unquote);
        self.learn_bucket(&file_id);
        self.forget_url(&file_id);
        Ok(PutOutcome {
            etag,
            location: Some(file_id),
            ..PutOutcome::default()
        })
    }

    /// A download URL of `file_id` (cached for half its life).
    async fn download_url(&self, key: &str, file_id: &str) -> Result<String> {
        if let Some((url, until)) = self
            .urls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(file_id)
            && Instant::now() < *until
        {
            return Ok(url.clone());
        }
        let max_age = self.cfg.download_max_age_secs.max(60);
        let body = json!({ "env": self.cfg.env, "file_list": [{ "fileid": file_id, "max_age": max_age }] });
        let v = self.api("batchdownloadfile", &body, key).await?;
        let item = &v["file_list"][0];
        let status = item["status"].as_i64().unwrap_or(-1);
        let errmsg = item["errmsg"].as_str().unwrap_or("");
        if status != 0 {
            if is_missing(status, errmsg) {
                return Err(Error::not_found(key, format!("{errmsg} (status {status})")));
            }
            return Err(map_errcode(status, errmsg, key, &self.cfg.appid));
        }
        let url = item["download_url"]
            .as_str()
            .filter(|u| !u.is_empty())
            .ok_or_else(|| {
                Error::transient(key, "batchdownloadfile answer without a download_url")
            })?;
        let until = Instant::now() + Duration::from_secs(max_age / 2);
        self.urls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(file_id.to_owned(), (url.to_owned(), until));
        Ok(url.to_owned())
    }

    pub(crate) async fn get(&self, key: &Key, opts: GetOptions) -> Result<GetResponse> {
        let id = self.file_id(key)?;
        let url = self.download_url(key.as_str(), &id).await?;
        let ctx = self.ctx(key.as_str());
        match get_url(
            &self.http,
            &url,
            &HeaderMap::new(),
            key,
            &opts,
            &ctx,
            self.stall,
        )
        .await
        {
            // A cached URL may have been signed before the file changed.
            Err(Error::PermissionDenied { .. } | Error::NotFound { .. }) => {
                self.forget_url(&id);
                let url = self.download_url(key.as_str(), &id).await?;
                get_url(
                    &self.http,
                    &url,
                    &HeaderMap::new(),
                    key,
                    &opts,
                    &ctx,
                    self.stall,
                )
                .await
            }
            other => other,
        }
    }

    pub(crate) async fn head(&self, key: &Key) -> Result<ObjectMeta> {
        let id = self.file_id(key)?;
        let url = self.download_url(key.as_str(), &id).await?;
        let ctx = self.ctx(key.as_str());
        match probe_url(&self.http, &url, &HeaderMap::new(), key, &ctx).await {
            Err(Error::PermissionDenied { .. } | Error::NotFound { .. }) => {
                self.forget_url(&id);
                let url = self.download_url(key.as_str(), &id).await?;
                probe_url(&self.http, &url, &HeaderMap::new(), key, &ctx).await
            }
            other => other,
        }
    }

    /// Deletes `keys`, [`MAX_BATCH`] a call: one result per key, a missing
    /// file counting as deleted.
    pub(crate) async fn delete_many(&self, keys: &[Key]) -> Result<Vec<Result<()>>> {
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(MAX_BATCH) {
            let mut ids = Vec::with_capacity(chunk.len());
            for k in chunk {
                ids.push(self.file_id(k));
            }
            let valid: Vec<&String> = ids.iter().filter_map(|r| r.as_ref().ok()).collect();
            let first = chunk.first().map_or("", Key::as_str);
            let answers: HashMap<String, (i64, String)> = if valid.is_empty() {
                HashMap::new()
            } else {
                let v = self
                    .api(
                        "batchdeletefile",
                        &json!({ "env": self.cfg.env, "fileid_list": valid }),
                        first,
                    )
                    .await?;
                v["delete_list"]
                    .as_array()
                    .map(|l| {
                        l.iter()
                            .filter_map(|d| {
                                let id = d["fileid"].as_str()?.to_owned();
                                let status = d["status"].as_i64().unwrap_or(-1);
                                Some((id, (status, d["errmsg"].as_str().unwrap_or("").to_owned())))
                            })
                            .collect()
                    })
                    .unwrap_or_default()
            };
            for (k, id) in chunk.iter().zip(ids) {
                out.push(id.and_then(|id| {
                    self.forget_url(&id);
                    match answers.get(&id) {
                        Some((0, _)) => Ok(()),
                        Some((s, m)) if is_missing(*s, m) => Ok(()),
                        Some((s, m)) => Err(map_errcode(*s, m, k.as_str(), &self.cfg.appid)),
                        None => Err(Error::transient(
                            k.as_str(),
                            "batchdeletefile did not answer for this file",
                        )),
                    }
                }));
            }
        }
        Ok(out)
    }
}
