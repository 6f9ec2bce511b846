//! The `xmacro` binary: parse arguments, start tracing, run, pick the exit code.

use clap::Parser;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() {
    let cli = xmacro::cli::Cli::parse();
    let level = cli.command.default_log_level();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| level.into()))
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = xmacro::app::run(cli).await {
        eprintln!("error: {e}");
        std::process::exit(e.exit_code());
    }
}
