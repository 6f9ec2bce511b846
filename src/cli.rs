//! Command-line definitions (clap derive) and nothing else: what the
//! commands do lives in [`crate::app`].

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ColorChoice, Parser, Subcommand, ValueEnum};
use clap_complete::Shell;

/// Run RoomOS-style macros outside the codec, against one codec or a fleet.
#[derive(Debug, Parser)]
#[command(
    name = "xmacro",
    version,
    about,
    long_about = None,
    after_help = "Start here: `xmacro init demo && cd demo && xmacro run --sim` makes a project and runs\n\
        its example script against a simulated codec; edit the script while it runs.\n\
        docs/scripting.md describes the script API; `xmacro <command> --help` shows examples.\n\n\
        Exit codes: 0 ok, 1 the codec refused (or check found problems), 2 usage or config\n\
        (including a --listen address that is taken), 3 connection, TLS or authentication, 4 timeout.\n\
        Config: --config FILE, else $XMACRO_CONFIG, else ./xmacro.toml when it exists."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// How the log looks; accepted before or after the command.
#[derive(Debug, Clone, Args)]
pub struct OutputArgs {
    /// Colour in the log and help: auto (only on a terminal, and not when
    /// NO_COLOR is set), always, or never.
    #[arg(long, global = true, value_enum, value_name = "WHEN", default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// The log format on stderr: text (local time, level, the script and
    /// codec it comes from, the message) or json (one object per line).
    #[arg(long, global = true, value_enum, value_name = "FORMAT", default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One readable line per event.
    Text,
    /// One JSON object per line (timestamp, level, fields, span).
    Json,
}

impl Command {
    /// The log level when RUST_LOG is not set: one-shots print their result
    /// and only warnings, long-running commands say what they do.
    pub fn default_log_level(&self) -> &'static str {
        match self {
            Command::Sim(_) | Command::Run(_) | Command::Lsp(_) => "info",
            // Scripts' lines show with a failing test; alone they are noise.
            Command::Test(_) => "off",
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
    /// (on_unload runs) and closes every connection; SIGHUP reloads the config
    /// and the scripts.
    #[command(after_help = "Examples:\n  \
        xmacro run --sim                                        # bundled scripts/ against a built-in simulated codec\n  \
        xmacro run scripts/ --codec wss://integrator@10.0.0.5/ws --fingerprint sha256:4F:2A:...\n  \
        xmacro run --config xmacro.toml                         # a fleet, as the config describes it\n  \
        xmacro run scripts/volume-limit.rhai --sim              # one script file alone")]
    Run(RunArgs),

    /// Compile every script and report each error with file:line:col; with
    /// --schema also flag xAPI paths and command parameters that do not exist.
    /// Exits 1 on any finding.
    #[command(after_help = "Examples:\n  \
        xmacro check scripts/\n  \
        xmacro check scripts/ --schema roomos-26.4.1.json\n  \
        xmacro check scripts/volume-limit.rhai                 # one script file")]
    Check(CheckArgs),

    /// Run the *.test.rhai files in a directory: each test gets simulated
    /// rooms on a virtual clock and loads the scripts it tests. Prints one
    /// line per test and `N passed, M failed`; exits 0 when all passed, 1
    /// when a test failed, 2 on bad usage or a test file or script that
    /// does not compile (the other files still run).
    #[command(after_help = "Examples:\n  \
        xmacro test                                # every scripts/**/*.test.rhai\n  \
        xmacro test scripts --filter volume        # only tests whose name or file says volume\n  \
        xmacro test scripts --format junit > report.xml\n  \
        xmacro test scripts --schema roomos-26.4.1.json --product octavio   # sim() rooms from the schema\n  \
        xmacro test scripts --test-timeout 2m      # a test may take 2 minutes (default 60s)\n\n\
        A test file:\n  \
        test(\"a loud room is turned down\", || {\n      \
            let room = sim();\n      \
            room.load(\"volume-limit\", #{ max: 60 });\n      \
            room.status(\"Audio Volume\", 85);\n      \
            assert_eq(room.get(\"Status Audio Volume\"), 60);\n  \
        });\n\
        docs/testing.md has the guide.")]
    Test(crate::testrun::cli::TestArgs),

    /// Serve a simulated codec (XoWS on /ws and /ws?legacy) to develop and test against.
    ///
    /// The first line on stdout is `listening on ws://ADDR/ws` (wss with
    /// --tls, then a second line with the certificate's fingerprint).
    /// Control methods `xSim/...` on the same socket drive the device and
    /// inject faults (`xSim/SetStatus`, `xSim/EmitEvent`, `xSim/IncomingCall`,
    /// `xSim/Delay`, ...; the README lists them). Left alone, the device
    /// goes to halfwake after two minutes and to standby after
    /// `Configuration Standby Delay` minutes, as a codec does. If the
    /// --listen address is taken, it exits with code 2.
    #[command(after_help = "Examples:\n  \
        xmacro sim                                   # ws://127.0.0.1:8080/ws, admin with an empty password\n  \
        xmacro sim --listen 127.0.0.1:0              # any free port; read it from the first line\n  \
        xmacro sim --listen localhost:9000           # a host name works too\n  \
        xmacro sim --tls --password secret           # wss with a fresh self-signed certificate\n  \
        xmacro sim --schema roomos-26.4.1.json --product barents
  \
        xmacro sim ctl ws://127.0.0.1:8080/ws incoming-call alice@example.com   # act on a running one")]
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

