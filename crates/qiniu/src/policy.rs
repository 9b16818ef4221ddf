//! [`PutPolicy`]: what an upload token allows (protocols §1.3).

use serde::{Deserialize, Serialize};

/// The upload policy an upload token carries.
///
/// Serialises to JSON in field order, leaving out what is unset; Kodo
/// verifies the signature over the encoded JSON as received, so the order
/// does not matter to it, only to the official vectors.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PutPolicy {
    /// `"<bucket>"` (insert only: an existing key fails with 614 unless the
    /// content is identical), `"<bucket>:<key>"` (that key, overwriting
    /// allowed unless `insert_only`), or with `is_prefixal_scope` a key
    /// prefix.
    pub scope: String,
    /// Unix seconds after which no file is created with this token.
    pub deadline: u64,
    /// Non-zero: never overwrite, whatever the scope says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub insert_only: Option<u8>,
    /// Non-zero: the key part of `scope` is a prefix.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_prefixal_scope: Option<u8>,
    /// The answer Kodo sends on success, with `$(key)`-style variables.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub return_body: Option<String>,
    /// The key to save under when the upload names none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub save_key: Option<String>,
    /// Use `save_key` even when the upload names a key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub force_save_key: Option<bool>,
    /// Largest file accepted, in bytes (413 above it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fsize_limit: Option<u64>,
    /// Smallest file accepted, in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fsize_min: Option<u64>,
    /// MIME types accepted (`image/*;video/*`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mime_limit: Option<String>,
    /// Non-zero: Kodo detects the MIME type from the content.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detect_mime: Option<u8>,
    /// The end user id, reported back in `endUser`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_user: Option<String>,
    /// URL Kodo calls after the upload (579 when it fails).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
    /// Body of that callback.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_body: Option<String>,
    /// Content-Type of that callback.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_body_type: Option<String>,
    /// Storage class: 0 standard, 1 infrequent access, 2 archive, 3 deep
    /// archive, 4 archive with instant retrieval.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_type: Option<u8>,
    /// Days after which Kodo deletes the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delete_after_days: Option<u32>,
}

impl PutPolicy {
    /// A policy for exactly `key` in `bucket` (overwriting allowed) until
    /// `deadline`.
    #[must_use]
    pub fn for_key(bucket: &str, key: &str, deadline: u64) -> Self {
        Self {
            scope: format!("{bucket}:{key}"),
            deadline,
            ..Self::default()
        }
    }

    /// An insert-only policy for any key of `bucket` until `deadline`.
    #[must_use]
    pub fn for_bucket(bucket: &str, deadline: u64) -> Self {
        Self {
            scope: bucket.to_owned(),
            deadline,
            ..Self::default()
        }
    }

    /// The JSON bytes the token encodes.
    #[must_use]
    pub fn to_json(&self) -> Vec<u8> {
        // A struct of strings and numbers always serialises.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_out_unset_fields() {
        let p = PutPolicy {
            insert_only: Some(1),
            fsize_limit: Some(10),
            ..PutPolicy::for_key("b", "k", 7)
        };
        assert_eq!(
            String::from_utf8(p.to_json()).unwrap(),
            r#"{"scope":"b:k","deadline":7,"insertOnly":1,"fsizeLimit":10}"#
        );
        let back: PutPolicy = serde_json::from_slice(&p.to_json()).unwrap();
        assert_eq!(back, p);
    }
}
