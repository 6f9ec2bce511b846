//! `xmacro schema pull`: the xAPI schema, from the codec that runs it.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::Target;

#[derive(Debug, Args)]
pub struct SchemaArgs {
    #[command(subcommand)]
    pub command: SchemaCommand,
}

#[derive(Debug, Subcommand)]
pub enum SchemaCommand {
    /// Read the xAPI a codec describes (xDoc: every Configuration, Status,
    /// Command and Event of its product and firmware) and write it as the
    /// public schema's JSON, for --schema and `schema = "FILE"`.
    #[command(after_help = "Examples:\n  \
        xmacro schema pull wss://admin@10.0.0.5/ws --out roomos.json   # a real codec\n  \
        xmacro schema pull boardroom --out roomos.json                 # a [[codec]] of xmacro.toml\n  \
        xmacro schema pull ws://127.0.0.1:8080/ws --out sim.json       # `xmacro sim` (with or without --schema)\n  \
        xmacro check scripts/ --schema roomos.json")]
    Pull(PullArgs),
}

#[derive(Debug, Args)]
pub struct PullArgs {
    #[command(flatten)]
    pub target: Target,
    /// Where to write the schema (JSON).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: PathBuf,
}
