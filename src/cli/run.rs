//! `xmacro run`: the scripts, the codecs, the store, the status server
//! and the shard a host runs with.

use std::path::PathBuf;

use clap::Args;

use super::ConnectArgs;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The scripts directory (default: the config's `scripts`, else
    /// ./scripts), or one script file to run alone.
    #[arg(value_name = "DIR|FILE")]
    pub dir: Option<PathBuf>,
    /// A config file: codecs, script bindings and args, state directory
    /// (default: $XMACRO_CONFIG, else ./xmacro.toml when it exists).
    #[arg(long, value_name = "FILE", env = "XMACRO_CONFIG")]
    pub config: Option<PathBuf>,
    /// The public xAPI schema (JSON from roomos.cisco.com): warn at load
    /// about xAPI paths and parameters in the scripts that do not exist.
    #[arg(long, value_name = "FILE")]
    pub schema: Option<PathBuf>,
    /// UI extension panels to save on every codec (`*.xml` as the UI
    /// Extensions Editor exports them; default: the config's `panels`,
    /// else panels/ beside the config). Removed from a codec when their
    /// file goes; panels xmacro did not save are never touched.
    #[arg(long, value_name = "DIR")]
    pub panels: Option<PathBuf>,
    /// A codec URL to run against (repeatable), besides any in --config;
    /// the connection flags below apply to these.
    #[arg(long = "codec", value_name = "URL")]
    pub codecs: Vec<String>,
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Also start a simulated codec in this process (named "sim"), with
    /// gentle demo activity so the scripts have something to react to.
    #[arg(long)]
    pub sim: bool,
    /// Where `store` keeps its files (default: the config's `state`, else .xmacro/state).
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
    /// Serve the status page, /api/status, /metrics, /healthz and /readyz
    /// here (default: the config's [http] listen; with --sim a free port on
    /// 127.0.0.1). An address other than loopback needs --http-token-file.
    #[arg(long, value_name = "ADDR")]
    pub http: Option<std::net::SocketAddr>,
    /// A file holding the token every HTTP request must present (Bearer, or
    /// as the Basic password in a browser).
    #[arg(long, value_name = "FILE")]
    pub http_token_file: Option<PathBuf>,
    /// Serve only shard I of N: the codecs whose name hashes to I, as one
    /// of N identical hosts sharing one config (see `xmacro shard`).
    /// `auto/N` takes I from the host name's last number (StatefulSet pod
    /// xmacro-3 is shard 3). Pair it with a PostgreSQL store (`state =
    /// "postgres://..."`) so a codec's state follows it to another host.
    #[arg(long, value_name = "I/N", env = "XMACRO_SHARD")]
    pub shard: Option<String>,
}
