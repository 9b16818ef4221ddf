use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Error;

/// Longest key, in bytes of UTF-8, that every supported provider accepts.
pub const MAX_KEY_BYTES: usize = 1024;

/// A validated object key.
///
/// A key is non-empty UTF-8, at most [`MAX_KEY_BYTES`] bytes, and contains no
/// NUL. Everything else — spaces, `+`, `%`, `#`, `?`, unicode — is kept exactly
/// as given: encoding for a wire protocol is the provider's job, never the key's.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Key(String);

impl Key {
    /// Why `key` cannot be a key, if it cannot.
    #[must_use]
    pub fn problem(key: &str) -> Option<&'static str> {
        if key.is_empty() {
            Some("key is empty")
        } else if key.len() > MAX_KEY_BYTES {
            Some("key is longer than 1024 bytes")
        } else if key.contains('\0') {
            Some("key contains a NUL byte")
        } else {
            None
        }
    }

    /// Validates `key` and wraps it. The error names the key with control
    /// characters escaped (a NUL is printed `\0`).
    pub fn new(key: impl Into<String>) -> Result<Self, Error> {
        let key = key.into();
        match Self::problem(&key) {
            Some(reason) => Err(Error::InvalidInput {
                key: crate::escape_text(&key.chars().take(80).collect::<String>()).into_owned(),
                message: reason.to_owned(),
            }),
            None => Ok(Self(key)),
        }
    }

    /// The key as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Joins a prefix and a relative name; the prefix keeps its separator as is.
    pub fn join(prefix: &str, rest: &str) -> Result<Self, Error> {
        Self::new(format!("{prefix}{rest}"))
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Key {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Key {
    type Error = Error;
    fn try_from(value: String) -> Result<Self, Error> {
        Self::new(value)
    }
}

impl TryFrom<&str> for Key {
    type Error = Error;
    fn try_from(value: &str) -> Result<Self, Error> {
        Self::new(value)
    }
}

impl From<Key> for String {
    fn from(key: Key) -> Self {
        key.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_odd_characters() {
        for k in [
            "a b",
            "a+b",
            "100%",
            "x#y",
            "q?x=1",
            "日本/ü",
            " lead",
            "trail ",
        ] {
            assert_eq!(Key::new(k).unwrap().as_str(), k);
        }
    }

    #[test]
    fn refuses_bad_keys() {
        assert!(Key::new("").is_err());
        assert!(Key::new("a\0b").is_err());
        assert!(Key::new("x".repeat(1025)).is_err());
        assert!(Key::new("x".repeat(1024)).is_ok());
        // 1024 bytes counted in UTF-8, not chars: 342 × 3-byte char = 1026 bytes.
        assert!(Key::new("日".repeat(342)).is_err());
    }

    #[test]
    fn serde_validates() {
        let k: Key = serde_json::from_str("\"a b\"").unwrap();
        assert_eq!(k.as_str(), "a b");
        assert!(serde_json::from_str::<Key>("\"\"").is_err());
    }
}
