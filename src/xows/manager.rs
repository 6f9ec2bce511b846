//! The request manager: which request id is waiting for what, which calls
//! wait offline for a connection, and which local subscribers share which
//! codec subscription. Plain data, no I/O: the connection task feeds it
//! frames and commands and sends the requests it returns.
//!
//! A codec subscription whose last local subscriber leaves stays
//! registered a little while ([`Manager::sweep_lingering`]): a script
//! reloaded on a fleet stops its old instance and subscribes again from the
//! new one a moment later, and finding the registration still there spares
//! every codec a round trip (and every new top level a wait for it).
//!
//! Subscriptions to Status or Configuration keep the last document their
//! subscribers saw. After a (re)registration the manager reads the current
//! state with xQuery and hands subscribers only what differs, so changes
//! made during an outage arrive once and nothing is delivered twice.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::oneshot;

use super::calls::Calls;
pub use super::calls::PendingCall;
use super::doc;
use super::error::Error;
use super::feed::Sink;
use super::feedback_queue::Pushed;
use super::offline::OfflineQueue;
use super::path::{Path, Root};
use super::protocol::{Call, Incoming, Request, RpcError, code};
use crate::log::safe::excerpt;

enum Purpose {
    Subscribe(Path),
    Seed(Path),
    Unsubscribe,
}

/// A local subscriber: where its documents go, in wire order.
struct Subscriber {
    local: u64,
    sink: Box<dyn Sink>,
    wants_current: bool,
    got_current: bool,
}

/// Where a query stands with the codec on the current connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Registration {
    /// Not registered on this connection (offline, refused, or not yet
    /// asked).
    Unregistered,
    /// `xFeedback/Subscribe` sent, no answer yet.
    Registering,
    /// The codec feeds it under this subscription id.
    Registered { codec_id: u64 },
}

/// Where a codec subscription without local subscribers stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Linger {
    /// It has subscribers (or is being registered for them).
    No,
    /// Its last subscriber left since the last sweep.
    Since,
    /// A sweep already found it without subscribers: the next ends it.
    Swept,
}

struct Entry {
    registration: Registration,
    linger: Linger,
    /// Times the codec accepted this subscription (1 until a reconnect;
    /// 0 while it never was).
    registrations: u32,
    /// Whether a read of the current state has completed.
    seeded: bool,
    /// Last-known document, kept from the first feedback on, before any
    /// read completes: `Some` exactly for Status/Configuration queries.
    state: Option<Value>,
    sinks: Vec<Subscriber>,
    waiters: Vec<oneshot::Sender<Result<(), Error>>>,
}

impl Entry {
    fn codec_id(&self) -> Option<u64> {
        match self.registration {
            Registration::Registered { codec_id } => Some(codec_id),
            _ => None,
        }
    }

    fn ever_registered(&self) -> bool {
        self.registrations > 0
    }
}

/// What handling a frame produced.
#[derive(Default)]
pub struct Handled {
    /// Requests to send now.
    pub send: Vec<Request>,
    /// Something unexpected worth one log line.
    pub note: Option<String>,
    /// A registration was refused with Not Ready: try again shortly.
    pub retry_registration: bool,
}

/// Calls that may wait offline when no bound is given
/// ([`super::CodecConfig`]'s default).
const DEFAULT_OFFLINE_QUEUE: usize = 1024;

/// The manager.
pub struct Manager {
    /// Callers' calls (also those that wrote their own frame) and the
    /// request ids of this connection.
    calls: Arc<Calls>,
    /// Callers' calls made while no link is up; they go out on connect,
    /// before any caller may write again.
    offline: OfflineQueue,
    /// The manager's own requests: registrations, reads, unsubscribes.
    pending: HashMap<u64, Purpose>,
    subs: HashMap<Path, Entry>,
    by_codec: HashMap<u64, Path>,
    local_to_query: HashMap<u64, Path>,
}

impl Default for Manager {
    fn default() -> Self {
        Manager::new()
    }
}

impl Manager {
    /// A manager with its own call table and the default offline bound.
    pub fn new() -> Self {
        Manager::with_calls(Arc::new(Calls::new()), DEFAULT_OFFLINE_QUEUE)
    }

