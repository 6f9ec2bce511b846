//! The public handle: a cloneable [`Codec`] over the task that owns the
//! socket ([`super::connection`]). A call writes its own request frame to
//! the shared write half ([`super::wire`]) and waits for the task to hand
//! back the answer; subscriptions, close and calls made offline go to the
//! task over one channel that keeps them in order. Every call has a timeout; calls made while offline wait in the
//! manager's offline queue for the connection up to their timeout and then fail as
//! [`Error::Disconnected`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::sync::{oneshot, watch};

use super::calls::PendingCall;
use super::error::{ConnectError, Error};
use super::feed::FeedRx;
use super::feedback_queue::Burst;
use super::link::{Cmd, CmdTx, ConnState, Stats, Subscribe};
use super::path::Path;
use super::protocol::{Call, code};
use super::settings::CodecConfig;
use super::wire::Wire;
use crate::telemetry::metrics::Outcome;

struct Inner {
    stats: Arc<Stats>,
    /// The settings, shared with the connection task.
    config: Arc<CodecConfig>,
    /// Work for the connection task, in order.
    cmds: CmdTx,
    /// Where calls write their own request frame.
    wire: Arc<Wire>,
    /// The next local subscriber id.
    next_local: AtomicU64,
    state: watch::Receiver<ConnState>,
}

/// A cloneable handle to one codec.
#[derive(Clone)]
pub struct Codec {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Codec")
            .field("name", &self.inner.config.name)
            .field("state", &*self.inner.state.borrow())
            .finish()
    }
}

impl Codec {
    /// Starts the connection task and returns at once; the task connects and
    /// reconnects in the background for as long as a handle lives.
    pub fn spawn(config: CodecConfig) -> Codec {
        Codec::start(config, None)
    }

    /// Connects, returning the first attempt's error (authentication, TLS,
    /// network) instead of retrying; once up, it reconnects like
    /// [`Codec::spawn`].
    pub async fn connect(config: CodecConfig) -> Result<Codec, Error> {
        let (tx, rx) = oneshot::channel();
        let codec = Codec::start(config, Some(tx));
        match rx.await {
            Ok(Ok(())) => Ok(codec),
            Ok(Err(e)) => Err(Error::Connect(e)),
            Err(_) => Err(Error::Closed),
        }
    }

    fn start(
        config: CodecConfig,
        first: Option<oneshot::Sender<Result<(), ConnectError>>>,
    ) -> Codec {
        let (cmd_tx, cmd_rx) = futures_channel::mpsc::unbounded();
        let config = Arc::new(config);
        let (state_tx, state_rx) = watch::channel(ConnState::Connecting);
        let stats = Arc::new(Stats::default());
        let wire = Arc::new(Wire::default());
        let inner = Inner {
            stats: stats.clone(),
            config: config.clone(),
            cmds: cmd_tx,
            wire: wire.clone(),
            next_local: AtomicU64::new(1),
            state: state_rx,
        };
        tokio::spawn(super::connection::run(
            config, cmd_rx, state_tx, stats, wire, first,
        ));
        Codec {
            inner: Arc::new(inner),
        }
    }

    /// The name used in logs.
    pub fn name(&self) -> &str {
        &self.inner.config.name
    }

    /// The connection state now.
    pub fn state(&self) -> ConnState {
        self.inner.state.borrow().clone()
    }

    /// A receiver that sees every state change.
    pub fn watch_state(&self) -> watch::Receiver<ConnState> {
        self.inner.state.clone()
    }

    /// Successful connections so far (1 after the first, +1 per reconnect).
    pub fn connects(&self) -> u64 {
        self.inner.stats.connects.load(Ordering::Relaxed)
    }

    /// Keepalive pings written so far (a link with traffic is not pinged).
    pub fn pings(&self) -> u64 {
        self.inner.stats.pings.load(Ordering::Relaxed)
    }

