//! A thin `S3` layer over s3s-fs that makes it answer like S3 where s3s-fs
//! 0.14 does not (see the crate docs for the list).

use haul_core::ChecksumKind;
use s3s::dto::{
    CompleteMultipartUploadInput, CompleteMultipartUploadOutput, CopyObjectInput, CopyObjectOutput,
    CreateBucketInput, CreateBucketOutput, CreateMultipartUploadInput, CreateMultipartUploadOutput,
    DeleteBucketInput, DeleteBucketOutput, DeleteObjectInput, DeleteObjectOutput,
    DeleteObjectsInput, DeleteObjectsOutput, ETag, ETagCondition, GetBucketLocationInput,
    GetBucketLocationOutput, GetObjectInput, GetObjectOutput, HeadBucketInput, HeadBucketOutput,
    HeadObjectInput, HeadObjectOutput, ListBucketsInput, ListBucketsOutput,
    ListMultipartUploadsInput, ListMultipartUploadsOutput, ListObjectVersionsInput,
    ListObjectVersionsOutput, ListObjectsInput, ListObjectsOutput, ListObjectsV2Input,
    ListObjectsV2Output, ListPartsInput, ListPartsOutput, PutObjectInput, PutObjectOutput, Range,
    UploadPartCopyInput, UploadPartCopyOutput, UploadPartInput, UploadPartOutput,
};
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};
use s3s_fs::FileSystem;

use super::verify::{check_content_md5, report, settle, verify_body};

use super::files::{
    Layout, etag_matches, has_files, io_err, new_upload_id, publish, sub, write_stream,
};

mod attrs;
mod cond;
mod copy;
mod keys;
mod list;
mod multipart;
mod walk;

use cond::Conditions;

/// Clears the `x-amz-checksum-*` values of an answer: S3 sends them only
/// to a request with `x-amz-checksum-mode: ENABLED`.
macro_rules! no_checksums {
    ($out:expr) => {{
        let out = &mut $out;
        out.checksum_crc32 = None;
        out.checksum_crc32c = None;
        out.checksum_crc64nvme = None;
        out.checksum_sha1 = None;
        out.checksum_sha256 = None;
        out.checksum_type = None;
    }};
}

/// Whether a read asked for checksums.
fn checksum_mode(mode: Option<&s3s::dto::ChecksumMode>) -> bool {
    mode.is_some_and(|m| m.as_str().eq_ignore_ascii_case("ENABLED"))
}

/// Smallest part but the last, as S3 has it.
const MIN_PART: u64 = 5 << 20;

/// s3s-fs behind the fidelity fixes.
pub(super) struct Shim {
    fs: FileSystem,
    layout: Layout,
}

impl std::fmt::Debug for Shim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shim")
            .field("root", &self.layout.root)
            .finish_non_exhaustive()
    }
}

impl Shim {
    pub(crate) fn new(root: &std::path::Path) -> std::io::Result<Self> {
        let fs = FileSystem::new(root).map_err(|e| std::io::Error::other(format!("{e:?}")))?;
        let root = root.canonicalize()?;
        Ok(Self {
            fs,
            layout: Layout::new(root),
        })
    }

    /// The current ETag of an object: the one remembered for a file s3s-fs
    /// serves (see `Layout::remember_etag`), else what s3s-fs answers.
    async fn etag_of<T>(&self, req: &S3Request<T>, bucket: &str, key: &str) -> S3Result<ETag> {
        if let Some(etag) = self.layout.remember_etag(bucket, key).await? {
            return Ok(ETag::Strong(etag));
        }
        let input = HeadObjectInput {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            ..HeadObjectInput::default()
        };
        let head = self.fs.head_object(sub(req, input)).await?;
        head.output
            .e_tag
            .ok_or_else(|| s3_error!(InternalError, "object has no ETag"))
    }

    /// Checks a read's conditions against the object at `path`.
    async fn check_conditions<T>(
        &self,
        req: &S3Request<T>,
        (bucket, key): (&str, &str),
        conditions: &Conditions<'_>,
        path: &std::path::Path,
    ) -> S3Result<()> {
        let modified = tokio::fs::metadata(path)
            .await
            .and_then(|m| m.modified())
            .map_err(|_| s3_error!(NoSuchKey))?;
        let etag = self.etag_of(req, bucket, key).await?;
        conditions.check(&etag, modified)
    }

