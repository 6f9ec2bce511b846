//! The channel between the connection task and one local subscriber: a
//! [`FeedbackQueue`] behind a lock with a wake-up, so a subscriber that
//! falls behind loses no state change (documents of a Status or
//! Configuration subscription merge into the one waiting, latest value per
//! path) and drops events only past its bound. The connection task never
//! waits on it.

use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::Notify;

use super::doc;
use super::feedback_queue::{Burst, FeedbackQueue, Pushed};

struct State {
    queue: FeedbackQueue<(), Value>,
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

impl FeedTx {
    /// Hands a document over without waiting; also whether this push began
    /// a burst of merges or drops.
    pub fn push(&self, document: Value) -> (Pushed, bool) {
        let mut s = self.0.lock();
        if s.gone {
            return (Pushed::Closed, false);
        }
        let pushed = if self.0.stateful {
            s.queue.push_state((), document, doc::compose)
        } else {
            s.queue.push_event(document)
        };
        let began = pushed != Pushed::Queued && s.queue.burst_began();
        drop(s);
        if pushed == Pushed::Queued {
            self.0.ready.notify_one();
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
        assert_eq!((pushed, began), (Pushed::Coalesced, false));
        drop(tx);
        let (first, _) = rx.recv().await.unwrap();
        assert_eq!(first, json!({"Status":{"Audio":{"Volume": 0}}}));
        let (merged, burst) = rx.recv().await.unwrap();
        assert_eq!(
            merged,
            json!({"Status":{"Audio":{"Volume": 99, "VolumeMute": "On"}}})
        );
        assert_eq!(burst.unwrap().coalesced, 99);
        assert!(rx.recv().await.is_none(), "closed once drained");
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