    /// A manager whose callers' calls are filed in `calls`, a table the
    /// callers also reach, and that keeps up to `offline_limit` calls
    /// waiting for a connection.
    pub fn with_calls(calls: Arc<Calls>, offline_limit: usize) -> Self {
        Manager {
            calls,
            offline: OfflineQueue::new(offline_limit),
            pending: HashMap::new(),
            subs: HashMap::new(),
            by_codec: HashMap::new(),
            local_to_query: HashMap::new(),
        }
    }

    fn request(&mut self, call: Call, purpose: Purpose) -> Request {
        let id = self.calls.next_id();
        self.pending.insert(id, purpose);
        call.into_request(id)
    }

    /// Registers a caller's call; returns the request to send.
    pub fn call(&mut self, call: Call, pending: PendingCall) -> Request {
        let id = self.calls.next_id();
        self.calls.file(id, pending);
        call.into_request(id)
    }

    /// Calls in flight.
    pub fn in_flight(&self) -> usize {
        self.calls.len()
    }

    /// Keeps a call made while no link is up until [`Manager::on_connected`].
    /// A full queue (callers that gave up do not count) refuses the call at
    /// once with [`Error::Disconnected`].
    pub fn queue_offline(&mut self, call: Call, pending: PendingCall) {
        self.offline.push(call, pending);
    }

    /// Calls waiting for a connection.
    pub fn offline_len(&self) -> usize {
        self.offline.len()
    }

    /// Answers every call waiting for a connection with `err(method)`.
    pub fn fail_offline(&mut self, err: impl Fn(String) -> Error) {
        self.offline.fail(err);
    }

    /// Adds local subscriber `local` (an id unique on this connection,
    /// chosen by the caller). When `connected`, a new query is registered
    /// at once and `waiter` answers when the codec has; offline, `waiter`
    /// answers at once and registration happens on connect.
    pub fn subscribe(
        &mut self,
        local: u64,
        query: Path,
        wants_current: bool,
        sink: Box<dyn Sink>,
        waiter: oneshot::Sender<Result<(), Error>>,
        connected: bool,
    ) -> Vec<Request> {
        self.local_to_query.insert(local, query.clone());
        let stateful = matches!(query.root(), Some(Root::Status | Root::Configuration));
        let entry = self.subs.entry(query.clone()).or_insert_with(|| Entry {
            registration: Registration::Unregistered,
            linger: Linger::No,
            registrations: 0,
            seeded: false,
            state: stateful.then(|| Value::Object(Default::default())),
            sinks: Vec::new(),
            waiters: Vec::new(),
        });
        let mut sub = Subscriber {
            local,
            sink,
            wants_current,
            got_current: false,
        };
        if wants_current
            && entry.seeded
            && let Some(state) = &entry.state
        {
            if !is_empty(state) {
                deliver(std::slice::from_mut(&mut sub), state.clone(), |_| true);
            }
            sub.got_current = true;
        }
        entry.sinks.push(sub);
        entry.linger = Linger::No;
        let mut send = Vec::new();
        if entry.codec_id().is_some() || !connected {
            let _ = waiter.send(Ok(()));
        } else {
            entry.waiters.push(waiter);
            if entry.registration == Registration::Unregistered {
                entry.registration = Registration::Registering;
                send.push(self.request(Call::subscribe(&query, false), Purpose::Subscribe(query)));
            }
        }
        send
    }

    /// Removes a local subscriber. When the last one of a registered query
    /// leaves, the codec subscription lingers until
    /// [`Manager::sweep_lingering`] ends it; one still registering is undone
    /// when its answer comes.
    pub fn unsubscribe(&mut self, local: u64) -> Vec<Request> {
        let Some(query) = self.local_to_query.remove(&local) else {
            return Vec::new();
        };
        let Some(entry) = self.subs.get_mut(&query) else {
            return Vec::new();
        };
        entry.sinks.retain(|s| s.local != local);
        if !entry.sinks.is_empty() {
            return Vec::new();
        }
        if entry.codec_id().is_some() {
            entry.linger = Linger::Since;
            return Vec::new();
        }
        let entry = self.subs.remove(&query).expect("present");
        match entry.codec_id() {
            Some(id) => {
                self.by_codec.remove(&id);
                vec![self.request(Call::unsubscribe(id), Purpose::Unsubscribe)]
            }
            None => Vec::new(),
        }
    }

    /// Whether a codec subscription without subscribers waits for a sweep.
    pub fn lingering(&self) -> bool {
        self.subs.values().any(|e| e.linger != Linger::No)
    }