    /// `NoSuchBucket` unless bucket `name` exists.
    fn bucket_exists(&self, name: &str) -> S3Result<()> {
        if self.layout.bucket_dir(name)?.is_dir() {
            Ok(())
        } else {
            Err(s3_error!(
                NoSuchBucket,
                "The specified bucket does not exist"
            ))
        }
    }

    /// The write conditions s3s-fs does not check (`PutObject`,
    /// `CompleteMultipartUpload`): `If-None-Match` with an ETag (412 when
    /// it matches), `If-Match` on a missing object (`NoSuchKey`, as S3
    /// answers, not 412).
    pub(super) async fn check_write_conditions<T>(
        &self,
        req: &S3Request<T>,
        (bucket, key): (&str, &str),
        (if_match, if_none_match): (Option<&ETagCondition>, Option<&ETagCondition>),
        path: &std::path::Path,
    ) -> S3Result<()> {
        let exists = path.is_file();
        if if_match.is_some() && !exists {
            return Err(s3_error!(NoSuchKey, "The specified key does not exist."));
        }
        if let Some(cond @ ETagCondition::ETag(_)) = if_none_match
            && exists
            && etag_matches(cond, &self.etag_of(req, bucket, key).await?)
        {
            return Err(s3_error!(
                PreconditionFailed,
                "At least one of the pre-conditions you specified did not hold (If-None-Match)"
            ));
        }
        Ok(())
    }

    /// `PutObject` of a key too long for s3s-fs's side files.
    async fn put_long(&self, input: PutObjectInput) -> S3Result<S3Response<PutObjectOutput>> {
        let dst = self.layout.object(&input.bucket, &input.key)?;
        if !self.layout.bucket_dir(&input.bucket)?.is_dir() {
            return Err(s3_error!(NoSuchBucket));
        }
        let body = input.body.ok_or_else(|| s3_error!(IncompleteBody))?;
        let (tmp, sums) = write_stream(&self.layout, body, &[ChecksumKind::Md5]).await?;
        publish(&tmp, &dst).await?;
        let md5 = sums.first().map(haul_core::Checksum::to_hex);
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(ETag::Strong(md5.unwrap_or_default())),
            ..PutObjectOutput::default()
        }))
    }
}

