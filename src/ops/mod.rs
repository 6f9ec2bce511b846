//! Operating a running host: a read-only HTTP server in the same process
//! (`run --http ADDR`) with a live status page, the same as JSON, Prometheus
//! metrics and health checks, which `xmacro status` ([`crate::cmd::status`])
//! prints as tables. docs/ops.md documents the endpoints and the JSON.
//!
//! - [`snapshot`]: the status as plain data, gathered from the codec handles
//!   and the [telemetry board](mod@crate::telemetry::board); filters.
//! - [`prometheus`]: the metrics in Prometheus text format.
//! - [`page`]: the HTML page, rendered on the server (readable without
//!   JavaScript; a few lines of script swap in fresh HTML from `/events`).
//! - [`access`]: who may ask (loopback, or the token on every request).
//! - [`server`]: the axum routes, readiness, live updates.
//! - [`audit`](mod@audit): `/api/audit`, the audit trail as JSON.
//! - [`listen`]: the connections: header-read and idle timeouts, and a cap
//!   from the open-file limit so the codecs keep their descriptors.
//! - [`http`]: the small HTTP/1.1 client `xmacro status` uses.
//! - [`table`]: `xmacro status` output as tables.

pub mod access;
pub mod audit;
pub mod http;
pub mod listen;
pub mod page;
pub mod prometheus;
pub mod rollout;
pub mod server;
pub mod snapshot;
pub mod table;

pub use access::{HttpOptions, OpsError};
pub use server::Ops;
pub use snapshot::{Filter, Status};
