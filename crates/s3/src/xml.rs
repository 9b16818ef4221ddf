//! The XML documents S3 answers with, and the ones we send.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use haul_core::{Error, Result};
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// Parses an answer body as `T`, naming `key` when it is not.
pub(crate) fn parse<T: DeserializeOwned>(body: &[u8], key: &str, what: &str) -> Result<T> {
    let text = std::str::from_utf8(body)
        .map_err(|e| Error::transient(key, format!("{what} answer is not UTF-8: {e}")))?;
    quick_xml::de::from_str(text.trim_start()).map_err(|e| Error::Provider {
        key: key.to_owned(),
        code: "MalformedAnswer".to_owned(),
        message: format!("cannot parse the {what} answer: {e}"),
        retryable: false,
    })
}

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

/// One object of a listing.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub(crate) struct ListedObject {
    pub(crate) key: String,
    pub(crate) last_modified: Option<String>,
    #[serde(rename = "ETag")]
    pub(crate) etag: Option<String>,
    pub(crate) size: u64,
}

/// One common prefix of a delimited listing.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub(crate) struct CommonPrefix {
    pub(crate) prefix: String,
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

/// `CreateMultipartUpload` answer.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub(crate) struct InitiateResult {
    pub(crate) upload_id: String,
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

/// One upload of `ListMultipartUploads`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub(crate) struct ListedUpload {
    pub(crate) key: String,
    pub(crate) upload_id: String,
    pub(crate) initiated: Option<String>,
}

/// `DeleteObjects` answer.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub(crate) struct DeleteResult {
    #[serde(rename = "Error")]
    pub(crate) errors: Vec<DeleteError>,
}

/// One refused key of `DeleteObjects`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub(crate) struct DeleteError {
    pub(crate) key: String,
    pub(crate) code: String,
    pub(crate) message: String,
}

/// Escapes text for an XML element. `\r` becomes a character reference so
/// the parser does not fold it into `\n`.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out
}

/// Whether XML 1.0 can carry `s` at all (no control characters but tab,
/// newline and carriage return).
pub(crate) fn xml_safe(s: &str) -> bool {
    s.chars()
        .all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r') || u32::from(c) >= 0x7f)
        && !s.contains(['\u{fffe}', '\u{ffff}'])
}

/// A `<Delete>` document (quiet: only failures are answered).
pub(crate) fn delete_body<'a>(keys: impl IntoIterator<Item = &'a str>) -> String {
    let mut s = String::from("<Delete><Quiet>true</Quiet>");
    for k in keys {
        let _ = write!(s, "<Object><Key>{}</Key></Object>", escape(k));
    }
    s.push_str("</Delete>");
    s
}

/// A `<CompleteMultipartUpload>` document.
pub(crate) fn complete_body(parts: &[(u32, &str, Option<String>)]) -> String {
    let mut s = String::from("<CompleteMultipartUpload>");
    for (n, etag, crc) in parts {
        let _ = write!(
            s,
            "<Part><PartNumber>{n}</PartNumber><ETag>\"{}\"</ETag>",
            escape(etag)
        );
        if let Some(c) = crc {
            let _ = write!(s, "<ChecksumCRC32C>{c}</ChecksumCRC32C>");
        }
        s.push_str("</Part>");
    }
    s.push_str("</CompleteMultipartUpload>");
    s
}

/// An ETag without its quotes (and without a weak `W/` prefix).
pub(crate) fn unquote(etag: &str) -> String {
    let t = etag.trim();
    let t = t.strip_prefix("W/").unwrap_or(t);
    t.trim_matches('"').to_owned()
}

/// Parses an ISO 8601 UTC time as listings give it (`2009-10-12T17:50:30.000Z`).
pub(crate) fn parse_iso8601(text: &str) -> Option<SystemTime> {
    let (date, time) = text.trim().split_once('T')?;
    let mut ymd = date.splitn(3, '-').map(|x| x.parse::<i64>().ok());
    let (y, m, day) = (ymd.next()??, ymd.next()??, ymd.next()??);
    let time = time.strip_suffix('Z').unwrap_or(time);
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut clock = hms.splitn(3, ':').map(|x| x.parse::<i64>().ok());
    let (hh, mm, ss) = (clock.next()??, clock.next()??, clock.next()??);
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let yy = if m <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hh * 3_600 + mm * 60 + ss;
    let nanos = if frac.is_empty() {
        0
    } else {
        let digits: String = frac.chars().take(9).collect();
        digits.parse::<u32>().ok()? * 10u32.pow(9 - digits.len() as u32)
    };
    let secs = u64::try_from(secs).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::new(secs, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        let t = parse_iso8601("2009-10-12T17:50:30.000Z").expect("time");
        assert_eq!(
            t.duration_since(SystemTime::UNIX_EPOCH)
                .expect("after")
                .as_secs(),
            1_255_369_830
        );
        let t = parse_iso8601("2024-02-29T00:00:00.5Z").expect("leap day");
        assert_eq!(
            t.duration_since(SystemTime::UNIX_EPOCH)
                .expect("after")
                .as_millis(),
            1_709_164_800_500
        );
        assert!(parse_iso8601("garbage").is_none());
    }

    #[test]
    fn bodies() {
        assert_eq!(
            delete_body(["a&b", "<c>\r"]),
            "<Delete><Quiet>true</Quiet><Object><Key>a&amp;b</Key></Object>\
             <Object><Key>&lt;c&gt;&#13;</Key></Object></Delete>"
        );
        assert!(xml_safe("a b\tc日") && !xml_safe("bell\u{7}"));
        assert_eq!(
            complete_body(&[(1, "abc", Some("4waSgw==".into())), (2, "def", None)]),
            "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"abc\"</ETag>\
             <ChecksumCRC32C>4waSgw==</ChecksumCRC32C></Part><Part><PartNumber>2</PartNumber>\
             <ETag>\"def\"</ETag></Part></CompleteMultipartUpload>"
        );
        assert_eq!(unquote("\"abc-2\""), "abc-2");
        assert_eq!(unquote("W/\"x\""), "x");
    }

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
