//! Benchmarks the embedded endpoint and writes the reports.
//!
//! `cargo run --release -p haul-bench --example embedded -- [WORKLOAD] [SECONDS] [OUT] [--sweep]`
//! writes `OUT.json`, `OUT.svg` and `OUT.html` (default `OUT` = `haul-bench`)
//! and prints the table.

use std::time::Duration;

use haul_bench::{BenchConfig, Workload};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sweep = args.iter().any(|a| a == "--sweep");
    let args: Vec<&String> = args.iter().filter(|a| *a != "--sweep").collect();
    let workload: Workload = args.first().map_or(Ok(Workload::Put), |w| w.parse())?;
    let secs: f64 = args.get(1).map_or(Ok(5.0), |s| s.parse())?;
    let out = args.get(2).map_or("haul-bench", |s| s.as_str());
    let cfg = BenchConfig {
        workload,
        duration: Some(Duration::from_secs_f64(secs)),
        sweep,
        ..BenchConfig::default()
    };
    let report = haul_bench::run_embedded(cfg).await?;
    print!("{}", haul_bench::render_text(&report));
    std::fs::write(format!("{out}.json"), report.to_json())?;
    std::fs::write(format!("{out}.svg"), haul_bench::render_svg(&report))?;
    std::fs::write(format!("{out}.html"), haul_bench::render_html(&report))?;
    Ok(())
}
