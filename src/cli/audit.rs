//! `xmacro audit`: where the trail is and which records to show.

use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// The config whose store holds the trail (its `state` directory or
    /// PostgreSQL database); default $XMACRO_CONFIG, else ./xmacro.toml.
    #[arg(long, env = "XMACRO_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The state directory instead (what `run --state` was given).
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
    /// Only records of this codec (its exact name).
    #[arg(long, value_name = "NAME")]
    pub codec: Option<String>,
    /// Only records of this script (its exact name).
    #[arg(long, value_name = "NAME")]
    pub script: Option<String>,
    /// Only records from this long ago on: 90s, 15m, 1h, 7d.
    #[arg(long, value_name = "AGE", value_parser = crate::audit::parse_age)]
    pub since: Option<std::time::Duration>,
    /// At most this many records, the newest (0: all).
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub limit: usize,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    pub json: bool,
}
