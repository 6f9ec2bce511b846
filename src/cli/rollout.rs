//! `xmacro rollout`: which host to ask, and what to do.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};

use crate::config::parse_duration;

#[derive(Debug, Args)]
pub struct RolloutArgs {
    #[command(subcommand)]
    pub action: RolloutAction,
    /// The host's status server (`run --http`).
    #[arg(
        long,
        global = true,
        value_name = "URL",
        default_value = "http://127.0.0.1:9090"
    )]
    pub http: String,
    /// The token file (`promote` and `abort` always need it).
    #[arg(long, global = true, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// How long to wait for the answer.
    #[arg(long, global = true, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub timeout: Duration,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum RolloutAction {
    /// A line per script: steady, soaking until T, or rolled back (with
    /// why), its versions and how many codecs run each.
    Status,
    /// Put the change soaking on the canary everywhere now (the soak and
    /// the window are skipped).
    Promote {
        /// The script (its file name without .rhai).
        name: String,
    },
    /// Take the change soaking on the canary back: the canary returns to
    /// the promoted version, and the change is not promoted.
    Abort {
        /// The script (its file name without .rhai).
        name: String,
    },
}