    /// Called every little while as long as [`Manager::lingering`]: a codec
    /// subscription found without subscribers by two sweeps in a row is
    /// unsubscribed (so it lingers between one and two sweep periods).
    pub fn sweep_lingering(&mut self) -> Vec<Request> {
        let mut ended = Vec::new();
        for (query, e) in self.subs.iter_mut() {
            match e.linger {
                Linger::No => {}
                Linger::Since => e.linger = Linger::Swept,
                Linger::Swept => ended.push(query.clone()),
            }
        }
        let mut send = Vec::new();
        for query in ended {
            let entry = self.subs.remove(&query).expect("present");
            if let Some(id) = entry.codec_id() {
                self.by_codec.remove(&id);
                send.push(self.request(Call::unsubscribe(id), Purpose::Unsubscribe));
            }
        }
        send
    }

    /// Local subscribers in all.
    pub fn subscriber_count(&self) -> usize {
        self.local_to_query.len()
    }

    /// Codec subscriptions (shared by local subscribers).
    pub fn codec_subscription_count(&self) -> usize {
        self.subs.len()
    }

    /// After a connection came up: registers every query again, then the
    /// calls that waited offline, oldest first (callers that gave up are
    /// left out).
    pub fn on_connected(&mut self) -> Vec<Request> {
        let mut out = self.register_missing();
        for (call, pending) in self.offline.take() {
            out.push(self.call(call, pending));
        }
        out
    }

    /// Registers every query that has no codec subscription.
    pub fn register_missing(&mut self) -> Vec<Request> {
        let queries: Vec<Path> = self
            .subs
            .iter()
            .filter(|(_, e)| e.registration == Registration::Unregistered)
            .map(|(q, _)| q.clone())
            .collect();
        queries
            .into_iter()
            .map(|q| {
                self.subs.get_mut(&q).expect("present").registration = Registration::Registering;
                self.request(Call::subscribe(&q, false), Purpose::Subscribe(q))
            })
            .collect()
    }

    /// After the connection dropped: calls in flight fail now, and every
    /// subscription needs registering again.
    pub fn on_disconnected(&mut self, reason: &str) {
        self.pending.clear();
        self.calls.fail_all(|method| Error::Disconnected {
            method,
            reason: reason.to_string(),
        });
        self.by_codec.clear();
        // A lingering subscription has nobody to register it again for.
        self.subs.retain(|_, e| e.linger == Linger::No);
        for e in self.subs.values_mut() {
            e.registration = Registration::Unregistered;
        }
    }

    /// After `close`: everyone waiting hears so.
    pub fn on_closed(&mut self) {
        self.pending.clear();
        self.fail_offline(|_| Error::Closed);
        self.calls.fail_all(|_| Error::Closed);
        for e in self.subs.values_mut() {
            for w in e.waiters.drain(..) {
                let _ = w.send(Err(Error::Closed));
            }
        }
        self.subs.clear();
        self.by_codec.clear();
    }

    /// Handles one decoded frame.
    pub fn on_incoming(&mut self, msg: Incoming) -> Handled {
        match msg {
            Incoming::Feedback { id, document } => self.on_feedback(id, document),
            Incoming::Response { id, result } => self.on_answer(&id, Ok(result)),
            Incoming::Error { id, error } => self.on_answer(&id, Err(error)),
            Incoming::Notification { method, .. } => Handled {
                note: Some(format!("ignored notification {method:?}")),
                ..Default::default()
            },
        }
    }

    fn on_feedback(&mut self, id: u64, document: Value) -> Handled {
        let Some(entry) = self.by_codec.get(&id).and_then(|q| self.subs.get_mut(q)) else {
            return Handled {
                note: Some(format!("feedback for unknown subscription Id {id}")),
                ..Default::default()
            };
        };
        if let Some(state) = &mut entry.state {
            doc::apply(state, &document);
        }
        let note = deliver(&mut entry.sinks, document, |_| true);
        Handled {
            note,
            ..Default::default()
        }
    }

