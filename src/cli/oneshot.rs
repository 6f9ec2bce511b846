//! `xmacro get`, `query`, `set`, `command` and `feedback`: which codec,
//! and what to ask of it.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::ConnectArgs;
use crate::config::parse_duration;

/// Which codec a one-shot talks to, and how.
#[derive(Debug, Args)]
pub struct Target {
    /// A codec URL (ws:// or wss://, user in the URL: wss://integrator@10.0.0.5/ws)
    /// or the name of a codec in --config.
    pub codec: String,
    /// Config file whose [[codec]] names CODEC may be (default:
    /// $XMACRO_CONFIG, else ./xmacro.toml when it exists).
    #[arg(long, value_name = "FILE", env = "XMACRO_CONFIG")]
    pub config: Option<PathBuf>,
    /// How long to wait for the answer.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

#[derive(Debug, Args)]
pub struct PathArgs {
    #[command(flatten)]
    pub target: Target,
    /// The path, as words (Status Audio Volume), with slashes, or both;
    /// elements as Connector[1] or Connector 1. For `set`, the value is the
    /// last word (negative numbers are values, not flags: `... Level -3`).
    #[arg(
        required = true,
        num_args = 1..,
        value_name = "PATH",
        allow_negative_numbers = true
    )]
    pub path: Vec<String>,
}

#[derive(Debug, Args)]
pub struct CommandArgs {
    #[command(flatten)]
    pub target: Target,
    /// Command path words, then Name=Value arguments.
    #[arg(
        required = true,
        num_args = 1..,
        value_name = "WORDS",
        allow_negative_numbers = true
    )]
    pub words: Vec<String>,
    /// The text of a multi-line command: a file, or - for stdin.
    #[arg(long, value_name = "FILE|-")]
    pub body: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct FeedbackArgs {
    #[command(flatten)]
    pub target: Target,
    /// What to follow (Status, Configuration or Event paths; ** allowed).
    #[arg(required = true, num_args = 1.., value_name = "PATH")]
    pub path: Vec<String>,
    /// Print the current state first.
    #[arg(long)]
    pub current: bool,
    /// Also write each feedback document with its time to FILE (JSON
    /// lines), for `room.replay("FILE")` in `xmacro test`.
    #[arg(long, value_name = "FILE.jsonl")]
    pub record: Option<std::path::PathBuf>,
}
