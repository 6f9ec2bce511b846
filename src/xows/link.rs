//! What passes between the handle and the connection task: commands one
//! way ([`Cmd`]), the connection's state and counters the other
//! ([`ConnState`], [`Stats`]). Neither side's logic lives here, so both can
//! depend on it without depending on each other.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::oneshot;

use super::error::Error;
use super::path::Path;
use super::protocol::Call;

/// What the connection is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnState {
    /// The first attempt is under way.
    Connecting,
    Connected,
    /// The link is down; the next attempt is scheduled.
    Reconnecting {
        reason: String,
        attempt: u32,
        retry_in: Duration,
    },
    /// The first connection failed and the handle gave up (only with
    /// [`super::Codec::connect`]).
    Failed(String),
    /// [`super::Codec::close`] was called.
    Closed,
}

impl ConnState {
    pub fn is_connected(&self) -> bool {
        matches!(self, ConnState::Connected)
    }
}

/// Work for the connection task, in one channel so that it arrives in the
/// order it was made: a subscriber's id comes from the handle's counter,
/// and its unsubscribe can never overtake its subscribe. The channel is
/// unbounded because a dropped subscription cannot wait; what it holds is
/// bounded all the same (offline calls by the manager's offline queue,
/// subscribes by the callers waiting for them). Payloads are boxed: a
/// command is two words, so a node in the channel stays small.
pub(crate) enum Cmd {
    /// A call made while no link was up.
    Call(Box<OfflineCall>),
    Subscribe(Box<Subscribe>),
    Unsubscribe(u64),
    Close(oneshot::Sender<()>),
}

/// The handle's end of the command channel. futures' unbounded channel,
/// not tokio's: tokio's allocates its first block of 32 slots (about 1 KiB
/// with the channel) up front for every codec, where this one allocates a
/// node per command in flight and nothing while idle.
pub(crate) type CmdTx = futures_channel::mpsc::UnboundedSender<Cmd>;
/// The connection task's end.
pub(crate) type CmdRx = futures_channel::mpsc::UnboundedReceiver<Cmd>;

/// A caller's call for the offline queue.
pub(crate) struct OfflineCall {
    pub call: Call,
    pub reply: oneshot::Sender<Result<Value, Error>>,
    pub sent: Arc<AtomicBool>,
}

/// A new local subscriber.
pub(crate) struct Subscribe {
    /// Its id, unique on this connection.
    pub local: u64,
    pub query: Path,
    pub wants_current: bool,
    /// Where its documents go, in the order they arrive.
    pub sink: Box<dyn super::feed::Sink>,
    pub waiter: oneshot::Sender<Result<(), Error>>,
}

/// Counters the connection task keeps for everyone to read.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub connects: std::sync::atomic::AtomicU64,
    pub last_drop: std::sync::Mutex<Option<String>>,
    /// When the current connection came up (for the status page).
    pub connected_at: std::sync::Mutex<Option<std::time::SystemTime>>,
    /// The last answered request's round trip, in microseconds (0: none yet).
    pub rtt_us: std::sync::atomic::AtomicU64,
    /// Keepalive pings written so far.
    pub pings: std::sync::atomic::AtomicU64,
}
