//! The one task that owns a codec's socket: connect ([`super::dial`]),
//! read frames and hand answers back, write its own requests and pings,
//! keepalive ([`super::keepalive`] judges), and reconnect with backoff
//! under the host-wide pace ([`super::pace`]). Callers write their own
//! request frames through the shared write half
//! ([`super::wire`]), which this task opens once it has sent what was
//! queued offline and closes when the link drops. Bookkeeping lives in
//! [`Manager`]; this file is the I/O around it.
//!
//! Every frame is traced at trace level under the `xmacro::wire` target
//! (`RUST_LOG=xmacro::wire=trace`); credentials never are.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{FutureExt, StreamExt};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};
use tracing::{Instrument, debug, error, info, trace, warn};

use super::backoff::Backoff;
pub use super::dial::auth_sub_protocol;
use super::dial::connect;
use super::error::{ConnectError, Error};
use super::keepalive::Keepalive;
use super::link::{Cmd, CmdRx, ConnState, OfflineCall, Stats};
use super::manager::{Manager, PendingCall};
use super::pinger::{Watched, sleep_until_opt};
use super::protocol::{Request, decode_incoming};
use super::settings::CodecConfig;
use super::tls::client_config;
use super::wire::{Wire, Ws, write};
use crate::log::ratelimit::{DEFAULT_BURST, RateLimit, Verdict};
use crate::log::safe::excerpt;

/// A connection that stayed up this long counts as healthy and resets the
/// backoff; shorter ones keep backing off (a codec that accepts and drops).
const HEALTHY: Duration = Duration::from_secs(10);
/// Wait for the codec's close frame after sending ours.
const CLOSE_GRACE: Duration = Duration::from_secs(1);
/// How often codec subscriptions left without subscribers are swept: one
/// lingers for one to two of these ([`Manager::sweep_lingering`]).
const LINGER: Duration = Duration::from_secs(1);
/// Wait before asking again when a registration met Not Ready.
const NOT_READY_RETRY: Duration = Duration::from_millis(500);
/// While a codec stays unreachable, say so again this often (the first
/// failure is always said).
const STILL_DOWN_EVERY: Duration = Duration::from_secs(300);

/// The value, its box freed now.
#[allow(clippy::boxed_local)] // taking the box is the point
fn unbox<T>(b: Box<T>) -> T {
    *b
}

enum End {
    Closed,
    Lost(String),
}

/// What woke the session.
enum Event {
    Frame(Option<Result<Message, tungstenite::Error>>),
    Cmd(Option<Cmd>),
    /// Time to ask again for registrations met with Not Ready.
    Retry,
    /// Time to end codec subscriptions left without subscribers.
    Sweep,
}

struct Task {
    config: Arc<CodecConfig>,
    manager: Manager,
    backoff: Backoff,
    state: watch::Sender<ConnState>,
    stats: Arc<Stats>,
    /// The write half callers share.
    wire: Arc<Wire>,
    /// Warnings about what the codec sends, limited per codec.
    notes: RateLimit,
    /// Keeps the link alive: the host's, or one of its own.
    pinger: super::pinger::Pinger,
    /// Failed attempts in a row, and when that was last said.
    failures: u32,
    last_warned: Option<Instant>,
}

/// Runs the connection until it is closed or every handle is gone.
pub(crate) async fn run(
    config: Arc<CodecConfig>,
    cmds: CmdRx,
    state: watch::Sender<ConnState>,
    stats: Arc<Stats>,
    wire: Arc<Wire>,
    first: Option<oneshot::Sender<Result<(), ConnectError>>>,
) {
    let span = tracing::info_span!("codec", name = %config.name);
    let task = Task {
        backoff: Backoff::new(config.backoff.clone()),
        manager: Manager::with_calls(wire.calls.clone(), config.offline_queue),
        pinger: config.pinger.clone().unwrap_or_default(),
        config,
        state,
        stats,
        wire,
        notes: RateLimit::default(),
        failures: 0,
        last_warned: None,
    };
    task.main(cmds, first).instrument(span).await
}

