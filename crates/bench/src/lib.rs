//! haul-bench measures object stores and the migration path between them,
//! and draws what it measured.
//!
//! * [`run`] drives one [`ObjectStore`](haul_core::ObjectStore) directly
//!   with a [`Workload`] — put, get, mixed, multipart or copy — at a fixed
//!   concurrency or a sweep (1, 2, 4, … N), timing **every** request (and,
//!   for GETs, the time to the first byte), counting errors and retries,
//!   and deleting everything it wrote under its unique prefix.
//! * [`run_embedded`] / [`run_default`] do the same against haul's own S3
//!   endpoint started in-process, so a benchmark runs anywhere.
//! * [`run_migration`] copies a generated or existing prefix through
//!   [`haul_engine`] and reports end-to-end throughput and per-part latency
//!   (measured at the destination by a [`haul_layers::Timing`] layer).
//!
//! Latency percentiles are exact, nearest-rank over every sample (see
//! [`stats`]); throughput is reported as a mean, a median of the
//! per-second series, and the series itself. Reports serialise with serde
//! (`--json`), print as a table ([`render_text`]) and draw as
//! self-contained SVG or HTML ([`render_svg`], [`render_html`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), haul_bench::BenchError> {
//! use std::time::Duration;
//! use haul_bench::{BenchConfig, Workload};
//!
//! let cfg = BenchConfig {
//!     workload: Workload::Get,
//!     duration: Some(Duration::from_secs(5)),
//!     ..BenchConfig::default()
//! };
//! let report = haul_bench::run_embedded(cfg).await?;
//! println!("{}", haul_bench::render_text(&report));
//! std::fs::write("bench.html", haul_bench::render_html(&report)).unwrap();
//! # Ok(()) }
//! ```

mod chart;
mod cleanup;
mod config;
mod embedded;
mod error;
mod migration;
mod render;
mod report;
mod run;
pub mod stats;
mod svg;

pub use chart::{escape, line_chart};
pub use config::{BenchConfig, Workload};
pub use embedded::{EMBEDDED_BUCKET, run_default, run_embedded};
pub use error::{BenchError, Result};
pub use migration::{MigrationReport, run_migration};
pub use render::{
    render_html, render_migration_html, render_migration_svg, render_migration_text, render_svg,
};
pub use report::{
    BenchReport, Cleanup, RequestKind, RequestLatency, RunReport, human_bytes, render_text,
};
pub use run::run;

#[cfg(test)]
mod tests;
