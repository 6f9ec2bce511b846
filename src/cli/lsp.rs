//! `xmacro lsp`: the language server's arguments.

use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Args)]
pub struct LspArgs {
    /// The public xAPI schema (JSON from roomos.cisco.com) to check and
    /// complete against (default: the config's `schema`, else the built-in
    /// model's paths).
    #[arg(long, value_name = "FILE")]
    pub schema: Option<PathBuf>,
    /// Only this product's part of the schema (barents, octavio, ...).
    #[arg(long, value_name = "NAME")]
    pub product: Option<String>,
    /// The config (default: xmacro.toml in the folder the editor opened).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Accepted for clients that pass it: stdio is the only transport.
    #[arg(long)]
    pub stdio: bool,
}