    /// Why the connection last dropped, if it ever did.
    pub fn last_drop(&self) -> Option<String> {
        self.inner
            .stats
            .last_drop
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// When the current connection came up (`None` while not connected).
    pub fn connected_since(&self) -> Option<std::time::SystemTime> {
        if !self.state().is_connected() {
            return None;
        }
        *self
            .inner
            .stats
            .connected_at
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// The round trip of the last request the codec answered.
    pub fn round_trip(&self) -> Option<Duration> {
        match self.inner.stats.rtt_us.load(Ordering::Relaxed) {
            0 => None,
            us => Some(Duration::from_micros(us)),
        }
    }

    /// The default per-call timeout.
    pub fn timeout(&self) -> Duration {
        self.inner.config.request_timeout
    }

    /// The value at a path, relative to it (xGet).
    pub async fn get(&self, path: &Path) -> Result<Value, Error> {
        self.call(Call::get(path), self.timeout()).await
    }

    /// A query with `**`, rooted at the top (xQuery).
    pub async fn query(&self, query: &Path) -> Result<Value, Error> {
        self.call(Call::query(query), self.timeout()).await
    }

    /// Sets one configuration (xSet).
    pub async fn set(&self, path: &Path, value: Value) -> Result<(), Error> {
        self.call(Call::set(path, value), self.timeout())
            .await
            .map(|_| ())
    }

    /// Runs a command; `body` is the text of a multi-line command.
    pub async fn command(
        &self,
        path: &Path,
        params: Map<String, Value>,
        body: Option<String>,
    ) -> Result<Value, Error> {
        self.call(Call::command(path, params, body), self.timeout())
            .await
    }

    /// Sends any call with its own timeout. A codec that answers -31997
    /// (Not Ready, just after boot) is asked again until the timeout.
    pub async fn call(&self, call: Call, timeout: Duration) -> Result<Value, Error> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match self.call_once(call.clone(), deadline, timeout).await {
                Err(Error::Codec(e)) if e.code == code::NOT_READY => {
                    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                    if left.is_zero() {
                        return Err(Error::Codec(e));
                    }
                    tokio::time::sleep(left.min(Duration::from_millis(250))).await;
                }
                other => return other,
            }
        }
    }

    async fn call_once(
        &self,
        call: Call,
        deadline: tokio::time::Instant,
        timeout: Duration,
    ) -> Result<Value, Error> {
        let started = std::time::Instant::now();
        let result = self.call_inner(call, deadline, timeout).await;
        let took = started.elapsed();
        let outcome = match &result {
            Ok(_) => Outcome::Ok,
            Err(Error::Codec(_)) => Outcome::CodecError,
            Err(Error::Timeout { .. }) => Outcome::Timeout,
            Err(Error::Disconnected { .. } | Error::Connect(_)) => Outcome::Disconnected,
            Err(Error::Closed) => Outcome::Closed,
            Err(Error::Protocol(_)) => Outcome::Protocol,
        };
        if matches!(outcome, Outcome::Ok | Outcome::CodecError) {
            let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX).max(1);
            self.inner.stats.rtt_us.store(us, Ordering::Relaxed);
        }
        crate::telemetry::metrics().request(outcome, took);
        result
    }

    async fn call_inner(
        &self,
        call: Call,
        deadline: tokio::time::Instant,
        timeout: Duration,
    ) -> Result<Value, Error> {
        let method = call.method.clone();
        let (reply, rx) = oneshot::channel();
        let sent = Arc::new(AtomicBool::new(false));
        let pending = PendingCall {
            method: method.clone(),
            reply,
            sent: sent.clone(),
        };
        let send = self.inner.wire.call(call, pending, &self.inner.cmds);
        match tokio::time::timeout_at(deadline, send).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(self.expired(method, timeout, sent.load(Ordering::Relaxed))),
        }
        match tokio::time::timeout_at(deadline, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(Error::Closed),
            Err(_) => Err(self.expired(method, timeout, sent.load(Ordering::Relaxed))),
        }
    }

    fn expired(&self, method: String, after: Duration, sent: bool) -> Error {
        if sent {
            Error::Timeout { method, after }
        } else {
            let reason = match self.state() {
                ConnState::Reconnecting { reason, .. } | ConnState::Failed(reason) => reason,
                ConnState::Connecting => "not connected yet".into(),
                other => format!("{other:?}"),
            };
            Error::Disconnected { method, reason }
        }
    }

    /// Subscribes to feedback for a query (Status, Configuration or Event
    /// paths; `**` allowed). Subscribers to the same query share one codec
    /// subscription. When connected, a refusal by the codec is returned;
    /// offline, the subscription registers once the link is up. With
    /// `notify_current_value`, the current state arrives first.
    pub async fn subscribe(
        &self,
        query: &Path,
        notify_current_value: bool,
    ) -> Result<Subscription, Error> {
        let stateful = matches!(
            query.root(),
            Some(super::path::Root::Status | super::path::Root::Configuration)
        );
        let (tx, rx) = super::feed::channel(self.inner.config.feedback_buffer, stateful);
        let guard = self
            .subscribe_into(query, notify_current_value, Box::new(tx))
            .await?;
        Ok(Subscription {
            guard,
            rx,
            codec: self.inner.config.name.clone(),
        })
    }

    /// Subscribes like [`Codec::subscribe`], with the documents handed to
    /// `sink` by the connection task as they arrive: in the order the codec
    /// sent them, across every subscription that shares a sink's target
    /// (a script's subscriptions share its mailbox this way). The sink must
    /// never wait. Dropping the guard unsubscribes.
    pub async fn subscribe_into(
        &self,
        query: &Path,
        notify_current_value: bool,
        sink: Box<dyn super::feed::Sink>,
    ) -> Result<FeedGuard, Error> {
        let (waiter, wait) = oneshot::channel();
        let local = self.inner.next_local.fetch_add(1, Ordering::Relaxed);
        let cmd = Cmd::Subscribe(Box::new(Subscribe {
            local,
            query: query.clone(),
            wants_current: notify_current_value,
            sink,
            waiter,
        }));
        self.inner
            .cmds
            .unbounded_send(cmd)
            .map_err(|_| Error::Closed)?;
        // From here on dropping the guard unsubscribes; the task sees that
        // after the subscribe, since both travel the same channel.
        let guard = FeedGuard {
            local,
            cmds: self.inner.cmds.clone(),
            query: query.clone(),
        };
        match tokio::time::timeout(self.timeout(), wait).await {
            Ok(Ok(Ok(()))) => Ok(guard),
            Ok(Ok(Err(e))) => Err(e),
            Ok(Err(_)) => Err(Error::Closed),
            Err(_) => Err(Error::Timeout {
                method: "xFeedback/Subscribe".into(),
                after: self.timeout(),
            }),
        }
    }

    /// Closes the connection with close code 1000 and stops the task; every
    /// handle sees [`ConnState::Closed`].
    pub async fn close(&self) {
        let (done, rx) = oneshot::channel();
        if self.inner.cmds.unbounded_send(Cmd::Close(done)).is_ok() {
            let _ = rx.await;
        }
    }
}

