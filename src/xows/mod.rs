//! The XoWS side of xmacro: the wire protocol and paths (shared with the
//! simulator) and the client, usable on its own from Rust: it stands only
//! on the ground floor of the house, [`crate::log`] (log lines without
//! secrets, at most a burst per codec), [`crate::telemetry`] (the
//! client's counters and round-trip times) and [`crate::files`] (a CA
//! file read bounded), none of which imports anything above it.
//!
//! - [`protocol`], [`path`], [`doc`]: messages, paths, documents; no I/O.
//! - [`manager`], [`backoff`], [`feedback_queue`]: the client's
//!   bookkeeping; plain data. [`feed`]: the [`Sink`] a subscriber's
//!   documents go to in wire order, and a library user's coalescing buffer.
//! - [`keepalive`]: when a silent link is pinged and when it is judged
//!   half-open (by what arrived, allowing for this host's own lag).
//! - [`pace`]: the host-wide limit on connection attempts per second;
//!   [`pinger`]: the one task that pings a host's silent links, at most
//!   `ping_rate` a second.
//! - [`settings`]: how to reach a codec; [`link`]: what the handle and the
//!   connection task exchange.
//! - [`calls`]: calls waiting for their answer; [`wire`]: the shared write
//!   half callers write their own request frame to.
//! - [`connection`]: the task that owns the socket; [`dial`]: one
//!   connection attempt (TCP, TLS, upgrade with credentials); `woken`: the
//!   socket's stream polled only when it woke the task.
//! - [`client`]: the cloneable [`Codec`] handle, [`Subscription`], and
//!   [`FeedGuard`] for a subscription into a sink of one's own.
//! - [`tls`]: system roots, CA file, fingerprint pin, insecure.

pub mod backoff;
pub mod calls;
pub mod client;
pub mod connection;
pub mod dial;
pub mod doc;
pub mod error;
pub mod feed;
pub mod feedback_queue;
pub mod keepalive;
pub mod link;
pub mod manager;
mod offline;
pub mod pace;
pub mod path;
pub mod pinger;
pub mod protocol;
pub mod settings;
pub mod tls;
pub mod wire;
mod woken;

pub use client::{Codec, FeedGuard, Subscription};
pub use error::{ConnectError, Error};
pub use feed::Sink;
pub use link::ConnState;
pub use pace::ConnectPace;
pub use settings::{AuthMode, CodecConfig, Password};
pub use tls::TlsMode;
