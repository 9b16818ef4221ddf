//! Copies: `CopyObject` (a copy onto itself that changes nothing is
//! refused, keys too long for s3s-fs copied here) and `UploadPartCopy`
//! (1 MiB blocking reads instead of s3s-fs's 4 KiB tokio reads).

use std::time::SystemTime;

use s3s::dto::{
    CopyObjectInput, CopyObjectOutput, CopyObjectResult, CopyPartResult, CopySource, ETag,
    Timestamp, UploadPartCopyInput, UploadPartCopyOutput,
};
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};

use super::Shim;
use crate::files::{Layout, copy_range, etag_matches, io_err, md5_etag, publish};

impl Shim {
    /// `copy_object` as S3 answers it.
    pub(super) async fn do_copy_object(
        &self,
        mut req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        req.input.copy_source = self.stored_source(&req.input.copy_source)?;
        self.bucket_exists(&req.input.bucket)?;
        req.input.key = self
            .stored_for_write(&req.input.bucket, &req.input.key)
            .await?;
        let CopySource::Bucket { bucket, key, .. } = &req.input.copy_source else {
            return Err(s3_error!(NotImplemented));
        };
        let (sb, sk) = (bucket.to_string(), key.to_string());
        let src = self.layout.object(&sb, &sk)?;
        let dst = self.layout.object(&req.input.bucket, &req.input.key)?;
        let replace = req
            .input
            .metadata_directive
            .as_ref()
            .is_some_and(|d| d.as_str() == "REPLACE");
        if src == dst && !replace {
            return Err(s3_error!(
                InvalidRequest,
                "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes."
            ));
        }
        let long = Layout::is_long(&sb, &sk) || Layout::is_long(&req.input.bucket, &req.input.key);
        if !long {
            let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
            let out = self.fs.copy_object(req).await?;
            let _ = tokio::fs::remove_file(self.layout.parts_of(&bucket, &key)).await;
            return Ok(out);
        }
        if !src.is_file() {
            return Err(s3_error!(NoSuchKey));
        }
        if let Some(cond) = &req.input.copy_source_if_match {
            let current = self.etag_of(&req, &sb, &sk).await?;
            if !etag_matches(cond, &current) {
                return Err(s3_error!(PreconditionFailed));
            }
        }
        let tmp = self.layout.tmp();
        tokio::fs::copy(&src, &tmp).await.map_err(io_err)?;
        publish(&tmp, &dst).await?;
        let (etag, _) = md5_etag(&dst).await?;
        Ok(S3Response::new(CopyObjectOutput {
            copy_object_result: Some(CopyObjectResult {
                e_tag: Some(etag),
                last_modified: Some(Timestamp::from(SystemTime::now())),
                ..CopyObjectResult::default()
            }),
            ..CopyObjectOutput::default()
        }))
    }

    /// `upload_part_copy` as S3 answers it.
    pub(super) async fn do_upload_part_copy(
        &self,
        mut req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        req.input.key = self.stored(&req.input.bucket, &req.input.key)?;
        req.input.copy_source = self.stored_source(&req.input.copy_source)?;
        self.layout.check_upload(&req.input.upload_id)?;
        if let (Some(cond), CopySource::Bucket { bucket, key, .. }) =
            (&req.input.copy_source_if_match, &req.input.copy_source)
        {
            let current = self.etag_of(&req, bucket, key).await?;
            if !etag_matches(cond, &current) {
                return Err(s3_error!(PreconditionFailed));
            }
        }
        // s3s-fs copies through tokio's File 4 KiB at a time (a hop to the
        // blocking pool per read: 128 MiB took seconds); copy here instead.
        let input = &req.input;
        let CopySource::Bucket { bucket, key, .. } = &input.copy_source else {
            return Err(s3_error!(NotImplemented));
        };
        if !(1..=10_000).contains(&input.part_number) {
            return Err(s3_error!(
                InvalidArgument,
                "Part number must be an integer between 1 and 10000, inclusive"
            ));
        }
        let owner = req.credentials.as_ref().map(|c| c.access_key.as_str());
        self.layout.check_owner(&input.upload_id, owner).await?;
        let src = self.layout.object(bucket, key)?;
        let range = input.copy_source_range.clone();
        let tmp = self.layout.tmp();
        let staged = tmp.clone();
        let copied =
            tokio::task::spawn_blocking(move || copy_range(&src, range.as_deref(), &staged))
                .await
                .map_err(|e| s3_error!(InternalError, "copy task failed: {e}"))?;
        let etag = match copied {
            Ok(etag) => etag,
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(e);
            }
        };
        publish(&tmp, &self.layout.part(&input.upload_id, input.part_number)).await?;
        Ok(S3Response::new(UploadPartCopyOutput {
            copy_part_result: Some(CopyPartResult {
                e_tag: Some(ETag::Strong(etag)),
                last_modified: Some(Timestamp::from(SystemTime::now())),
                ..CopyPartResult::default()
            }),
            ..UploadPartCopyOutput::default()
        }))
    }
}
