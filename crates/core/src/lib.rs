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