    fn on_answer(&mut self, id: &Value, result: Result<Value, RpcError>) -> Handled {
        let numeric = id.as_u64().or_else(|| id.as_str()?.parse().ok());
        if let Some(c) = numeric.and_then(|n| self.calls.take(n)) {
            let _ = c.reply.send(result.map_err(Error::Codec));
            return Handled::default();
        }
        let Some(purpose) = numeric.and_then(|n| self.pending.remove(&n)) else {
            let what = match &result {
                Ok(r) => format!("result {}", excerpt(&r.to_string(), 200)),
                Err(e) => format!("error {e}"),
            };
            return Handled {
                note: Some(format!("answer to no pending request (id {id}): {what}")),
                ..Default::default()
            };
        };
        match purpose {
            Purpose::Unsubscribe => match result {
                Ok(_) => Handled::default(),
                Err(e) => Handled {
                    note: Some(format!("unsubscribe refused: {e}")),
                    ..Default::default()
                },
            },
            Purpose::Subscribe(query) => self.on_registered(query, result),
            Purpose::Seed(query) => self.on_seed(query, result),
        }
    }

    fn on_registered(&mut self, query: Path, result: Result<Value, RpcError>) -> Handled {
        let Some(entry) = self.subs.get_mut(&query) else {
            // Every subscriber left while registering: undo it on the codec.
            let codec_id = result.ok().and_then(|r| subscription_id(&r));
            return Handled {
                send: codec_id
                    .map(|id| self.request(Call::unsubscribe(id), Purpose::Unsubscribe))
                    .into_iter()
                    .collect(),
                ..Default::default()
            };
        };
        entry.registration = Registration::Unregistered;
        let codec_id = match result.as_ref().map(subscription_id) {
            Ok(Some(id)) => id,
            Ok(None) => {
                let r = RpcError::new(code::UNEXPECTED_RESPONSE, "subscribe answered without Id");
                return self.registration_failed(query, r);
            }
            Err(e) => return self.registration_failed(query, e.clone()),
        };
        entry.registration = Registration::Registered { codec_id };
        entry.registrations += 1;
        for w in entry.waiters.drain(..) {
            let _ = w.send(Ok(()));
        }
        let stateful = entry.state.is_some();
        self.by_codec.insert(codec_id, query.clone());
        let mut h = Handled::default();
        if stateful {
            h.send
                .push(self.request(Call::query(&query), Purpose::Seed(query)));
        }
        h
    }

    fn registration_failed(&mut self, query: Path, e: RpcError) -> Handled {
        let entry = self.subs.get_mut(&query).expect("checked by caller");
        if !entry.ever_registered() && e.code != code::NOT_READY {
            let entry = self.subs.remove(&query).expect("present");
            for w in entry.waiters {
                let _ = w.send(Err(Error::Codec(e.clone())));
            }
            for s in &entry.sinks {
                self.local_to_query.remove(&s.local);
            }
            return Handled {
                note: Some(format!("subscribe to {query} refused: {e}")),
                ..Default::default()
            };
        }
        Handled {
            note: Some(format!(
                "registering feedback for {query} again was refused: {e}{}",
                if e.code == code::NOT_READY {
                    "; retrying shortly"
                } else {
                    "; it will be retried on the next reconnect"
                }
            )),
            retry_registration: e.code == code::NOT_READY,
            ..Default::default()
        }
    }

    fn on_seed(&mut self, query: Path, result: Result<Value, RpcError>) -> Handled {
        let Some(entry) = self.subs.get_mut(&query) else {
            return Handled::default();
        };
        let current = match result {
            Ok(v) => v,
            Err(e) => {
                return Handled {
                    note: Some(format!("reading the current state of {query} failed: {e}")),
                    ..Default::default()
                };
            }
        };
        let first = !entry.seeded && entry.registrations <= 1;
        entry.seeded = true;
        let state = entry
            .state
            .get_or_insert_with(|| Value::Object(Default::default()));
        let diff = doc::reconcile(state, &current);
        let note = if first {
            // A fresh subscription: only those who asked see the current
            // state; `on` fires on changes.
            let note = if is_empty(&current) {
                None
            } else {
                deliver(&mut entry.sinks, current, |s| {
                    s.wants_current && !s.got_current
                })
            };
            entry.sinks.iter_mut().for_each(|s| s.got_current = true);
            note
        } else {
            // After a reconnect (even one that lost the first read):
            // everything that differs from what subscribers saw.
            entry.sinks.iter_mut().for_each(|s| s.got_current = true);
            diff.and_then(|d| deliver(&mut entry.sinks, d, |_| true))
        };
        Handled {
            note,
            ..Default::default()
        }
    }
}

fn subscription_id(result: &Value) -> Option<u64> {
    let id = result.get("Id")?;
    id.as_u64().or_else(|| id.as_str()?.parse().ok())
}

fn is_empty(v: &Value) -> bool {
    v.as_object().is_some_and(|m| m.is_empty()) || v.is_null()
}

