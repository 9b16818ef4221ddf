//! The XML documents the services answer with, each the union of how S3
//! and COS spell it (a service leaves out what it does not have); the
//! elements every provider spells alike, and the documents we send, are
//! [`haul_http::xml`]'s.

use haul_core::{Checksum, ChecksumKind};
pub(crate) use haul_http::xml::{CommonPrefix, InitiateResult, ListedObject, ListedUpload};
use serde::Deserialize;

use crate::spec::Checksums;

/// A listing page: ListObjectsV2 (`NextContinuationToken`) or GET Bucket
/// (`NextMarker`). With `encoding-type=url`, keys, prefixes and markers
/// are URL-encoded.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub(crate) struct ListBucketResult {
    pub(crate) is_truncated: bool,
    pub(crate) next_continuation_token: Option<String>,
    pub(crate) next_marker: Option<String>,
    pub(crate) encoding_type: Option<String>,
    pub(crate) contents: Vec<ListedObject>,
    pub(crate) common_prefixes: Vec<CommonPrefix>,
}

/// The native checksum among an answer's elements: S3's base64
/// `ChecksumCRC32C` or COS's decimal `CRC64`.
fn native(sums: &Checksums, crc32c: Option<&str>, crc64: Option<&str>) -> Option<Checksum> {
    let text = match sums.native {
        ChecksumKind::Crc32c => crc32c,
        ChecksumKind::Crc64Xz => crc64,
        _ => None,
    };
    sums.parse(sums.native, text?)
}

/// CopyObject (`CopyObjectResult`) and UploadPartCopy (`CopyPartResult`).
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub(crate) struct CopyResult {
    #[serde(rename = "ETag")]
    pub(crate) etag: Option<String>,
    #[serde(rename = "ChecksumCRC32C")]
    pub(crate) checksum_crc32c: Option<String>,
    #[serde(rename = "CRC64")]
    pub(crate) crc64: Option<String>,
}

impl CopyResult {
    /// The copy's native checksum, if the answer has it.
    pub(crate) fn native(&self, sums: &Checksums) -> Option<Checksum> {
        native(sums, self.checksum_crc32c.as_deref(), self.crc64.as_deref())
    }
}

/// CompleteMultipartUpload.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub(crate) struct CompleteResult {
    #[serde(rename = "ETag")]
    pub(crate) etag: Option<String>,
    #[serde(rename = "ChecksumCRC32C")]
    pub(crate) checksum_crc32c: Option<String>,
    pub(crate) checksum_type: Option<String>,
}

/// ListParts.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub(crate) struct ListPartsResult {
    pub(crate) is_truncated: bool,
    pub(crate) next_part_number_marker: Option<u32>,
    #[serde(rename = "Part")]
    pub(crate) parts: Vec<ListedPart>,
}

/// One part of ListParts.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub(crate) struct ListedPart {
    pub(crate) part_number: u32,
    #[serde(rename = "ETag")]
    pub(crate) etag: Option<String>,
    pub(crate) size: u64,
    pub(crate) last_modified: Option<String>,
    #[serde(rename = "ChecksumCRC32C")]
    pub(crate) checksum_crc32c: Option<String>,
}

impl ListedPart {
    /// The part's native checksum, if listed (S3's CRC32C; COS lists none).
    pub(crate) fn native(&self, sums: &Checksums) -> Option<Checksum> {
        native(sums, self.checksum_crc32c.as_deref(), None)
    }
}

impl CompleteResult {
    /// The completed object's native checksum, if the answer has it.
    pub(crate) fn native(&self, sums: &Checksums) -> Option<Checksum> {
        native(sums, self.checksum_crc32c.as_deref(), None)
    }
}

/// ListMultipartUploads (COS spells the encoding `Encoding-Type`).
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub(crate) struct ListUploadsResult {
    pub(crate) is_truncated: bool,
    #[serde(rename = "EncodingType", alias = "Encoding-Type")]
    pub(crate) encoding_type: Option<String>,
    pub(crate) next_key_marker: Option<String>,
    pub(crate) next_upload_id_marker: Option<String>,
    #[serde(rename = "Upload")]
    pub(crate) uploads: Vec<ListedUpload>,
}

#[cfg(test)]
mod tests {
    use haul_http::xml::{DeleteResult, parse, unquote};

    use super::*;

