//! The `xmacro` binary: parse arguments, start logging, run, pick the exit code.

#[tokio::main]
async fn main() {
    let cli = xmacro::cli::Cli::parse_args();
    xmacro::logging::init(xmacro::logging::LogOptions {
        color: cli.output.color,
        format: cli.output.log_format,
        default_level: cli.command.default_log_level(),
    });
    if let Err(e) = xmacro::app::run(cli).await {
        eprintln!("error: {e}");
        std::process::exit(e.exit_code());
    }
}
