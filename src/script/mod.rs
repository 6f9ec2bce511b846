//! The Rhai runtime: one module per concern.
//!
//! - [`engine`]: the sandboxed engine shared by every script.
//! - [`allow`]: the xAPI a script may touch (`allow` patterns), as data.
//! - [`budget`]: wall-clock deadlines for callbacks, compiles and waits.
//! - [`depth`]: the depth bound on values the host prints or converts.
//! - [`memory`]: the counting allocator behind each instance's memory budget.
//! - [`fault`]: the `#{ code, message }` errors scripts catch.
//! - [`api`]: the `xapi` object and the other globals scripts see.
//! - [`guard`]: each call checked against `allow` and put on the audit trail.
//! - [`convert`]: script values to JSON and back.
//! - [`feedback`]: codec feedback into an instance's mailbox, in wire order.
//! - [`home`]: the library a callback was made in, to call it there.
//! - [`toplevel`]: top-level variables as state shared with `fn`s and callbacks.
//! - [`limits`]: what one script may use, and the sizes of values.
//! - [`instance`]: one running (script, codec) instance: mailbox and jobs;
//!   what it is started from (`spec`), its compiled program and the calls
//!   into it (`program`), its context with callbacks and timers (`context`).
//! - [`diagnose`]: `file:line:col: message` for a script error.
//! - [`pool`]: the OS threads instances run on (never tokio's).
//! - [`retry`]: which top levels are started again, and when.
//! - [`loader`]: compiling, with imports confined to the scripts directory.
//! - [`lex`]: Rhai's tokens with their raw text (for `check` and editors).
//! - [`hints`]: what to write instead when a JavaScript habit fails to compile.
//! - [`stdlib`]: JSON, local time, regular expressions and random numbers.
//! - [`send`]: fire-and-forget commands whose refusal is logged.
//! - [`steps`]: pauses between commands that hold no worker.
//! - [`output`]: what scripts log, escaped and rate limited.
//! - [`wait`]: how a script thread waits for a host call's answer.

pub mod allow;
pub mod api;
pub mod budget;
pub mod convert;
pub mod depth;
pub mod diagnose;
pub mod engine;
pub mod fault;
pub mod feedback;
pub mod guard;
pub mod hints;
pub mod home;
pub mod instance;
pub mod lex;
pub mod limits;
pub mod loader;
pub mod memory;
pub mod output;
pub mod pool;
pub mod retry;
pub mod send;
pub mod stdlib;
pub mod steps;
pub mod toplevel;
pub mod wait;