impl Task {
    async fn main(
        mut self,
        mut cmds: CmdRx,
        mut first: Option<oneshot::Sender<Result<(), ConnectError>>>,
    ) {
        let tls = match self.config.url.scheme() {
            "wss" => match client_config(&self.config.tls) {
                Ok(c) => Some(c),
                Err(e) => {
                    error!("{e}");
                    return self.give_up(first, e);
                }
            },
            _ => None,
        };
        let config = self.config.clone();
        loop {
            // Boxed and dropped before the session: the attempt (TCP, TLS,
            // upgrade) is a large future, and a task keeps room for its
            // largest state for as long as it lives (about 10 KiB a codec).
            // Each attempt waits its turn under the host-wide limit
            // (`connect_rate`); commands are served meanwhile.
            let mut attempt = Box::pin(async {
                if let Some(pace) = &config.connect_pace {
                    pace.wait().await;
                }
                // One line per attempt, as it starts (its TCP connect goes
                // out in this same poll): the record `connect_rate` is
                // judged by.
                debug!("connection attempt to {}", config.shown_url());
                connect(&config, &tls).await
            });
            let result = loop {
                tokio::select! {
                    r = &mut attempt => break r,
                    cmd = cmds.next() => if !self.offline(cmd) { return },
                }
            };
            drop(attempt);
            let (reason, slow) = match result {
                Ok(ws) => {
                    if let Some(f) = first.take() {
                        let _ = f.send(Ok(()));
                    }
                    match std::mem::take(&mut self.failures) {
                        0 => info!("connected to {}", self.config.shown_url()),
                        n => info!(
                            "connected to {} after {n} failed attempt(s)",
                            self.config.shown_url()
                        ),
                    }
                    self.last_warned = None;
                    self.stats
                        .connects
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    *self
                        .stats
                        .connected_at
                        .lock()
                        .unwrap_or_else(|p| p.into_inner()) = Some(std::time::SystemTime::now());
                    self.state.send_replace(ConnState::Connected);
                    let since = Instant::now();
                    match self.session(ws, &mut cmds).await {
                        End::Closed => {
                            info!("connection closed");
                            return;
                        }
                        End::Lost(reason) => {
                            warn!("connection lost: {reason}");
                            // No caller writes to the dead link from here on.
                            drop(self.wire.slot().await.take());
                            *self
                                .stats
                                .last_drop
                                .lock()
                                .unwrap_or_else(|p| p.into_inner()) = Some(reason.clone());
                            self.manager.on_disconnected(&reason);
                            if since.elapsed() >= HEALTHY {
                                self.backoff.reset();
                            }
                            (reason, false)
                        }
                    }
                }
                Err(e) => {
                    if first.is_some() {
                        return self.give_up(first, e);
                    }
                    self.failures += 1;
                    let slow = matches!(e, ConnectError::Auth { .. } | ConnectError::Tls(_));
                    (e.to_string(), slow)
                }
            };
            let delay = self.backoff.next_delay(slow, rand::random::<f64>());
            if slow {
                error!("{reason}; next attempt in {}s", delay.as_secs());
            } else if self.failures > 0 && self.should_warn_outage() {
                warn!(
                    "{reason}; still retrying (attempt {}), next in {delay:.1?}",
                    self.failures
                );
            } else {
                debug!("reconnecting in {delay:?}: {reason}");
            }
            self.state.send_replace(ConnState::Reconnecting {
                reason,
                attempt: self.backoff.attempts(),
                retry_in: delay,
            });
            let pause = tokio::time::sleep(delay);
            tokio::pin!(pause);
            loop {
                tokio::select! {
                    _ = &mut pause => break,
                    cmd = cmds.next() => if !self.offline(cmd) { return },
                }
            }
        }
    }

    /// Whether an ongoing outage is said now: at its first failure, then
    /// every [`STILL_DOWN_EVERY`].
    fn should_warn_outage(&mut self) -> bool {
        let due = self
            .last_warned
            .is_none_or(|t| t.elapsed() >= STILL_DOWN_EVERY);
        if due {
            self.last_warned = Some(Instant::now());
        }
        due
    }

