//! [`ObjectOptions`]: what `aws s3 cp` users pass every day — storage
//! class, server-side encryption (SSE-S3, SSE-KMS, SSE-C), canned ACL,
//! requester pays — and which request of S3's carries which header.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use haul_http::send::Call;
use http::Method;
use md5::{Digest, Md5};

/// Options for the objects a store writes and reads; all off by default.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ObjectOptions {
    /// `x-amz-storage-class` of new objects (`STANDARD_IA`, `GLACIER_IR`,
    /// `DEEP_ARCHIVE`, ...), on PutObject, CreateMultipartUpload and
    /// CopyObject.
    pub storage_class: Option<String>,
    /// `x-amz-server-side-encryption`: `AES256` (SSE-S3) or `aws:kms`.
    pub sse: Option<String>,
    /// `x-amz-server-side-encryption-aws-kms-key-id` (implies `aws:kms`).
    pub sse_kms_key_id: Option<String>,
    /// The SSE-C key: sent with every write, read and part of an object,
    /// and as the copy source's key on copies.
    pub sse_c_key: Option<SseCustomerKey>,
    /// `x-amz-acl`, a canned ACL (`private`, `public-read`,
    /// `bucket-owner-full-control`, ...).
    pub acl: Option<String>,
    /// `x-amz-request-payer: requester` on every request.
    pub request_payer: bool,
}

impl fmt::Debug for ObjectOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectOptions")
            .field("storage_class", &self.storage_class)
            .field("sse", &self.sse)
            .field("sse_kms_key_id", &self.sse_kms_key_id)
            .field("sse_c_key", &self.sse_c_key.as_ref().map(|_| "REDACTED"))
            .field("acl", &self.acl)
            .field("request_payer", &self.request_payer)
            .finish()
    }
}

/// A 256-bit SSE-C key. `Debug` prints nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct SseCustomerKey([u8; 32]);

impl fmt::Debug for SseCustomerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SseCustomerKey(REDACTED)")
    }
}

impl SseCustomerKey {
    /// A key given as 32 bytes of text (as the AWS CLI takes it) or as the
    /// base64 of 32 bytes.
    pub fn parse(text: &str) -> Result<Self, String> {
        if let Ok(raw) = <[u8; 32]>::try_from(text.as_bytes()) {
            return Ok(Self(raw));
        }
        B64.decode(text.trim())
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
            .map(Self)
            .ok_or_else(|| {
                "an SSE-C key is 32 bytes: 32 characters, or 44 characters of base64".to_owned()
            })
    }

    /// The three headers of this key, their names after `prefix`
    /// (`x-amz-` or `x-amz-copy-source-`).
    fn headers(&self, prefix: &str, out: &mut Vec<(String, String)>) {
        let md5 = Md5::digest(self.0);
        out.push((
            format!("{prefix}server-side-encryption-customer-algorithm"),
            "AES256".to_owned(),
        ));
        out.push((
            format!("{prefix}server-side-encryption-customer-key"),
            B64.encode(self.0),
        ));
        out.push((
            format!("{prefix}server-side-encryption-customer-key-md5"),
            B64.encode(md5),
        ));
    }
}

impl ObjectOptions {
    /// Checks the combination: `sse` is `AES256` or `aws:kms`, a KMS key
    /// goes with `aws:kms`, SSE-C goes with neither.
    pub fn validate(&self) -> Result<(), String> {
        match self.sse.as_deref() {
            None | Some("aws:kms" | "aws:kms:dsse") => {}
            Some("AES256") if self.sse_kms_key_id.is_none() => {}
            Some("AES256") => return Err("--sse-kms-key-id needs --sse aws:kms".to_owned()),
            Some(other) => {
                return Err(format!("--sse {other:?}: expected AES256 or aws:kms"));
            }
        }
        if self.sse_c_key.is_some() && (self.sse.is_some() || self.sse_kms_key_id.is_some()) {
            return Err("--sse-c-key cannot be combined with --sse or --sse-kms-key-id".to_owned());
        }
        Ok(())
    }

    /// Whether the objects written have ETags that are not the MD5 of
    /// their bytes (SSE-KMS and SSE-C).
    #[must_use]
    pub fn etag_not_md5(&self) -> bool {
        self.sse_c_key.is_some()
            || self.sse_kms_key_id.is_some()
            || self
                .sse
                .as_deref()
                .is_some_and(|s| s.starts_with("aws:kms"))
    }

    /// What a new object carries: class, encryption, ACL.
    fn write_headers(&self, out: &mut Vec<(String, String)>) {
        let kms = self.sse_kms_key_id.is_some();
        let sse = self
            .sse
            .clone()
            .or_else(|| kms.then(|| "aws:kms".to_owned()));
        let pairs = [
            ("x-amz-storage-class", self.storage_class.clone()),
            ("x-amz-server-side-encryption", sse),
            (
                "x-amz-server-side-encryption-aws-kms-key-id",
                self.sse_kms_key_id.clone(),
            ),
            ("x-amz-acl", self.acl.clone()),
        ];
        for (name, value) in pairs {
            if let Some(v) = value {
                out.push((name.to_owned(), v));
            }
        }
    }

