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
    /// Check the project this config describes: its scripts, its panel
    /// files, every `codec.settings.X` a script reads set for each codec
    /// in the script's scope, and (a warning) every literal WidgetId or
    /// PanelId a script compares defined by a panel in its scope.
    #[arg(long, value_name = "FILE", conflicts_with = "dir")]
    pub config: Option<PathBuf>,
}
