//! haul: a parallel bulk-transfer engine that resumes any transfer part by
//! part after a crash and verifies that what arrived is what left.
//!
//! This facade re-exports the workspace's crates.

pub use haul_alloc as alloc;
pub use haul_core as core;
pub use haul_engine as engine;
pub use haul_http as http;
pub use haul_journal as journal;
pub use haul_local as local;
pub use haul_s3 as s3;
pub use haul_serve as serve;
pub use haul_testkit as testkit;
