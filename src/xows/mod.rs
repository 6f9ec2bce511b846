//! The XoWS side of xmacro: the wire protocol and paths (shared with the
//! simulator) and the client, usable on its own from Rust:
//!
//! - [`protocol`], [`path`], [`doc`]: messages, paths, documents; no I/O.
//! - [`manager`], [`backoff`]: the client's bookkeeping; plain data.
//! - [`connection`]: the task that owns the socket.
//! - [`client`]: the cloneable [`Codec`] handle and [`Subscription`].
//! - [`tls`]: system roots, CA file, fingerprint pin, insecure.

pub mod backoff;
pub mod client;
pub mod connection;
pub mod doc;
pub mod error;
pub mod manager;
pub mod path;
pub mod protocol;
pub mod tls;

pub use client::{AuthMode, Codec, CodecConfig, ConnState, Password, Subscription};
pub use error::{ConnectError, Error};
pub use tls::TlsMode;
