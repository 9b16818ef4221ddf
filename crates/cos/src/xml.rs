//! The XML documents COS answers with (element names from the Go SDK's
//! structs), and the ones we send.

//!
//! The elements S3 spells the same way, and the `<Delete>` and
//! `<CompleteMultipartUpload>` documents, are [`haul_http::xml`]'s.

pub(crate) use haul_http::xml::{CommonPrefix, InitiateResult, ListedObject, ListedUpload};
use serde::Deserialize;

/// GET Bucket (`ListBucketResult`). With `encoding-type=url`, `Key`,
/// `Prefix`, `Marker` and `NextMarker` are URL-encoded.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub(crate) struct ListBucketResult {
    pub(crate) encoding_type: Option<String>,
    pub(crate) is_truncated: bool,
    pub(crate) next_marker: Option<String>,
    pub(crate) contents: Vec<ListedObject>,
    pub(crate) common_prefixes: Vec<CommonPrefix>,
}

/// PUT Object copy (`CopyObjectResult`) and UploadPartCopy (`CopyPartResult`).
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub(crate) struct CopyResult {
    #[serde(rename = "ETag")]
    pub(crate) etag: Option<String>,
    #[serde(rename = "CRC64")]
    pub(crate) crc64: Option<String>,
}

/// CompleteMultipartUpload.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub(crate) struct CompleteResult {
    #[serde(rename = "ETag")]
    pub(crate) etag: Option<String>,
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
}

/// ListMultipartUploads.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub(crate) struct ListUploadsResult {
    pub(crate) is_truncated: bool,
    #[serde(rename = "Encoding-Type", alias = "EncodingType")]
    pub(crate) encoding_type: Option<String>,
    pub(crate) next_key_marker: Option<String>,
    pub(crate) next_upload_id_marker: Option<String>,
    #[serde(rename = "Upload")]
    pub(crate) uploads: Vec<ListedUpload>,
}

#[cfg(test)]
mod tests {
    use haul_http::xml::parse;

    use super::*;

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
