//! haul-cli is the `haul` command: it parses arguments, opens the stores the
//! locations name, runs the engine, and renders progress, JSON lines and the
//! summary. The binary itself (`src/main.rs` of the `haul` package) only
//! calls [`main`].
//!
//! Exit codes: 0 all done; 1 some files failed; 2 usage or configuration
//! error; 3 verification failed; 130 interrupted.

/// Prints to standard output like `print!`; see [`output::stdout`].
macro_rules! out {
    ($($t:tt)*) => { $crate::output::stdout(format_args!($($t)*), false) };
}

/// Prints a line to standard output like `println!`; see [`output::stdout`].
macro_rules! outln {
    ($($t:tt)*) => { $crate::output::stdout(format_args!($($t)*), true) };
}

mod args;
mod bench;
mod buckets;
mod check;
mod demo;
mod error;
mod inspect;
mod layers;
mod location;
mod man;
mod metrics;
mod output;
mod providers;
mod report;
mod serve;
mod settings;
mod sides;
mod size;
mod stream;
mod transfer;
mod worker;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use crate::args::{Cli, Command};

pub(crate) use error::CliError;

fn init_tracing(verbose: u8, quiet: bool) {
    use std::io::IsTerminal as _;
    let default = match verbose {
        0 if quiet => "error",
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// Runs the `haul` command line and returns the process exit code.
#[must_use]
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    init_tracing(cli.global.verbose, cli.global.quiet);
    let timeout = match cli.global.timeout {
        Some(t) => Some(t),
        None => match std::env::var("HAUL_TIMEOUT") {
            Ok(text) => match size::parse_duration(&text) {
                Ok(t) => Some(t),
                Err(e) => {
                    eprintln!("error: HAUL_TIMEOUT={text:?}: {e}");
                    return ExitCode::from(2);
                }
            },
            Err(_) => None,
        },
    };
    if let Some(t) = timeout {
        haul_http::set_request_timeout(t);
    }
    providers::set_s3_flags(cli.global.s3.clone());
    // The runtime panics on a thread count it cannot use.
    if let Ok(text) = std::env::var("TOKIO_WORKER_THREADS")
        && !text.trim().parse::<usize>().is_ok_and(|n| n > 0)
    {
        eprintln!("error: TOKIO_WORKER_THREADS={text:?}: not a number of threads above 0");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(run(cli));
    // Everything that matters was awaited; a blocking read of standard input
    // that nothing will ever answer (a stream stopped by Ctrl-C) must not
    // keep the process alive.
    runtime.shutdown_background();
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.code())
        }
    }
}

async fn run(cli: Cli) -> Result<u8, CliError> {
    let g = &cli.global;
    if let Some(addr) = &g.metrics {
        let job = matches!(
            cli.command,
            Command::Cp(_)
                | Command::Mv(_)
                | Command::Sync(_)
                | Command::Rm(_)
                | Command::Resume(_)
        );
        if !job {
            return Err(CliError::usage(
                "--metrics is served while a job runs: cp, mv, sync, rm or resume",
            ));
        }
        let m = metrics::serve(addr).await?;
        layers::set_recorder(m);
    }
    match cli.command {
        // `-` is standard input or output: one object, streamed.
        Command::Cp(a) if a.src == "-" || a.dst == "-" => stream::cp(g, &a).await,
        Command::Mv(a) if a.src == "-" || a.dst == "-" => Err(CliError::usage(
            "`-` (standard input or output) works with a plain cp of one object",
        )),
        Command::Cp(a) => transfer::cp(g, a, haul_engine::Operation::Copy).await,
        Command::Mv(a) => transfer::cp(g, a, haul_engine::Operation::Move).await,
        Command::Sync(a) => transfer::sync(g, a).await,
        Command::Check(a) => check::check(g, a).await,
        Command::Rm(a) => transfer::rm(g, a).await,
        Command::Resume(a) => transfer::resume(g, a).await,
        Command::Ls(a) => inspect::ls(g, a).await,
        Command::Stat(a) => inspect::stat(g, a).await,
        Command::Mb(a) => buckets::mb(g, a).await,
        Command::Rb(a) => buckets::rb(g, a).await,
        Command::Cat(a) => stream::cat(g, &a.target).await,
        Command::Jobs(a) => inspect::jobs(g, a).await,
        Command::Worker(a) => worker::worker(g, a).await,
        Command::Cleanup(a) => inspect::cleanup(g, a).await,
        Command::Serve(a) => serve::serve(g, a).await,
        Command::Demo(a) => demo::demo(g, a).await,
        Command::Bench(a) => bench::bench(g, a).await,
        Command::Man { dir } => man::man(dir.as_deref()),
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "haul", &mut script);
            out!("{}", String::from_utf8_lossy(&script));
            Ok(0)
        }
    }
}
