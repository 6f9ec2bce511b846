//! The `xmacro` binary: parse arguments, start tracing, run, pick the exit code.

use clap::Parser;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::prelude::*;

#[tokio::main]
async fn main() {
    let cli = xmacro::cli::Cli::parse();
    let level = cli.command.default_log_level();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| level.into());
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(filter),
        )
        // Script log lines for the status page, whatever RUST_LOG says.
        .with(xmacro::telemetry::logtap::LogTap.with_filter(LevelFilter::INFO))
        .init();
    if let Err(e) = xmacro::app::run(cli).await {
        eprintln!("error: {e}");
        std::process::exit(e.exit_code());
    }
}