    /// Start a project: xmacro.toml, scripts/ with one example script and
    /// its test, and a .gitignore. Refuses to overwrite existing files.
    #[command(after_help = "Examples:\n  \
        xmacro init demo && cd demo && xmacro run --sim\n  \
        xmacro init .                                  # in the current (empty) folder")]
    Init(InitArgs),

    /// Print a shell completion script to stdout.
    #[command(after_help = "Examples:\n  \
        xmacro completions bash > ~/.local/share/bash-completion/completions/xmacro\n  \
        xmacro completions zsh > ~/.zfunc/_xmacro      # with fpath+=(~/.zfunc) in .zshrc\n  \
        xmacro completions fish > ~/.config/fish/completions/xmacro.fish")]
    Completions(CompletionsArgs),

    /// Print which shard of N serves each codec of a config, and how many
    /// each shard gets: what `run --shard I/N` hosts will do.
    ///
    /// Shards are chosen by rendezvous hashing of the codec name, so every
    /// host agrees without talking to the others, and going from N to N+1
    /// shards moves only about 1/(N+1) of the codecs (all to the new one).
    #[command(after_help = "Examples:\n  \
        xmacro shard --config xmacro.toml --of 3\n  \
        xmacro shard --config xmacro.toml --of 4 | grep -c ' -> 3$'   # codecs the new 4th host takes")]
    Shard(ShardArgs),

    /// Serve the Language Server Protocol on stdin and stdout, for editors:
    /// diagnostics as `check` finds them, completion and hover of xAPI paths,
    /// command parameters and the script API, go to definition of imports.
    ///
    /// An editor starts it; it is not run by hand. The schema is --schema,
    /// else `schema = "FILE"` in the workspace's xmacro.toml, else the
    /// built-in model's paths. docs/editors.md shows the set-up for VS Code,
    /// Neovim, Helix and Zed.
    #[command(after_help = "Examples:\n  \
        xmacro lsp                                              # what an editor's config runs\n  \
        xmacro lsp --schema roomos-26.4.1.json --product barents\n\n\
        Logs go to stderr (the editor's LSP log); RUST_LOG=debug shows more.")]
    Lsp(LspArgs),

    /// Print the man page (roff) to stdout.
    #[command(after_help = "Examples:\n  \
        xmacro man | man -l -\n  \
        xmacro man > ~/.local/share/man/man1/xmacro.1")]
    Man,
}

#[derive(Debug, Args)]
pub struct LspArgs {
    /// The public xAPI schema (JSON from roomos.cisco.com) to check and
    /// complete against (default: the config's `schema`, else the built-in
    /// model's paths).
    #[arg(long, value_name = "FILE")]
    pub schema: Option<PathBuf>,
    /// Only this product's part of the schema (barents, octavio, ...).
    #[arg(long, value_name = "NAME")]
    pub product: Option<String>,
    /// The config (default: xmacro.toml in the folder the editor opened).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Accepted for clients that pass it: stdio is the only transport.
    #[arg(long)]
    pub stdio: bool,
}

#[derive(Debug, Args)]
pub struct ShardArgs {
    /// The config whose [[codec]] tables are split.
    #[arg(long, value_name = "FILE", env = "XMACRO_CONFIG")]
    pub config: Option<PathBuf>,
    /// The number of shards (hosts).
    #[arg(long, value_name = "N")]
    pub of: u32,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The folder to create (or an empty existing one).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The scripts directory (default: the config's `scripts`, else
    /// ./scripts), or one script file to run alone.
    #[arg(value_name = "DIR|FILE")]
    pub dir: Option<PathBuf>,
    /// A config file: codecs, script bindings and args, state directory
    /// (default: $XMACRO_CONFIG, else ./xmacro.toml when it exists).
    #[arg(long, value_name = "FILE", env = "XMACRO_CONFIG")]
    pub config: Option<PathBuf>,
    /// The public xAPI schema (JSON from roomos.cisco.com): warn at load
    /// about xAPI paths and parameters in the scripts that do not exist.
    #[arg(long, value_name = "FILE")]
    pub schema: Option<PathBuf>,
    /// A codec URL to run against (repeatable), besides any in --config;
    /// the connection flags below apply to these.
    #[arg(long = "codec", value_name = "URL")]
    pub codecs: Vec<String>,
    #[command(flatten)]
    pub connect: ConnectArgs,
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
    pub http: Option<std::net::SocketAddr>,
    /// A file holding the token every HTTP request must present (Bearer, or
    /// as the Basic password in a browser).
    #[arg(long, value_name = "FILE")]
    pub http_token_file: Option<PathBuf>,
    /// Serve only shard I of N: the codecs whose name hashes to I, as one
    /// of N identical hosts sharing one config (see `xmacro shard`).
    /// `auto/N` takes I from the host name's last number (StatefulSet pod
    /// xmacro-3 is shard 3). Pair it with a PostgreSQL store (`state =
    /// "postgres://..."`) so a codec's state follows it to another host.
    #[arg(long, value_name = "I/N", env = "XMACRO_SHARD")]
    pub shard: Option<String>,
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
    /// Config file whose [[codec]] names CODEC may be (default:
    /// $XMACRO_CONFIG, else ./xmacro.toml when it exists).
    #[arg(long, value_name = "FILE", env = "XMACRO_CONFIG")]
    pub config: Option<PathBuf>,
    /// How long to wait for the answer.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// How to connect to a codec named by URL: the same flags for every
/// command that connects (`run --codec` and the one-shots). For a codec
/// from --config they override what its table says.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Connecting")]
pub struct ConnectArgs {
    /// The password (else XMACRO_PASSWORD; for a one-shot whose URL names
    /// a user, a prompt on a terminal; else empty, as on a factory-new codec).
    #[arg(short = 'p', long, env = "XMACRO_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// How credentials are sent (default basic).
    #[arg(long, value_enum, value_name = "FORM")]
    pub auth: Option<AuthArg>,
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

fn parse_duration(s: &str) -> Result<Duration, crate::config::DurationError> {
    crate::config::parse_duration(s)
}

#[derive(Debug, Args)]
pub struct PathArgs {
    #[command(flatten)]
    pub target: Target,
    /// The path, as words (Status Audio Volume), with slashes, or both;
    /// elements as Connector[1] or Connector 1. For `set`, the value is the
    /// last word (negative numbers are values, not flags: `... Level -3`).
    #[arg(
        required = true,
        num_args = 1..,
        value_name = "PATH",
        allow_negative_numbers = true
    )]
    pub path: Vec<String>,
}

#[derive(Debug, Args)]
pub struct CommandArgs {
    #[command(flatten)]
    pub target: Target,
    /// Command path words, then Name=Value arguments.
    #[arg(
        required = true,
        num_args = 1..,
        value_name = "WORDS",
        allow_negative_numbers = true
    )]
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
    /// Also write each feedback document with its time to FILE (JSON
    /// lines), for `room.replay("FILE")` in `xmacro test`.
    #[arg(long, value_name = "FILE.jsonl")]
    pub record: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct SimArgs {
    /// Address to listen on, HOST:PORT (port 0 picks a free port).
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// The user the simulator accepts.
    #[arg(long, default_value = "admin")]
    pub username: String,
    /// The password the simulator accepts (empty, as on a factory-new codec).
    #[arg(long, default_value = "", hide_default_value = true)]
    pub password: String,
    /// The public xAPI schema (JSON from roomos.cisco.com): every
    /// Configuration of the product exists with its default, every Status
    /// path with a plausible value, every event can be emitted, xDoc
    /// describes them, and values and command arguments are checked as a
    /// codec checks them.
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
    #[command(subcommand)]
    pub command: Option<SimCommand>,
}

/// What `xmacro sim` does besides serving.
#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// Act on a running simulator: an incoming call, a widget click, people,
    /// HTTP answers, status, events, or a scenario file with timings.
    Ctl(crate::sim::ctl::CtlArgs),
}

