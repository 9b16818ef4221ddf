//! Multipart uploads: the part list checked before anything changes,
//! parts renumbered as s3s-fs wants them, `ListParts` and
//! `ListMultipartUploads` as S3 answers them, and a completion repeated
//! after a lost answer answered again as S3 does.

use std::time::{Duration, SystemTime};

use s3s::dto::{
    CommonPrefix, CompleteMultipartUploadInput, CompleteMultipartUploadOutput,
    CompletedMultipartUpload, ETag, ListMultipartUploadsInput, ListMultipartUploadsOutput,
    ListPartsInput, ListPartsOutput, MultipartUpload, Part, Timestamp,
};
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};

use super::{MIN_PART, Shim};
use crate::files::{Layout, io_err, md5_etag, publish, url_encode};

/// How long a completed upload is remembered, to answer a repeated
/// completion the same way.
const REMEMBER_COMPLETED: Duration = Duration::from_hours(1);

/// The (number, ETag) pairs of a completion request, ETags unquoted.
fn part_list(list: Option<&CompletedMultipartUpload>) -> Vec<(i32, String)> {
    list.and_then(|l| l.parts.as_ref())
        .into_iter()
        .flatten()
        .map(|p| {
            let etag = p
                .e_tag
                .as_ref()
                .map(|e| e.value().trim_matches('"').to_owned());
            (p.part_number.unwrap_or(0), etag.unwrap_or_default())
        })
        .collect()
}

impl Shim {
    /// Checks a completion list against the parts on disk, as S3 does,
    /// before anything changes: the upload survives a refused completion.
    async fn check_completion(
        &self,
        id: &str,
        list: Option<&CompletedMultipartUpload>,
    ) -> S3Result<Vec<i32>> {
        let parts = list
            .and_then(|l| l.parts.as_ref())
            .map_or(&[][..], Vec::as_slice);
        if parts.is_empty() {
            return Err(s3_error!(
                InvalidRequest,
                "You must specify at least one part"
            ));
        }
        let mut numbers = Vec::with_capacity(parts.len());
        for (i, p) in parts.iter().enumerate() {
            let n = p
                .part_number
                .ok_or_else(|| s3_error!(InvalidPart, "part without a number"))?;
            if numbers.last().is_some_and(|&prev| prev >= n) {
                return Err(s3_error!(
                    InvalidPartOrder,
                    "The list of parts was not in ascending order."
                ));
            }
            let path = self.layout.part(id, n);
            if !path.is_file() {
                return Err(s3_error!(InvalidPart, "part {n} was never uploaded"));
            }
            let (etag, size) = md5_etag(&path).await?;
            let sent = p
                .e_tag
                .as_ref()
                .map(|e| e.value().trim_matches('"').to_owned());
            if sent.as_deref() != Some(etag.value()) {
                return Err(s3_error!(InvalidPart, "part {n}: the ETag does not match"));
            }
            if i + 1 < parts.len() && size < MIN_PART {
                return Err(s3_error!(EntityTooSmall, "part {n} is smaller than 5 MiB"));
            }
            numbers.push(n);
        }
        Ok(numbers)
    }

    /// Renames the listed parts to 1..=N (s3s-fs wants them contiguous) and
    /// drops the unlisted ones, as S3 does on completion.
    async fn renumber(&self, id: &str, numbers: &[i32]) -> S3Result<()> {
        for n in self.layout.part_numbers(id).await? {
            if !numbers.contains(&n) {
                let _ = tokio::fs::remove_file(self.layout.part(id, n)).await;
            }
        }
        if numbers.iter().zip(1..).all(|(&n, want)| n == want) {
            return Ok(());
        }
        let staged = |i: usize| {
            self.layout
                .root
                .join(format!(".upload_id-{id}.renumber-{i}"))
        };
        for (i, &n) in numbers.iter().enumerate() {
            tokio::fs::rename(self.layout.part(id, n), staged(i))
                .await
                .map_err(io_err)?;
        }
        for (i, want) in (0..numbers.len()).zip(1..) {
            tokio::fs::rename(staged(i), self.layout.part(id, want))
                .await
                .map_err(io_err)?;
        }
        Ok(())
    }

