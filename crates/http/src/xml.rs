//! XML helpers every XML provider (S3, COS) shares: parsing an answer into
//! a serde struct, the answer elements both APIs spell the same, the
//! `<Delete>` and `<CompleteMultipartUpload>` documents, a listing page's
//! entries, escaping text for a request document, ETags and the ISO 8601
//! times listings carry.

use std::fmt::Write as _;
use std::time::SystemTime;

use haul_core::{Attributes, Error, Key, ListEntry, ObjectMeta, Result, Unusable, escape_text};
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// Parses an answer body as `T`, naming `key` and the operation (`what`)
/// when it is not one.
pub fn parse<T: DeserializeOwned>(body: &[u8], key: &str, what: &str) -> Result<T> {
    let text = std::str::from_utf8(body)
        .map_err(|e| Error::transient(key, format!("{what} answer is not UTF-8: {e}")))?;
    quick_xml::de::from_str(text.trim_start()).map_err(|e| Error::Provider {
        key: key.to_owned(),
        code: "MalformedAnswer".to_owned(),
        message: format!("cannot parse the {what} answer: {e}"),
        retryable: false,
    })
}

/// One object of a listing (`<Contents>`).
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ListedObject {
    /// The key, URL-encoded when the listing says so.
    pub key: String,
    /// ISO 8601.
    pub last_modified: Option<String>,
    /// Quoted.
    #[serde(rename = "ETag")]
    pub etag: Option<String>,
    /// Bytes.
    pub size: u64,
}

/// One common prefix of a delimited listing.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct CommonPrefix {
    /// The prefix, URL-encoded when the listing says so.
    pub prefix: String,
}

/// `CreateMultipartUpload` (S3) / `InitiateMultipartUpload` (COS) answer.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct InitiateResult {
    /// The new upload's id.
    pub upload_id: String,
}

/// One upload of `ListMultipartUploads`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ListedUpload {
    /// The key, URL-encoded when the listing says so.
    pub key: String,
    /// The upload id.
    pub upload_id: String,
    /// ISO 8601.
    pub initiated: Option<String>,
}

/// `DeleteObjects` (DELETE Multiple Objects) answer.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct DeleteResult {
    /// The refused keys (quiet mode lists only those).
    #[serde(rename = "Error")]
    pub errors: Vec<DeleteError>,
}

/// One refused key of a batch delete.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct DeleteError {
    /// The key.
    pub key: String,
    /// The error code.
    pub code: String,
    /// The message.
    pub message: String,
}

/// A `<Delete>` document (quiet: only failures are answered).
#[must_use]
pub fn delete_body<'a>(keys: impl IntoIterator<Item = &'a str>) -> String {
    let mut s = String::from("<Delete><Quiet>true</Quiet>");
    for k in keys {
        let _ = write!(s, "<Object><Key>{}</Key></Object>", escape(k));
    }
    s.push_str("</Delete>");
    s
}

/// A batch delete (S3's `DeleteObjects`, COS's "DELETE Multiple Objects")
/// as both providers take it: the keys that can be named in its XML body,
/// and the rest, which go one by one.
#[derive(Debug)]
pub struct DeleteBatch<'a> {
    keys: &'a [Key],
    sendable: Vec<bool>,
}

impl<'a> DeleteBatch<'a> {
    /// Splits `keys`: those `sendable` says the document can carry.
    pub fn new(keys: &'a [Key], sendable: impl Fn(&str) -> bool) -> Self {
        let sendable = keys
            .iter()
            .map(|k| xml_safe(k.as_str()) && sendable(k.as_str()))
            .collect();
        Self { keys, sendable }
    }

