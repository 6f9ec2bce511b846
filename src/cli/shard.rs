//! `xmacro shard`: which shard of N serves each codec.

use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Args)]
pub struct ShardArgs {
    /// The config whose [[codec]] tables are split.
    #[arg(long, value_name = "FILE", env = "XMACRO_CONFIG")]
    pub config: Option<PathBuf>,
    /// The number of shards (hosts).
    #[arg(long, value_name = "N")]
    pub of: u32,
}
