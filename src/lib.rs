//! xmacro runs RoomOS-style macros outside the codec.
//!
//! The library is laid out one concern per folder, from the ground floor
//! up (docs/design.md walks through it, with a feedback event's way from
//! the socket to a script's callback):
//!
//! - [`files`]: files a user names, read bounded and type-checked;
//!   [`signals`]: caught from `main`'s first line; [`telemetry`]: counters,
//!   histograms and what each script is doing, written by everyone above;
//!   [`clock`]: the wall clock scripts schedule by and the virtual clock of
//!   `xmacro test`.
//! - [`log`]: stderr log lines, logs without secrets or forged lines, rate
//!   limits per source, text escaped for HTML and XML.
//! - [`xows`]: the XoWS wire protocol (JSON-RPC 2.0 messages, error codes,
//!   xAPI paths, documents) and the client: a cloneable [`xows::Codec`]
//!   handle over one task per socket, with timeouts, reconnect, resubscribe
//!   and TLS pinning.
//! - [`schema`]: the public xAPI schema, read into a path trie with value
//!   spaces; [`store`]: durable key-value per script and codec (SQLite
//!   embedded, or PostgreSQL).
//! - [`sim`]: the simulated codec, an XoWS server with a built-in device model
//!   and control methods for tests; `sim::run(listener, options, shutdown)`.
//!   [`fleet`]: which codecs this host serves (`--shard I/N`, and the
//!   database locks it holds).
//! - [`script`]: the Rhai runtime (sandboxed engine, the `xapi` API,
//!   instances and the threads they run on, the import-confined loader,
//!   budgets for time, memory and depth, and a small standard library).
//! - [`config`]: `xmacro.toml` read as written, then resolved into a
//!   validated configuration; the codec settings a table or the command
//!   line's flags give, the same way for both.
//! - [`host`]: binds scripts to codecs: the watcher, loading scripts, one
//!   slot per script and codec, the run loop (hot reload, shard take-overs,
//!   shutdown), and the wait until nothing is under way. [`ops`]: the
//!   status server (status page, `/api/status`, `/metrics`, health checks,
//!   the rollout actions).
//! - [`rollout`]: a change in stages (`[rollout]`): versions kept whole
//!   and named by a content hash, and each script's rollout (canary, soak,
//!   promotion, rollback) as plain data the host acts on.
//! - [`check`]: the checker behind `xmacro check` and `run --schema`:
//!   compile plus schema lookups of literal paths. [`testrun`]: the test
//!   runner of `xmacro test` (simulated rooms on a virtual clock, JUnit,
//!   record and replay).
//! - [`lsp`]: `xmacro lsp`, a language server (completion, hover,
//!   definition, and `check`'s findings as diagnostics) for any editor.
//! - [`cli`]: the command line (clap definitions only); [`error`]: the one
//!   error type of the commands and the one place picking exit codes;
//!   [`cmd`]: what each command does, one module per command; [`app`]: the
//!   dispatch from the parsed command line to [`cmd`].
//!
//! Data flows one way: the files, signals, telemetry and clocks at the
//! bottom, then logs, the client, the schema and store, the simulator and
//! runtime, the config, the host, then the commands.
//! `tests/it/architecture.rs` checks that no two modules import each other
//! around a loop.
//!
//! The `xmacro` binary (`src/main.rs`) catches signals, parses arguments,
//! starts logging and hands over to [`app::run`].

pub mod app;
pub mod audit;
pub mod check;
pub mod cli;
pub mod clock;
pub mod cmd;
pub mod config;
pub mod error;
pub mod files;
pub mod fleet;
pub mod host;
pub mod log;
pub mod lsp;
pub mod ops;
pub mod panels;
pub mod rollout;
pub mod schema;
pub mod script;
pub mod signals;
pub mod sim;
pub mod store;
pub mod telemetry;
pub mod testrun;
pub mod xows;
