//! `haul cp - DST` (standard input to one object), `haul cp SRC -` and
//! `haul cat SRC` (one object to standard output).

use haul_engine::{Canceller, Engine};

use crate::args::{CpArgs, Global, Knobs};
use crate::error::CliError;
use crate::location::Location;
use crate::settings::ConfigFile;
use crate::sides::{destination, open_journal, source};

/// `haul cp` where one side is `-`.
pub(crate) async fn cp(g: &Global, a: &CpArgs) -> Result<u8, CliError> {
    if a.recursive {
        return Err(CliError::usage(
            "`-` (standard input or output) works with a plain cp of one object",
        ));
    }
    let config = ConfigFile::load()?;
    let transfer = config.transfer_config(&a.knobs)?;
    let engine = Engine::new(open_journal(g)?, transfer).with_canceller(on_interrupt()?);
    let summary = if a.src == "-" {
        let loc = Location::parse(&a.dst, &config)?;
        if matches!(&loc, Location::Bucket { key, .. } if key.is_empty() || key.ends_with('/')) {
            return Err(CliError::usage(format!(
                "{}: standard input needs a full destination key",
                a.dst
            )));
        }
        let dst = destination(&loc, true, None, &config)?.endpoint();
        // No source to take attributes from: a type guessed from the key,
        // then the flags.
        let src = haul_core::ObjectMeta::new(
            haul_core::Key::new(dst.prefix.clone()).map_err(|e| CliError::usage(e.to_string()))?,
            0,
        );
        let opts = haul_engine::put_options(&src, &dst.prefix, &a.attrs.overrides());
        let stdin = tokio::io::stdin();
        engine.upload_stream(stdin, dst, opts).await?
    } else {
        return download(g, &engine, &a.src, &config).await;
    };
    Ok(crate::output::Output::new(g)
        .not_resumable()
        .summary(&summary))
}

async fn download(
    g: &Global,
    engine: &Engine,
    src: &str,
    config: &ConfigFile,
) -> Result<u8, CliError> {
    let loc = Location::parse(src, config)?;
    let (side, _) = source(&loc, false, true, config)?;
    let summary = engine
        .download_stream(side.endpoint(), tokio::io::stdout())
        .await?;
    // Standard output carries the object: the summary goes to standard error.
    let quiet = Global {
        quiet: true,
        json: false,
        verbose: g.verbose,
        journal: None,
        timeout: None,
        metrics: None,
        s3: g.s3.clone(),
    };
    for (_, e) in &summary.failures {
        eprintln!("error: {e}");
    }
    Ok(crate::output::Output::new(&quiet)
        .not_resumable()
        .summary(&summary))
}

/// `haul cat SRC`.
pub(crate) async fn cat(g: &Global, src: &str) -> Result<u8, CliError> {
    let config = ConfigFile::load()?;
    let transfer = config.transfer_config(&Knobs::default())?;
    let engine = Engine::new(open_journal(g)?, transfer).with_canceller(on_interrupt()?);
    download(g, &engine, src, &config).await
}

/// A canceller that Ctrl-C (SIGINT) pulls: the stream stops at its next
/// part, its upload is aborted (a stream cannot be resumed), and haul exits
/// 130. A second Ctrl-C while it stops is ignored.
fn on_interrupt() -> Result<Canceller, CliError> {
    let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .map_err(|e| CliError::failed(format!("cannot handle Ctrl-C: {e}")))?;
    let canceller = Canceller::new();
    let c = canceller.clone();
    tokio::spawn(async move {
        if sigint.recv().await.is_some() {
            eprintln!("\ninterrupting: the stream stops and its upload is aborted");
            c.cancel();
        }
    });
    Ok(canceller)
}