impl Cli {
    /// Parses the process arguments. `--color` is looked at first, so it
    /// also governs clap's own help and error output.
    pub fn parse_args() -> Cli {
        use clap::{CommandFactory, FromArgMatches};
        let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
        let choice = color_from_args(&args);
        let matches = Cli::command().color(choice).get_matches_from(args);
        Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
    }
}

/// The `--color` value in raw arguments (before `--`), `auto` if absent or bad
/// (clap reports a bad value itself).
pub fn color_from_args(args: &[std::ffi::OsString]) -> ColorChoice {
    let mut value = None;
    let mut iter = args.iter().skip(1).map(|a| a.to_string_lossy());
    while let Some(a) = iter.next() {
        if a == "--" {
            break;
        }
        if let Some(v) = a.strip_prefix("--color=") {
            value = Some(v.to_string());
        } else if a == "--color" {
            value = iter.next().map(|v| v.into_owned());
        }
    }
    value
        .and_then(|v| ColorChoice::from_str(&v, true).ok())
        .unwrap_or(ColorChoice::Auto)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<std::ffi::OsString> {
        list.iter().map(Into::into).collect()
    }

    #[test]
    fn the_color_flag_is_found_before_clap_parses() {
        assert_eq!(
            color_from_args(&args(&["xmacro", "--color", "never", "run"])),
            ColorChoice::Never
        );
        assert_eq!(
            color_from_args(&args(&["xmacro", "run", "--color=always"])),
            ColorChoice::Always
        );
        assert_eq!(
            color_from_args(&args(&["xmacro", "run"])),
            ColorChoice::Auto
        );
        assert_eq!(
            color_from_args(&args(&["xmacro", "command", "--", "--color", "never"])),
            ColorChoice::Auto
        );
    }

    #[test]
    fn the_definitions_are_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
