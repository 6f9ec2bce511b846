//! Command-line definitions (clap derive) and nothing else: what the
//! commands do lives in [`crate::app`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Run RoomOS-style macros outside the codec, against one codec or a fleet.
#[derive(Debug, Parser)]
#[command(
    name = "xmacro",
    version,
    about,
    long_about = None,
    after_help = "Start here: `xmacro run --sim` runs the scripts in ./scripts against a simulated\n\
        codec; edit one while it runs. docs/scripting.md describes the script API, and\n\
        `xmacro <command> --help` shows examples for each command."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

impl Command {
    /// The log level when RUST_LOG is not set: one-shots print their result
    /// and only warnings, long-running commands say what they do.
    pub fn default_log_level(&self) -> &'static str {
        match self {
            Command::Sim(_) | Command::Run(_) => "info",
            _ => "warn",
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the scripts in a directory against one codec or a fleet, reloading
    /// each script when its file (or a library it imports) changes.
    ///
    /// Each script runs once per codec it is bound to ([script.NAME] codecs in
    /// the config; default every codec). Ctrl-C or SIGTERM stops every script
    /// (on_unload runs) and closes every connection.
    #[command(after_help = "Examples:\n  \
        xmacro run --sim                                        # bundled scripts/ against a built-in simulated codec\n  \
        xmacro run scripts/ --codec wss://integrator@10.0.0.5/ws --fingerprint sha256:4F:2A:...\n  \
        xmacro run --config xmacro.toml                         # a fleet, as the config describes it")]
    Run(RunArgs),

    /// Compile every script and report each error with file:line:col; with
    /// --schema also flag xAPI paths and command parameters that do not exist.
    /// Exits 1 on any finding.
    #[command(after_help = "Examples:\n  \
        xmacro check scripts/\n  \
        xmacro check scripts/ --schema roomos-26.4.1.json")]
    Check(CheckArgs),

    /// Serve a simulated codec (XoWS on /ws and /ws?legacy) to develop and test against.
    ///
    /// The first line on stdout is `listening on ws://ADDR/ws` (wss with
    /// --tls, then a second line with the certificate's fingerprint).
    /// Control methods `xSim/...` on the same socket drive the device and
    /// inject faults; see the `sim::control` module docs.
    #[command(after_help = "Examples:\n  \
        xmacro sim                                   # ws://127.0.0.1:8080/ws, admin with an empty password\n  \
        xmacro sim --listen 127.0.0.1:0              # any free port; read it from the first line\n  \
        xmacro sim --tls --password secret           # wss with a fresh self-signed certificate\n  \
        xmacro sim --schema roomos-26.4.1.json --product barents")]
    Sim(SimArgs),

    /// Ask a running host (`run --http`) how it is: codecs, scripts, errors.
    ///
    /// Prints the codecs and scripts as tables. Exits 0 when every codec is
    /// connected and every script runs without errors, 1 when not (or not
    /// ready yet), 3 when the host cannot be reached.
    #[command(after_help = "Examples:\n  \
        xmacro status                                    # the host on http://127.0.0.1:9090\n  \
        xmacro status --http http://10.0.0.2:9090 --token-file /etc/xmacro/http-token\n  \
        xmacro status --tag floor3 --script volume       # narrow it down\n  \
        xmacro status --ready                            # exit 0 once /readyz says ready")]
    Status(StatusArgs),

    /// Read a status or configuration value (xGet), printed as JSON.
    #[command(after_help = "Examples:\n  \
        xmacro get ws://127.0.0.1:8080/ws Status Audio Volume\n  \
        xmacro get wss://integrator@10.0.0.5/ws Status Video Input Connector[1] Connected\n  \
        xmacro get boardroom Configuration Audio DefaultVolume --config xmacro.toml")]
    Get(PathArgs),

    /// Query with ** wildcards (xQuery); the result is rooted at the top.
    #[command(after_help = "Examples:\n  \
        xmacro query boardroom Status '**' DisplayName --config xmacro.toml\n  \
        xmacro query ws://127.0.0.1:8080/ws Status Audio")]
    Query(PathArgs),

    /// Set one configuration (xSet): the last word is the value.
    #[command(after_help = "Examples:\n  \
        xmacro set boardroom Configuration Audio DefaultVolume 50 --config xmacro.toml\n  \
        xmacro set ws://127.0.0.1:8080/ws Configuration SystemUnit Name 'Board Room'")]
    Set(PathArgs),

    /// Run a command: path words, then Name=Value arguments.
    ///
    /// A name given twice becomes an array (ConnectorId=2 ConnectorId=3).
    /// Multi-line commands take their text with --body FILE, or --body - for stdin.
    #[command(after_help = "Examples:\n  \
        xmacro command boardroom Audio Volume Set Level=60 --config xmacro.toml\n  \
        xmacro command ws://127.0.0.1:8080/ws Dial Number=alice@example.com Protocol=Spark\n  \
        xmacro command ws://127.0.0.1:8080/ws UserInterface Extensions Panel Save PanelId=p1 --body panel.xml")]
    Command(CommandArgs),

    /// Stream feedback for a path as JSON lines until Ctrl-C.
    #[command(after_help = "Examples:\n  \
        xmacro feedback boardroom Status Audio Volume --config xmacro.toml\n  \
        xmacro feedback ws://127.0.0.1:8080/ws Event UserInterface Extensions Widget Action\n  \
        xmacro feedback ws://127.0.0.1:8080/ws '**' --current")]
    Feedback(FeedbackArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The scripts directory (default: the config's `scripts`, else ./scripts).
    pub dir: Option<PathBuf>,
    /// A config file: codecs, script bindings and args, state directory.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// A codec URL to run against (repeatable), besides any in --config.
    #[arg(long = "codec", value_name = "URL")]
    pub codecs: Vec<String>,
    /// The password for --codec URLs.
    #[arg(short = 'p', long, env = "XMACRO_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// Pin the certificate of --codec URLs (sha256:AB:CD:...).
    #[arg(long, value_name = "SHA256")]
    pub fingerprint: Option<String>,
    /// Accept any certificate from --codec URLs (logged loudly).
    #[arg(long)]
    pub insecure: bool,
    /// Also start a simulated codec in this process (named "sim"), with
    /// gentle demo activity so the scripts have something to react to.
    #[arg(long)]
    pub sim: bool,
    /// Where `store` keeps its files (default: the config's `state`, else .xmacro/state).
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
    /// Serve the status page, /api/status, /metrics, /healthz and /readyz
    /// here (default: the config's [http] listen; with --sim a free port on
    /// 127.0.0.1). An address other than loopback needs --http-token-file.
    #[arg(long, value_name = "ADDR")]
    pub http: Option<SocketAddr>,
    /// A file holding the token every HTTP request must present (Bearer, or
    /// as the Basic password in a browser).
    #[arg(long, value_name = "FILE")]
    pub http_token_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The host's status server (`run --http`).
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:9090")]
    pub http: String,
    /// The token file, if the server wants one.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Only codecs whose name contains this.
    #[arg(long, value_name = "NAME")]
    pub codec: Option<String>,
    /// Only codecs with this tag.
    #[arg(long, value_name = "TAG")]
    pub tag: Option<String>,
    /// Only scripts whose name contains this.
    #[arg(long, value_name = "NAME")]
    pub script: Option<String>,
    /// Print the JSON of /api/status instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Only ask /readyz: exit 0 once ready (a container health check).
    #[arg(long, conflicts_with = "json")]
    pub ready: bool,
    /// How long to wait for the answer.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub timeout: Duration,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The scripts directory (default ./scripts).
    pub dir: Option<PathBuf>,
    /// The public xAPI schema (JSON from roomos.cisco.com) to check paths against.
    #[arg(long, value_name = "FILE")]
    pub schema: Option<PathBuf>,
}

/// How credentials travel on the upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthArg {
    /// Authorization: Basic header.
    Basic,
    /// The auth- WebSocket sub-protocol, as browsers and jsxapi send it.
    Subprotocol,
}

/// Which codec a one-shot talks to, and how.
#[derive(Debug, Args)]
pub struct Target {
    /// A codec URL (ws:// or wss://, user in the URL: wss://integrator@10.0.0.5/ws)
    /// or the name of a codec in --config.
    pub codec: String,
    /// The password (else XMACRO_PASSWORD, else a prompt on a terminal, else empty).
    #[arg(short = 'p', long, env = "XMACRO_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// Config file whose [[codec]] names CODEC may be.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// How long to wait for the answer.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// How credentials are sent.
    #[arg(long, value_enum, default_value_t = AuthArg::Basic)]
    pub auth: AuthArg,
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

fn parse_duration(s: &str) -> Result<Duration, String> {
    crate::config::parse_duration(s)
}

#[derive(Debug, Args)]
pub struct PathArgs {
    #[command(flatten)]
    pub target: Target,
    /// The path, as words (Status Audio Volume), with slashes, or both;
    /// elements as Connector[1] or Connector 1.
    #[arg(required = true, num_args = 1.., value_name = "PATH")]
    pub path: Vec<String>,
}

#[derive(Debug, Args)]
pub struct CommandArgs {
    #[command(flatten)]
    pub target: Target,
    /// Command path words, then Name=Value arguments.
    #[arg(required = true, num_args = 1.., value_name = "WORDS")]
    pub words: Vec<String>,
    /// The text of a multi-line command: a file, or - for stdin.
    #[arg(long, value_name = "FILE|-")]
    pub body: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct FeedbackArgs {
    #[command(flatten)]
    pub target: Target,
    /// What to follow (Status, Configuration or Event paths; ** allowed).
    #[arg(required = true, num_args = 1.., value_name = "PATH")]
    pub path: Vec<String>,
    /// Print the current state first.
    #[arg(long)]
    pub current: bool,
}

#[derive(Debug, Args)]
pub struct SimArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The user the simulator accepts.
    #[arg(long, default_value = "admin")]
    pub username: String,
    /// The password the simulator accepts (empty, as on a factory-new codec).
    #[arg(long, default_value = "", hide_default_value = true)]
    pub password: String,
    /// The public xAPI schema (JSON from roomos.cisco.com): every
    /// Configuration of the product exists with its default, and values and
    /// command arguments are checked as a codec checks them.
    #[arg(long, value_name = "FILE")]
    pub schema: Option<PathBuf>,
    /// Which product of the schema to simulate.
    #[arg(long, value_name = "NAME", default_value = "barents")]
    pub product: String,
    /// Serve wss:// with a self-signed certificate made at start.
    #[arg(long)]
    pub tls: bool,
    /// Feedback subscriptions one session may hold before -31998.
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub max_subscriptions: usize,
}
