//! [`Spec`]: what a service does its own way, as data.

use haul_core::ChecksumKind;

/// What a service does its own way, as data: one `const` per dialect.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// The service in messages: `S3`, `COS`.
    pub name: &'static str,
    /// The scheme of the stores' names (`s3://bucket`): `s3`, `cos`.
    pub scheme: &'static str,
    /// The prefix of the service's own headers: `x-amz-`, `x-cos-`.
    pub prefix: &'static str,
    /// The API in messages about keys it cannot carry: `S3's REST API`.
    pub api: &'static str,
    /// Where a bucket's requests go.
    pub addressing: Addressing,
    /// The checksums the service takes and reports.
    pub checksums: Checksums,
    /// How a listing goes from page to page.
    pub listing: Listing,
    /// The calls' names in messages.
    pub names: Names,
    /// Headers every CreateMultipartUpload carries.
    pub multipart_headers: &'static [(&'static str, &'static str)],
    /// Headers every HeadObject carries.
    pub head_headers: &'static [(&'static str, &'static str)],
    /// The `<prefix>metadata-directive` a copy sends, if any (without
    /// one, S3 copies the source's metadata all the same).
    pub copy_directive: Option<&'static str>,
    /// A HEAD refused as denied is asked again as a one-byte GET, whose
    /// error body says why (a HEAD answer has no body).
    pub explain_denied_head: bool,
}

/// How a bucket is addressed.
#[derive(Debug, Clone, Copy)]
#[allow(clippy::struct_excessive_bools)] // independent rules, as the services have them
pub struct Addressing {
    /// The endpoint of a region when none is configured.
    pub default_endpoint: fn(region: &str) -> String,
    /// Path style also, unasked, for IP-address and `localhost` endpoints
    /// and for buckets that are not DNS labels (S3); else only when asked.
    pub auto_path_style: bool,
    /// Why a bucket name is refused, if it is.
    pub refuse_bucket: fn(bucket: &str) -> Option<&'static str>,
    /// In path style, the bucket's own URL ends in `/` (COS) rather than
    /// at the bucket's name (S3).
    pub bucket_slash: bool,
    /// A copy source names the host and the decoded path
    /// (`host/bucket/key`, COS) rather than `/bucket/key` (S3).
    pub copy_source_host: bool,
    /// A `+` in a URL-encoded listing is a space (S3's form encoding);
    /// else plain percent-decoding (COS writes a space as `%20`).
    pub plus_is_space: bool,
}

/// Who checks that the bytes stored are the bytes sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// The request carries the checksum and the service refuses a
    /// mismatch (S3's `x-amz-checksum-*`).
    Service,
    /// The answer reports the checksum and the client compares, deleting
    /// an object whose checksum differs (COS's CRC-64).
    Client,
}

/// The checksums a service takes and reports.
#[derive(Debug, Clone, Copy)]
pub struct Checksums {
    /// The checksum of every part and of a completed upload.
    pub native: ChecksumKind,
    /// The header of each checksum kind answers report, the native first.
    pub headers: &'static [(ChecksumKind, &'static str)],
    /// Values written in decimal (COS) rather than base64 (S3).
    pub decimal: bool,
    /// Who checks them.
    pub verify: Verify,
    /// The element of a part's native checksum in the
    /// CompleteMultipartUpload document; `""`: parts carry none.
    pub complete_element: &'static str,
}

/// How a listing goes from page to page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    /// ListObjectsV2: `continuation-token` and `start-after`.
    V2,
    /// GET Bucket (version 1): `marker`, the next page starting after
    /// `NextMarker` or after the page's last entry.
    Marker,
}

/// The calls' names, as the service's documentation gives them.
#[derive(Debug, Clone, Copy)]
pub struct Names {
    /// Listing a bucket.
    pub list: &'static str,
    /// Copying an object.
    pub copy: &'static str,
    /// Starting a multipart upload.
    pub create_multipart: &'static str,
    /// Deleting many objects.
    pub delete_many: &'static str,
}
