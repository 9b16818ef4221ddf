//! haul-cos against the COS emulator: the conformance suite, the store's
//! own checks (signatures, CRC-64, faults), the engine end to end, and the
//! official Python SDK against the emulator (ignored without the SDK).

mod conformance;
mod emulator;
mod engine;
mod sdk;

use std::sync::Arc;

use haul_cos::{CosConfig, CosStore};
use haul_testkit::{CosEmulator, Guarded};

/// A configuration for the emulator's default bucket, path-style.
pub(crate) fn config(emu: &CosEmulator) -> CosConfig {
    CosConfig::new(
        emu.bucket(),
        emu.region(),
        emu.secret_id(),
        emu.secret_key(),
    )
    .with_endpoint(emu.endpoint())
}

/// A store over a fresh emulator.
pub(crate) fn store(emu: &CosEmulator) -> CosStore {
    CosStore::new(config(emu)).expect("store")
}

/// A store that keeps its emulator alive, for `conformance_tests!`.
pub(crate) fn guarded() -> Guarded<CosEmulator> {
    let emu = CosEmulator::start();
    let store = Arc::new(store(&emu));
    Guarded::new(store, emu)
}
