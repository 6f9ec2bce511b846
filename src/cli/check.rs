//! `xmacro check`: what to check, and against which schema.

use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The scripts directory (default ./scripts), or one script file.
    #[arg(value_name = "DIR|FILE")]
    pub dir: Option<PathBuf>,
    /// The public xAPI schema (JSON from roomos.cisco.com) to check paths against.
    #[arg(long, value_name = "FILE")]
    pub schema: Option<PathBuf>,
    /// Check against one product of the schema (as `sim --product`: barents,
    /// octavio, ...), so a path the target device lacks is found; without
    /// it a path any product has passes.
    #[arg(long, value_name = "NAME", requires = "schema")]
    pub product: Option<String>,
    /// The config whose [script.NAME] allow lists the literal xAPI paths
    /// of each script must keep to (a path outside is a finding); its
    /// scripts folder is checked unless DIR is given.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// With --config, a script without an allow list (full xAPI access)
    /// is a finding too.
    #[arg(long, requires = "config")]
    pub strict: bool,
}
