//! haul-qiniu against the Qiniu emulator: the conformance suite, the
//! store's own checks (tokens, signatures, qetag, batch, errors, faults),
//! the engine end to end, and the official Python SDK against the emulator
//! (ignored without the SDK).

mod attrs;
mod conformance;
mod emulator;
mod engine;
mod sdk;

use std::sync::Arc;

use haul_qiniu::{QiniuConfig, QiniuStore};
use haul_testkit::Guarded;
use haul_testkit::qiniu::{QINIU_BUCKET, QiniuServer};

/// The configuration `QiniuConfig::from_env` reads for `bucket` on `server`.
pub(crate) fn config(server: &QiniuServer, bucket: &str) -> QiniuConfig {
    let vars = server.env(bucket);
    QiniuConfig::from_lookup(bucket.to_owned(), |k| {
        vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
    })
    .expect("config")
}

/// A store over `bucket` of `server`.
pub(crate) fn store(server: &QiniuServer, bucket: &str) -> QiniuStore {
    QiniuStore::new(config(server, bucket)).expect("store")
}

/// A store over the public bucket that keeps its server alive.
pub(crate) fn guarded() -> Guarded<QiniuServer> {
    let server = QiniuServer::start();
    let store = Arc::new(store(&server, QINIU_BUCKET));
    Guarded::new(store, server)
}
