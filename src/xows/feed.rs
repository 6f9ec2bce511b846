//! How feedback leaves the connection task: every local subscriber is a
//! [`Sink`] that the task hands each document to, in the order the codec
//! sent them, without waiting. A script instance's sink is its mailbox
//! (all of its subscriptions share it, so its callbacks run in wire
//! order); a library user's ([`super::Subscription`]) is the channel here:
//! a [`FeedbackQueue`] behind a lock with a wake-up, so a subscriber that
//! falls behind loses no state change (a Status or Configuration document
//! supersedes the waiting one of the same shape, latest value per path)
//! and drops events only past its bound.

use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::Notify;

use super::doc;
use super::feedback_queue::{Burst, FeedbackQueue, Pushed};

/// Where the connection task hands one local subscriber's feedback
/// documents, in the order they arrived on the socket. `push` never waits
/// (the task reads the socket for every subscriber and every call), and
/// counts in the metrics what its own bound merges or drops.
pub trait Sink: Send + Sync {
    /// Takes one document: what became of it, and whether that began a
    /// burst of merges or drops (the connection task says so once).
    fn push(&self, document: Value) -> (Pushed, bool);
}

struct State {
    /// Documents keyed by their shape ([`doc::shape`]).
    queue: FeedbackQueue<u64, Value>,
    /// The sender is gone (unsubscribed, refused or closed).
    closed: bool,
    /// The receiver is gone.
    gone: bool,
}

struct Shared {
    state: Mutex<State>,
    ready: Notify,
    /// Status or Configuration feedback: documents merge under pressure.
    stateful: bool,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A subscriber channel holding up to `bound` documents one by one.
pub fn channel(bound: usize, stateful: bool) -> (FeedTx, FeedRx) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            queue: FeedbackQueue::new(bound),
            closed: false,
            gone: false,
        }),
        ready: Notify::new(),
        stateful,
    });
    (FeedTx(shared.clone()), FeedRx(shared))
}

/// The connection task's end.
pub struct FeedTx(Arc<Shared>);

impl Sink for FeedTx {
    fn push(&self, document: Value) -> (Pushed, bool) {
        let shape = self.0.stateful.then(|| doc::shape(&document));
        let mut s = self.0.lock();
        if s.gone {
            return (Pushed::Closed, false);
        }
        let pushed = match shape {
            Some(shape) => s.queue.push_state(shape, document),
            None => s.queue.push_event(document),
        };
        let began = pushed != Pushed::Queued && s.queue.burst_began();
        drop(s);
        let m = crate::telemetry::metrics();
        match pushed {
            Pushed::Queued | Pushed::Coalesced => self.0.ready.notify_one(),
            Pushed::Dropped | Pushed::Closed => {}
        }
        match pushed {
            Pushed::Coalesced => m.feedback_coalesced.inc(),
            Pushed::Dropped => m.feedback_dropped_subscriber.inc(),
            Pushed::Queued | Pushed::Closed => {}
        }
        (pushed, began)
    }
}

impl Drop for FeedTx {
    fn drop(&mut self) {
        self.0.lock().closed = true;
        self.0.ready.notify_one();
    }
}

/// The subscriber's end.
pub struct FeedRx(Arc<Shared>);

impl FeedRx {
    /// The next document, with the counts of a burst that ended with it;
    /// `None` once the sender is gone and nothing waits.
    pub async fn recv(&mut self) -> Option<(Value, Option<Burst>)> {
        loop {
            if let Some(got) = self.try_recv() {
                return Some(got);
            }
            if self.0.lock().closed {
                return self.try_recv();
            }
            self.0.ready.notified().await;
        }
    }

    /// A document if one waits.
    pub fn try_recv(&mut self) -> Option<(Value, Option<Burst>)> {
        let (v, burst) = self.0.lock().queue.pop();
        v.map(|v| (v, burst))
    }
}

impl Drop for FeedRx {
    fn drop(&mut self) {
        let mut s = self.0.lock();
        s.gone = true;
        s.queue.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn a_state_subscriber_that_falls_behind_still_gets_every_latest_value() {
        let (tx, mut rx) = channel(2, true);
        for v in 0..100 {
            tx.push(json!({"Status":{"Audio":{"Volume": v}}}));
        }
        let (pushed, began) = tx.push(json!({"Status":{"Audio":{"VolumeMute": "On"}}}));
        assert_eq!((pushed, began), (Pushed::Queued, false), "another path");
        drop(tx);
        let mut got = Vec::new();
        let mut burst = None;
        while let Some((v, b)) = rx.recv().await {
            got.push(v);
            burst = burst.or(b);
        }
        assert_eq!(
            got[got.len() - 2..],
            [
                json!({"Status":{"Audio":{"Volume": 99}}}),
                json!({"Status":{"Audio":{"VolumeMute": "On"}}})
            ]
        );
        assert!(got.len() <= 3, "older volumes were superseded: {got:?}");
        assert_eq!(burst.unwrap().coalesced as usize, 100 - (got.len() - 1));
    }

    #[tokio::test]
    async fn an_event_subscriber_drops_past_its_bound() {
        let (tx, mut rx) = channel(3, false);
        let dropped = (0..5)
            .map(|n| tx.push(json!({"Event":{"X":{"N": n}}})))
            .filter(|p| p.0 == Pushed::Dropped)
            .count();
        assert_eq!(dropped, 2);
        let mut got = Vec::new();
        while let Some((v, _)) = rx.try_recv() {
            got.push(v["Event"]["X"]["N"].as_i64().unwrap());
        }
        assert_eq!(got, vec![0, 1, 2]);
        drop(rx);
        assert_eq!(tx.push(json!({})).0, Pushed::Closed);
    }
}
