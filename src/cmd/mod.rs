//! What each command does, one module per command: the commands sit on top
//! of every library layer (config, host, client, simulator, checker) and
//! nothing below imports them. [`crate::app`] picks the one to run.
//!
//! - [`run`]: `xmacro run`, the host until a stop signal (with [`demo`],
//!   the room activity `run --sim` plays on its simulator).
//! - [`check`]: `xmacro check`, compile and schema findings printed.
//! - [`test`](mod@test): `xmacro test`, the test runner's results printed.
//! - [`sim`]: `xmacro sim` and `xmacro sim ctl`.
//! - [`status`]: `xmacro status`, a running host's status printed.
//! - [`rollout`]: `xmacro rollout status|promote|abort` on a running host.
//! - [`audit`]: `xmacro audit`, the audit trail printed.
//! - [`oneshot`]: `get`, `query`, `set`, `command` and `feedback`.
//! - [`init`]: `xmacro init`, a new project from templates.
//! - [`shard`]: `xmacro shard`, which host serves each codec.
//! - [`schema`]: `xmacro schema pull`, a codec's xAPI written as a schema file.
//! - [`manual`]: `xmacro completions` and `xmacro man`.
//! - [`lsp`]: `xmacro lsp`, the language server on stdio.
//! - [`connect`]: the connection flags `run` and the one-shots share.
//! - [`state`]: where a project's state lives, and its host's status address.
//! - [`out`]: standard output, where a reader that went away ends it quietly.

pub mod audit;
pub mod check;
pub mod connect;
pub mod demo;
pub mod init;
pub mod lsp;
pub mod manual;
pub mod oneshot;
pub mod out;
pub mod rollout;
pub mod run;
pub mod schema;
pub mod shard;
pub mod sim;
pub mod state;
pub mod status;
pub mod test;
