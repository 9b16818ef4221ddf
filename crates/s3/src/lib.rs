//! haul-s3: [`S3Store`], an [`ObjectStore`] for one bucket of AWS S3 or an
//! S3-compatible service (MinIO, SeaweedFS, COS, Qiniu, ...).
//!
//! Requests are signed with SigV4 (the `aws-sigv4` crate) and carry
//! `UNSIGNED-PAYLOAD` plus the checksums the engine computed while reading
//! (`x-amz-checksum-crc32c`, `Content-MD5`), so bodies are never hashed a
//! second time; [`S3Config::signed_payload`] signs the body's SHA-256
//! instead. Bodies stream both ways without being buffered whole.
//!
//! ```no_run
//! use haul_core::{Key, ObjectStoreExt};
//! use haul_s3::{S3Config, S3Store};
//!
//! # async fn demo() -> haul_core::Result<()> {
//! let store = S3Store::new(S3Config::from_env("my-bucket")?)?;
//! store.put_bytes(&Key::new("photos/a b.jpg")?, "hi".into()).await?;
//! println!("{store}"); // s3://my-bucket
//! # Ok(()) }
//! ```
//!
//! [`S3Endpoint`] is the same over every bucket of one endpoint and set of
//! credentials, with keys `"<bucket>/<key>"`: one store on both sides of a
//! copy between buckets, so the copy runs server-side (CopyObject,
//! UploadPartCopy) instead of streaming the bytes through the client.
//!
//! Keys are sent exactly as given: every path segment is percent-encoded
//! (unreserved characters kept, `/` kept between segments), so spaces, `+`,
//! `%`, `#`, `?`, unicode and 1024-byte keys work. Keys with a `.` or `..`
//! segment are refused: URL normalisation would change them in flight.
//!
//! Object attributes travel as S3 has them: `Content-Type`,
//! `Content-Encoding`, `Cache-Control` and `Content-Disposition` headers,
//! and user metadata as `x-amz-meta-<name>` (names lowercased, ASCII
//! letters, digits, `-` and `_`). A value a header cannot carry as it is
//! (non-ASCII, control characters, surrounding spaces) is sent as an
//! RFC 2047 encoded word and decoded when read back, as S3 itself encodes
//! non-ASCII metadata ([`haul_http::attrs`]). `put` and
//! `create_multipart` store them, `head` and `get` report them, and
//! CopyObject keeps the source's (no metadata directive: S3's default is
//! `COPY`). An object assembled by UploadPartCopy takes its attributes from
//! its `create_multipart`, so a caller copying by parts passes the source's
//! there.
//!
//! [`S3Endpoint`] also lists, creates and deletes buckets
//! ([`S3Endpoint::list_buckets`], [`S3Endpoint::create_bucket`],
//! [`S3Endpoint::delete_bucket`], [`S3Endpoint::bucket_is_empty`]).
//!
//! Capabilities are S3's: parts of 5 MiB to 5 GiB, at most 10,000 of them,
//! single PUTs and copies up to 5 GiB, 1000 keys per batch delete.
//! `etag_is_md5` holds for plain and SSE-S3 objects; it does not for SSE-KMS
//! or SSE-C objects, whose ETags are not MD5s of the body, so a store whose
//! [`ObjectOptions`] ask for either says it is false.
//!
//! [`S3Config::object`] adds what `aws s3 cp` users pass: storage class,
//! SSE-S3/SSE-KMS, SSE-C (on every write, read, part and copy source),
//! canned ACL, requester pays; each request carries the headers S3 wants
//! on it. No checksum is
//! listed as native: not every S3-compatible service stores and reports
//! CRC32C, so the engine verifies by other means.

mod buckets;
mod chunked;
mod config;
mod core;
mod creds;
mod endpoint;
mod options;
mod sign;
mod store;

// The docs link to it.
#[cfg(doc)]
use haul_core::ObjectStore;

pub use config::{DEFAULT_MAX_OBJECT_SIZE, S3Config};
pub use endpoint::S3Endpoint;
pub use haul_s3_dialect::PendingUpload;
pub use options::{ObjectOptions, SseCustomerKey};
pub use store::S3Store;

#[cfg(test)]
mod vectors;