    /// `list_parts` as S3 answers it.
    pub(super) async fn do_list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        let input = req.input;
        self.stored(&input.bucket, &input.key)?;
        self.layout.check_upload(&input.upload_id)?;
        let marker = input.part_number_marker.unwrap_or(0);
        let max = input.max_parts.unwrap_or(1000).clamp(1, 1000);
        let numbers: Vec<i32> = self
            .layout
            .part_numbers(&input.upload_id)
            .await?
            .into_iter()
            .filter(|&n| n > marker)
            .collect();
        let truncated = numbers.len() > max as usize;
        let mut parts = Vec::new();
        for &n in numbers.iter().take(max as usize) {
            let path = self.layout.part(&input.upload_id, n);
            let (etag, size) = md5_etag(&path).await?;
            let modified = tokio::fs::metadata(&path)
                .await
                .and_then(|m| m.modified())
                .map_err(io_err)?;
            parts.push(Part {
                e_tag: Some(etag),
                part_number: Some(n),
                size: Some(size as i64),
                last_modified: Some(Timestamp::from(modified)),
                ..Part::default()
            });
        }
        let next = parts.last().and_then(|p| p.part_number);
        Ok(S3Response::new(ListPartsOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(input.upload_id),
            is_truncated: Some(truncated),
            next_part_number_marker: if truncated { next } else { None },
            part_number_marker: input.part_number_marker,
            max_parts: Some(max),
            parts: Some(parts),
            ..ListPartsOutput::default()
        }))
    }

    /// `complete_multipart_upload` as S3 answers it; the object gets no
    /// checksum or metadata of the one it replaces.
    pub(super) async fn do_complete_multipart_upload(
        &self,
        mut req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let id = req.input.upload_id.clone();
        let client_key = req.input.key.clone();
        self.stored(&req.input.bucket, &client_key)?;
        let sent = part_list(req.input.multipart_upload.as_ref());
        if self.layout.check_upload(&id).is_err() {
            return self
                .completed_again(&id, &req.input.bucket, &client_key, &sent)
                .await;
        }
        req.input.key = self
            .stored_for_write(&req.input.bucket, &client_key)
            .await?;
        let dst = self.layout.object(&req.input.bucket, &req.input.key)?;
        let i = &req.input;
        let conds = (i.if_match.as_ref(), i.if_none_match.as_ref());
        self.check_write_conditions(&req, (&i.bucket, &i.key), conds, &dst)
            .await?;
        let numbers = self
            .check_completion(&id, req.input.multipart_upload.as_ref())
            .await?;
        self.renumber(&id, &numbers).await?;
        if let Some(list) = req.input.multipart_upload.as_mut() {
            for (p, n) in list.parts.iter_mut().flatten().zip(1..) {
                p.part_number = Some(n);
            }
        }
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        let mut sizes = Vec::with_capacity(numbers.len());
        for n in 1..=i32::try_from(numbers.len()).unwrap_or(i32::MAX) {
            let m = tokio::fs::metadata(self.layout.part(&id, n)).await;
            sizes.push(m.map_err(io_err)?.len());
        }
        let output = if Layout::is_long(&bucket, &key) {
            self.complete_long(&id, &bucket, &key, numbers.len())
                .await?
        } else {
            let had_meta = self.layout.meta(&bucket, &key, Some(&id)).is_file();
            let mut resp = self.fs.complete_multipart_upload(req).await?;
            if let Some(answer) = resp.output.future.take() {
                resp.output = answer.await?;
            }
            self.layout.forget_upload(&id).await;
            // s3s-fs keeps the replaced object's checksums, and its
            // metadata when the upload had none.
            self.layout.keep_only_etag(&bucket, &key).await?;
            if !had_meta {
                let _ = tokio::fs::remove_file(self.layout.meta(&bucket, &key, None)).await;
            }
            resp.output
        };
        if !Layout::is_long(&bucket, &key) {
            self.record_parts(&bucket, &key, &sizes).await;
        }
        let etag = output.e_tag.as_ref().map(|e| e.value().to_owned());
        self.record_completed(&id, &bucket, &client_key, &sent, etag.as_deref())
            .await;
        let mut output = output;
        output.key = Some(client_key);
        Ok(S3Response::new(output))
    }

    /// Completes an upload of a key too long for s3s-fs's side files.
    async fn complete_long(
        &self,
        id: &str,
        bucket: &str,
        key: &str,
        parts: usize,
    ) -> S3Result<CompleteMultipartUploadOutput> {
        let dst = self.layout.object(bucket, key)?;
        let tmp = self.layout.tmp();
        let mut out = tokio::fs::File::create(&tmp).await.map_err(io_err)?;
        for n in 1..=i32::try_from(parts).unwrap_or(i32::MAX) {
            let mut part = tokio::fs::File::open(self.layout.part(id, n))
                .await
                .map_err(io_err)?;
            tokio::io::copy(&mut part, &mut out).await.map_err(io_err)?;
        }
        drop(out);
        publish(&tmp, &dst).await?;
        self.layout.forget_upload(id).await;
        let (etag, _) = md5_etag(&dst).await?;
        Ok(CompleteMultipartUploadOutput {
            bucket: Some(bucket.to_owned()),
            key: Some(key.to_owned()),
            e_tag: Some(etag),
            ..CompleteMultipartUploadOutput::default()
        })
    }

    /// Where a completed upload is remembered.
    fn completed_record(&self, id: &str) -> Option<std::path::PathBuf> {
        self.layout
            .upload_record(id)
            .map(|_| self.layout.root.join(format!(".haul-completed-{id}.json")))
    }

    /// Remembers a completion (and forgets those older than
    /// [`REMEMBER_COMPLETED`]).
    async fn record_completed(
        &self,
        id: &str,
        bucket: &str,
        key: &str,
        parts: &[(i32, String)],
        etag: Option<&str>,
    ) {
        if let Ok(mut dir) = tokio::fs::read_dir(&self.layout.root).await {
            while let Ok(Some(e)) = dir.next_entry().await {
                let old = e
                    .metadata()
                    .await
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age > REMEMBER_COMPLETED);
                if old
                    && e.file_name()
                        .to_string_lossy()
                        .starts_with(".haul-completed-")
                {
                    let _ = tokio::fs::remove_file(e.path()).await;
                }
            }
        }
        let Some(path) = self.completed_record(id) else {
            return;
        };
        let doc = serde_json::json!({ "bucket": bucket, "key": key, "parts": parts, "etag": etag });
        let _ = tokio::fs::write(path, doc.to_string()).await;
    }

    /// The answer to a completion of an upload that is no longer live:
    /// the same success again when it was completed recently with the
    /// same part list (its answer may have been lost), else `NoSuchUpload`.
    async fn completed_again(
        &self,
        id: &str,
        bucket: &str,
        key: &str,
        parts: &[(i32, String)],
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let gone = || {
            s3_error!(
                NoSuchUpload,
                "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."
            )
        };
        let path = self.completed_record(id).ok_or_else(gone)?;
        let meta = tokio::fs::metadata(&path).await.map_err(|_| gone())?;
        let recent = meta
            .modified()
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age <= REMEMBER_COMPLETED);
        let text = tokio::fs::read(&path).await.map_err(|_| gone())?;
        let doc: serde_json::Value = serde_json::from_slice(&text).map_err(|_| gone())?;
        let same = doc["bucket"] == bucket
            && doc["key"] == key
            && doc["parts"] == serde_json::json!(parts);
        if !(recent && same) {
            return Err(gone());
        }
        Ok(S3Response::new(CompleteMultipartUploadOutput {
            bucket: Some(bucket.to_owned()),
            key: Some(key.to_owned()),
            e_tag: doc["etag"].as_str().map(|e| ETag::Strong(e.to_owned())),
            ..CompleteMultipartUploadOutput::default()
        }))
    }

    /// `list_multipart_uploads` as S3 answers it.
    pub(super) async fn do_list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let input = req.input;
        if !self.layout.bucket_dir(&input.bucket)?.is_dir() {
            return Err(s3_error!(NoSuchBucket));
        }
        let prefix = input.prefix.clone().unwrap_or_default();
        let mut found: Vec<(String, String, SystemTime)> = Vec::new();
        for (id, bucket, key, record) in self.layout.uploads().await? {
            if bucket == input.bucket && key.starts_with(&prefix) {
                let at = tokio::fs::metadata(&record)
                    .await
                    .and_then(|m| m.modified())
                    .unwrap_or(SystemTime::UNIX_EPOCH);
                found.push((key, id, at));
            }
        }
        found.sort_by(|a, b| (&a.0, a.2, &a.1).cmp(&(&b.0, b.2, &b.1)));
        if let Some(km) = &input.key_marker {
            let um = input.upload_id_marker.clone().unwrap_or_default();
            found.retain(|(k, id, _)| k > km || (k == km && !um.is_empty() && *id > um));
        }
        let max = input.max_uploads.unwrap_or(1000).clamp(1, 1000) as usize;
        let truncated = found.len() > max;
        found.truncate(max);
        let encode = input
            .encoding_type
            .as_ref()
            .is_some_and(|e| e.as_str() == "url");
        let enc = |s: &str| if encode { url_encode(s) } else { s.to_owned() };
        let last = found.last().cloned();
        let uploads = found
            .into_iter()
            .map(|(key, id, at)| MultipartUpload {
                key: Some(enc(&key)),
                upload_id: Some(id),
                initiated: Some(Timestamp::from(at)),
                ..MultipartUpload::default()
            })
            .collect();
        Ok(S3Response::new(ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            prefix: input.prefix.as_deref().map(enc),
            encoding_type: input.encoding_type,
            is_truncated: Some(truncated),
            next_key_marker: last.as_ref().filter(|_| truncated).map(|l| enc(&l.0)),
            next_upload_id_marker: last.filter(|_| truncated).map(|l| l.1),
            uploads: Some(uploads),
            common_prefixes: None::<Vec<CommonPrefix>>,
            ..ListMultipartUploadsOutput::default()
        }))
    }
}
