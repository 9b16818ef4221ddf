//! haul-core is the vocabulary every haul crate shares: validated object
//! [`Key`]s, [`ByteRange`]s, [`ObjectMeta`], multipart identifiers, streaming
//! [`checksum`] hashers, the store [`Capabilities`], the public [`Error`], and
//! the [`ObjectStore`] trait that every provider implements.
//!
//! ```
//! use haul_core::{ByteRange, Key};
//! let key = Key::new("photos/2026/a b+c%#?.jpg").unwrap();
//! assert_eq!(key.as_str(), "photos/2026/a b+c%#?.jpg");
//! assert_eq!(ByteRange::Bounded { start: 0, end: 10 }.resolve(4).unwrap(), 0..4);
//! ```

pub mod checksum;
mod error;
mod escape;
mod key;
mod meta;
pub mod observe;
mod payload;
pub mod qetag;
mod range;
pub mod resend;
mod store;
pub mod time;

/// For crash tests: when the environment variable `HAUL_TEST_CRASH_AT`
/// names `point` (`point` or `point#N`: the Nth time it is reached), the
/// process aborts there, at once, as a `kill -9` landing at exactly that
/// instant would stop it (no destructors, no flush). Points, in the order
/// of an upload's life:
///
/// * `multipart-created`: the store created an upload; the journal does
///   not know its id yet;
/// * `multipart-started`: the id is journaled; no part was sent;
/// * `part-stored`: the store acknowledged a part; the journal was not
///   told yet;
/// * `part-journaled`: the journal committed a part's record (counted per
///   part);
/// * `multipart-completed`: the store completed the upload; the journal
///   does not know yet;
/// * `local-synced`: a local upload's data is whole and synced, not yet
///   renamed into place;
/// * `local-renamed`: it is in place; its staging record is not removed
///   yet.
///
/// Unset, it costs one cached lookup.
pub fn crash_point(point: &str) {
    static AT: std::sync::OnceLock<Option<(String, u64)>> = std::sync::OnceLock::new();
    static HITS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let at = AT.get_or_init(|| {
        let v = std::env::var("HAUL_TEST_CRASH_AT").ok()?;
        Some(match v.split_once('#') {
            Some((p, n)) => (p.to_owned(), n.parse().unwrap_or(1)),
            None => (v, 1),
        })
    });
    if let Some((p, n)) = at
        && p == point
        && HITS.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1 == *n
    {
        eprintln!("HAUL_TEST_CRASH_AT={point}#{n}: aborting here");
        std::process::abort();
    }
}

pub use checksum::{Checksum, ChecksumKind, MultiHasher};
pub use error::{BoxError, Error, Result};
pub use escape::{escape_bytes, escape_text};
pub use key::{Key, MAX_KEY_BYTES};
pub use meta::{Attributes, Capabilities, CompletedPart, ObjectMeta, PartNumber, UploadId};
pub use payload::{Payload, PayloadStream, StreamSums};
pub use range::ByteRange;
pub use store::{
    CopyOptions, GetOptions, GetResponse, HashedObject, ListEntry, ListOptions, ListStream,
    ObjectStore, ObjectStoreExt, PutOptions, PutOutcome, Unusable, unlistable,
};
