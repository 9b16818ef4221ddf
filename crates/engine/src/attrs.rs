//! What a copy writes besides the bytes: the source's attributes, a guessed
//! Content-Type, the content's modification time, and the job's overrides.

use std::collections::BTreeMap;

use haul_core::{Attributes, ObjectMeta, PutOptions};
use serde::{Deserialize, Serialize};

/// Attributes a job sets on every object it uploads (`--content-type`,
/// `--metadata K=V`, `--cache-control`, `--content-disposition`). They win
/// over the source's. Server-side copies keep the source's attributes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AttrOverrides {
    /// Content-Type for every object.
    pub content_type: Option<String>,
    /// Cache-Control for every object.
    pub cache_control: Option<String>,
    /// Content-Disposition for every object.
    pub content_disposition: Option<String>,
    /// User metadata added to every object.
    pub metadata: BTreeMap<String, String>,
}

impl AttrOverrides {
    /// Whether nothing is overridden.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// The options an upload of `src` to `dst_key` writes with: the source's
/// attributes; a Content-Type guessed from the key when the source has none;
/// the content's modification time under `mtime` (so a download can restore
/// it and `sync` compares content times, not upload times); then overrides.
#[must_use]
pub fn put_options(src: &ObjectMeta, dst_key: &str, overrides: &AttrOverrides) -> PutOptions {
    let mut attrs: Attributes = src.attrs.clone();
    if attrs.content_type.is_none() {
        attrs.content_type = mime_guess::from_path(dst_key)
            .first_raw()
            .map(str::to_owned);
    }
    if !attrs.metadata.contains_key(Attributes::MTIME)
        && let Some(t) = src.last_modified
    {
        attrs.set_mtime(t);
    }
    if let Some(v) = &overrides.content_type {
        attrs.content_type = Some(v.clone());
    }
    if let Some(v) = &overrides.cache_control {
        attrs.cache_control = Some(v.clone());
    }
    if let Some(v) = &overrides.content_disposition {
        attrs.content_disposition = Some(v.clone());
    }
    for (k, v) in &overrides.metadata {
        attrs.metadata.insert(k.to_ascii_lowercase(), v.clone());
    }
    PutOptions::with_attributes(&attrs)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use haul_core::Key;

    use super::*;

    #[test]
    fn guesses_type_records_mtime_and_applies_overrides() {
        let mut src = ObjectMeta::new(Key::new("a/photo.JPG").unwrap(), 3);
        src.last_modified = Some(SystemTime::UNIX_EPOCH + Duration::new(1_700_000_000, 5));
        let o = put_options(&src, "b/photo.JPG", &AttrOverrides::default());
        assert_eq!(o.content_type.as_deref(), Some("image/jpeg"));
        assert_eq!(o.metadata["mtime"], "1700000000.000000005");
        src.attrs.content_type = Some("application/x-custom".into());
        src.attrs.metadata.insert("mtime".into(), "1.5".into());
        src.attrs.metadata.insert("owner".into(), "ann".into());
        let over = AttrOverrides {
            cache_control: Some("max-age=60".into()),
            metadata: [("Team".to_owned(), "ops".to_owned())].into(),
            ..AttrOverrides::default()
        };
        let o = put_options(&src, "x.bin", &over);
        assert_eq!(o.content_type.as_deref(), Some("application/x-custom"));
        assert_eq!(
            o.metadata["mtime"], "1.5",
            "an existing mtime travels as is"
        );
        assert_eq!(o.metadata["owner"], "ann");
        assert_eq!(o.metadata["team"], "ops");
        assert_eq!(o.cache_control.as_deref(), Some("max-age=60"));
    }
}
