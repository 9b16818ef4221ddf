//! The XML documents S3 answers with where they are S3's own; the ones
//! COS spells the same, and the documents we send, are in
//! [`haul_http::xml`].

pub(crate) use haul_http::xml::{CommonPrefix, InitiateResult, ListedObject, ListedUpload};
use serde::Deserialize;

/// `ListObjectsV2` answer.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub(crate) struct ListBucketResult {
    pub(crate) is_truncated: bool,
    pub(crate) next_continuation_token: Option<String>,
    pub(crate) encoding_type: Option<String>,
    pub(crate) contents: Vec<ListedObject>,
    pub(crate) common_prefixes: Vec<CommonPrefix>,
}

/// `CopyObject` and `UploadPartCopy` answers.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub(crate) struct CopyResult {
    #[serde(rename = "ETag")]
    pub(crate) etag: Option<String>,
    #[serde(rename = "ChecksumCRC32C")]
    pub(crate) checksum_crc32c: Option<String>,
}

/// `CompleteMultipartUpload` answer.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub(crate) struct CompleteResult {
    #[serde(rename = "ETag")]
    pub(crate) etag: Option<String>,
    #[serde(rename = "ChecksumCRC32C")]
    pub(crate) checksum_crc32c: Option<String>,
    pub(crate) checksum_type: Option<String>,
}

/// `ListParts` answer.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub(crate) struct ListPartsResult {
    pub(crate) is_truncated: bool,
    pub(crate) next_part_number_marker: Option<u32>,
    #[serde(rename = "Part")]
    pub(crate) parts: Vec<ListedPart>,
}

/// One part of `ListParts`.
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

/// `ListMultipartUploads` answer.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub(crate) struct ListUploadsResult {
    pub(crate) is_truncated: bool,
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
}
