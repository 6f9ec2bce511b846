//! The connection flags every command that connects shares (`run
//! --codec` and the one-shots).

use std::path::PathBuf;

use clap::{Args, ValueEnum};

/// How credentials travel on the upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthArg {
    /// Authorization: Basic header.
    Basic,
    /// The auth- WebSocket sub-protocol, as browsers and jsxapi send it.
    Subprotocol,
}

/// How to connect to a codec named by URL: the same flags for every
/// command that connects (`run --codec` and the one-shots). For a codec
/// from --config they override what its table says.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Connecting")]
pub struct ConnectArgs {
    /// The password (else XMACRO_PASSWORD; for a one-shot whose URL names
    /// a user, a prompt on a terminal; else empty, as on a factory-new codec).
    #[arg(short = 'p', long, env = "XMACRO_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// How credentials are sent (default basic).
    #[arg(long, value_enum, value_name = "FORM")]
    pub auth: Option<AuthArg>,
    /// Use /ws?legacy: every value comes back as a string.
    #[arg(long)]
    pub legacy: bool,
    /// Trust exactly the certificate with this SHA-256 fingerprint (sha256:AB:CD:...).
    #[arg(long, value_name = "SHA256", conflicts_with_all = ["ca", "insecure"])]
    pub fingerprint: Option<String>,
    /// Trust certificates issued by the CA in this PEM file.
    #[arg(long, value_name = "FILE", conflicts_with = "insecure")]
    pub ca: Option<PathBuf>,
    /// Accept any certificate (logged as a warning on every connect).
    #[arg(long)]
    pub insecure: bool,
}
