//! Command-line definitions (clap derive) and nothing else: what the
//! commands do lives in [`crate::app`].

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Run RoomOS-style macros outside the codec, against one codec or a fleet.
#[derive(Debug, Parser)]
#[command(name = "xmacro", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve a simulated codec (XoWS on /ws and /ws?legacy) to develop and test against.
    ///
    /// The first line on stdout is `listening on ws://ADDR/ws` (wss with
    /// --tls, then a second line with the certificate's fingerprint).
    /// Control methods `xSim/...` on the same socket drive the device and
    /// inject faults; see the `sim::control` module docs.
    #[command(after_help = "Examples:\n  \
        xmacro sim                                   # ws://127.0.0.1:8080/ws, admin with an empty password\n  \
        xmacro sim --listen 127.0.0.1:0              # any free port; read it from the first line\n  \
        xmacro sim --tls --password secret           # wss with a fresh self-signed certificate\n  \
        xmacro sim --schema roomos-26.4.1.json --product barents")]
    Sim(SimArgs),
}

#[derive(Debug, Args)]
pub struct SimArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The user the simulator accepts.
    #[arg(long, default_value = "admin")]
    pub username: String,
    /// The password the simulator accepts (empty, as on a factory-new codec).
    #[arg(long, default_value = "", hide_default_value = true)]
    pub password: String,
    /// The public xAPI schema (JSON from roomos.cisco.com): every
    /// Configuration of the product exists with its default, and values and
    /// command arguments are checked as a codec checks them.
    #[arg(long, value_name = "FILE")]
    pub schema: Option<PathBuf>,
    /// Which product of the schema to simulate.
    #[arg(long, value_name = "NAME", default_value = "barents")]
    pub product: String,
    /// Serve wss:// with a self-signed certificate made at start.
    #[arg(long)]
    pub tls: bool,
    /// Feedback subscriptions one session may hold before -31998.
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub max_subscriptions: usize,
}
