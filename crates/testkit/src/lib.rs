//! haul-testkit: what every haul crate tests against.
//!
//! * [`MemoryStore`] — an in-memory [`ObjectStore`](haul_core::ObjectStore)
//!   with every capability, as strict as S3 (minimum part sizes, ETags,
//!   `NoSuchUpload`, ascending parts, checksum verification).
//! * [`FaultStore`] — wraps any store and injects failures by rule,
//!   deterministically from a seed, while counting requests, bytes and
//!   concurrency.
//! * [`conformance`] — the suite every `ObjectStore` implementation must
//!   pass, one async fn per case, and the [`conformance_tests!`] macro that
//!   turns it into `#[tokio::test]`s.
//! * `S3Server` (feature `s3`) — haul-serve's in-process S3 (s3s-fs behind
//!   a fidelity shim) on a loopback port, and `SeaweedServer`, a real
//!   SeaweedFS when `weed` is installed.
//! * `FaultProxy` (feature `proxy`) — an HTTP/1.1 proxy between a client and
//!   a server that injects resets, `503 SlowDown`, `500 InternalError`,
//!   truncated bodies and stalls by seeded rule, while counting requests.
//!
//! * `CosEmulator` (feature `cos`) — Tencent COS's XML API in
//!   memory on a loopback port, verifying q-sign signatures byte for byte,
//!   with hooks to inject faults and corrupt parts.
//! * `QiniuServer` (feature `qiniu`) — Qiniu Kodo's up, rs and rsf
//!   hosts and a download domain per bucket in memory on loopback ports,
//!   verifying upload tokens, signatures and private URLs byte for byte,
//!   with hooks to inject faults and corrupt uploads.
//! * `CredsServer` (feature `creds`) — EC2 instance metadata (IMDSv2),
//!   ECS container credentials and STS on a loopback port, minting
//!   short-lived keys that an `S3Server`'s `KeyRing` accepts until they
//!   expire, counting every fetch.
//! * `NosServer` (feature `nos`), `EasemobServer` (feature `easemob`) and
//!   `TcbServer` (feature `tcb`) — the file APIs of NetEase Yunxin, Easemob
//!   and WeChat CloudBase in memory on loopback ports, verifying each
//!   service's authentication and limits, with hooks for error codes,
//!   lost answers and token expiry.
//!
//! ```
//! use std::sync::Arc;
//! use haul_core::{Key, ObjectStore, ObjectStoreExt};
//! use haul_testkit::{Fault, FaultRule, FaultStore, MemoryStore, Op};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let store = FaultStore::new(Arc::new(MemoryStore::new()), 7);
//! store.set_rules(vec![FaultRule::nth(Op::Get, 1, Fault::TransientBefore)]);
//! let key = Key::new("a b+c").unwrap();
//! store.put_bytes(&key, "hello".into()).await.unwrap();
//! assert!(store.get_bytes(&key).await.unwrap_err().is_retryable());
//! assert_eq!(&store.get_bytes(&key).await.unwrap()[..], b"hello");
//! assert_eq!(store.stats().requests(Op::Get), 2);
//! # });
//! ```

pub mod conformance;
#[cfg(feature = "cos")]
pub mod cos;
#[cfg(feature = "creds")]
pub mod creds;
#[cfg(feature = "easemob")]
pub mod easemob;
#[cfg(any(
    feature = "nos",
    feature = "easemob",
    feature = "tcb",
    feature = "creds"
))]
mod emu;
mod fault;
mod guard;
mod memory;
#[cfg(feature = "nos")]
pub mod nos;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "proxy")]
mod proxy;
#[cfg(feature = "qiniu")]
pub mod qiniu;
#[cfg(feature = "tcb")]
pub mod tcb;
#[cfg(feature = "s3")]
mod weed;

#[cfg(feature = "cos")]
pub use cos::CosEmulator;
#[cfg(feature = "creds")]
pub use creds::{CredSource, CredsServer, Minted};
#[cfg(feature = "easemob")]
pub use easemob::EasemobServer;
pub use fault::{Fault, FaultRule, FaultStats, FaultStore, Op, Trigger};
pub use guard::Guarded;
#[cfg(feature = "s3")]
pub use haul_serve::{KeyRing, S3Server};
pub use memory::{MemoryStore, StoredObject};
#[cfg(feature = "nos")]
pub use nos::NosServer;
#[cfg(feature = "postgres")]
pub use postgres::PgServer;
#[cfg(feature = "proxy")]
pub use proxy::{Answered, FaultProxy, ProxyFault, ProxyFaultKind, ProxyRule, ProxyStats};
#[cfg(feature = "qiniu")]
pub use qiniu::QiniuServer;
#[cfg(feature = "tcb")]
pub use tcb::TcbServer;
#[cfg(feature = "s3")]
pub use weed::SeaweedServer;

/// Re-exports the conformance macro relies on; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use tokio;
}