/// Hands `document` to each chosen subscriber without waiting, in the order
/// documents arrive: a copy to all but the last, which takes the document
/// itself (one subscriber, the usual case, costs no copy). A sink that
/// falls behind merges state changes and drops events past its bound (and
/// counts so in the metrics); the first of a burst is noted here, the
/// burst's totals by the subscriber when it catches up.
fn deliver(
    sinks: &mut [Subscriber],
    mut document: Value,
    choose: impl Fn(&Subscriber) -> bool,
) -> Option<String> {
    let mut note = None;
    let m = crate::telemetry::metrics();
    let mut chosen = sinks.iter().filter(|s| choose(s)).peekable();
    while let Some(s) = chosen.next() {
        let doc = match chosen.peek() {
            Some(_) => document.clone(),
            None => std::mem::take(&mut document),
        };
        let (pushed, began) = s.sink.push(doc);
        if matches!(pushed, Pushed::Queued | Pushed::Coalesced) {
            m.feedback_in.inc();
        }
        if began {
            note = Some(
                "a feedback subscriber is not keeping up: state changes merged, event(s) dropped past its buffer; the counts follow when it catches up"
                    .into(),
            );
        }
    }
    note
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::atomic::{AtomicBool, Ordering};

    fn q(s: &str) -> Path {
        Path::parse(s).unwrap()
    }

    fn resp(id: u64, result: Value) -> Incoming {
        Incoming::Response {
            id: json!(id),
            result,
        }
    }

    type Subscribed = (u64, Rx, oneshot::Receiver<Result<(), Error>>, Vec<Request>);

    fn sub(m: &mut Manager, query: &str, current: bool, connected: bool) -> Subscribed {
        let stateful = !query.starts_with("Event");
        let (tx, rx) = crate::xows::feed::channel(16, stateful);
        let (wtx, wrx) = oneshot::channel();
        let local = fresh_local();
        let reqs = m.subscribe(local, q(query), current, Box::new(tx), wtx, connected);
        (local, Rx(rx), wrx, reqs)
    }

    /// A local subscriber id, unique as the handle's counter makes it.
    fn fresh_local() -> u64 {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        NEXT.fetch_add(1, Ordering::Relaxed)
    }

    use crate::xows::calls::tests::pending;

    #[test]
    fn calls_made_while_offline_go_out_in_order_once_connected() {
        let mut m = Manager::with_calls(Arc::new(Calls::new()), 8);
        let (_s, _rx, _w, reqs) = sub(&mut m, "Event Message Send", false, false);
        assert!(reqs.is_empty());
        let mut answers = Vec::new();
        for method in ["xGet", "xSet", "xCommand"] {
            let (p, rx) = pending(method);
            m.queue_offline(Call::get(&q("Status Audio Volume")), p);
            answers.push(rx);
        }
        // A caller that gave up is left out.
        let (gone, rx) = pending("xGet");
        drop(rx);
        m.queue_offline(Call::get(&q("Status Audio Volume")), gone);
        assert_eq!(m.offline_len(), 4);
        let out = m.on_connected();
        assert_eq!(out[0].method, "xFeedback/Subscribe", "registrations first");
        assert_eq!(out.len(), 4, "three calls after the registration");
        assert!(out.windows(2).all(|w| w[0].id < w[1].id), "in order");
        assert_eq!(m.offline_len(), 0);
        assert_eq!(m.in_flight(), 3);
        for (req, rx) in out[1..].iter().zip(answers.iter_mut()) {
            m.on_incoming(resp(req.id, json!(req.id)));
            assert_eq!(rx.try_recv().unwrap().unwrap(), json!(req.id));
        }
    }

    #[test]
    fn a_full_offline_queue_refuses_the_newest_call_with_a_clear_error() {
        let mut m = Manager::with_calls(Arc::new(Calls::new()), 2);
        let (a, mut rx_a) = pending("xGet");
        let (b, _rx_b) = pending("xGet");
        let (c, mut rx_c) = pending("xCommand");
        for p in [a, b, c] {
            m.queue_offline(Call::get(&q("Status Audio Volume")), p);
        }
        match rx_c.try_recv().unwrap() {
            Err(Error::Disconnected { method, reason }) => {
                assert_eq!(method, "xGet", "the call's own method");
                assert!(reason.contains("2 calls already waiting"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        assert!(rx_a.try_recv().is_err(), "the older calls still wait");
        assert_eq!(m.offline_len(), 2);
    }

    #[test]
    fn closing_answers_the_calls_waiting_offline() {
        let mut m = Manager::new();
        let (p, mut rx) = pending("xGet");
        m.queue_offline(Call::get(&q("Status Audio Volume")), p);
        m.on_closed();
        assert!(matches!(rx.try_recv().unwrap(), Err(Error::Closed)));
        assert_eq!(m.offline_len(), 0);
    }

    #[test]
    fn a_refused_first_connection_fails_the_offline_calls_with_its_reason() {
        let mut m = Manager::new();
        let (p, mut rx) = pending("xGet");
        m.queue_offline(Call::get(&q("Status Audio Volume")), p);
        m.fail_offline(|method| Error::Disconnected {
            method,
            reason: "refused".into(),
        });
        assert!(matches!(
            rx.try_recv().unwrap(),
            Err(Error::Disconnected { reason, .. }) if reason == "refused"
        ));
    }

    /// The receiving end, read the way these tests expect.
    struct Rx(crate::xows::feed::FeedRx);

    impl Rx {
        fn try_recv(&mut self) -> Result<Value, ()> {
            self.0.try_recv().map(|(v, _)| v).ok_or(())
        }
    }

    #[test]
    fn calls_are_matched_by_id_and_fail_on_disconnect() {
        let mut m = Manager::new();
        let (tx, mut rx) = oneshot::channel();
        let sent = Arc::new(AtomicBool::new(false));
        let req = m.call(
            Call::get(&q("Status Audio Volume")),
            PendingCall {
                method: "xGet".into(),
                reply: tx,
                sent: sent.clone(),
            },
        );
        assert!(sent.load(Ordering::Relaxed));
        let h = m.on_incoming(resp(req.id + 100, json!(1)));
        assert!(h.note.unwrap().contains("no pending request"));
        m.on_incoming(resp(req.id, json!(50)));
        assert_eq!(rx.try_recv().unwrap().unwrap(), json!(50));

        let (tx, mut rx) = oneshot::channel();
        m.call(
            Call::get(&q("Status Audio Volume")),
            PendingCall {
                method: "xGet".into(),
                reply: tx,
                sent: Arc::new(AtomicBool::new(false)),
            },
        );
        m.on_disconnected("connection reset");
        assert!(matches!(
            rx.try_recv().unwrap(),
            Err(Error::Disconnected { reason, .. }) if reason == "connection reset"
        ));
        assert_eq!(m.in_flight(), 0);
    }

    #[test]
    fn codec_errors_and_null_ids() {
        let mut m = Manager::new();
        let (tx, mut rx) = oneshot::channel();
        let req = m.call(
            Call::get(&q("Status Nope")),
            PendingCall {
                method: "xGet".into(),
                reply: tx,
                sent: Arc::new(AtomicBool::new(false)),
            },
        );
        m.on_incoming(Incoming::Error {
            id: json!(req.id),
            error: RpcError::method_not_found(),
        });
        assert!(matches!(rx.try_recv().unwrap(), Err(Error::Codec(e)) if e.code == -32601));
        let h = m.on_incoming(resp(0, json!(1)));
        assert!(h.note.is_some());
        let h = m.on_incoming(Incoming::Response {
            id: Value::Null,
            result: json!(true),
        });
        assert!(h.note.unwrap().contains("id null"));
    }

    #[test]
    fn local_subscribers_share_one_codec_subscription() {
        let mut m = Manager::new();
        let (a, mut rx_a, mut w_a, reqs) = sub(&mut m, "Status Audio Volume", false, true);
        assert_eq!(reqs.len(), 1);
        assert_eq!(reqs[0].method, "xFeedback/Subscribe");
        let (b, mut rx_b, mut w_b, reqs2) = sub(&mut m, "Status/Audio/Volume", false, true);
        assert!(
            reqs2.is_empty(),
            "second subscriber waits for the same registration"
        );
        let h = m.on_incoming(resp(reqs[0].id, json!({"Id": 7})));
        assert!(w_a.try_recv().unwrap().is_ok() && w_b.try_recv().unwrap().is_ok());
        // Seed read of the current state, not delivered (nobody asked for it).
        assert_eq!(h.send[0].method, "xQuery");
        m.on_incoming(resp(
            h.send[0].id,
            json!({"Status":{"Audio":{"Volume":50}}}),
        ));
        assert!(rx_a.try_recv().is_err());
        m.on_incoming(Incoming::Feedback {
            id: 7,
            document: json!({"Status":{"Audio":{"Volume":60}}}),
        });
        assert_eq!(rx_a.try_recv().unwrap()["Status"]["Audio"]["Volume"], 60);
        assert_eq!(rx_b.try_recv().unwrap()["Status"]["Audio"]["Volume"], 60);
        assert!(m.unsubscribe(a).is_empty(), "b still listens");
        assert!(m.unsubscribe(b).is_empty(), "it lingers");
        assert!(m.sweep_lingering().is_empty(), "one sweep marks it");
        let last = m.sweep_lingering();
        assert_eq!(last[0].method, "xFeedback/Unsubscribe");
        assert_eq!(last[0].params, json!({"Id": 7}));
        assert_eq!(m.codec_subscription_count(), 0);
        let h = m.on_incoming(Incoming::Feedback {
            id: 7,
            document: json!({}),
        });
        assert!(h.note.unwrap().contains("unknown subscription Id 7"));
    }

    #[test]
    fn a_subscriber_back_within_the_linger_finds_the_registration_without_a_round_trip() {
        let mut m = Manager::new();
        let (a, _rx, _w, reqs) = sub(&mut m, "Status Audio Volume", false, true);
        let h = m.on_incoming(resp(reqs[0].id, json!({"Id": 3})));
        m.on_incoming(resp(
            h.send[0].id,
            json!({"Status":{"Audio":{"Volume":50}}}),
        ));
        // The old instance stops; a change arrives while nobody listens.
        assert!(m.unsubscribe(a).is_empty());
        assert!(m.lingering());
        m.on_incoming(Incoming::Feedback {
            id: 3,
            document: json!({"Status":{"Audio":{"Volume":55}}}),
        });
        assert!(m.sweep_lingering().is_empty());
        // The new instance subscribes: answered at once, nothing sent, and
        // the current value is the latest.
        let (_b, mut rx, mut w, reqs) = sub(&mut m, "Status Audio Volume", true, true);
        assert!(reqs.is_empty(), "no round trip: {:?}", reqs.len());
        assert!(w.try_recv().unwrap().is_ok());
        assert_eq!(rx.try_recv().unwrap()["Status"]["Audio"]["Volume"], 55);
        assert!(!m.lingering());
        assert!(m.sweep_lingering().is_empty() && m.sweep_lingering().is_empty());
        assert_eq!(m.codec_subscription_count(), 1);
    }

    #[test]
    fn a_lingering_subscription_is_not_registered_again_after_a_reconnect() {
        let mut m = Manager::new();
        let (a, _rx, _w, reqs) = sub(&mut m, "Event Message Send", false, true);
        m.on_incoming(resp(reqs[0].id, json!({"Id": 1})));
        m.unsubscribe(a);
        m.on_disconnected("reset");
        assert!(m.on_connected().is_empty());
        assert_eq!(m.codec_subscription_count(), 0);
    }

    #[test]
    fn current_value_goes_only_to_who_asked() {
        let mut m = Manager::new();
        let (_a, mut rx_a, _w, reqs) = sub(&mut m, "Status Audio Volume", true, true);
        let h = m.on_incoming(resp(reqs[0].id, json!({"Id": 1})));
        m.on_incoming(resp(
            h.send[0].id,
            json!({"Status":{"Audio":{"Volume":50}}}),
        ));
        assert_eq!(rx_a.try_recv().unwrap()["Status"]["Audio"]["Volume"], 50);
        let (_b, mut rx_b, _w, _) = sub(&mut m, "Status Audio Volume", true, true);
        assert_eq!(rx_b.try_recv().unwrap()["Status"]["Audio"]["Volume"], 50);
        let (_c, mut rx_c, _w, _) = sub(&mut m, "Status Audio Volume", false, true);
        assert!(rx_c.try_recv().is_err());
    }

    #[test]
    fn reconnect_delivers_only_what_changed_while_away() {
        let mut m = Manager::new();
        let (_a, mut rx, _w, reqs) = sub(&mut m, "Status Audio", false, true);
        let h = m.on_incoming(resp(reqs[0].id, json!({"Id": 1})));
        m.on_incoming(resp(
            h.send[0].id,
            json!({"Status":{"Audio":{"Volume":50,"VolumeMute":"Off"}}}),
        ));
        m.on_disconnected("reset");
        let reqs = m.on_connected();
        assert_eq!(reqs.len(), 1);
        let h = m.on_incoming(resp(reqs[0].id, json!({"Id": 4})));
        m.on_incoming(resp(
            h.send[0].id,
            json!({"Status":{"Audio":{"Volume":70,"VolumeMute":"Off"}}}),
        ));
        assert_eq!(
            rx.try_recv().unwrap(),
            json!({"Status":{"Audio":{"Volume":70}}})
        );
        assert!(rx.try_recv().is_err());
        // A change that arrives between registration and the seed read is
        // delivered once, not again by the seed.
        m.on_disconnected("reset");
        let reqs = m.on_connected();
        let h = m.on_incoming(resp(reqs[0].id, json!({"Id": 5})));
        m.on_incoming(Incoming::Feedback {
            id: 5,
            document: json!({"Status":{"Audio":{"Volume":80}}}),
        });
        m.on_incoming(resp(
            h.send[0].id,
            json!({"Status":{"Audio":{"Volume":80,"VolumeMute":"Off"}}}),
        ));
        assert_eq!(
            rx.try_recv().unwrap(),
            json!({"Status":{"Audio":{"Volume":80}}})
        );
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn a_lost_first_read_still_lets_the_resync_deliver() {
        let mut m = Manager::new();
        let (_a, mut rx, _w, reqs) = sub(&mut m, "Status Audio Volume", false, true);
        let h = m.on_incoming(resp(reqs[0].id, json!({"Id": 1})));
        assert_eq!(h.send[0].method, "xQuery");
        // The connection drops before the read's answer arrives.
        m.on_disconnected("cut");
        let reqs = m.on_connected();
        let h = m.on_incoming(resp(reqs[0].id, json!({"Id": 2})));
        m.on_incoming(resp(
            h.send[0].id,
            json!({"Status":{"Audio":{"Volume":73}}}),
        ));
        assert_eq!(
            rx.try_recv().unwrap(),
            json!({"Status":{"Audio":{"Volume":73}}})
        );
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn refused_registration_reaches_the_caller_once() {
        let mut m = Manager::new();
        let (_a, _rx, mut w, reqs) = sub(&mut m, "Status Nope", false, true);
        m.on_incoming(Incoming::Error {
            id: json!(reqs[0].id),
            error: RpcError::new(code::SUBSCRIBER_COUNT_EXCEEDED, "Subscriber count exceeded"),
        });
        assert!(matches!(w.try_recv().unwrap(), Err(Error::Codec(e)) if e.code == -31998));
        assert_eq!(m.subscriber_count(), 0);
        assert!(m.on_connected().is_empty(), "no hot retry");
    }

    #[test]
    fn not_ready_registration_is_retried() {
        let mut m = Manager::new();
        let (_a, _rx, _w, reqs) = sub(&mut m, "Event Message Send", false, true);
        let h = m.on_incoming(Incoming::Error {
            id: json!(reqs[0].id),
            error: RpcError::not_ready(),
        });
        assert!(h.retry_registration);
        assert_eq!(m.register_missing().len(), 1);
    }

    #[test]
    fn offline_subscribe_registers_on_connect() {
        let mut m = Manager::new();
        let (_a, _rx, mut w, reqs) = sub(&mut m, "Event Message Send", false, false);
        assert!(reqs.is_empty());
        assert!(w.try_recv().unwrap().is_ok());
        let reqs = m.on_connected();
        assert_eq!(reqs.len(), 1);
        let h = m.on_incoming(resp(reqs[0].id, json!({"Id": 2})));
        assert!(h.send.is_empty(), "events have no state to read");
    }

    #[test]
    fn slow_subscribers_drop_and_say_so() {
        let mut m = Manager::new();
        let (tx, _rx) = crate::xows::feed::channel(1, false);
        let (wtx, _w) = oneshot::channel();
        let reqs = m.subscribe(fresh_local(), q("Event X"), false, Box::new(tx), wtx, true);
        m.on_incoming(resp(reqs[0].id, json!({"Id": 1})));
        let ev = || Incoming::Feedback {
            id: 1,
            document: json!({"Event":{"X":{}}}),
        };
        assert!(m.on_incoming(ev()).note.is_none());
        let h = m.on_incoming(ev());
        assert!(h.note.unwrap().contains("dropped"));
        assert!(
            m.on_incoming(ev()).note.is_none(),
            "not every drop is logged"
        );
    }
}
