//! The write half of a codec's socket, shared: a caller writes its own
//! request frame (no hand-off to the connection task, whose thread would
//! have to wake up just to write it), and the connection task writes its
//! own requests, pings and the close frame, all through one fair lock so
//! frames keep the order their writers asked in.
//!
//! While no link is up the slot is empty and calls go, through the
//! connection task, to its [`super::manager::Manager`]'s offline queue
//! instead. The task fills the slot only after it has
//! taken every call queued before, under the same lock, so a call never
//! overtakes one made before it.

use std::sync::Arc;

use futures_util::SinkExt;
use futures_util::stream::SplitSink;
use tokio::net::TcpStream;
use tokio::sync::{Mutex, MutexGuard};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tracing::trace;

use super::calls::{Calls, PendingCall};
use super::error::Error;
use super::link::{Cmd, CmdTx, OfflineCall};
use super::protocol::{Call, Request};

/// A client WebSocket to a codec.
pub(crate) type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;
/// Its write half.
pub(crate) type WsSink = SplitSink<Ws, Message>;

/// The shared write half and the table its callers' answers come back to.
#[derive(Default)]
pub(crate) struct Wire {
    pub calls: Arc<Calls>,
    sink: Mutex<Option<WsSink>>,
}

impl Wire {
    /// Sends a caller's call: on the wire at once when a link is up (the
    /// answer comes back through [`Wire::calls`]), else to the connection
    /// task's offline queue through `cmds`. Returns once the request is
    /// written or queued; a write that fails answers the call with
    /// [`Error::Disconnected`].
    pub async fn call(&self, call: Call, pending: PendingCall, cmds: &CmdTx) -> Result<(), Error> {
        let mut slot = self.sink.lock().await;
        let Some(sink) = slot.as_mut() else {
            // Sent under the lock: the task takes it to come online and
            // drains the channel first, so this call goes out before any
            // call made after it.
            let queued = OfflineCall {
                call,
                reply: pending.reply,
                sent: pending.sent,
            };
            return cmds
                .unbounded_send(Cmd::Call(Box::new(queued)))
                .map_err(|_| Error::Closed);
        };
        let id = self.calls.next_id();
        let method = pending.method.clone();
        self.calls.file(id, pending);
        if let Err(reason) = write(sink, vec![call.into_request(id)]).await
            && let Some(c) = self.calls.take(id)
        {
            let _ = c.reply.send(Err(Error::Disconnected { method, reason }));
        }
        Ok(())
    }

    /// Writes the connection's own requests; an error when no link is up
    /// or the write failed.
    pub async fn send(&self, reqs: Vec<Request>) -> Result<(), String> {
        if reqs.is_empty() {
            return Ok(());
        }
        match self.sink.lock().await.as_mut() {
            Some(sink) => write(sink, reqs).await,
            None => Err("no connection to write to".into()),
        }
    }

    /// Sends one frame that is not a request (ping, close).
    pub async fn send_frame(&self, frame: Message) -> Result<(), String> {
        match self.sink.lock().await.as_mut() {
            Some(sink) => sink
                .send(frame)
                .await
                .map_err(|e| format!("write failed: {e}")),
            None => Err("no connection to write to".into()),
        }
    }

    /// The slot, locked: the connection task fills it (once it has taken
    /// what was queued offline) or empties it.
    pub async fn slot(&self) -> MutexGuard<'_, Option<WsSink>> {
        self.sink.lock().await
    }
}

/// Writes requests and flushes once.
pub(crate) async fn write(sink: &mut WsSink, reqs: Vec<Request>) -> Result<(), String> {
    for r in reqs {
        let text = r.to_text();
        trace!(target: "xmacro::wire", "-> {text}");
        sink.feed(Message::text(text))
            .await
            .map_err(|e| format!("write failed: {e}"))?;
    }
    sink.flush().await.map_err(|e| format!("write failed: {e}"))
}
