//! `xmacro sim` and `xmacro sim ctl`: how the simulator serves, and what
//! to do to a running one (the same grammar reads a scenario file's lines).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

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
    Ctl(CtlArgs),
}

/// Act on a running simulator.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    xmacro sim ctl ws://127.0.0.1:8080/ws incoming-call alice@example.com --name 'Alice'\n  \
    xmacro sim ctl ws://127.0.0.1:8080/ws hangup\n  \
    xmacro sim ctl ws://127.0.0.1:8080/ws widget-click speed-dial\n  \
    xmacro sim ctl ws://127.0.0.1:8080/ws widget-click volume --type changed --value 70\n  \
    xmacro sim ctl ws://127.0.0.1:8080/ws people 5\n  \
    xmacro sim ctl ws://127.0.0.1:8080/ws http-response 'https://api.example.com/prices*' --body '{\"price\": 12}'\n  \
    xmacro sim ctl ws://127.0.0.1:8080/ws status Status Audio Volume 70\n  \
    xmacro sim ctl ws://127.0.0.1:8080/ws event Event UserInterface Message Prompt Response --json '{\"FeedbackId\":\"q\",\"OptionId\":1}'\n  \
    xmacro sim ctl ws://127.0.0.1:8080/ws command-result Bookings List --json '{\"Booking\": []}'\n  \
    xmacro sim ctl ws://127.0.0.1:8080/ws ui-log          # what the room showed, in order\n  \
    xmacro sim ctl ws://127.0.0.1:8080/ws scenario morning.txt\n\n\
A scenario file has one action per line after the second it runs at, counted\n\
from the start (at most 86400, a day); blank lines and lines starting with #\n\
are skipped:\n  \
    0    people 3\n  \
    1.5  incoming-call alice@example.com --name Alice\n  \
    10   hangup\n  \
    12   people 0\n\n\
The whole file is checked before its first line runs. Ctrl-C or SIGTERM stops\n\
it at once, saying how many steps ran (exit 130 or 143).")]
pub struct CtlArgs {
    /// The simulator's URL, as `xmacro sim` printed it (ws://127.0.0.1:8080/ws).
    pub url: String,
    /// The simulator's password (its --password; empty by default).
    #[arg(
        short = 'p',
        long,
        env = "XMACRO_PASSWORD",
        hide_env_values = true,
        default_value = ""
    )]
    pub password: String,
    #[command(subcommand)]
    pub action: Action,
}

/// One thing to do to the simulator.
#[derive(Debug, Clone, Subcommand)]
pub enum Action {
    /// A call rings from NUMBER (Event IncomingCallIndication; answer it with Call Accept).
    IncomingCall {
        number: String,
        /// The caller's display name (default: the number).
        #[arg(long)]
        name: Option<String>,
    },
    /// The far end hangs up (the first call, or --call-id).
    Hangup {
        #[arg(long)]
        call_id: Option<u64>,
    },
    /// Someone clicks a UI extension widget (pressed, released, clicked).
    WidgetClick {
        widget_id: String,
        /// Another action type instead (changed, pressed, released).
        #[arg(long = "type")]
        kind: Option<String>,
        /// The widget's value (sliders, toggles, group buttons).
        #[arg(long)]
        value: Option<String>,
    },
    /// Someone opens a UI extension panel.
    PanelClick { panel_id: String },
    /// N people are in the room (count and presence).
    People { count: u64 },
    /// What HttpClient answers for URL (exact, or a glob with *).
    HttpResponse {
        url: String,
        /// Only for this method (GET, POST, ...); any when absent.
        #[arg(long)]
        method: Option<String>,
        #[arg(long, default_value_t = 200)]
        status: u16,
        /// A response header, "Key: Value" (repeatable).
        #[arg(long = "header")]
        headers: Vec<String>,
        /// The response body.
        #[arg(long, conflicts_with = "body_file")]
        body: Option<String>,
        /// The response body, read from a file.
        #[arg(long)]
        body_file: Option<PathBuf>,
    },
    /// Set a status value: path words, then the value (JSON or text).
    Status {
        #[arg(required = true, num_args = 2..)]
        words: Vec<String>,
    },
    /// Emit an event (fields the schema gives it get plausible values).
    Event {
        #[arg(required = true, num_args = 1..)]
        path: Vec<String>,
        /// The event's fields as a JSON object.
        #[arg(long)]
        json: Option<String>,
    },
    /// What a command answers from now on (no --json: its own answer again).
    CommandResult {
        #[arg(required = true, num_args = 1..)]
        command: Vec<String>,
        /// The result as JSON.
        #[arg(long)]
        json: Option<String>,
    },
    /// Print the alerts, prompts and text lines shown, in order.
    UiLog,
    /// Print the HttpClient requests made, in order.
    HttpRequests,
    /// Print what the simulator recorded: sessions and subscriptions open,
    /// commands, close codes, authentication failures, and the time (Unix
    /// ms) of each upgrade attempt (to count a fleet's reconnect rate).
    Inspect,
    /// Replay a scenario file (see the examples below).
    Scenario { file: PathBuf },
}

/// One scenario line's action, parsed with the same grammar.
#[derive(Debug, Parser)]
#[command(name = "scenario-line", no_binary_name = true)]
pub struct ScenarioLine {
    #[command(subcommand)]
    pub action: Action,
}
