use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use haul_core::ObjectStore;

/// A store together with something that must outlive it: a temporary
/// directory, a spawned server, a bucket to clean up on drop.
///
/// Derefs to `dyn ObjectStore`, so it is what a
/// [`conformance_tests!`](crate::conformance_tests) factory can return for a
/// store that needs such a guard. The store is dropped before the guard.
///
/// ```
/// use std::sync::Arc;
/// use haul_core::ObjectStore;
/// use haul_testkit::{Guarded, MemoryStore};
///
/// let dir = "a TempDir in real use";
/// let g = Guarded::new(Arc::new(MemoryStore::new()), dir);
/// let store: &dyn ObjectStore = &*g;
/// assert_eq!(store.to_string(), "memory://");
/// assert_eq!(*g.guard(), "a TempDir in real use");
/// ```
pub struct Guarded<G> {
    // Field order is drop order: the store goes first.
    store: Arc<dyn ObjectStore>,
    guard: G,
}

impl<G> Guarded<G> {
    /// Wraps `store` and keeps `guard` alive as long as it.
    pub fn new(store: Arc<dyn ObjectStore>, guard: G) -> Self {
        Self { store, guard }
    }

    /// The store, to share.
    #[must_use]
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The guard.
    #[must_use]
    pub fn guard(&self) -> &G {
        &self.guard
    }
}

impl<G> Deref for Guarded<G> {
    type Target = dyn ObjectStore;

    fn deref(&self) -> &Self::Target {
        &*self.store
    }
}

impl<G> fmt::Debug for Guarded<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guarded")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}
