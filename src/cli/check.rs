//! `xmacro check`: what to check, and against which schema.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::ConnectArgs;
use crate::config::parse_duration;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The scripts directory (default ./scripts), or one script file.
    #[arg(value_name = "DIR|FILE")]
    pub dir: Option<PathBuf>,
    /// The xAPI schema to check paths against: Cisco's JSON (the data
    /// behind roomos.cisco.com/xapi) or a file `xmacro schema pull` wrote.
    /// Without it (and without --codec), paths are checked against the
    /// simulator's built-in model, as warnings.
    #[arg(long, value_name = "FILE")]
    pub schema: Option<PathBuf>,
    /// Check against one product of the schema (as `sim --product`: a
    /// codename such as barents, or its name such as "Codec Pro"), so a
    /// path the target device lacks is found; without it a path any
    /// product has passes.
    #[arg(long, value_name = "NAME", requires = "schema")]
    pub product: Option<String>,
    /// Check against what a live codec describes (xDoc): a URL or the name
    /// of a [[codec]] in the config, as for the one-shots.
    #[arg(long, value_name = "NAME|URL", conflicts_with = "schema")]
    pub codec: Option<String>,
    /// How long --codec may take to answer each part of its description.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub timeout: Duration,
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Check the project this config describes: its scripts, its panel
    /// files, every `codec.settings.X` a script reads set for each codec
    /// in the script's scope, (a warning) every literal WidgetId or
    /// PanelId a script compares defined by a panel in its scope, and every
    /// literal xAPI path inside its script's `[script.NAME] allow` list.
    /// With DIR (or --schema/--codec), the scripts there are checked as
    /// usual, plus the allow lists.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// With --config, a script without an allow list (full xAPI access)
    /// is a finding too.
    #[arg(long, requires = "config")]
    pub strict: bool,
}
