//! The first wave of a multipart upload's parts, hashed while the upload
//! is being created.
//!
//! A part sent with its sums ahead ([`open_to_send`](crate::parts::open_to_send))
//! reads its range twice: once to hash it, once to send it. Its request
//! cannot start before the first pass ends, and the parts of an upload
//! cannot start before `create_multipart` answers. Both waits are paid one
//! after the other unless the first pass of the parts that go first runs
//! during the create: over a long link the create is a round trip of idle
//! time (200 ms at 200 ms RTT) and hashing the first 32 parts of 16 MiB
//! takes about as long on two cores. [`Early::start`] spawns those passes;
//! the driver waits for part `n`'s ([`Early::take`]) before the part takes
//! its slot, so a part never holds a slot while it waits for a pass.
//!
//! A pass holds no more than a read buffer, and no more of them run than
//! the parts that would run at once: the file's part limit, and (when the
//! job tunes its concurrency) a slot of the job's each.

use std::collections::HashMap;
use std::sync::Arc;

use haul_core::{ByteRange, Checksum, ChecksumKind, Error, ObjectMeta};
use tokio::task::JoinHandle;

use crate::context::Shared;

/// One part's first pass, running; aborted when dropped unawaited.
#[derive(Debug)]
pub(crate) struct EarlySums(JoinHandle<Result<Vec<Checksum>, Error>>);

impl EarlySums {
    /// The part's checksums, once its pass ends; `None` when it failed
    /// (the part then hashes its range itself, and reports what fails).
    pub(crate) async fn sums(mut self) -> Option<Vec<Checksum>> {
        (&mut self.0).await.ok()?.ok()
    }
}

impl Drop for EarlySums {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The first passes of an upload's first parts, by part number.
#[derive(Debug, Default)]
pub(crate) struct Early(HashMap<u32, EarlySums>);

impl Early {
    /// Spawns the first passes of parts `1..=first` of an object of `size`
    /// bytes in parts of `part_size`.
    pub(crate) fn start(
        shared: &Arc<Shared>,
        meta: &Arc<ObjectMeta>,
        kinds: &Arc<Vec<ChecksumKind>>,
        part_size: u64,
        first: u32,
    ) -> Self {
        let size = meta.size;
        let passes = (1..=first)
            .map(|n| {
                let offset = u64::from(n - 1) * part_size;
                let len = part_size.min(size.saturating_sub(offset));
                let (s, m, k) = (Arc::clone(shared), Arc::clone(meta), Arc::clone(kinds));
                let pass = tokio::spawn(async move {
                    let _slot = crate::tune::take(&s).await;
                    crate::parts::hash_range(&s, &m, Some(ByteRange::at(offset, len)), len, &k)
                        .await
                });
                (n, EarlySums(pass))
            })
            .collect();
        Self(passes)
    }

    /// Part `n`'s first pass, if one was started.
    pub(crate) fn take(&mut self, n: u32) -> Option<EarlySums> {
        self.0.remove(&n)
    }
}
