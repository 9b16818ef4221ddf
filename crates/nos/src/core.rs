//! Calls to Yunxin and NOS: the signed uploads, and reads of the URLs they
//! return.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use haul_core::{Error, GetOptions, GetResponse, Key, ObjectMeta, PutOptions, PutOutcome, Result};
use haul_http::fetch::{get_url, probe_url};
use haul_http::form::{FileBody, MultipartForm, urlencoded};
use haul_http::locations::Locations;
use haul_http::send::Body;
use haul_http::size::too_large;
use haul_http::unrepeatable::{
    build_unrepeatable_client, outcome_unknown, read_answer, send_unrepeatable,
};
use haul_http::{ClientOptions, CredentialVars, ErrorContext, build_client, error_from_response};
use http::{HeaderMap, HeaderValue, Method};

use crate::config::MAX_TYPE_CHARS;
use crate::error::{Answer, map_code};
use crate::{MAX_UPLOAD_BYTES, NosConfig, auth};

/// The store's name in messages.
pub(crate) const NAME: &str = "NOS";

/// Most characters of base64 `upload.action` takes in `content`.
pub(crate) const MAX_BASE64_CHARS: u64 = 15_000_000;

/// The variables NOS users know their credentials by.
pub(crate) const VARS: CredentialVars = CredentialVars {
    key_id: "YUNXIN_APP_KEY",
    secret: "YUNXIN_APP_SECRET",
    token: "YUNXIN_APP_SECRET",
    region: "YUNXIN_API_URL",
};

/// The last path segment of `key`, for the `filename` of a form upload.
pub(crate) fn file_name(key: &Key) -> &str {
    match key.as_str().rsplit('/').next() {
        Some(n) if !n.is_empty() => n,
        _ => "file",
    }
}

/// Whether `key` is itself a URL (an object's address).
pub(crate) fn is_url(key: &str) -> bool {
    key.starts_with("https://") || key.starts_with("http://")
}

/// The shared state of a [`NosStore`](crate::NosStore).
#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) cfg: NosConfig,
    pub(crate) caps: haul_core::Capabilities,
    /// Pooled: reads of download URLs.
    http: reqwest::Client,
    /// No idle pool: uploads, each on a connection of its own.
    upload_http: reqwest::Client,
    pub(crate) locations: Locations,
    stall: Duration,
}

impl Core {
    pub(crate) fn new(cfg: NosConfig) -> Result<Self> {
        cfg.validate()?;
        let opts = ClientOptions {
            concurrency: cfg.concurrency,
            ..ClientOptions::default()
        };
        Ok(Self {
            caps: crate::capabilities(),
            http: build_client(&opts)?,
            upload_http: build_unrepeatable_client(&opts)?,
            locations: Locations::default(),
            stall: opts.stall_timeout,
            cfg,
        })
    }

    fn ctx<'a>(&'a self, key: &'a str) -> ErrorContext<'a> {
        ErrorContext::new(key)
            .access_key_id(&self.cfg.app_key)
            .vars(VARS)
    }

    /// The URL `key` reads from: the key itself when it is one, else the
    /// URL this store's upload of `key` was given.
    pub(crate) fn resolve(&self, key: &Key) -> Result<String> {
        if is_url(key.as_str()) {
            return Ok(key.as_str().to_owned());
        }
        self.locations.get(key.as_str()).ok_or_else(|| {
            Error::not_found(
                key.as_str(),
                "NOS keeps no names: read a file by the URL its upload returned",
            )
        })
    }

