//! haul-engine moves objects from one [`ObjectStore`](haul_core::ObjectStore)
//! to another, in parallel, part by part, and resumes after a crash from the
//! [`haul_journal`] checkpoint journal.
//!
//! Everything is a copy between two stores (the local disk is a store):
//!
//! 1. **Plan**: the source listing streams into the journal (merged with the
//!    destination listing when comparing), so ten million keys cost disk,
//!    not memory.
//! 2. **Split**: one put up to `slice_size`; above it, multipart with
//!    `part_size = max(chunk_size, ceil(size / max_parts))` clamped to the
//!    destination's limits, journaled so a resume makes the same plan.
//!    Within one store, server-side `copy` or `upload_part_copy`.
//! 3. **Schedule**: files, parts per file and bytes in flight are bounded; a
//!    part takes its permits before it reads a byte.
//! 4. **Transfer**: each byte is read once and hashed in the same pass
//!    (CRC32C always, MD5 when wanted).
//! 5. **Retry**: requests retry retryable errors with jittered exponential
//!    backoff, honouring Retry-After; parts retry up to `chunk_retry_times`.
//! 6. **Verify**: the sizes and every checksum both ends report are compared
//!    with what was computed; a mismatch redoes the file once, then fails it.
//! 7. **Resume**: the source is re-checked, the store's `list_parts` is the
//!    truth, and only missing parts are sent.
//!
//! The engine never names a provider: it asks [`haul_core::Capabilities`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use haul_engine::{Endpoint, Engine, JobRequest, TransferConfig};
//! # let (src, dst): (Arc<dyn haul_core::ObjectStore>, Arc<dyn haul_core::ObjectStore>) = todo!();
//! let journal = Arc::new(haul_journal::Journal::open_ephemeral()?);
//! let engine = Engine::new(journal, TransferConfig::default());
//! let handle = engine
//!     .start(JobRequest::copy(Endpoint::new(src, "", "a"), Endpoint::new(dst, "", "b")))
//!     .await?;
//! let summary = handle.join().await?;
//! assert!(summary.is_success());
//! # Ok(()) }
//! ```

mod attrs;
mod audit;
mod config;
mod context;
mod early;
mod error;
mod event;
mod failure;
mod job;
mod limit;
mod multipart;
mod parts;
mod plan;
mod retry;
mod shard;
pub mod stream;
mod sums;
mod transfer;
mod tune;
mod verify;

pub use attrs::{AttrOverrides, put_options};
pub use config::{AUTO_MAX, AUTO_START, CompareMode, Concurrency, OnError, TransferConfig};
pub use context::{Endpoint, JobRequest, JobSpec, ListingSpec, Operation};
pub use event::{Compared, Event, RetryCauses, Snapshot, Summary};
pub use haul_journal::JobId;
pub use job::{Canceller, Engine, JobHandle};
pub use shard::Shard;

pub use error::EngineError;