    /// The `<Delete>` document and its `Content-MD5`, or `None` when no key
    /// can be sent in one.
    #[must_use]
    pub fn document(&self) -> Option<(bytes::Bytes, String)> {
        use base64::Engine as _;
        use md5::Digest as _;
        let keys: Vec<&str> = self.sent().map(Key::as_str).collect();
        if keys.is_empty() {
            return None;
        }
        let doc = delete_body(keys);
        let md5 = base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(&doc));
        Some((doc.into(), md5))
    }

    fn sent(&self) -> impl Iterator<Item = &Key> {
        self.keys
            .iter()
            .zip(&self.sendable)
            .filter_map(|(k, &s)| s.then_some(k))
    }

    /// One result per key, in order: a key the answer does not list (or
    /// lists as `NoSuchKey`) is deleted; a refused key is `refused(key,
    /// error)`; a key the document could not carry is deleted by `single`.
    pub async fn outcomes<F, Fut>(
        self,
        answer: &DeleteResult,
        refused: impl Fn(&Key, &DeleteError) -> Error,
        mut single: F,
    ) -> Vec<Result<()>>
    where
        F: FnMut(&'a Key) -> Fut,
        Fut: std::future::Future<Output = Result<()>>,
    {
        let errors: std::collections::HashMap<&str, &DeleteError> =
            answer.errors.iter().map(|e| (e.key.as_str(), e)).collect();
        let mut out = Vec::with_capacity(self.keys.len());
        for (k, sent) in self.keys.iter().zip(self.sendable) {
            out.push(if sent {
                match errors.get(k.as_str()) {
                    None => Ok(()),
                    Some(e) if e.code == "NoSuchKey" => Ok(()),
                    Some(e) => Err(refused(k, e)),
                }
            } else {
                single(k).await
            });
        }
        out
    }
}

/// A `<CompleteMultipartUpload>` document, parts in the order given. A
/// part's checksum, when it has one, goes in a `<{checksum_element}>`
/// element (S3's `ChecksumCRC32C`).
#[must_use]
pub fn complete_body<'a>(
    parts: impl IntoIterator<Item = (u32, &'a str, Option<String>)>,
    checksum_element: &str,
) -> String {
    let mut s = String::from("<CompleteMultipartUpload>");
    for (n, etag, sum) in parts {
        let _ = write!(
            s,
            "<Part><PartNumber>{n}</PartNumber><ETag>\"{}\"</ETag>",
            escape(etag)
        );
        if let Some(c) = sum {
            let _ = write!(s, "<{checksum_element}>{c}</{checksum_element}>");
        }
        s.push_str("</Part>");
    }
    s.push_str("</CompleteMultipartUpload>");
    s
}

/// Whether a listing's `EncodingType` says its names are URL-encoded.
#[must_use]
pub fn url_encoded(encoding_type: Option<&str>) -> bool {
    encoding_type.is_some_and(|e| e.eq_ignore_ascii_case("url"))
}

/// The entries of one listing page, objects and common prefixes merged in
/// name order. Names go through `decode` when `encoded` (the provider's
/// URL decoding); a key haul cannot hold is an invalid-input error.
pub fn listed_entries(
    contents: Vec<ListedObject>,
    common_prefixes: Vec<CommonPrefix>,
    encoded: bool,
    decode: impl Fn(&str) -> Result<String>,
) -> Result<Vec<ListEntry>> {
    let decode = |s: &str| if encoded { decode(s) } else { Ok(s.to_owned()) };
    let mut entries = Vec::with_capacity(contents.len() + common_prefixes.len());
    for o in contents {
        let name = decode(&o.key)?;
        if let Some(problem) = Key::problem(&name) {
            entries.push(ListEntry::Unusable(Unusable::failed(
                escape_text(&name),
                format!("the store listed a key haul cannot hold: {problem}"),
            )));
            continue;
        }
        let key = Key::new(name)?;
        entries.push(ListEntry::Object(ObjectMeta {
            key,
            size: o.size,
            last_modified: o.last_modified.as_deref().and_then(parse_iso8601),
            etag: o.etag.as_deref().map(unquote),
            checksums: Vec::new(),
            version: None,
            attrs: Attributes::default(),
        }));
    }
    for p in common_prefixes {
        entries.push(ListEntry::Prefix(decode(&p.prefix)?));
    }
    entries.sort_by(|a, b| entry_name(a).cmp(entry_name(b)));
    Ok(entries)
}

/// The name a listing entry sorts by: an object's key or the prefix.
#[must_use]
pub fn entry_name(e: &ListEntry) -> &str {
    e.name()
}

