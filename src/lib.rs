//! xmacro runs RoomOS-style macros outside the codec.
//!
//! The library is laid out one concept per module:
//!
//! - [`xows`]: the XoWS wire protocol (JSON-RPC 2.0 messages, error codes,
//!   xAPI paths, documents) and the client: a cloneable [`xows::Codec`]
//!   handle over one task per socket, with timeouts, reconnect, resubscribe
//!   and TLS pinning.
//! - [`config`]: `xmacro.toml` read into a validated configuration;
//!   [`config_bounds`] bounds its size, nesting and the files it names;
//!   [`connect`] turns a codec table or command-line flags into client
//!   settings, the same way for both.
//! - [`schema`]: the public xAPI schema, read into a path trie with value
//!   spaces; used by the simulator to check arguments.
//! - [`sim`]: the simulated codec, an XoWS server with a built-in device model
//!   and control methods for tests; `sim::run(listener, options, shutdown)`.
//! - [`script`]: the Rhai runtime (sandboxed engine, the `xapi` API,
//!   instances and the threads they run on, the import-confined loader,
//!   budgets for time, memory and depth, and a small standard library).
//! - [`host`]: binds scripts to codecs, hot reload, shutdown; [`store`] and
//!   [`clock`] are what scripts persist to and schedule by; [`idle`]: the
//!   wait until scripts have nothing left to do (the host's barrier for
//!   tests, and `xmacro test` between actions).
//! - [`telemetry`]: counters, histograms and what each script is doing,
//!   written by the client, runtime and host; [`ops`] serves them over
//!   HTTP (status page, `/api/status`, `/metrics`, health checks) and
//!   `xmacro status` prints them.
//! - [`shard`] and [`fleet`]: which of N hosts serves a codec (rendezvous
//!   hashing, `run --shard I/N`, printed by `xmacro shard`) and the codecs
//!   this host acts for (its shard's, whose database lock it holds);
//!   [`config_store`] reads `state = "postgres://..."` and `[store]`.
//! - [`check`]: the checker behind `xmacro check` and `run --schema`:
//!   compile plus schema lookups of literal paths.
//! - [`lsp`]: `xmacro lsp`, a language server (completion, hover,
//!   definition, and `check`'s findings as diagnostics) for any editor.
//! - [`testrun`]: the test runner of `xmacro test` (virtual clock,
//!   simulated rooms, JUnit, record and replay); [`vclock`] its clock.
//! - [`logging`]: stderr log lines (local-time text or JSON, colour when
//!   wanted).
//! - [`logsafe`] and [`ratelimit`]: logs without secrets or forged lines,
//!   and at most a burst per source; [`signals`]: caught from `main`'s
//!   first line.
//! - [`markup`]: text escaped for the status page and JUnit reports.
//! - [`cli`]: the command line (clap definitions); [`app`]: the dispatch
//!   to [`cmd`], one module per command (`run`, `check`, `test`, `sim`,
//!   the one-shots, `init`, `shard`, completions and man); [`error`]: the
//!   one error type of the commands and the one place picking exit codes.
//!
//! Data flows one way: protocol and paths at the bottom, then the client,
//! schema, simulator, store and runtime, then the host, then the commands.
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
pub mod schema;
pub mod script;
pub mod signals;
pub mod sim;
pub mod store;
pub mod telemetry;
pub mod testrun;
pub mod xows;
