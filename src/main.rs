//! The `xmacro` binary: catch signals, parse arguments, start logging, run,
//! pick the exit code.

use xmacro::cli::{Command, LogFormat};
use xmacro::error::AppError;

/// Threads tokio may start for blocking work (a script's compile, a
/// host name's lookup): bounded, so a start-up storm of 10,000 codecs
/// named by host name queues its lookups instead of starting a thread
/// each (tokio's default allows 512).
const BLOCKING_THREADS: usize = 8;

fn main() {
    // Worker threads: one per core (tokio's default), said here so the
    // host's thread count is the configuration's, not the fleet's.
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores)
        .max_blocking_threads(BLOCKING_THREADS)
        .enable_all()
        .build();
    match runtime {
        Ok(rt) => rt.block_on(run()),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    }
}

async fn run() {
    let signal_problems = xmacro::signals::install();
    let cli = xmacro::cli::Cli::parse_args();
    let format = cli.output.log_format;
    xmacro::log::stderr::init(xmacro::log::stderr::LogOptions {
        color: cli.output.color,
        json: format == LogFormat::Json,
        default_level: cli.command.default_log_level(),
    });
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
            signal = xmacro::signals::stopped() => {
                // Ended by a signal: nothing to say, the shell's code for it.
                let what = String::new();
                std::process::exit(AppError::Stopped { signal, what }.exit_code())
            }
        }
    };
    if let Err(e) = result {
        let code = e.exit_code();
        let text = xmacro::log::safe::redact_url(&e.to_string());
        match format {
            // With JSON logs, stderr stays all JSON lines.
            LogFormat::Json => tracing::error!(exit_code = code, "{text}"),
            LogFormat::Text => eprintln!("error: {text}"),
        }
        std::process::exit(code);
    }
}