#[async_trait::async_trait]
impl S3 for Shim {
    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        // One owner: S3 says the bucket is already ours. (us-east-1 answers
        // 200 for historical reasons; haul's `create_bucket` relies on
        // being told, as every other region tells.)
        if self.layout.bucket_dir(&req.input.bucket)?.is_dir() {
            return Err(s3_error!(BucketAlreadyOwnedByYou));
        }
        self.fs.create_bucket(req).await
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        // s3s-fs removes the directory with everything in it.
        let dir = self.layout.bucket_dir(&req.input.bucket)?;
        if dir.is_dir() && has_files(&dir).await? {
            return Err(s3_error!(BucketNotEmpty));
        }
        self.fs.delete_bucket(req).await
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.layout.bucket_dir(&req.input.bucket)?;
        self.fs.head_bucket(req).await
    }

    async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let mut resp = self.fs.list_buckets(req).await?;
        if let Some(buckets) = resp.output.buckets.as_mut() {
            buckets.sort_by(|a, b| a.name.cmp(&b.name));
        }
        Ok(resp)
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.layout.bucket_dir(&req.input.bucket)?;
        self.fs.get_bucket_location(req).await
    }

    async fn head_object(
        &self,
        mut req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        req.input.key = self.stored(&req.input.bucket, &req.input.key)?;
        let path = self.layout.object(&req.input.bucket, &req.input.key)?;
        self.bucket_exists(&req.input.bucket)?;
        let part = match req.input.part_number {
            Some(n) => Some(
                self.part_range((&req.input.bucket, &req.input.key), n, &path)
                    .await?,
            ),
            None => None,
        };
        let i = &req.input;
        let checksums = checksum_mode(i.checksum_mode.as_ref());
        let conditions = Conditions {
            if_match: i.if_match.as_ref(),
            if_none_match: i.if_none_match.as_ref(),
            if_modified_since: i.if_modified_since.as_ref(),
            if_unmodified_since: i.if_unmodified_since.as_ref(),
        };
        if conditions.any() {
            self.check_conditions(&req, (&i.bucket, &i.key), &conditions, &path)
                .await?;
        } else {
            self.layout.remember_etag(&i.bucket, &i.key).await?;
        }
        let mut resp = self.fs.head_object(req).await?;
        if !checksums {
            no_checksums!(resp.output);
        }
        if let Some((_, size, count)) = part {
            resp.output.content_length = i64::try_from(size).ok();
            resp.output.parts_count = count;
        }
        Ok(resp)
    }

    async fn get_object(
        &self,
        mut req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        req.input.key = self.stored(&req.input.bucket, &req.input.key)?;
        let path = self.layout.object(&req.input.bucket, &req.input.key)?;
        self.bucket_exists(&req.input.bucket)?;
        let checksums = checksum_mode(req.input.checksum_mode.as_ref());
        let mut parts_count = None;
        if let Some(n) = req.input.part_number {
            let (first, size, count) = self
                .part_range((&req.input.bucket, &req.input.key), n, &path)
                .await?;
            parts_count = count;
            if size > 0 {
                req.input.range = Some(Range::Int {
                    first,
                    last: Some(first + size - 1),
                });
            }
        }
        // s3s-fs seeks before the start for a suffix longer than the object.
        if let Some(Range::Suffix { length }) = req.input.range
            && let Ok(m) = tokio::fs::metadata(&path).await
            && length >= m.len()
            && m.len() > 0
        {
            req.input.range = Some(Range::Int {
                first: 0,
                last: None,
            });
        }
        let i = &req.input;
        let conditions = Conditions {
            if_match: i.if_match.as_ref(),
            if_none_match: i.if_none_match.as_ref(),
            if_modified_since: i.if_modified_since.as_ref(),
            if_unmodified_since: i.if_unmodified_since.as_ref(),
        };
        if conditions.any() {
            self.check_conditions(&req, (&i.bucket, &i.key), &conditions, &path)
                .await?;
        } else {
            // check_conditions remembers the ETag; here too.
            self.layout.remember_etag(&i.bucket, &i.key).await?;
        }
        let mut resp = self.fs.get_object(req).await?;
        if !checksums {
            no_checksums!(resp.output);
        }
        resp.output.parts_count = parts_count;
        Ok(resp)
    }

    async fn put_object(
        &self,
        mut req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        check_content_md5(&req.headers)?;
        self.bucket_exists(&req.input.bucket)?;
        // Every class S3 has is accepted (s3s-fs knows two) and none kept.
        check_storage_class(req.input.storage_class.take())?;
        req.input.key = self
            .stored_for_write(&req.input.bucket, &req.input.key)
            .await?;
        let path = self.layout.object(&req.input.bucket, &req.input.key)?;
        let i = &req.input;
        let conds = (i.if_match.as_ref(), i.if_none_match.as_ref());
        self.check_write_conditions(&req, (&i.bucket, &i.key), conds, &path)
            .await?;
        // aws-chunked is how the body was sent, not how it is stored.
        req.input.content_encoding = req.input.content_encoding.take().and_then(|e| {
            let kept: Vec<&str> = e
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty() && !t.eq_ignore_ascii_case("aws-chunked"))
                .collect();
            (!kept.is_empty()).then(|| kept.join(", "))
        });
        let verdict = verify_body(&mut req, |i| &mut i.body)?;
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        let long = Layout::is_long(&bucket, &key);
        let result = if long {
            self.put_long(req.input).await
        } else {
            self.fs.put_object(req).await
        };
        let mut resp = settle(result, verdict.as_ref())?;
        if let Some(v) = &verdict {
            report!(v, resp.output);
        }
        let _ = tokio::fs::remove_file(self.layout.parts_of(&bucket, &key)).await;
        Ok(resp)
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        self.do_copy_object(req).await
    }

    async fn delete_object(
        &self,
        mut req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        req.input.key = self.stored(&req.input.bucket, &req.input.key)?;
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        let out = self.fs.delete_object(req).await?;
        self.layout.forget_object(&bucket, &key).await;
        Ok(out)
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let mut req = req;
        self.layout.bucket_dir(&req.input.bucket)?;
        let objects = std::mem::take(&mut req.input.delete.objects);
        if objects.len() > 1000 {
            return Err(s3_error!(
                MalformedXML,
                "DeleteObjects takes at most 1000 keys, not {}",
                objects.len()
            ));
        }
        // Each key through the resolver: a refused one is an error entry.
        let mut errors = Vec::new();
        for mut o in objects {
            match self.stored(&req.input.bucket, &o.key) {
                Ok(stored) => {
                    o.key = stored;
                    req.input.delete.objects.push(o);
                }
                Err(e) => errors.push(s3s::dto::Error {
                    code: Some(e.code().as_str().to_owned()),
                    key: Some(o.key),
                    message: e.message().map(str::to_owned),
                    version_id: o.version_id,
                }),
            }
        }
        let bucket = req.input.bucket.clone();
        let mut resp = self.fs.delete_objects(req).await?;
        for d in resp.output.deleted.iter_mut().flatten() {
            if let Some(key) = &d.key {
                self.layout.forget_object(&bucket, key).await;
            }
            d.key = d.key.as_deref().map(keys::client_key);
        }
        if !errors.is_empty() {
            resp.output
                .errors
                .get_or_insert_with(Vec::new)
                .extend(errors);
        }
        Ok(resp)
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        self.list_v1(req).await
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        self.list_v2(req).await
    }

    async fn get_object_attributes(
        &self,
        req: S3Request<s3s::dto::GetObjectAttributesInput>,
    ) -> S3Result<S3Response<s3s::dto::GetObjectAttributesOutput>> {
        self.object_attributes(req).await
    }

    async fn list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        self.list_versions(req).await
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let mut req = one_owner(req);
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        self.bucket_exists(&bucket)?;
        req.input.key = self.stored(&bucket, &key)?;
        let id = if Layout::is_long(&bucket, &req.input.key) {
            // s3s-fs would fail writing its side file: record the upload as it would.
            let id = new_upload_id();
            let ak = req.credentials.as_ref().map(|c| c.access_key.as_str());
            let record = self
                .layout
                .upload_record(&id)
                .ok_or_else(|| s3_error!(InternalError))?;
            let doc = serde_json::to_vec(&ak).map_err(|e| s3_error!(e, InternalError))?;
            tokio::fs::write(record, doc).await.map_err(io_err)?;
            id
        } else {
            let out = self.fs.create_multipart_upload(req).await?;
            out.output
                .upload_id
                .ok_or_else(|| s3_error!(InternalError, "no upload id"))?
        };
        self.layout.record_upload(&id, &bucket, &key).await?;
        Ok(S3Response::new(CreateMultipartUploadOutput {
            bucket: Some(bucket),
            key: Some(key),
            upload_id: Some(id),
            ..CreateMultipartUploadOutput::default()
        }))
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let mut req = one_owner(req);
        req.input.key = self.stored(&req.input.bucket, &req.input.key)?;
        check_content_md5(&req.headers)?;
        self.layout.check_upload(&req.input.upload_id)?;
        let verdict = verify_body(&mut req, |i| &mut i.body)?;
        let mut resp = settle(self.fs.upload_part(req).await, verdict.as_ref())?;
        if let Some(v) = &verdict {
            report!(v, resp.output);
        }
        Ok(resp)
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        self.do_upload_part_copy(one_owner(req)).await
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        self.do_list_parts(one_owner(req)).await
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        self.do_complete_multipart_upload(one_owner(req)).await
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<s3s::dto::AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<s3s::dto::AbortMultipartUploadOutput>> {
        let mut req = one_owner(req);
        let id = req.input.upload_id.clone();
        req.input.key = self.stored(&req.input.bucket, &req.input.key)?;
        self.layout.check_upload(&id)?;
        let out = self.fs.abort_multipart_upload(req).await?;
        self.layout.forget_upload(&id).await;
        Ok(out)
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        self.do_list_multipart_uploads(req).await
    }
}

