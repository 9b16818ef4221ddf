//! `haul bench`: load a store (the embedded endpoint by default) or a
//! migration path, and report throughput, latency percentiles and a chart.

use haul_bench::{BenchConfig, BenchReport, Workload};

use crate::args::{BenchArgs, Global, WorkloadArg};
use crate::error::CliError;
use crate::location::Location;
use crate::settings::ConfigFile;
use crate::sides::{destination, source};

fn failed(e: impl std::fmt::Display) -> CliError {
    CliError::failed(e.to_string())
}

fn write_report(path: &std::path::Path, svg: String, html: String) -> Result<(), CliError> {
    let is_svg = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("svg"));
    std::fs::write(path, if is_svg { svg } else { html })
        .map_err(|e| CliError::usage(format!("{}: {e}", path.display())))
}

/// `haul bench`.
pub(crate) async fn bench(g: &Global, a: BenchArgs) -> Result<u8, CliError> {
    let config = ConfigFile::load()?;
    if let (Some(from), Some(to)) = (&a.from, &a.to) {
        return migration(g, &a, from, to, &config).await;
    }
    let cfg = BenchConfig {
        workload: match a.workload {
            WorkloadArg::Put => Workload::Put,
            WorkloadArg::Get => Workload::Get,
            WorkloadArg::Mixed => Workload::Mixed,
            WorkloadArg::Multipart => Workload::Multipart,
            WorkloadArg::Copy => Workload::Copy,
        },
        object_size_bytes: a.size,
        objects: a.objects,
        duration: a.objects.is_none().then_some(a.duration),
        concurrency: match a.knobs.concurrency {
            Some(crate::args::ConcurrencyArg::Fixed(n)) => n,
            _ => 16,
        },
        sweep: a.sweep,
        part_size: a.part_size,
        ..BenchConfig::default()
    };
    if !g.quiet && !g.json {
        eprintln!(
            "haul bench: {} of {}-byte objects at concurrency {}{} against {}",
            cfg.workload,
            cfg.object_size_bytes,
            cfg.concurrency,
            if cfg.sweep { " (sweep)" } else { "" },
            a.target.as_deref().unwrap_or("the embedded endpoint")
        );
    }
    let report: BenchReport = match &a.target {
        None => haul_bench::run_embedded(cfg).await.map_err(failed)?,
        Some(t) => {
            let loc = Location::parse(t, &config)?;
            // The benchmark times and retries each request itself (under
            // haul's one retry policy): its store gets no retry layer.
            crate::layers::set_layers(haul_layers::Layers::new(haul_layers::RetryPolicy::new(
                0,
                std::time::Duration::ZERO,
            )));
            let side = destination(&loc, false, None, &config)?;
            let cfg = BenchConfig {
                key_prefix: side.prefix.clone(),
                ..cfg
            };
            haul_bench::run(side.store, cfg).await.map_err(failed)?
        }
    };
    if g.json {
        outln!("{}", serde_json::to_string(&report).map_err(failed)?);
    } else if !g.quiet {
        out!("{}", haul_bench::render_text(&report));
    }
    if let Some(path) = &a.report {
        write_report(
            path,
            haul_bench::render_svg(&report),
            haul_bench::render_html(&report),
        )?;
        if !g.quiet {
            eprintln!("report written to {}", path.display());
        }
    }
    Ok(0)
}

async fn migration(
    g: &Global,
    a: &BenchArgs,
    from: &str,
    to: &str,
    config: &ConfigFile,
) -> Result<u8, CliError> {
    let transfer = config.transfer_config(&a.knobs)?;
    let generate = match &a.generate {
        None => None,
        Some(spec) => {
            let (n, size) = spec.split_once(':').ok_or_else(|| {
                CliError::usage(format!("--generate {spec}: expected COUNT:SIZE"))
            })?;
            let n: u64 = n
                .parse()
                .map_err(|_| CliError::usage(format!("--generate {spec}: bad count")))?;
            Some((n, crate::size::parse_size(size).map_err(CliError::usage)?))
        }
    };
    let src_loc = Location::parse(from, config)?;
    let (src, _) = if generate.is_some() {
        (destination(&src_loc, false, None, config)?, false)
    } else {
        source(&src_loc, true, true, config)?
    };
    let dst = destination(&Location::parse(to, config)?, false, None, config)?;
    let (src, mut dst) = (src, dst);
    if src.id == dst.id {
        dst.store = std::sync::Arc::clone(&src.store);
    }
    let report = haul_bench::run_migration(transfer, src.endpoint(), dst.endpoint(), generate)
        .await
        .map_err(failed)?;
    if g.json {
        outln!("{}", serde_json::to_string(&report).map_err(failed)?);
    } else if !g.quiet {
        out!("{}", haul_bench::render_migration_text(&report));
    }
    if let Some(path) = &a.report {
        write_report(
            path,
            haul_bench::render_migration_svg(&report),
            haul_bench::render_migration_html(&report),
        )?;
    }
    Ok(u8::from(report.files_failed > 0))
}
