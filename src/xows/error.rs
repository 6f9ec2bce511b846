//! One error type for everything a codec call can end in, so callers can
//! tell "the codec said no" from "the connection failed" from "timed out".

use std::time::Duration;

use super::protocol::RpcError;

/// Why connecting to a codec failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    /// 401/403 on the upgrade: wrong user or password. `says` is the
    /// server's own word on it, when it gives one beyond the status (the
    /// simulator names the user it expects).
    #[error(
        "authentication failed (HTTP {status}): check the user name and password{}",
        says.as_ref().map(|s| format!(" (the server says: {s})")).unwrap_or_default()
    )]
    Auth { status: u16, says: Option<String> },
    /// 502/503 on the upgrade: the codec is booting or rate limiting.
    #[error("the codec is not accepting connections yet (HTTP {status})")]
    Unavailable { status: u16 },
    /// Any other HTTP answer to the upgrade.
    #[error("the codec refused the WebSocket upgrade with HTTP {status}")]
    Refused { status: u16 },
    /// The certificate was not accepted (the message says what was presented).
    #[error("TLS: {0}")]
    Tls(String),
    /// TCP or DNS.
    #[error("{0}")]
    Network(String),
    /// The URL or settings cannot work.
    #[error("{0}")]
    Config(String),
}

/// Why a call did not return a result.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// The codec answered with an error object.
    #[error("the codec refused: {0}")]
    Codec(RpcError),
    /// The call was sent but no answer came in time.
    #[error("{method}: no answer within {after:?}")]
    Timeout { method: String, after: Duration },
    /// The connection was down for the whole wait, or dropped while the call
    /// was in flight.
    #[error("{method}: disconnected from the codec ({reason})")]
    Disconnected { method: String, reason: String },
    /// The first connection failed (only from [`super::client::Codec::connect`]).
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The handle was closed.
    #[error("the codec connection is closed")]
    Closed,
    /// The codec answered something the client cannot use.
    #[error("unexpected answer: {0}")]
    Protocol(String),
}

/// Error codes a script sees for failures that are not the codec's own.
pub mod local_code {
    /// A call timed out.
    pub const TIMEOUT: i64 = -32000;
    /// The codec was not reachable.
    pub const DISCONNECTED: i64 = -32001;
    /// The connection handle is closed.
    pub const CLOSED: i64 = -32002;
    /// A protocol or connect failure.
    pub const OTHER: i64 = -32003;
}

impl Error {
    /// The error as an xAPI-style error object (codec errors keep theirs).
    pub fn to_rpc(&self) -> RpcError {
        match self {
            Error::Codec(e) => e.clone(),
            Error::Timeout { .. } => RpcError::new(local_code::TIMEOUT, self.to_string()),
            Error::Disconnected { .. } => RpcError::new(local_code::DISCONNECTED, self.to_string()),
            Error::Closed => RpcError::new(local_code::CLOSED, self.to_string()),
            Error::Connect(_) | Error::Protocol(_) => {
                RpcError::new(local_code::OTHER, self.to_string())
            }
        }
    }
}