/// S3's storage classes; any other is `InvalidStorageClass`.
fn check_storage_class(class: Option<s3s::dto::StorageClass>) -> S3Result<()> {
    const CLASSES: [&str; 11] = [
        "STANDARD",
        "REDUCED_REDUNDANCY",
        "STANDARD_IA",
        "ONEZONE_IA",
        "INTELLIGENT_TIERING",
        "GLACIER",
        "GLACIER_IR",
        "DEEP_ARCHIVE",
        "OUTPOSTS",
        "EXPRESS_ONEZONE",
        "SNOW",
    ];
    match class {
        Some(c) if !CLASSES.contains(&c.as_str()) => Err(s3_error!(InvalidStorageClass)),
        _ => Ok(()),
    }
}

/// `req` as from the one owner of every key: s3s-fs ties an upload to the
/// access key that started it, S3 to the account, so an upload started
/// with credentials that are later refreshed must go on with the new ones.
fn one_owner<T>(mut req: S3Request<T>) -> S3Request<T> {
    if let Some(c) = req.credentials.as_mut() {
        "owner".clone_into(&mut c.access_key);
    }
    req
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::url_encode;

    #[test]
    fn encodes_like_s3() {
        assert_eq!(url_encode("a b+c/%d日"), "a%20b%2Bc/%25d%E6%97%A5");
        let id = new_upload_id();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
    }
}
