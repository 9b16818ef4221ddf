//! The layers every store a command opens is put in (retry policy,
//! limits): set once from the transfer settings before any store is
//! opened, so that a command's stores share one set of limits. A leaf:
//! it imports nothing of the crate.

use std::sync::Arc;

use haul_core::ObjectStore;

/// The layers every store opened from now on is put in (retry,
/// throttle): set from the transfer settings before any store is opened,
/// so that a command's stores share one set of limits.
static LAYERS: std::sync::RwLock<Option<haul_layers::Layers>> = std::sync::RwLock::new(None);

/// Puts every store opened later in `layers`.
pub(crate) fn set_layers(layers: haul_layers::Layers) {
    *LAYERS
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(layers);
}

fn layers() -> haul_layers::Layers {
    LAYERS
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
        .unwrap_or_default()
}

/// `store` in the layers in force (the default retry policy, no limits,
/// when no settings were read).
pub(crate) fn layered(store: Arc<dyn ObjectStore>) -> Arc<dyn ObjectStore> {
    layers().wrap(store)
}

/// The retry policy in force, for the requests that are no store's
/// (bucket administration, listing uploads).
pub(crate) fn retry_policy() -> haul_layers::RetryPolicy {
    layers().retry_policy()
}
