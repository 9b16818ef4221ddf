//! [`delegate_object_store!`](crate::delegate_object_store): the
//! [`haul_core::ObjectStore`] glue of a store whose methods all live on
//! its shared core (S3, COS).

#[doc(hidden)]
pub use async_trait::async_trait;

/// Implements [`haul_core::ObjectStore`] for `$store`, a struct with a
/// `core: Arc<Core>` field, by handing every method to the core's method
/// of the same name (`self.core.head(key)` …), the capabilities to
/// `self.core.caps`, and `list` to `$list(Arc::clone(&self.core), prefix,
/// opts)`.
#[macro_export]
macro_rules! delegate_object_store {
    ($store:ty, $list:path) => {
        #[$crate::delegate::async_trait]
        impl ::haul_core::ObjectStore for $store {
            fn capabilities(&self) -> &::haul_core::Capabilities {
                &self.core.caps
            }

            async fn head(
                &self,
                key: &::haul_core::Key,
            ) -> ::haul_core::Result<::haul_core::ObjectMeta> {
                self.core.head(key).await
            }

            async fn get(
                &self,
                key: &::haul_core::Key,
                opts: ::haul_core::GetOptions,
            ) -> ::haul_core::Result<::haul_core::GetResponse> {
                self.core.get(key, opts).await
            }

            async fn put(
                &self,
                key: &::haul_core::Key,
                body: ::haul_core::Payload,
                opts: ::haul_core::PutOptions,
            ) -> ::haul_core::Result<::haul_core::PutOutcome> {
                self.core.put(key, body, opts).await
            }

            async fn put_stream(
                &self,
                key: &::haul_core::Key,
                body: ::haul_core::PayloadStream,
                opts: ::haul_core::PutOptions,
            ) -> ::haul_core::Result<::haul_core::PutOutcome> {
                self.core.put_stream(key, body, opts).await
            }

            async fn copy(
                &self,
                src: &::haul_core::Key,
                dst: &::haul_core::Key,
                opts: ::haul_core::CopyOptions,
            ) -> ::haul_core::Result<::haul_core::PutOutcome> {
                self.core.copy(src, dst, opts).await
            }

            async fn delete(&self, key: &::haul_core::Key) -> ::haul_core::Result<()> {
                self.core.delete(key).await
            }

            async fn delete_many(
                &self,
                keys: &[::haul_core::Key],
            ) -> ::haul_core::Result<::std::vec::Vec<::haul_core::Result<()>>> {
                self.core.delete_many(keys).await
            }

            fn list(
                &self,
                prefix: &str,
                opts: ::haul_core::ListOptions,
            ) -> ::haul_core::ListStream {
                $list(::std::sync::Arc::clone(&self.core), prefix, opts)
            }

            async fn create_multipart(
                &self,
                key: &::haul_core::Key,
                opts: ::haul_core::PutOptions,
            ) -> ::haul_core::Result<::haul_core::UploadId> {
                self.core.create_multipart(key, opts).await
            }

            async fn upload_part(
                &self,
                key: &::haul_core::Key,
                id: &::haul_core::UploadId,
                n: ::haul_core::PartNumber,
                body: ::haul_core::Payload,
            ) -> ::haul_core::Result<::haul_core::CompletedPart> {
                self.core.upload_part(key, id, n, body).await
            }

            async fn upload_part_stream(
                &self,
                key: &::haul_core::Key,
                id: &::haul_core::UploadId,
                n: ::haul_core::PartNumber,
                body: ::haul_core::PayloadStream,
            ) -> ::haul_core::Result<::haul_core::CompletedPart> {
                self.core.upload_part_stream(key, id, n, body).await
            }

            async fn upload_part_copy(
                &self,
                src: &::haul_core::Key,
                range: ::haul_core::ByteRange,
                dst: &::haul_core::Key,
                id: &::haul_core::UploadId,
                n: ::haul_core::PartNumber,
            ) -> ::haul_core::Result<::haul_core::CompletedPart> {
                self.core.upload_part_copy(src, range, dst, id, n).await
            }

            async fn list_parts(
                &self,
                key: &::haul_core::Key,
                id: &::haul_core::UploadId,
            ) -> ::haul_core::Result<::std::vec::Vec<::haul_core::CompletedPart>> {
                self.core.list_parts(key, id).await
            }

            async fn complete_multipart(
                &self,
                key: &::haul_core::Key,
                id: &::haul_core::UploadId,
                parts: &[::haul_core::CompletedPart],
            ) -> ::haul_core::Result<::haul_core::PutOutcome> {
                self.core.complete_multipart(key, id, parts).await
            }

            async fn abort_multipart(
                &self,
                key: &::haul_core::Key,
                id: &::haul_core::UploadId,
            ) -> ::haul_core::Result<()> {
                self.core.abort_multipart(key, id).await
            }
        }
    };
}

/// Implements [`haul_core::ObjectStore`] for `$store`, a store without
/// multipart uploads (NOS, Easemob, CloudBase): the methods given in the
/// braces, plus every multipart method refused with
/// [`haul_core::Error::not_supported`] naming the key and the store.
#[macro_export]
macro_rules! single_put_store {
    ($store:ty { $($methods:tt)* }) => {
        #[$crate::delegate::async_trait]
        impl ::haul_core::ObjectStore for $store {
            $($methods)*

            async fn create_multipart(
                &self,
                key: &::haul_core::Key,
                _opts: ::haul_core::PutOptions,
            ) -> ::haul_core::Result<::haul_core::UploadId> {
                Err(::haul_core::Error::not_supported(key.as_str(), "multipart upload", self))
            }

            async fn upload_part(
                &self,
                key: &::haul_core::Key,
                _id: &::haul_core::UploadId,
                _n: ::haul_core::PartNumber,
                _body: ::haul_core::Payload,
            ) -> ::haul_core::Result<::haul_core::CompletedPart> {
                Err(::haul_core::Error::not_supported(key.as_str(), "multipart upload", self))
            }

            async fn upload_part_copy(
                &self,
                _src: &::haul_core::Key,
                _range: ::haul_core::ByteRange,
                dst: &::haul_core::Key,
                _id: &::haul_core::UploadId,
                _n: ::haul_core::PartNumber,
            ) -> ::haul_core::Result<::haul_core::CompletedPart> {
                Err(::haul_core::Error::not_supported(dst.as_str(), "upload_part_copy", self))
            }

            async fn list_parts(
                &self,
                key: &::haul_core::Key,
                _id: &::haul_core::UploadId,
            ) -> ::haul_core::Result<::std::vec::Vec<::haul_core::CompletedPart>> {
                Err(::haul_core::Error::not_supported(key.as_str(), "list_parts", self))
            }

            async fn complete_multipart(
                &self,
                key: &::haul_core::Key,
                _id: &::haul_core::UploadId,
                _parts: &[::haul_core::CompletedPart],
            ) -> ::haul_core::Result<::haul_core::PutOutcome> {
                Err(::haul_core::Error::not_supported(key.as_str(), "multipart upload", self))
            }

            async fn abort_multipart(
                &self,
                key: &::haul_core::Key,
                _id: &::haul_core::UploadId,
            ) -> ::haul_core::Result<()> {
                Err(::haul_core::Error::not_supported(key.as_str(), "multipart upload", self))
            }
        }
    };
}
