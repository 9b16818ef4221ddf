//! Bucket operations of an [`S3Endpoint`]: ListBuckets, CreateBucket,
//! DeleteBucket, and whether a bucket holds any object.

use bytes::Bytes;
use futures::TryStreamExt;
use haul_core::{Error, ListOptions, ObjectStore, Result};
use http::Method;
use serde::Deserialize;

use crate::core::{Body, Call};
use crate::endpoint::S3Endpoint;
use haul_http::xml;

/// `ListBuckets` answer (`ListAllMyBucketsResult`).
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct ListBucketsResult {
    buckets: Buckets,
    continuation_token: Option<String>,
}

/// The `<Buckets>` element.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct Buckets {
    #[serde(rename = "Bucket")]
    buckets: Vec<ListedBucket>,
}

/// One `<Bucket>`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct ListedBucket {
    name: String,
}

/// The `CreateBucketConfiguration` document for `region`; none for
/// us-east-1, where S3 refuses a location constraint naming it.
fn location_constraint(region: &str) -> Option<String> {
    (!region.is_empty() && region != "us-east-1").then(|| {
        format!(
            "<CreateBucketConfiguration><LocationConstraint>{}</LocationConstraint></CreateBucketConfiguration>",
            xml::escape(region)
        )
    })
}

impl S3Endpoint {
    /// The names of the buckets the credentials own (ListBuckets, every
    /// page), sorted.
    pub async fn list_buckets(&self) -> Result<Vec<String>> {
        let core = crate::core::service(self.config().clone(), self.http())?;
        let what = self.to_string();
        let mut names = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut call = Call::new(Method::GET, None);
            if let Some(t) = token.take() {
                call = call.query("continuation-token", t);
            }
            let (_, body) = core.send_small(call, &core.ctx(&what)).await?;
            let res: ListBucketsResult = xml::parse(&body, &what, "ListBuckets")?;
            names.extend(res.buckets.buckets.into_iter().map(|b| b.name));
            match res.continuation_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// Creates bucket `name` (CreateBucket) in `region`, or in the
    /// configured region when `None`; a region other than us-east-1 goes in
    /// a `LocationConstraint`. The request is signed for, and sent to, the
    /// configured endpoint and region.
    ///
    /// A bucket that already exists, ours or someone else's, is
    /// [`Error::AlreadyExists`]; a name S3 refuses is `InvalidInput`.
    pub async fn create_bucket(&self, name: &str, region: Option<&str>) -> Result<()> {
        let store = self.bucket(name)?;
        let core = &store.core;
        let region = region.unwrap_or(&core.dialect.cfg.region);
        let mut call = Call::new(Method::PUT, None);
        if let Some(doc) = location_constraint(region) {
            call = call
                .header("content-type", "application/xml")
                .body(Body::Bytes(Bytes::from(doc)));
        }
        match core.send(call, &core.ctx(name)).await {
            Ok(_) => Ok(()),
            Err(Error::Provider { code, message, .. })
                if code == "BucketAlreadyOwnedByYou" || code == "BucketAlreadyExists" =>
            {
                Err(Error::AlreadyExists {
                    key: name.to_owned(),
                    source: format!("bucket {name:?} already exists ({code}: {message})").into(),
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Deletes the empty bucket `name` (DeleteBucket).
    ///
    /// A bucket that still holds objects is [`Error::InvalidInput`]
    /// ("bucket X is not empty"): empty it first. A missing bucket is
    /// [`Error::NotFound`].
    pub async fn delete_bucket(&self, name: &str) -> Result<()> {
        let store = self.bucket(name)?;
        let core = &store.core;
        let call = Call::new(Method::DELETE, None);
        match core.send(call, &core.ctx(name)).await {
            Ok(_) => Ok(()),
            Err(Error::Provider { code, .. }) if code == "BucketNotEmpty" => {
                Err(Error::invalid(name, format!("bucket {name} is not empty")))
            }
            Err(e) => Err(e),
        }
    }

    /// Whether bucket `name` holds no object (one ListObjectsV2 call of one
    /// key). Uploads in progress are not objects and do not count. A missing
    /// bucket is [`Error::NotFound`].
    pub async fn bucket_is_empty(&self, name: &str) -> Result<bool> {
        let store = self.bucket(name)?;
        let opts = ListOptions {
            page_size: Some(1),
            ..ListOptions::default()
        };
        let first = store.list("", opts).try_next().await?;
        Ok(first.is_none())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_list_buckets() {
        let body = br#"<?xml version="1.0" encoding="UTF-8"?>
<ListAllMyBucketsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Owner><ID>o</ID></Owner>
  <Buckets>
    <Bucket><Name>photos</Name><CreationDate>2026-01-01T00:00:00.000Z</CreationDate></Bucket>
    <Bucket><Name>backups</Name><CreationDate>2026-01-02T00:00:00.000Z</CreationDate><BucketRegion>eu-west-1</BucketRegion></Bucket>
  </Buckets>
  <ContinuationToken>next</ContinuationToken>
</ListAllMyBucketsResult>"#;
        let res: ListBucketsResult = xml::parse(body, "s3://", "ListBuckets").expect("parse");
        let names: Vec<&str> = res
            .buckets
            .buckets
            .iter()
            .map(|b| b.name.as_str())
            .collect();
        assert_eq!(names, ["photos", "backups"]);
        assert_eq!(res.continuation_token.as_deref(), Some("next"));
        let empty: ListBucketsResult = xml::parse(
            b"<ListAllMyBucketsResult><Buckets></Buckets></ListAllMyBucketsResult>",
            "s3://",
            "ListBuckets",
        )
        .expect("parse");
        assert!(empty.buckets.buckets.is_empty() && empty.continuation_token.is_none());
    }

    #[test]
    fn location_constraints() {
        assert_eq!(location_constraint("us-east-1"), None);
        assert_eq!(location_constraint(""), None);
        assert_eq!(
            location_constraint("eu-west-1").as_deref(),
            Some(
                "<CreateBucketConfiguration><LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>"
            )
        );
    }
}
