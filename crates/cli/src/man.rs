//! `haul man`: the manual page, generated from the command-line definition
//! (roff, for `man`), so it never disagrees with `--help`.

use std::path::Path;

use clap::CommandFactory as _;

use crate::args::Cli;
use crate::error::CliError;

/// `haul man`: haul(1) on standard output, or with `dir` one page per
/// command written there (haul.1, haul-cp.1, ...).
pub(crate) fn man(dir: Option<&Path>) -> Result<u8, CliError> {
    let cmd = Cli::command();
    let Some(dir) = dir else {
        let mut page = Vec::new();
        clap_mangen::Man::new(cmd)
            .render(&mut page)
            .map_err(|e| CliError::failed(format!("cannot render the manual page: {e}")))?;
        out!("{}", String::from_utf8_lossy(&page));
        return Ok(0);
    };
    std::fs::create_dir_all(dir)
        .and_then(|()| clap_mangen::generate_to(cmd, dir))
        .map_err(|e| CliError::usage(format!("{}: {e}", dir.display())))?;
    Ok(0)
}
