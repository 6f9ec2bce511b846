//! The calls waiting for their answer, in one table that both sides of a
//! connection reach: a caller writes its own request frame and files its
//! reply slot here under the request's id; the connection task, reading
//! the socket, takes the slot by the answer's id. Request ids come from the
//! same counter as the connection's own requests (subscriptions, reads), so
//! no two frames on one connection share an id.
//!
//! Writing from the caller's thread saves a hand-off to the connection task
//! per call (see BENCHMARKS.md, sequential get). Plain data, no I/O.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::oneshot;

use super::error::Error;

/// A caller waiting for an answer.
pub struct PendingCall {
    pub method: String,
    pub reply: oneshot::Sender<Result<Value, Error>>,
    /// Set once the request is on the wire (a timeout then means "no
    /// answer", not "never sent").
    pub sent: Arc<AtomicBool>,
}

/// Filed calls, and when callers that gave up were last swept out.
#[derive(Default)]
struct Waiting {
    map: HashMap<u64, PendingCall>,
    since_sweep: u32,
}

/// The table.
pub struct Calls {
    next_id: AtomicU64,
    waiting: Mutex<Waiting>,
}

impl Default for Calls {
    fn default() -> Self {
        Calls::new()
    }
}

/// Callers that time out leave a closed reply slot behind; every this many
/// filings the table drops them.
const SWEEP_EVERY: u32 = 1024;

impl Calls {
    pub fn new() -> Self {
        Calls {
            next_id: AtomicU64::new(1),
            waiting: Mutex::new(Waiting::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Waiting> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A fresh request id for this connection.
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Files a call under `id`, marking it sent (it goes on the wire next).
    pub fn file(&self, id: u64, call: PendingCall) {
        call.sent.store(true, Ordering::Relaxed);
        let mut w = self.lock();
        w.since_sweep += 1;
        if w.since_sweep >= SWEEP_EVERY {
            w.map.retain(|_, c| !c.reply.is_closed());
            w.since_sweep = 0;
        }
        w.map.insert(id, call);
    }

    /// Takes the call answered by `id`, if one waits.
    pub fn take(&self, id: u64) -> Option<PendingCall> {
        self.lock().map.remove(&id)
    }

    /// Answers every waiting call with `err(method)`.
    pub fn fail_all(&self, err: impl Fn(String) -> Error) {
        let drained: Vec<PendingCall> = self.lock().map.drain().map(|(_, c)| c).collect();
        for c in drained {
            let _ = c.reply.send(Err(err(c.method)));
        }
    }

    /// Calls waiting now.
    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    /// Whether no call waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// A call for `method` and the receiver of its answer.
    pub(crate) fn pending(method: &str) -> (PendingCall, oneshot::Receiver<Result<Value, Error>>) {
        let (reply, rx) = oneshot::channel();
        let call = PendingCall {
            method: method.into(),
            reply,
            sent: Arc::new(AtomicBool::new(false)),
        };
        (call, rx)
    }

    #[test]
    fn a_filed_call_is_marked_sent_and_taken_once_by_its_id() {
        let calls = Calls::new();
        let (a, b) = (calls.next_id(), calls.next_id());
        assert_ne!(a, b);
        let (call, mut rx) = pending("xGet");
        let sent = call.sent.clone();
        calls.file(a, call);
        assert!(sent.load(Ordering::Relaxed));
        assert!(calls.take(b).is_none());
        let got = calls.take(a).expect("filed");
        got.reply.send(Ok(json!(5))).unwrap();
        assert_eq!(rx.try_recv().unwrap().unwrap(), json!(5));
        assert!(calls.take(a).is_none());
        assert!(calls.is_empty());
    }

    #[test]
    fn failing_all_answers_every_waiting_caller_with_its_method() {
        let calls = Calls::new();
        let (one, mut rx1) = pending("xGet");
        let (two, mut rx2) = pending("xSet");
        calls.file(calls.next_id(), one);
        calls.file(calls.next_id(), two);
        calls.fail_all(|method| Error::Disconnected {
            method,
            reason: "gone".into(),
        });
        for (rx, want) in [(&mut rx1, "xGet"), (&mut rx2, "xSet")] {
            match rx.try_recv().unwrap() {
                Err(Error::Disconnected { method, .. }) => assert_eq!(method, want),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(calls.len(), 0);
    }

    #[test]
    fn callers_that_gave_up_are_swept_out() {
        let calls = Calls::new();
        for _ in 0..SWEEP_EVERY + 1 {
            let (call, rx) = pending("xGet");
            drop(rx);
            calls.file(calls.next_id(), call);
        }
        assert!(calls.len() < 4, "{} left", calls.len());
    }
}
