//! `xmacro init`: the folder a new project goes in.

use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The folder to create (or an empty existing one).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
}