    #[test]
    fn parses_listing() {
        let body = br#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>b</Name><Prefix>p%2F</Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys>
  <EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>
  <NextContinuationToken>tok+en/=</NextContinuationToken>
  <Contents><Key>p/a+b</Key><LastModified>2009-10-12T17:50:30.000Z</LastModified>
    <ETag>&quot;fba9dede5f27731c9771645a39863328&quot;</ETag><Size>434234</Size>
    <StorageClass>STANDARD</StorageClass></Contents>
  <CommonPrefixes><Prefix>p/d/</Prefix></CommonPrefixes>
</ListBucketResult>"#;
        let r: ListBucketResult = parse(body, "p/", "list").expect("parse");
        assert!(r.is_truncated);
        assert_eq!(r.next_continuation_token.as_deref(), Some("tok+en/="));
        assert_eq!(r.encoding_type.as_deref(), Some("url"));
        assert_eq!(r.contents.len(), 1);
        assert_eq!(r.contents[0].key, "p/a+b");
        assert_eq!(r.contents[0].size, 434_234);
        assert_eq!(
            r.contents[0].etag.as_deref().map(unquote).as_deref(),
            Some("fba9dede5f27731c9771645a39863328")
        );
        assert_eq!(r.common_prefixes[0].prefix, "p/d/");
        let empty: ListBucketResult = parse(
            b"<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>",
            "",
            "list",
        )
        .expect("empty");
        assert!(empty.contents.is_empty() && !empty.is_truncated);
    }

    #[test]
    fn parses_parts_and_deletes() {
        let body = br#"<ListPartsResult><IsTruncated>false</IsTruncated>
<Part><PartNumber>2</PartNumber><ETag>"b"</ETag><Size>5</Size><ChecksumCRC32C>AAAAAA==</ChecksumCRC32C></Part>
<Part><PartNumber>1</PartNumber><ETag>"a"</ETag><Size>6</Size></Part></ListPartsResult>"#;
        let r: ListPartsResult = parse(body, "k", "list parts").expect("parse");
        assert_eq!(r.parts.len(), 2);
        assert_eq!(r.parts[0].part_number, 2);
        assert_eq!(r.parts[1].checksum_crc32c, None);
        let body = br"<DeleteResult><Deleted><Key>a</Key></Deleted><Error><Key>b</Key><Code>AccessDenied</Code><Message>no</Message></Error></DeleteResult>";
        let r: DeleteResult = parse(body, "", "delete").expect("parse");
        assert_eq!(r.errors.len(), 1);
        assert_eq!(r.errors[0].code, "AccessDenied");
    }

    #[test]
    fn parses_cos_documents() {
        let body = br"<?xml version='1.0' encoding='utf-8' ?>
<ListBucketResult><Name>b-125</Name><EncodingType>url</EncodingType><Prefix>p%2F</Prefix>
<Marker/><MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated><NextMarker>p%2Fa%20b</NextMarker>
<Contents><Key>p%2Fa%20b</Key><LastModified>2026-01-02T03:04:05.000Z</LastModified>
<ETag>&quot;fba9dede5f27731c9771645a39863328&quot;</ETag><Size>434234</Size>
<Owner><ID>1250000000</ID><DisplayName>1250000000</DisplayName></Owner><StorageClass>STANDARD</StorageClass></Contents>
<CommonPrefixes><Prefix>p%2Fd%2F</Prefix></CommonPrefixes></ListBucketResult>";
        let r: ListBucketResult = parse(body, "p/", "GET Bucket").expect("parse");
        assert!(r.is_truncated);
        assert_eq!(r.next_marker.as_deref(), Some("p%2Fa%20b"));
        assert_eq!(r.contents[0].size, 434_234);
        assert_eq!(r.common_prefixes[0].prefix, "p%2Fd%2F");
        let body =
            br"<ListMultipartUploadsResult><Bucket>b-125</Bucket><Encoding-Type>url</Encoding-Type>
<IsTruncated>false</IsTruncated><Upload><Key>a%20b</Key><UploadId>u1</UploadId>
<Initiated>2026-01-02T03:04:05.000Z</Initiated></Upload></ListMultipartUploadsResult>";
        let r: ListUploadsResult = parse(body, "", "uploads").expect("parse");
        assert_eq!(r.encoding_type.as_deref(), Some("url"));
        assert_eq!(r.uploads[0].upload_id, "u1");
        let body = br#"<CopyPartResult><ETag>"e"</ETag><CRC64>123</CRC64><LastModified>x</LastModified></CopyPartResult>"#;
        let r: CopyResult = parse(body, "k", "copy").expect("parse");
        assert_eq!(r.crc64.as_deref(), Some("123"));
    }
}
