//! haul-tcb against the CloudBase emulator: the conformance suite (what a
//! store without listing can run), the two-step upload, download URLs and
//! ranges, batch deletes, tokens and errcodes, limits, lost answers, and
//! the engine end to end.

mod conformance;
mod engine;
mod store;

use std::sync::Arc;

use haul_tcb::{TcbConfig, TcbStore};
use haul_testkit::Guarded;
use haul_testkit::tcb::TcbServer;

/// The configuration `TcbConfig::from_env` reads on `server`.
pub(crate) fn config(server: &TcbServer) -> TcbConfig {
    let vars = server.env();
    TcbConfig::from_lookup(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone()))
        .expect("config")
}

/// A store on `server`.
pub(crate) fn store(server: &TcbServer) -> TcbStore {
    TcbStore::new(config(server)).expect("store")
}

/// A store that keeps its server alive.
pub(crate) fn guarded() -> Guarded<TcbServer> {
    let server = TcbServer::start();
    let store = Arc::new(store(&server));
    Guarded::new(store, server)
}

/// `len` bytes that differ with `seed`.
pub(crate) fn data(len: usize, seed: u8) -> bytes::Bytes {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 11) as u8)
        .collect::<Vec<u8>>()
        .into()
}
