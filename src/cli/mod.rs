//! Command-line definitions (clap derive) and nothing else: what the
//! commands do lives in [`crate::cmd`], each command's arguments in the
//! file of the same name here (`cli/run.rs` for `cmd/run.rs`), and the
//! commands, their help and the options every command takes here.

use clap::{Args, ColorChoice, Parser, Subcommand, ValueEnum};

mod audit;
mod check;
mod connect;
mod init;
mod lsp;
mod manual;
mod oneshot;
mod rollout;
mod run;
mod schema;
mod shard;
mod sim;
mod status;
mod test;

pub use audit::AuditArgs;
pub use check::CheckArgs;
pub use connect::{AuthArg, ConnectArgs};
pub use init::InitArgs;
pub use lsp::LspArgs;
pub use manual::{CompletionsArgs, ManArgs};
pub use oneshot::{CommandArgs, FeedbackArgs, PathArgs, Target};
pub use rollout::{RolloutAction, RolloutArgs};
pub use run::RunArgs;
pub use schema::{PullArgs, SchemaArgs, SchemaCommand};
pub use shard::ShardArgs;
pub use sim::{Action, CtlArgs, ScenarioLine, SimArgs, SimCommand};
pub use status::StatusArgs;
pub use test::{TestArgs, TestFormat};

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
    Test(TestArgs),

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

    /// Staged rollouts (`[rollout]`) on a running host: see, promote, abort.
    ///
    /// With `[rollout]` in the config a saved change runs first on the canary
    /// codecs, and on every other codec once it has run there for `soak`
    /// without a failure (inside `window`, when set). A failure on a canary
    /// takes it back at once. `promote` and `abort` always need the token.
    #[command(after_help = "Examples:
  \
        xmacro rollout status                            # the host on http://127.0.0.1:9090
  \
        xmacro rollout promote volume-limit --token-file /etc/xmacro/http-token
  \
        xmacro rollout abort volume-limit --http http://10.0.0.2:9090 --token-file /etc/xmacro/http-token")]
    Rollout(RolloutArgs),
    /// Print the audit trail: every command and configuration set scripts
    /// made, and every call their `allow` list refused, with time, codec,
    /// script, script version, path, parameters (secrets as ***) and
    /// result, newest last.
    ///
    /// Reads the store's database (the config's state directory or its
    /// PostgreSQL) on a connection of its own, so it works while the host
    /// runs. A running host also answers GET /api/audit.
    #[command(after_help = "Examples:\n  \
        xmacro audit                                      # the trail of ./xmacro.toml's store\n  \
        xmacro audit --codec boardroom --since 1h         # one room, the last hour\n  \
        xmacro audit --script volume-limit --json         # JSON lines, for jq or a SIEM\n  \
        xmacro audit --state .xmacro/state                # a host run without a config")]
    Audit(AuditArgs),

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

    /// Get the xAPI schema from a codec (`schema pull`), for `check
    /// --schema`, `run --schema`, `sim --schema`, `test --schema` and editors.
    ///
    /// Cisco publishes the schema of each RoomOS release as the data behind
    /// roomos.cisco.com/xapi; a codec describes its own (its product, its
    /// firmware) over xDoc, and `schema pull` writes that in the same JSON.
    Schema(SchemaArgs),

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

    /// Print the man page (roff) to stdout, or with --dir write one page
    /// per command (xmacro.1, xmacro-run.1, xmacro-sim-ctl.1, ...) there.
    #[command(after_help = "Examples:\n  \
        xmacro man | man -l -\n  \
        mkdir -p ~/.local/share/man/man1 && xmacro man --dir ~/.local/share/man/man1\n  \
        man xmacro-run                                 # then, once MANPATH finds ~/.local/share/man")]
    Man(ManArgs),
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
