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

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use futures_util::stream::SplitSink;
use futures_util::{Sink, SinkExt};
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
            let reason = reason.to_string();
            let _ = c.reply.send(Err(Error::Disconnected { method, reason }));
        }
        Ok(())
    }

    /// Writes the connection's own requests; an error when no link is up
    /// or the write failed.
    pub async fn send(&self, reqs: Vec<Request>) -> Result<(), WriteError> {
        if reqs.is_empty() {
            return Ok(());
        }
        match self.sink.lock().await.as_mut() {
            Some(sink) => write(sink, reqs).await,
            None => Err(WriteError::NoLink),
        }
    }

    /// Sends one frame that is not a request (ping, close).
    pub async fn send_frame(&self, frame: Message) -> Result<(), WriteError> {
        match self.sink.lock().await.as_mut() {
            Some(sink) => sink.send(frame).await.map_err(WriteError::Failed),
            None => Err(WriteError::NoLink),
        }
    }

    /// Writes a ping if the write half is free now, without waiting (the
    /// keepalive task must never wait on one link). [`Ping::Queued`]: the
    /// frame is taken but not yet on the socket (the read half held the
    /// shared stream's lock), and the caller must see it flushed with
    /// [`Wire::flush`].
    pub fn try_ping(&self) -> Result<Ping, WriteError> {
        let Ok(mut slot) = self.sink.try_lock() else {
            return Ok(Ping::Busy);
        };
        let Some(sink) = slot.as_mut() else {
            return Err(WriteError::NoLink);
        };
        let mut cx = Context::from_waker(Waker::noop());
        let mut sink = Pin::new(sink);
        match sink.as_mut().poll_ready(&mut cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => return Err(WriteError::Failed(e)),
            Poll::Pending => return Ok(Ping::Busy),
        }
        trace!(target: "xmacro::wire", "-> ping");
        sink.as_mut()
            .start_send(Message::Ping(Vec::new().into()))
            .map_err(WriteError::Failed)?;
        match sink.as_mut().poll_flush(&mut cx) {
            Poll::Ready(Ok(())) => Ok(Ping::Sent),
            Poll::Ready(Err(e)) => Err(WriteError::Failed(e)),
            Poll::Pending => Ok(Ping::Queued),
        }
    }

    /// Flushes what was written but not yet sent.
    pub async fn flush(&self) -> Result<(), WriteError> {
        match self.sink.lock().await.as_mut() {
            Some(sink) => write(sink, Vec::new()).await,
            None => Err(WriteError::NoLink),
        }
    }

    /// The slot, locked: the connection task fills it (once it has taken
    /// what was queued offline) or empties it.
    pub async fn slot(&self) -> MutexGuard<'_, Option<WsSink>> {
        self.sink.lock().await
    }
}

/// What [`Wire::try_ping`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ping {
    /// On the socket.
    Sent,
    /// Taken, waiting for a flush.
    Queued,
    /// Not taken: a writer held the write half, or it could take no more.
    Busy,
}

/// Why a write reached no codec.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("no connection to write to")]
    NoLink,
    #[error("write failed: {0}")]
    Failed(tokio_tungstenite::tungstenite::Error),
}

/// Writes requests and flushes once.
pub(crate) async fn write(sink: &mut WsSink, reqs: Vec<Request>) -> Result<(), WriteError> {
    for r in reqs {
        let text = r.to_text();
        trace!(target: "xmacro::wire", "-> {}", crate::log::safe::masked_frame(&text));
        sink.feed(Message::text(text))
            .await
            .map_err(WriteError::Failed)?;
    }
    sink.flush().await.map_err(WriteError::Failed)?;
    forget_writer(sink);
    Ok(())
}

/// Leaves no writer's waker behind once everything is written.
///
/// tokio-tungstenite keeps the last writer's waker beside the reader's and
/// wakes both whenever the socket turns readable, so without this every
/// answer would first wake the script thread that wrote the request (a
/// futex wake and a context switch on its way to nothing), and cut its
/// spin short, before the connection task had even read the answer. A
/// flush with nothing left to write registers a no-op waker in its place.
fn forget_writer(sink: &mut WsSink) {
    let mut cx = Context::from_waker(Waker::noop());
    let _ = Pin::new(sink).poll_flush(&mut cx);
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use futures_util::{Stream, StreamExt};
    use serde_json::json;
    use tokio::net::TcpListener;

    use super::*;

    /// Counts its wake-ups.
    #[derive(Default)]
    struct Count(AtomicUsize);

    impl std::task::Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A client split as the connection splits it, and the server's end.
    async fn pair() -> (
        WsSink,
        futures_util::stream::SplitStream<Ws>,
        WebSocketStream<TcpStream>,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/ws", listener.local_addr().unwrap());
        let server = async {
            let (tcp, _) = listener.accept().await.unwrap();
            tokio_tungstenite::accept_async(tcp).await.unwrap()
        };
        let client = async {
            tokio_tungstenite::connect_async(url.as_str())
                .await
                .unwrap()
                .0
        };
        let (server, client) = tokio::join!(server, client);
        let (sink, stream) = client.split();
        (sink, stream, server)
    }

    #[tokio::test(flavor = "current_thread")]
    async fn an_answer_arriving_wakes_the_reader_and_not_the_caller_who_wrote_the_request() {
        tokio::time::timeout(Duration::from_secs(10), async {
            let (mut sink, mut stream, mut server) = pair().await;
            // The connection task's read, pending on the socket.
            let reader = Arc::new(Count::default());
            let reader_waker = Waker::from(reader.clone());
            let mut cx = Context::from_waker(&reader_waker);
            assert!(Pin::new(&mut stream).poll_next(&mut cx).is_pending());
            // A caller writes its request, polled with its own waker.
            let caller = Arc::new(Count::default());
            let caller_waker = Waker::from(caller.clone());
            let mut cx = Context::from_waker(&caller_waker);
            let req = Request::new(1, "xGet", json!({"Path": ["Status"]}));
            let mut written = std::pin::pin!(write(&mut sink, vec![req]));
            while written.as_mut().poll(&mut cx).is_pending() {
                tokio::task::yield_now().await;
            }
            // The codec answers; the reactor wakes whoever waits on the socket.
            assert!(matches!(server.next().await, Some(Ok(Message::Text(_)))));
            server.send(Message::text("{}")).await.unwrap();
            while reader.0.load(Ordering::SeqCst) == 0 {
                tokio::task::yield_now().await;
            }
            assert_eq!(caller.0.load(Ordering::SeqCst), 0, "the caller was woken");
        })
        .await
        .expect("within 10 s");
    }
}
