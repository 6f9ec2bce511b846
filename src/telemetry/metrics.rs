//! Counters and histograms kept as atomics, cheap enough for the request
//! and callback paths, and read by [`crate::ops::prometheus`] into Prometheus
//! text. A fixed set of named fields, not a dynamic registry: every metric
//! is known at compile time and documented in docs/ops.md.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A monotonically increasing count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub const fn new() -> Counter {
        Counter(AtomicU64::new(0))
    }
    /// Adds one.
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    /// The count now.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Upper bounds (seconds) of the latency buckets: 100 us to 10 s.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2.5, 10.0,
];

/// A latency histogram over [`LATENCY_BUCKETS`] (plus +Inf).
#[derive(Debug)]
pub struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    count: AtomicU64,
    sum_ns: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new()
    }
}

/// A histogram read at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// (upper bound, cumulative count), ascending.
    pub buckets: Vec<(f64, u64)>,
    pub count: u64,
    pub sum_seconds: f64,
}

impl Histogram {
    pub const fn new() -> Histogram {
        Histogram {
            buckets: [const { AtomicU64::new(0) }; LATENCY_BUCKETS.len()],
            count: AtomicU64::new(0),
            sum_ns: AtomicU64::new(0),
        }
    }

    /// Records one observation.
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = LATENCY_BUCKETS.iter().position(|b| secs <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// Cumulative bucket counts, as Prometheus wants them.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut total = 0;
        let buckets = LATENCY_BUCKETS
            .iter()
            .zip(&self.buckets)
            .map(|(b, c)| {
                total += c.load(Ordering::Relaxed);
                (*b, total)
            })
            .collect();
        // Read last so +Inf is never below a finite bucket.
        let count = self.count.load(Ordering::Relaxed).max(total);
        HistogramSnapshot {
            buckets,
            count,
            sum_seconds: self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9,
        }
    }
}

/// How a request to a codec ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A result came back.
    Ok,
    /// The codec answered with an error.
    CodecError,
    /// Sent, but no answer in time.
    Timeout,
    /// Never sent: the codec was not connected in time.
    Disconnected,
    /// The handle was closed.
    Closed,
    /// The answer did not make sense.
    Protocol,
}

impl Outcome {
    pub const ALL: [Outcome; 6] = [
        Outcome::Ok,
        Outcome::CodecError,
        Outcome::Timeout,
        Outcome::Disconnected,
        Outcome::Closed,
        Outcome::Protocol,
    ];

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::CodecError => "codec_error",
            Outcome::Timeout => "timeout",
            Outcome::Disconnected => "disconnected",
            Outcome::Closed => "closed",
            Outcome::Protocol => "protocol_error",
        }
    }
}

/// How a script (re)load ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// First start of a script.
    Loaded,
    /// A new version replaced the running one.
    Reloaded,
    /// The file did not compile (the running version, if any, stays).
    CompileError,
    /// The file went away and its instances stopped.
    Removed,
}

impl ReloadOutcome {
    pub const ALL: [ReloadOutcome; 4] = [
        ReloadOutcome::Loaded,
        ReloadOutcome::Reloaded,
        ReloadOutcome::CompileError,
        ReloadOutcome::Removed,
    ];

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            ReloadOutcome::Loaded => "loaded",
            ReloadOutcome::Reloaded => "reloaded",
            ReloadOutcome::CompileError => "compile_error",
            ReloadOutcome::Removed => "removed",
        }
    }
}

/// Every counter and histogram of the process.
#[derive(Debug)]
pub struct Metrics {
    /// Requests to codecs, by [`Outcome`] (indexed like `Outcome::ALL`).
    pub requests: [Counter; 6],
    /// Time from sending a request until its answer (or failure).
    pub request_duration: Histogram,
    /// Feedback documents handed to subscribers.
    pub feedback_in: Counter,
    /// Feedback dropped because a subscriber's buffer was full.
    pub feedback_dropped_subscriber: Counter,
    /// Events dropped because a script's mailbox was full.
    pub feedback_dropped_mailbox: Counter,
    /// State changes merged into one still waiting (a subscriber's buffer
    /// or a script's mailbox was full): nothing lost, fewer calls.
    pub feedback_coalesced: Counter,
    /// Script callbacks (and top levels) that returned.
    pub callbacks_ok: Counter,
    /// ... that threw an error.
    pub callbacks_failed: Counter,
    /// ... that were stopped for running past their budget.
    pub callbacks_stopped: Counter,
    /// How long each callback ran.
    pub callback_duration: Histogram,
    /// Script loads by [`ReloadOutcome`] (indexed like `ReloadOutcome::ALL`).
    pub reloads: [Counter; 4],
    /// Script log lines not written because a script logged too fast.
    pub log_lines_suppressed: Counter,
    /// Changes rolled back after a failure on a canary codec, by script.
    pub rollbacks: std::sync::Mutex<std::collections::BTreeMap<String, u64>>,
}

impl Metrics {
    const fn new() -> Metrics {
        Metrics {
            requests: [const { Counter::new() }; 6],
            request_duration: Histogram::new(),
            feedback_in: Counter::new(),
            feedback_dropped_subscriber: Counter::new(),
            feedback_dropped_mailbox: Counter::new(),
            feedback_coalesced: Counter::new(),
            callbacks_ok: Counter::new(),
            callbacks_failed: Counter::new(),
            callbacks_stopped: Counter::new(),
            callback_duration: Histogram::new(),
            reloads: [const { Counter::new() }; 4],
            log_lines_suppressed: Counter::new(),
            rollbacks: std::sync::Mutex::new(std::collections::BTreeMap::new()),
        }
    }

    /// Counts one rollback of `script`.
    pub fn rollback(&self, script: &str) {
        *self
            .rollbacks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(script.to_string())
            .or_default() += 1;
    }

    /// Rollbacks so far, by script.
    pub fn rollbacks(&self) -> std::collections::BTreeMap<String, u64> {
        self.rollbacks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Counts one finished request.
    pub fn request(&self, outcome: Outcome, took: Duration) {
        let i = Outcome::ALL.iter().position(|o| *o == outcome).unwrap_or(0);
        self.requests[i].inc();
        self.request_duration.observe(took);
    }

    /// Requests with this outcome so far.
    pub fn requests_with(&self, outcome: Outcome) -> u64 {
        let i = Outcome::ALL.iter().position(|o| *o == outcome).unwrap_or(0);
        self.requests[i].get()
    }

    /// Counts one script load.
    pub fn reload(&self, outcome: ReloadOutcome) {
        let i = ReloadOutcome::ALL
            .iter()
            .position(|o| *o == outcome)
            .unwrap_or(0);
        self.reloads[i].inc();
    }

    /// Loads with this outcome so far.
    pub fn reloads_with(&self, outcome: ReloadOutcome) -> u64 {
        let i = ReloadOutcome::ALL
            .iter()
            .position(|o| *o == outcome)
            .unwrap_or(0);
        self.reloads[i].get()
    }
}

static METRICS: Metrics = Metrics::new();

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    &METRICS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_count_everything() {
        let h = Histogram::new();
        h.observe(Duration::from_micros(50));
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_secs(60));
        let s = h.snapshot();
        assert_eq!(s.count, 3);
        assert_eq!(s.buckets[0], (0.0001, 1));
        let at_5ms = s.buckets.iter().find(|(b, _)| *b == 0.005).unwrap().1;
        assert_eq!(at_5ms, 2);
        assert_eq!(s.buckets.last().unwrap().1, 2, "60 s is only in +Inf");
        assert!((s.sum_seconds - 60.00305).abs() < 1e-9);
    }
}
