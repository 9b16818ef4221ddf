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
mod payload;
mod range;
mod store;
pub mod time;

/// For crash tests: when the environment variable `HAUL_TEST_CRASH_AT`
/// names `point`, the process aborts here, at once, as a `kill -9` landing
/// at exactly this instant would stop it (no destructors, no flush). Points:
/// `multipart-completed` (the store completed an upload; the journal does
/// not know yet), `local-renamed` (a local upload's data is in place; its
/// staging record is not removed yet). Unset, it costs one cached lookup.
pub fn crash_point(point: &str) {
    static AT: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let at = AT.get_or_init(|| std::env::var("HAUL_TEST_CRASH_AT").ok());
    if at.as_deref() == Some(point) {
        eprintln!("HAUL_TEST_CRASH_AT={point}: aborting here");
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
    CopyOptions, GetOptions, GetResponse, ListEntry, ListOptions, ListStream, ObjectStore,
    ObjectStoreExt, PutOptions, PutOutcome, Unusable, unlistable,
};