/// Escapes text for an XML element. `\r` becomes a character reference so
/// the parser does not fold it into `\n`.
#[must_use]
pub fn escape(s: &str) -> String {
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
#[must_use]
pub fn xml_safe(s: &str) -> bool {
    s.chars()
        .all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r') || u32::from(c) >= 0x7f)
        && !s.contains(['\u{fffe}', '\u{ffff}'])
}

/// An ETag without its quotes (and without a weak `W/` prefix).
#[must_use]
pub fn unquote(etag: &str) -> String {
    let t = etag.trim();
    let t = t.strip_prefix("W/").unwrap_or(t);
    t.trim_matches('"').to_owned()
}

/// Parses an ISO 8601 UTC time as listings give it (`2009-10-12T17:50:30.000Z`).
#[must_use]
pub fn parse_iso8601(text: &str) -> Option<SystemTime> {
    haul_core::time::parse_rfc3339(text)
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
    fn text() {
        assert_eq!(escape("a&b<c>\r"), "a&amp;b&lt;c&gt;&#13;");
        assert!(xml_safe("a b\tc日") && !xml_safe("bell\u{7}"));
        assert_eq!(unquote("\"abc-2\""), "abc-2");
        assert_eq!(unquote("W/\"x\""), "x");
    }

    #[test]
    fn bodies() {
        assert_eq!(
            delete_body(["a&b", "<c>\r"]),
            "<Delete><Quiet>true</Quiet><Object><Key>a&amp;b</Key></Object>\
             <Object><Key>&lt;c&gt;&#13;</Key></Object></Delete>"
        );
        assert_eq!(
            complete_body(
                [(1, "abc", Some("4waSgw==".into())), (2, "def", None)],
                "ChecksumCRC32C"
            ),
            "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"abc\"</ETag>\
             <ChecksumCRC32C>4waSgw==</ChecksumCRC32C></Part><Part><PartNumber>2</PartNumber>\
             <ETag>\"def\"</ETag></Part></CompleteMultipartUpload>"
        );
    }

    #[test]
    fn a_key_with_a_nul_is_one_unusable_entry_not_the_end_of_the_listing() {
        let contents = ["good/a", "bad%00key", "good/b"]
            .into_iter()
            .map(|k| ListedObject {
                key: k.into(),
                size: 1,
                ..ListedObject::default()
            })
            .collect();
        let decode = |s: &str| Ok(s.replace("%00", "\0"));
        let got = listed_entries(contents, Vec::new(), true, decode).expect("entries");
        let objects: Vec<&str> = got
            .iter()
            .filter(|e| matches!(e, ListEntry::Object(_)))
            .map(entry_name)
            .collect();
        assert_eq!(objects, ["good/a", "good/b"]);
        let bad: Vec<&Unusable> = got
            .iter()
            .filter_map(|e| match e {
                ListEntry::Unusable(u) => Some(u),
                _ => None,
            })
            .collect();
        assert_eq!(bad.len(), 1, "{got:?}");
        assert!(bad[0].fails);
        // Printable: the NUL is escaped, never raw.
        assert_eq!(bad[0].name, "bad\\0key");
        assert!(bad[0].reason.contains("NUL"), "{}", bad[0].reason);
    }

    #[test]
    fn listing_entries_merge_in_name_order() {
        let contents = vec![
            ListedObject {
                key: "p%2Fb".into(),
                etag: Some("\"e\"".into()),
                size: 3,
                last_modified: Some("2009-10-12T17:50:30.000Z".into()),
            },
            ListedObject {
                key: "p%2Fa".into(),
                ..ListedObject::default()
            },
        ];
        let prefixes = vec![CommonPrefix {
            prefix: "p%2Fab%2F".into(),
        }];
        let decode = |s: &str| Ok(s.replace("%2F", "/"));
        let got = listed_entries(contents, prefixes, true, decode).expect("entries");
        let names: Vec<&str> = got.iter().map(entry_name).collect();
        assert_eq!(names, ["p/a", "p/ab/", "p/b"]);
        assert!(
            matches!(&got[2], ListEntry::Object(m) if m.etag.as_deref() == Some("e") && m.size == 3 && m.last_modified.is_some())
        );
        let raw = vec![ListedObject {
            key: "p%2Fa".into(),
            ..ListedObject::default()
        }];
        let got = listed_entries(raw, Vec::new(), false, decode).expect("entries");
        assert_eq!(entry_name(&got[0]), "p%2Fa");
        assert!(url_encoded(Some("URL")) && !url_encoded(None));
    }

    #[test]
    fn parse_names_the_operation() {
        #[derive(Debug, serde::Deserialize)]
        struct Doc {
            #[serde(rename = "A")]
            a: u32,
        }
        let d: Doc = parse(b"  <Doc><A>7</A></Doc>", "k", "test").expect("parses");
        assert_eq!(d.a, 7);
        let e = parse::<Doc>(b"<Doc><A>x</A></Doc>", "k", "test").expect_err("bad");
        assert!(e.to_string().contains("test answer"), "{e}");
    }
}