    /// Logs a warning about what the codec sent, within the codec's rate
    /// limit; what the limit held back is counted in the next one.
    fn note(&mut self, what: impl FnOnce() -> String) {
        if let Verdict::Log { suppressed } = self.notes.check(std::time::Instant::now()) {
            if suppressed > 0 {
                warn!(
                    "{suppressed} similar warning(s) about this codec were suppressed (more than {DEFAULT_BURST} a second)"
                );
            }
            warn!("{}", what());
        }
    }

    fn give_up(
        mut self,
        first: Option<oneshot::Sender<Result<(), ConnectError>>>,
        e: ConnectError,
    ) {
        self.state.send_replace(ConnState::Failed(e.to_string()));
        self.manager.fail_offline(|_| Error::Connect(e.clone()));
        self.manager.on_closed();
        if let Some(f) = first {
            let _ = f.send(Err(e));
        }
    }

    /// Handles a command while no link is up; `false` means stop.
    fn offline(&mut self, cmd: Option<Cmd>) -> bool {
        match cmd {
            None => {
                self.closed();
                false
            }
            Some(Cmd::Close(done)) => {
                self.closed();
                let _ = done.send(());
                false
            }
            Some(cmd) => {
                self.on_cmd(cmd, false);
                true
            }
        }
    }

    /// Hands a call or a subscriber change to the manager; returns what to
    /// send when `connected` (offline, calls wait in the manager's queue).
    /// Close is the caller's to handle.
    fn on_cmd(&mut self, cmd: Cmd, connected: bool) -> Vec<Request> {
        match cmd {
            Cmd::Call(c) => {
                let OfflineCall { call, reply, sent } = *c;
                let method = call.method.clone();
                let pending = PendingCall {
                    method,
                    reply,
                    sent,
                };
                if connected {
                    vec![self.manager.call(call, pending)]
                } else {
                    self.manager.queue_offline(call, pending);
                    Vec::new()
                }
            }
            Cmd::Subscribe(s) => {
                let s = *s;
                self.manager.subscribe(
                    s.local,
                    s.query,
                    s.wants_current,
                    s.sink,
                    s.waiter,
                    connected,
                )
            }
            Cmd::Unsubscribe(local) => self.manager.unsubscribe(local),
            Cmd::Close(_) => Vec::new(),
        }
    }

    fn closed(&mut self) {
        self.manager.on_closed();
        self.state.send_replace(ConnState::Closed);
    }

    async fn session(&mut self, ws: Box<Ws>, cmds: &mut CmdRx) -> End {
        // Out of its box first: a box moved out of with `*ws` is freed only
        // when `ws` goes out of scope, at the end of the session.
        let (mut sink, stream) = unbox(ws).split();
        // Read only when the socket woke the task (see [`super::woken`]).
        let mut stream = super::woken::WokenOnly::new(stream);
        // Under the lock of the shared write half: what was queued offline
        // (some may still be in the channel) goes first, then callers may
        // write their own frames.
        let wire = self.wire.clone();
        let mut slot = wire.slot().await;
        while let Ok(cmd) = cmds.try_recv() {
            if !self.offline(Some(cmd)) {
                return End::Closed;
            }
        }
        let out = self.manager.on_connected();
        if let Err(e) = write(&mut sink, out).await {
            return End::Lost(e.to_string());
        }
        *slot = Some(sink);
        drop(slot);
        // Commands too are looked at only when one woke the task.
        let mut cmds = super::woken::WokenOnly::new(cmds);
        // The pinger pings it when it falls silent and says when it is
        // half-open; the session only reports what arrives.
        let watched = Watched::new(
            Keepalive::new(
                self.config.keepalive,
                self.config.keepalive_timeout,
                Instant::now().into_std(),
            ),
            self.wire.clone(),
            self.stats.clone(),
        );
        self.pinger.watch(&watched);
        let mut retry_at: Option<Instant> = None;
        let mut sweep_at: Option<Instant> = None;
        loop {
            let event = tokio::select! {
                frame = stream.next() => Event::Frame(frame),
                cmd = cmds.next() => Event::Cmd(cmd),
                why = watched.judged_dead() => {
                    // A frame may wait unread in the socket when this
                    // process was too busy to read it: it is the answer.
                    match stream.get_mut().next().now_or_never() {
                        Some(frame) => Event::Frame(frame),
                        None => return End::Lost(why),
                    }
                }
                _ = sleep_until_opt(retry_at) => {
                    retry_at = None;
                    Event::Retry
                }
                _ = sleep_until_opt(sweep_at) => {
                    sweep_at = None;
                    Event::Sweep
                }
            };
            let out: Vec<Request> = match event {
                Event::Frame(frame) => {
                    watched.received(Instant::now().into_std());
                    match self.on_frame(frame, &mut retry_at) {
                        Ok(out) => out,
                        Err(end) => return end,
                    }
                }
                Event::Cmd(None) => return self.close(stream.get_mut(), None).await,
                Event::Cmd(Some(Cmd::Close(done))) => {
                    return self.close(stream.get_mut(), Some(done)).await;
                }
                Event::Cmd(Some(cmd)) => self.on_cmd(cmd, true),
                Event::Retry => self.manager.register_missing(),
                Event::Sweep => self.manager.sweep_lingering(),
            };
            if sweep_at.is_none() && self.manager.lingering() {
                sweep_at = Some(Instant::now() + LINGER);
            }
            if let Err(e) = self.wire.send(out).await {
                return End::Lost(e.to_string());
            }
        }
    }