    /// The headers S3 wants on `call` for these options: which request it
    /// is follows from its method, query and copy-source header.
    pub(crate) fn headers_for(&self, call: &Call<'_>) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if self.request_payer {
            out.push(("x-amz-request-payer".to_owned(), "requester".to_owned()));
        }
        if call.key.is_none() {
            return out;
        }
        let has = |q: &str| call.query.iter().any(|(k, _)| *k == q);
        let copy = call.headers.iter().any(|(k, _)| k == "x-amz-copy-source");
        let ssec = |out: &mut Vec<(String, String)>| {
            if let Some(k) = &self.sse_c_key {
                k.headers("x-amz-", out);
            }
        };
        let copy_ssec = |out: &mut Vec<(String, String)>| {
            if let Some(k) = self.sse_c_key.as_ref().filter(|_| copy) {
                k.headers("x-amz-copy-source-", out);
            }
        };
        let method = &call.method;
        if *method == Method::POST && has("uploads") {
            // CreateMultipartUpload.
            self.write_headers(&mut out);
            ssec(&mut out);
        } else if *method == Method::PUT && has("uploadId") {
            // UploadPart, UploadPartCopy.
            ssec(&mut out);
            copy_ssec(&mut out);
        } else if *method == Method::POST && has("uploadId") {
            // CompleteMultipartUpload.
            ssec(&mut out);
        } else if *method == Method::PUT && call.query.is_empty() {
            // PutObject, CopyObject.
            self.write_headers(&mut out);
            ssec(&mut out);
            copy_ssec(&mut out);
        } else if (*method == Method::GET || *method == Method::HEAD) && !has("uploadId") {
            // GetObject, HeadObject.
            ssec(&mut out);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use haul_http::send::Body;

    use super::*;

    fn names(opts: &ObjectOptions, call: &Call<'_>) -> Vec<String> {
        opts.headers_for(call).into_iter().map(|(k, _)| k).collect()
    }

    fn call(method: Method, query: &[&'static str], copy: bool) -> Call<'static> {
        let mut c = Call::new(method, Some("k"));
        c.query = query.iter().map(|q| (*q, String::new())).collect();
        if copy {
            c.headers
                .push(("x-amz-copy-source".into(), "/b/src".into()));
        }
        c.body = Body::Empty;
        c
    }

    #[test]
    fn each_request_gets_what_s3_wants() {
        let opts = ObjectOptions {
            storage_class: Some("STANDARD_IA".into()),
            sse_c_key: Some(SseCustomerKey::parse(&"k".repeat(32)).expect("key")),
            acl: Some("private".into()),
            request_payer: true,
            ..ObjectOptions::default()
        };
        let put = names(&opts, &call(Method::PUT, &[], false));
        assert!(put.contains(&"x-amz-storage-class".to_owned()), "{put:?}");
        assert!(put.contains(&"x-amz-acl".to_owned()));
        assert!(put.contains(&"x-amz-server-side-encryption-customer-key".to_owned()));
        assert!(put.contains(&"x-amz-request-payer".to_owned()));
        assert!(!put.iter().any(|h| h.starts_with("x-amz-copy-source")));
        let part = names(
            &opts,
            &call(Method::PUT, &["partNumber", "uploadId"], false),
        );
        assert!(
            !part.contains(&"x-amz-storage-class".to_owned()),
            "{part:?}"
        );
        assert!(part.contains(&"x-amz-server-side-encryption-customer-key-md5".to_owned()));
        let part_copy = names(&opts, &call(Method::PUT, &["partNumber", "uploadId"], true));
        assert!(
            part_copy.contains(&"x-amz-copy-source-server-side-encryption-customer-key".to_owned()),
            "{part_copy:?}"
        );
        let copy = names(&opts, &call(Method::PUT, &[], true));
        assert!(
            copy.contains(
                &"x-amz-copy-source-server-side-encryption-customer-algorithm".to_owned()
            )
        );
        assert!(copy.contains(&"x-amz-storage-class".to_owned()));
        let create = names(&opts, &call(Method::POST, &["uploads"], false));
        assert!(create.contains(&"x-amz-storage-class".to_owned()));
        let get = names(&opts, &call(Method::GET, &[], false));
        assert!(get.contains(&"x-amz-server-side-encryption-customer-key".to_owned()));
        assert!(!get.contains(&"x-amz-storage-class".to_owned()));
        let list_parts = names(&opts, &call(Method::GET, &["uploadId"], false));
        assert_eq!(list_parts, ["x-amz-request-payer"]);
        let delete = names(&opts, &call(Method::DELETE, &[], false));
        assert_eq!(delete, ["x-amz-request-payer"]);
    }

    #[test]
    fn kms_key_implies_kms_and_etags_are_not_md5() {
        let opts = ObjectOptions {
            sse_kms_key_id: Some("alias/backup".into()),
            ..ObjectOptions::default()
        };
        let h = opts.headers_for(&call(Method::PUT, &[], false));
        assert!(h.contains(&("x-amz-server-side-encryption".into(), "aws:kms".into())));
        assert!(opts.etag_not_md5());
        let s3 = ObjectOptions {
            sse: Some("AES256".into()),
            ..ObjectOptions::default()
        };
        assert!(!s3.etag_not_md5());
        assert!(s3.validate().is_ok());
        let bad = ObjectOptions {
            sse: Some("AES128".into()),
            ..ObjectOptions::default()
        };
        assert!(bad.validate().is_err());
    }

    #[test]
    fn sse_c_keys() {
        let raw = SseCustomerKey::parse("0123456789abcdef0123456789abcdef").expect("raw");
        let b64 = SseCustomerKey::parse(&B64.encode(b"0123456789abcdef0123456789abcdef"))
            .expect("base64");
        assert_eq!(raw, b64);
        assert!(SseCustomerKey::parse("short").is_err());
        assert_eq!(format!("{raw:?}"), "SseCustomerKey(REDACTED)");
        let mut h = Vec::new();
        raw.headers("x-amz-", &mut h);
        // The MD5 S3 checks the key against.
        assert_eq!(
            h[2].1,
            B64.encode(Md5::digest(b"0123456789abcdef0123456789abcdef"))
        );
    }
}
