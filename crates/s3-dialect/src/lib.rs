//! haul-s3-dialect: the S3 XML API written once, for every service that
//! speaks it — AWS S3 and its compatibles (haul-s3) and Tencent COS
//! (haul-cos).
//!
//! COS's XML API is S3's with other header prefixes (`x-cos-` for
//! `x-amz-`), another signature (q-sign for SigV4), another native
//! checksum (a decimal CRC-64 the client compares, for a base64 CRC32C the
//! service checks) and a few names and limits of its own. This crate holds
//! what the two share: addressing ([`Endpoint`]), the request building and
//! answer parsing of every object call ([`Core`]: HEAD, GET, PUT, copy,
//! delete and batch delete, the whole multipart upload, ListParts,
//! ListMultipartUploads) and listing ([`list`]). What differs is
//! described, not written twice:
//!
//! * as data, a [`Spec`]: the header prefix, the words in messages, the
//!   addressing rules, the native checksum and who verifies it, the
//!   listing's pagination, the headers some calls add;
//! * as code, a [`Dialect`]: how a call is signed and sent (credentials,
//!   retries on expired ones), the credentials named in errors, and how a
//!   body that streams in is sent.
//!
//! A store is a thin type around an `Arc<Core<ItsDialect>>`, defined by
//! [`store!`]: its constructor, `Debug`, `Display` and
//! [`ObjectStore`](haul_core::ObjectStore) impl
//! ([`haul_http::delegate_object_store!`] with [`list`]).

mod addr;
mod core;
mod lister;
mod multipart;
mod reader;
mod spec;
mod store;
mod sums;
mod writer;
mod xml;

pub use crate::addr::{Address, Endpoint, check_key, decode_listed, dns_label, encode, encode_key};
pub use crate::core::{Core, Dialect, base_capabilities};
pub use crate::lister::list;
pub use crate::multipart::{PendingUpload, combined_checksum, merge_listed};
pub use crate::spec::{Addressing, Checksums, Listing, Names, Spec, Verify};
pub use crate::sums::check_checksum;
pub use haul_http::send::{Body, Call};