    /// Handles one frame read from the codec: what to send in answer, or
    /// how the session ended.
    fn on_frame(
        &mut self,
        frame: Option<Result<Message, tungstenite::Error>>,
        retry_at: &mut Option<Instant>,
    ) -> Result<Vec<Request>, End> {
        Ok(match frame {
            Some(Ok(Message::Text(text))) if text.len() > self.config.max_message_size => {
                let limit = self.config.max_message_size;
                self.note(|| {
                    format!(
                        "dropped a message of {} bytes, over the limit of {limit} bytes: {}",
                        text.len(),
                        excerpt(text.as_str(), 200)
                    )
                });
                Vec::new()
            }
            Some(Ok(Message::Text(text))) => {
                trace!(target: "xmacro::wire", "<- {}", crate::log::safe::masked_frame(text.as_str()));
                match decode_incoming(text.as_str()) {
                    Ok(msg) => {
                        let h = self.manager.on_incoming(msg);
                        if let Some(note) = h.note {
                            self.note(|| note);
                        }
                        if h.retry_registration {
                            *retry_at = Some(Instant::now() + NOT_READY_RETRY);
                        }
                        h.send
                    }
                    Err(e) => {
                        self.note(|| {
                            format!(
                                "ignored a frame the client cannot read ({e}): {}",
                                excerpt(text.as_str(), 200)
                            )
                        });
                        Vec::new()
                    }
                }
            }
            Some(Ok(Message::Binary(b))) => {
                self.note(|| {
                    format!(
                        "ignored a binary frame of {} bytes (XoWS is text only)",
                        b.len()
                    )
                });
                Vec::new()
            }
            Some(Ok(Message::Close(frame))) => {
                let said = frame
                    .map(|f| format!("close code {} {:?}", u16::from(f.code), f.reason.as_str()))
                    .unwrap_or_else(|| "no close code".into());
                return Err(End::Lost(format!(
                    "the codec closed the connection ({said})"
                )));
            }
            Some(Ok(_)) => Vec::new(),
            Some(Err(e)) => return Err(End::Lost(format!("read failed: {e}"))),
            None => {
                return Err(End::Lost(
                    "the connection ended without a close frame".into(),
                ));
            }
        })
    }

    async fn close(
        &mut self,
        stream: &mut futures_util::stream::SplitStream<Ws>,
        done: Option<oneshot::Sender<()>>,
    ) -> End {
        let frame = CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        };
        trace!(target: "xmacro::wire", "-> close 1000");
        let said = self.wire.send_frame(Message::Close(Some(frame))).await;
        // Callers find no link from here on.
        drop(self.wire.slot().await.take());
        if said.is_ok() {
            // Wait briefly for the codec's close frame so the close is clean.
            let _ = tokio::time::timeout(CLOSE_GRACE, async {
                while let Some(Ok(m)) = stream.next().await {
                    if matches!(m, Message::Close(_)) {
                        break;
                    }
                }
            })
            .await;
        }
        self.closed();
        if let Some(done) = done {
            let _ = done.send(());
        }
        End::Closed
    }
}
