//! The checksum cache: the content checksums haul last computed (reading a
//! file or an object) or verified (after a copy) of an object, kept per
//! store and key with the size and ETag they describe. A local file's ETag
//! is made of its size, mtime and inode, so a record stands only while
//! none of those changed; a store's ETag changes with every write.
//!
//! `sync --checksum` and `check` consult it before reading anything, so a
//! nightly comparison reads only what changed.

use haul_core::{Checksum, ChecksumKind};
use rusqlite::params;

use crate::writer::{Cmd, now_secs};
use crate::{Journal, JournalError};

/// The checksums of one version of an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectSums {
    /// The store's name (its `Display`: `file:///data`, `s3://bucket`):
    /// records of two stores never mix, and a local file is kept by its
    /// whole path whichever directory above it the store was opened at.
    pub store: String,
    /// The object's key in that store.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
    /// The ETag of the version the checksums describe.
    pub etag: String,
    /// Whole-object checksums, at most one per kind.
    pub sums: Vec<Checksum>,
}

/// The (store, key) a record of `key` in the store named `store` (its
/// `Display`) is kept under. A local directory's files are kept by their
/// whole path under `file://`, so a file has one record whichever
/// directory above it a job or a check started from.
fn object_id(store: &str, key: &str) -> (String, String) {
    match store.strip_prefix("file://") {
        Some(root) => (
            "file://".to_owned(),
            format!("{}/{key}", root.trim_end_matches('/')),
        ),
        None => (store.to_owned(), key.to_owned()),
    }
}

/// A stored kind and value back as a checksum; `None` for what this build
/// does not know (a record written by a newer haul is ignored, not fatal).
fn parse(kind: &str, value: &str) -> Option<Checksum> {
    let kind: ChecksumKind = kind.parse().ok()?;
    Checksum::from_hex(kind, value).ok()
}

impl Journal {
    /// Records the checksums of one version of an object, replacing what
    /// was recorded of other versions of it. Written with the next batch;
    /// not a barrier.
    pub fn record_sums(&self, mut sums: ObjectSums) {
        if sums.sums.is_empty() || sums.etag.is_empty() {
            return;
        }
        (sums.store, sums.key) = object_id(&sums.store, &sums.key);
        let _ = self.tx.send(Cmd::Sums(sums));
    }

    /// The checksums recorded of `key` in the store named `store` at exactly
    /// this size and ETag; empty when none were (or the object changed
    /// since).
    ///
    /// # Errors
    /// When the journal cannot be read.
    pub fn sums_of(
        &self,
        store: &str,
        key: &str,
        size: u64,
        etag: &str,
    ) -> Result<Vec<Checksum>, JournalError> {
        let (store, key) = object_id(store, key);
        let (store, key) = (store.as_str(), key.as_str());
        let rows: Vec<(String, String)> = if let Some(p) = self.pg() {
            p.query(
                "SELECT kind, value FROM sums WHERE store = $1 AND key = $2 AND size = $3 AND etag = $4"
                    .to_owned(),
                vec![
                    Box::new(store.to_owned()),
                    Box::new(key.to_owned()),
                    Box::new(size as i64),
                    Box::new(etag.to_owned()),
                ],
            )?
            .iter()
            .filter_map(|r| Some((r.try_get(0).ok()?, r.try_get(1).ok()?)))
            .collect()
        } else {
            self.read(|c| {
                c.prepare_cached(
                    "SELECT kind, value FROM sums
                     WHERE store = ?1 AND key = ?2 AND size = ?3 AND etag = ?4",
                )?
                .query_map(params![store, key, size as i64, etag], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?
                .collect()
            })?
        };
        Ok(rows.iter().filter_map(|(k, v)| parse(k, v)).collect())
    }
}

/// The rows of one record: (kind, hex value).
pub(crate) fn rows(s: &ObjectSums) -> impl Iterator<Item = (&'static str, String)> + '_ {
    s.sums.iter().map(|c| (c.kind().name(), c.to_hex()))
}

/// Writes a record in the SQLite writer's transaction.
pub(crate) fn apply_sqlite(tx: &rusqlite::Transaction<'_>, s: &ObjectSums) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "DELETE FROM sums WHERE store = ?1 AND key = ?2 AND (size <> ?3 OR etag <> ?4)",
    )?
    .execute(params![s.store, s.key, s.size as i64, s.etag])?;
    let mut stmt = tx.prepare_cached(
        "INSERT OR REPLACE INTO sums(store, key, kind, size, etag, value, seen_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    let now = now_secs();
    for (kind, value) in rows(s) {
        stmt.execute(params![
            s.store,
            s.key,
            kind,
            s.size as i64,
            s.etag,
            value,
            now
        ])?;
    }
    Ok(())
}

/// The SQL the PostgreSQL writer runs for a record: the delete of other
/// versions, then one upsert per kind.
pub(crate) const PG_DELETE: &str =
    "DELETE FROM sums WHERE store = $1 AND key = $2 AND (size <> $3 OR etag <> $4)";
/// See [`PG_DELETE`].
pub(crate) const PG_UPSERT: &str = "INSERT INTO sums(store, key, kind, size, etag, value, seen_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (store, key, kind) DO UPDATE
     SET size = excluded.size, etag = excluded.etag, value = excluded.value, seen_at = excluded.seen_at";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_file_has_one_id_whatever_its_root() {
        assert_eq!(
            object_id("file:///data", "a/b"),
            object_id("file:///data/a/", "b")
        );
        assert_eq!(
            object_id("s3://one", "a/b"),
            ("s3://one".to_owned(), "a/b".to_owned())
        );
    }

    #[test]
    fn stored_values_read_back_and_unknown_kinds_are_ignored() {
        let c = Checksum::from_crc(ChecksumKind::Crc32c, 0xdead_beef);
        assert_eq!(parse(c.kind().name(), &c.to_hex()), Some(c));
        assert_eq!(parse("blake9", "00"), None);
        assert_eq!(parse("crc32c", "zz"), None);
    }
}
