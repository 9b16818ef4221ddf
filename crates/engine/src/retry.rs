//! The retries the engine owns: requests whose body it reads from the
//! source again on each try (a streamed put or part, a ranged read hashed
//! on the way), under the job's one [`RetryPolicy`]. Requests whose inputs
//! can simply be sent again are retried by the store's retry layer
//! ([`haul_layers::Retry`]), not here.
//!
//! [`RetryPolicy`]: haul_layers::RetryPolicy

use std::future::Future;
use std::sync::Arc;

use haul_core::Result;
pub(crate) use haul_layers::Patience;

use crate::context::Shared;

/// Runs `op`, which reads its body from the source each try and carries
/// `len` bytes, retrying what the job's policy retries. Timeouts are
/// counted in `patience`, shared with the part's retry loop and (through
/// [`haul_layers::sharing`]) with the store's retry layer, so that a
/// request that timed out is sent again only once in all.
pub(crate) async fn rereading<T, F, Fut>(
    shared: &Shared,
    patience: &Arc<Patience>,
    len: u64,
    op: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    shared.retry.run_with(patience, len, op).await
}
