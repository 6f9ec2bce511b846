//! `xmacro status`: which host to ask, and what to show.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::config::parse_duration;

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The host's status server (`run --http`). Default: the one the host
    /// running this project (its xmacro.toml, else ./scripts) recorded in
    /// its state folder, else http://127.0.0.1:9090.
    #[arg(long, value_name = "URL")]
    pub http: Option<String>,
    /// The token file, if the server wants one.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Only codecs whose name contains this.
    #[arg(long, value_name = "NAME")]
    pub codec: Option<String>,
    /// Only codecs with this tag.
    #[arg(long, value_name = "TAG")]
    pub tag: Option<String>,
    /// Only scripts whose name contains this.
    #[arg(long, value_name = "NAME")]
    pub script: Option<String>,
    /// Print the JSON of /api/status instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Only ask /readyz: exit 0 once ready (a container health check).
    #[arg(long, conflicts_with = "json")]
    pub ready: bool,
    /// How long to wait for the answer.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub timeout: Duration,
}
