//! The Rhai runtime: one module per concern.
//!
//! - [`engine`]: the sandboxed engine shared by every script.
//! - [`api`]: the `xapi` object and the other globals scripts see.
//! - [`instance`]: one (script, codec) instance: mailbox, callbacks, timers.
//! - [`pool`]: the OS threads instances run on (never tokio's).
//! - [`loader`]: compiling, with imports confined to the scripts directory.
//! - [`stdlib`]: JSON, local time, regular expressions and random numbers.
//! - [`output`]: what scripts log, escaped and rate limited.

pub mod api;
pub mod engine;
pub mod instance;
pub mod loader;
pub mod output;
pub mod pool;
pub mod stdlib;
