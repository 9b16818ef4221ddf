//! haul-nos against the NOS emulator: uploads both ways, reads by URL,
//! limits refused before sending, authentication and Yunxin codes, lost
//! answers, the conformance cases that apply, and the engine end to end.

mod conformance;
mod engine;
mod store;

use haul_nos::{NosConfig, NosStore};
use haul_testkit::nos::NosServer;

/// The configuration `NosConfig::from_env` reads on `server`.
pub(crate) fn config(server: &NosServer) -> NosConfig {
    let vars = server.env();
    NosConfig::from_lookup(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone()))
        .expect("config")
}

/// A store on `server`.
pub(crate) fn store(server: &NosServer) -> NosStore {
    NosStore::new(config(server)).expect("store")
}

/// A store that keeps its server alive.
pub(crate) fn guarded() -> haul_testkit::Guarded<NosServer> {
    let server = NosServer::start();
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
