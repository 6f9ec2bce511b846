//! xmacro runs RoomOS-style macros outside the codec.
//!
//! The library is laid out one concept per module:
//!
//! - [`xows`]: the XoWS wire protocol (JSON-RPC 2.0 messages, error codes,
//!   xAPI paths, documents) and the client: a cloneable [`xows::Codec`]
//!   handle over one task per socket, with timeouts, reconnect, resubscribe
//!   and TLS pinning.
//! - [`config`]: `xmacro.toml` read into a validated configuration;
//!   [`config_bounds`] bounds its size, nesting and the files it names.
//! - [`schema`]: the public xAPI schema, read into a path trie with value
//!   spaces; used by the simulator to check arguments.
//! - [`sim`]: the simulated codec, an XoWS server with a built-in device model
//!   and control methods for tests; `sim::run(listener, options, shutdown)`.
//! - [`script`]: the Rhai runtime (sandboxed engine, the `xapi` API,
//!   instances and the threads they run on, the import-confined loader,
//!   budgets for time, memory and depth, and a small standard library).
//! - [`host`]: binds scripts to codecs, hot reload, shutdown; [`store`] and
//!   [`clock`] are what scripts persist to and schedule by.
//! - [`telemetry`]: counters, histograms and what each script is doing,
//!   written by the client, runtime and host; [`ops`] serves them over
//!   HTTP (status page, `/api/status`, `/metrics`, health checks) and
//!   `xmacro status` prints them.
//! - [`shard`] and [`fleet`]: which of N hosts serves a codec (rendezvous
//!   hashing, `run --shard I/N`, printed by [`shard_cmd`]) and the codecs
//!   this host acts for (its shard's, whose database lock it holds);
//!   [`config_store`] reads `state = "postgres://..."` and `[store]`.
//! - [`check`]: `xmacro check`, compile plus schema lookups of literal paths.
//! - [`logging`]: stderr log lines (local-time text or JSON, colour when
//!   wanted); [`init`]: `xmacro init`, a new project from templates;
//!   [`demo`]: the room activity `run --sim` plays on its simulator.
//! - [`logsafe`] and [`ratelimit`]: logs without secrets or forged lines,
//!   and at most a burst per source; [`signals`]: caught from `main`'s
//!   first line.
//! - [`markup`]: text escaped for the status page and JUnit reports.
//! - [`shard`]: which of N processes serves a codec (rendezvous hashing).
//! - [`cli`], [`app`], [`oneshot`] and [`run`]: the command line (clap
//!   definitions) and what each command does; [`error`]: the one error type
//!   of the commands and the exit code it picks.
//!
//! Data flows one way: protocol and paths at the bottom, then the client,
//! schema, simulator, store and runtime, then the host, then the commands.
//! `tests/it/architecture.rs` checks that no two modules import each other
//! around a loop.
//!
//! The `xmacro` binary (`src/main.rs`) catches signals, parses arguments,
//! starts logging and hands over to [`app::run`].

pub mod app;
pub mod check;
pub mod cli;
pub mod clock;
pub mod config;
pub mod config_bounds;
pub mod config_split;
pub mod config_store;
pub mod demo;
pub mod error;
pub mod fleet;
pub mod host;
pub mod init;
pub mod logging;
pub mod logsafe;
pub mod markup;
pub mod oneshot;
pub mod ops;
pub mod ratelimit;
pub mod run;
pub mod schema;
pub mod script;
pub mod shard;
pub mod shard_cmd;
pub mod signals;
pub mod sim;
pub mod store;
pub mod telemetry;
pub mod testrun;
pub mod vclock;
pub mod xows;
