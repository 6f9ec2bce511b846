//! The simulated codec: an XoWS server on `/ws` and `/ws?legacy` that
//! behaves like a RoomOS device (authentication, every method, feedback,
//! ghosts, errors), with a built-in device model ([`device::model`]), the public
//! schema's Status and events when given ([`status`], [`xdoc`]), control
//! methods to script answers and inject faults ([`control`]); `xmacro sim
//! ctl` ([`crate::cmd::sim`]) drives a running one with those methods.
//!
//! Tests start it in-process on port 0:
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let addr = listener.local_addr()?;
//! tokio::spawn(xmacro::sim::run(listener, xmacro::sim::SimOptions::default(), std::future::pending()));
//! // connect to ws://{addr}/ws as admin with an empty password
//! # Ok(()) }
//! ```

pub mod args;
pub mod builtin;
pub mod control;
pub mod device;
pub mod lenient;
pub mod query;
mod server;
pub mod status;
pub mod tls;
pub mod xdoc;

use std::future::Future;

use tokio::net::TcpListener;

pub use device::{Device, DeviceOptions};
pub use server::serve;
pub use tls::Identity;

/// How the simulator is reached and what it simulates.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Accepted user; a factory-new codec has `admin` with an empty password.
    pub username: String,
    pub password: String,
    /// Serve `wss://` with this certificate.
    pub tls: Option<Identity>,
    pub device: DeviceOptions,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            username: "admin".into(),
            password: String::new(),
            tls: None,
            device: DeviceOptions::default(),
        }
    }
}

/// Runs a simulator on `listener` until `shutdown` resolves.
pub async fn run(
    listener: TcpListener,
    options: SimOptions,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let device = Device::new(options.device.clone());
    serve(listener, device, options, shutdown).await
}
