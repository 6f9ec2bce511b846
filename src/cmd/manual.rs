//! `xmacro completions SHELL` and `xmacro man`: the command line described
//! for shells and `man`, generated from the clap definitions so they never
//! drift from the real flags.

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};
use crate::error::AppError;

/// Prints the completion script for a shell.
pub fn completions(args: CompletionsArgs) -> Result<(), AppError> {
    let mut cmd = Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "xmacro", &mut std::io::stdout());
    Ok(())
}

/// Prints the man page (roff).
pub fn man() -> Result<(), AppError> {
    clap_mangen::Man::new(Cli::command())
        .render(&mut std::io::stdout())
        .map_err(|e| AppError::Failed(format!("writing the man page: {e}")))
}
