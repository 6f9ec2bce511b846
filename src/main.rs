//! The `xmacro` binary: catch signals, parse arguments, start tracing, run,
//! pick the exit code.

use clap::Parser;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use xmacro::cli::Command;

#[tokio::main]
async fn main() {
    let signal_problems = xmacro::signals::install();
    let cli = xmacro::cli::Cli::parse();
    let level = cli.command.default_log_level();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| level.into()))
        .with_writer(xmacro::logsafe::OneLine(std::io::stderr))
        .finish()
        .with(xmacro::logsafe::NoSecrets)
        .init();
    for p in signal_problems {
        tracing::warn!("{p}");
    }
    // These stop gracefully on a signal themselves; the others end here.
    let graceful = matches!(
        cli.command,
        Command::Run(_) | Command::Sim(_) | Command::Feedback(_)
    );
    let result = if graceful {
        xmacro::app::run(cli).await
    } else {
        tokio::select! {
            r = xmacro::app::run(cli) => r,
            sig = xmacro::signals::stopped() => std::process::exit(xmacro::signals::exit_code(sig)),
        }
    };
    if let Err(e) = result {
        eprintln!("error: {}", xmacro::logsafe::redact_url(&e.to_string()));
        std::process::exit(e.exit_code());
    }
}
