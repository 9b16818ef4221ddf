//! haul-easemob against the Easemob emulator: restricted uploads, reads by
//! uuid and share secret, thumbnails, tokens, limits, lost
//! answers, the conformance cases that apply, and the engine end to end.

mod conformance;
mod engine;
mod store;

use haul_easemob::{EasemobConfig, EasemobStore};
use haul_testkit::easemob::EasemobServer;

/// The configuration `EasemobConfig::from_env` reads on `server`.
pub(crate) fn config(server: &EasemobServer) -> EasemobConfig {
    let vars = server.env();
    EasemobConfig::from_lookup(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone()))
        .expect("config")
}

/// A store on `server`.
pub(crate) fn store(server: &EasemobServer) -> EasemobStore {
    EasemobStore::new(config(server)).expect("store")
}

/// A store that keeps its server alive.
pub(crate) fn guarded() -> haul_testkit::Guarded<EasemobServer> {
    let server = EasemobServer::start();
    let store = std::sync::Arc::new(store(&server));
    haul_testkit::Guarded::new(store, server)
}

/// `len` bytes that differ with `seed`.
pub(crate) fn data(len: usize, seed: u8) -> bytes::Bytes {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 11) as u8)
        .collect::<Vec<u8>>()
        .into()
}
