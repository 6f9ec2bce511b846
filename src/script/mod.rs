//! The Rhai runtime: one module per concern.
//!
//! - [`engine`]: the sandboxed engine shared by every script.
//! - [`budget`]: wall-clock deadlines for callbacks, compiles and waits.
//! - [`depth`]: the depth bound on values the host prints or converts.
//! - [`memory`]: the counting allocator behind each instance's memory budget.
//! - [`api`]: the `xapi` object and the other globals scripts see.
//! - [`convert`]: script values to JSON and back.
//! - [`instance`]: one (script, codec) instance: mailbox, callbacks, timers.
//! - [`pool`]: the OS threads instances run on (never tokio's).
//! - [`loader`]: compiling, with imports confined to the scripts directory.
//! - [`stdlib`]: JSON, local time, regular expressions and random numbers.
//! - [`output`]: what scripts log, escaped and rate limited.

pub mod api;
pub mod budget;
pub mod convert;
pub mod depth;
pub mod engine;
pub mod instance;
pub mod loader;
pub mod memory;
pub mod output;
pub mod pool;
pub mod stdlib;