    /// Uploads `body`: base64 to `upload.action` when small, else as a file
    /// to `fileUpload.action`. Sent once; see the crate docs for failures.
    pub(crate) async fn put(
        &self,
        key: &Key,
        body: FileBody,
        opts: PutOptions,
    ) -> Result<PutOutcome> {
        let k = key.as_str();
        let size = body.len();
        if size > MAX_UPLOAD_BYTES {
            return Err(too_large(k, size, NAME, MAX_UPLOAD_BYTES));
        }
        if size == 0 {
            return Err(Error::invalid(
                k,
                "NOS does not store empty files (Yunxin answers 414 \"content is empty\")",
            ));
        }
        let mut fields: Vec<(&str, String)> = Vec::new();
        if let Some(t) = opts
            .content_type
            .as_ref()
            .filter(|t| t.chars().count() <= MAX_TYPE_CHARS)
        {
            fields.push(("type", t.clone()));
        }
        fields.push(("ishttps", self.cfg.https_urls.to_string()));
        if let Some(s) = self.cfg.expire_secs {
            fields.push(("expireSec", s.to_string()));
        }
        if let Some(t) = &self.cfg.tag {
            fields.push(("tag", t.clone()));
        }
        let base64 = size <= self.cfg.base64_max_bytes && size.div_ceil(3) * 4 <= MAX_BASE64_CHARS;
        let (path, body, content_type) = if base64 {
            let content = STANDARD.encode(body.into_payload().await?.to_bytes());
            let mut pairs: Vec<(&str, &str)> = vec![("content", content.as_str())];
            pairs.extend(fields.iter().map(|(n, v)| (*n, v.as_str())));
            let form = urlencoded(&pairs);
            (
                "/msg/upload.action",
                Body::Bytes(form.into()),
                "application/x-www-form-urlencoded;charset=utf-8".to_owned(),
            )
        } else {
            let mut form = MultipartForm::new();
            for (n, v) in &fields {
                form.text(n, v);
            }
            let file_type = opts
                .content_type
                .as_deref()
                .unwrap_or("application/octet-stream");
            let (body, ct) = form.finish_body("content", file_name(key), file_type, body);
            ("/msg/fileUpload.action", body, ct)
        };
        let mut headers: HeaderMap = auth::headers(&self.cfg.app_key, &self.cfg.app_secret)
            .map_err(|e| Error::invalid(k, format!("{e} (check YUNXIN_APP_KEY)")))?;
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_str(&content_type).map_err(|e| Error::invalid(k, e.to_string()))?,
        );
        let url = format!("{}{path}", self.cfg.api_url);
        let resp = send_unrepeatable(
            &self.upload_http,
            Method::POST,
            &url,
            headers,
            &body,
            k,
            NAME,
        )
        .await?;
        if !resp.status().is_success() {
            return Err(error_from_response(resp, &self.ctx(k)).await);
        }
        let text = read_answer(resp, k, NAME, self.stall).await?;
        let answer: Answer = serde_json::from_slice(&text).map_err(|e| {
            outcome_unknown(
                k,
                NAME,
                &format!(
                    "unreadable answer ({e}): {}",
                    String::from_utf8_lossy(&text[..text.len().min(200)])
                ),
            )
        })?;
        if answer.code != 200 {
            return Err(map_code(
                answer.code,
                answer.desc.as_deref().unwrap_or(""),
                k,
                &self.cfg.app_key,
            ));
        }
        let url = answer
            .url
            .filter(|u| is_url(u))
            .ok_or_else(|| outcome_unknown(k, NAME, "code 200 without a URL"))?;
        self.locations.remember(k, &url);
        Ok(PutOutcome {
            location: Some(url),
            ..PutOutcome::default()
        })
    }

    pub(crate) async fn get(&self, key: &Key, opts: GetOptions) -> Result<GetResponse> {
        let url = self.resolve(key)?;
        get_url(
            &self.http,
            &url,
            &HeaderMap::new(),
            key,
            &opts,
            &self.ctx(key.as_str()),
            self.stall,
        )
        .await
    }

    pub(crate) async fn head(&self, key: &Key) -> Result<ObjectMeta> {
        let url = self.resolve(key)?;
        probe_url(
            &self.http,
            &url,
            &HeaderMap::new(),
            key,
            &self.ctx(key.as_str()),
        )
        .await
    }
}