/// A subscription feeding a [`super::feed::Sink`]; dropping it
/// unsubscribes (the codec subscription ends with its last subscriber).
pub struct FeedGuard {
    local: u64,
    cmds: CmdTx,
    query: Path,
}

impl FeedGuard {
    /// The query subscribed to.
    pub fn query(&self) -> &Path {
        &self.query
    }
}

impl Drop for FeedGuard {
    fn drop(&mut self) {
        let _ = self.cmds.unbounded_send(Cmd::Unsubscribe(self.local));
    }
}

/// Feedback for one query; dropping it unsubscribes. A subscriber that
/// falls behind gets Status and Configuration changes merged (the latest
/// value of every path arrives) and loses events only past the codec's
/// `feedback_buffer`; one warning with the counts follows such a burst.
pub struct Subscription {
    guard: FeedGuard,
    rx: FeedRx,
    codec: String,
}

impl Subscription {
    /// The next change, as the rooted document the codec sent
    /// (`{"Status":{"Audio":{"Volume":60}}}`); `None` once the connection
    /// handle is closed or the codec refused the subscription.
    pub async fn next(&mut self) -> Option<Value> {
        let (v, burst) = self.rx.recv().await?;
        self.report(burst);
        Some(v)
    }

    /// A change if one is waiting.
    pub fn try_next(&mut self) -> Option<Value> {
        let (v, burst) = self.rx.try_recv()?;
        self.report(burst);
        Some(v)
    }

    fn report(&self, burst: Option<Burst>) {
        if let Some(b) = burst {
            tracing::warn!(
                codec = %self.codec,
                "feedback for {} fell behind in a burst: {} state change(s) merged into later ones, {} event(s) dropped",
                self.guard.query,
                b.coalesced,
                b.dropped
            );
        }
    }

    /// The query subscribed to.
    pub fn query(&self) -> &Path {
        &self.guard.query
    }

    /// Stops the feedback (the same as dropping the subscription).
    pub fn unsubscribe(self) {}
}
