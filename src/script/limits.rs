//! The limits that keep one script from hurting others: per instance
//! ([`Limits`]: operations, time, mailbox, timers, memory), and the sizes
//! of values every engine shares (the `MAX_*` constants). At the bottom of
//! the runtime (it imports nothing of it), so the engine, the standard
//! library and the test runner's sandbox all read the same numbers.

use std::time::Duration;

/// Size limits of script values.
pub const MAX_STRING: usize = 1 << 20;
pub const MAX_ARRAY: usize = 100_000;
pub const MAX_MAP: usize = 100_000;
pub const MAX_CALL_DEPTH: usize = 64;

/// Limits that keep one script from hurting others.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Rhai operations one callback may take.
    pub max_operations: u64,
    /// Wall-clock time one callback's own work may take before it is
    /// stopped (waiting for its codec is not counted: see `wait`).
    pub budget: Duration,
    /// Time one callback may spend waiting for its codec in all (each call
    /// also has its request timeout, a catchable error).
    pub wait: Duration,
    /// A callback slower than this is warned about.
    pub slow: Duration,
    /// Jobs that may wait per instance.
    pub mailbox: usize,
    /// How long `on_unload` may take.
    pub unload: Duration,
    /// Timers (`set_timeout`, `set_interval`, `daily`) one instance may
    /// hold at once; one more is a catchable error.
    pub max_timers: usize,
    /// The shortest interval: `set_interval(f, 1)` ticks at this pace.
    pub min_interval: Duration,
    /// Bytes one instance may hold; past it the instance is stopped.
    pub memory: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_operations: 20_000_000,
            budget: Duration::from_secs(5),
            wait: Duration::from_secs(60),
            slow: Duration::from_secs(1),
            // The slack a script had when each subscription buffered 4096
            // documents in front of a mailbox of 4096.
            mailbox: 8192,
            unload: Duration::from_secs(3),
            max_timers: 256,
            min_interval: Duration::from_millis(10),
            memory: 64 << 20,
        }
    }
}
