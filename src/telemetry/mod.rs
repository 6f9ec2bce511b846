//! Process-wide telemetry that the client, the script runtime and the host
//! write into and [`crate::ops`] reads: counters and histograms
//! ([`metrics`](mod@metrics)), what each script is doing ([`board`](mod@board)), and the script log
//! lines kept for the status page ([`logtap`]).
//!
//! This module imports nothing else from the crate, so every other module
//! may write into it without an import cycle. It is per process: one host
//! per process is what `xmacro run` runs, and that is what it describes.

pub mod board;
pub mod logtap;
pub mod metrics;
pub mod panels;

pub use board::{Board, board};
pub use metrics::{Metrics, metrics};
