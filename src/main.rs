//! The `xmacro` binary: parse arguments, start logging, run, pick the exit code.

use xmacro::cli::LogFormat;

#[tokio::main]
async fn main() {
    let cli = xmacro::cli::Cli::parse_args();
    let format = cli.output.log_format;
    xmacro::logging::init(xmacro::logging::LogOptions {
        color: cli.output.color,
        format,
        default_level: cli.command.default_log_level(),
    });
    if let Err(e) = xmacro::app::run(cli).await {
        let code = e.exit_code();
        match format {
            // With JSON logs, stderr stays all JSON lines.
            LogFormat::Json => tracing::error!(exit_code = code, "{e}"),
            LogFormat::Text => eprintln!("error: {e}"),
        }
        std::process::exit(code);
    }
}
