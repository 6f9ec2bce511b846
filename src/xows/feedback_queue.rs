//! A bounded feedback queue that loses nothing a script needs: plain data,
//! no I/O, used for a subscriber's buffer ([`super::feed`]) and a script
//! instance's mailbox.
//!
//! Items wait one by one, in order, until `bound` items wait. Up to `bound`
//! *events* always fit, however many state changes wait beside them; one
//! more is dropped. Once `bound` items of any kind wait, a *state* change
//! (Status or Configuration feedback, pushed with a key) whose key already
//! has a change waiting is merged into that waiting item, so the latest
//! value of every path still arrives (where the first change waited); a
//! state change whose key has nothing waiting is queued even then (at most
//! one extra item per key). Both are counted per burst: a burst begins with
//! the first merge or drop and ends when the queue is empty again, or after
//! [`BURST_REPORT_EVERY`] of continuous pressure, and its counts are
//! handed to the consumer once so it can log one line.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::time::{Duration, Instant};

/// A burst that has not ended is reported after this long anyway.
pub const BURST_REPORT_EVERY: Duration = Duration::from_secs(10);

/// What became of a pushed item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Waiting on its own.
    Queued,
    /// Merged into the change already waiting for its key.
    Coalesced,
    /// Not queued: the queue was full and it was an event.
    Dropped,
    /// The queue is closed (nobody reads it any more).
    Closed,
}

/// What one burst cost, handed out once when it ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Burst {
    /// State changes merged into a waiting one.
    pub coalesced: u64,
    /// Events dropped.
    pub dropped: u64,
}

impl Burst {
    fn is_empty(&self) -> bool {
        self.coalesced == 0 && self.dropped == 0
    }
}

struct Item<K, T> {
    key: Option<K>,
    /// Counts against the events' bound.
    event: bool,
    value: T,
}

/// The queue; `K` keys state changes (a path, a callback).
pub struct FeedbackQueue<K, T> {
    items: VecDeque<Item<K, T>>,
    /// The absolute position of `items[0]` (items ever popped).
    head: u64,
    /// Where each key's waiting change is (absolute position).
    waiting: HashMap<K, u64>,
    /// Events waiting.
    events: usize,
    bound: usize,
    burst: Burst,
    burst_since: Option<Instant>,
}

/// The capacity an emptied queue keeps; a burst's larger buffer is freed.
const KEEP: usize = 16;

impl<K: Hash + Eq + Clone, T> FeedbackQueue<K, T> {
    /// An empty queue holding up to `bound` items one by one (at least 1).
    pub fn new(bound: usize) -> Self {
        FeedbackQueue {
            items: VecDeque::new(),
            head: 0,
            waiting: HashMap::new(),
            events: 0,
            bound: bound.max(1),
            burst: Burst::default(),
            burst_since: None,
        }
    }

    /// Items waiting.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The bound past which events drop and state changes merge.
    pub fn bound(&self) -> usize {
        self.bound
    }

    /// Whether the last push began a burst (its first merge or drop).
    pub fn burst_began(&self) -> bool {
        self.burst.coalesced + self.burst.dropped == 1
    }

    fn full(&self) -> bool {
        self.items.len() >= self.bound
    }

    fn pressure(&mut self) {
        if self.burst_since.is_none() {
            self.burst_since = Some(Instant::now());
        }
    }

    /// Queues an event; dropped when `bound` events wait already.
    pub fn push_event(&mut self, value: T) -> Pushed {
        if self.events >= self.bound {
            self.pressure();
            self.burst.dropped += 1;
            return Pushed::Dropped;
        }
        self.events += 1;
        self.items.push_back(Item {
            key: None,
            event: true,
            value,
        });
        Pushed::Queued
    }

    /// Queues an item that must never be dropped (a start, an unload),
    /// past the bound if need be.
    pub fn push_always(&mut self, value: T) {
        self.items.push_back(Item {
            key: None,
            event: false,
            value,
        });
    }

    /// Queues a state change for `key`; in a full queue it is merged into
    /// the change already waiting for the same key (`merge(waiting, new)`).
    pub fn push_state(&mut self, key: K, value: T, merge: impl FnOnce(&mut T, T)) -> Pushed {
        if self.full()
            && let Some(&at) = self.waiting.get(&key)
        {
            let slot = usize::try_from(at - self.head).expect("waiting items are in the queue");
            merge(&mut self.items[slot].value, value);
            self.pressure();
            self.burst.coalesced += 1;
            return Pushed::Coalesced;
        }
        let at = self.head + self.items.len() as u64;
        self.waiting.insert(key.clone(), at);
        self.items.push_back(Item {
            key: Some(key),
            event: false,
            value,
        });
        Pushed::Queued
    }

    /// The oldest item, and the counts of a burst that ended with it.
    pub fn pop(&mut self) -> (Option<T>, Option<Burst>) {
        let Some(item) = self.items.pop_front() else {
            return (None, self.take_burst(true));
        };
        if let Some(k) = item.key
            && self.waiting.get(&k) == Some(&self.head)
        {
            self.waiting.remove(&k);
        }
        self.head += 1;
        self.events -= usize::from(item.event);
        let ended = self.items.is_empty();
        if ended && self.items.capacity() > KEEP {
            self.items.shrink_to(KEEP);
            self.waiting.shrink_to(KEEP);
        }
        (Some(item.value), self.take_burst(ended))
    }

    fn take_burst(&mut self, ended: bool) -> Option<Burst> {
        let since = self.burst_since?;
        if !ended && since.elapsed() < BURST_REPORT_EVERY {
            return None;
        }
        self.burst_since = (!ended).then(Instant::now);
        let b = std::mem::take(&mut self.burst);
        (!b.is_empty()).then_some(b)
    }

    /// Keeps only the items `keep` accepts.
    pub fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        self.items.retain(|i| keep(&i.value));
        self.reindex();
    }

    /// Empties the queue.
    pub fn clear(&mut self) {
        self.items.clear();
        self.reindex();
    }

    fn reindex(&mut self) {
        self.events = self.items.iter().filter(|i| i.event).count();
        self.waiting.clear();
        for (n, i) in self.items.iter().enumerate() {
            if let Some(k) = &i.key {
                self.waiting.insert(k.clone(), self.head + n as u64);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replace(old: &mut i64, new: i64) {
        *old = new;
    }

    fn drain(q: &mut FeedbackQueue<&'static str, i64>) -> (Vec<i64>, Option<Burst>) {
        let mut out = Vec::new();
        let mut burst = None;
        loop {
            let (v, b) = q.pop();
            burst = burst.or(b);
            match v {
                Some(v) => out.push(v),
                None => return (out, burst),
            }
        }
    }

    #[test]
    fn below_the_bound_every_item_waits_in_order() {
        let mut q: FeedbackQueue<&str, i64> = FeedbackQueue::new(4);
        assert_eq!(q.push_state("volume", 1, replace), Pushed::Queued);
        assert_eq!(q.push_event(2), Pushed::Queued);
        assert_eq!(q.push_state("volume", 3, replace), Pushed::Queued);
        assert_eq!(drain(&mut q), (vec![1, 2, 3], None));
    }

    #[test]
    fn a_status_path_keeps_only_its_latest_value_under_pressure() {
        let mut q: FeedbackQueue<&str, i64> = FeedbackQueue::new(2);
        q.push_event(100);
        q.push_state("volume", 1, replace);
        for v in 2..=50 {
            assert_eq!(q.push_state("volume", v, replace), Pushed::Coalesced);
        }
        let (values, burst) = drain(&mut q);
        assert_eq!(values, vec![100, 50]);
        assert_eq!(
            burst,
            Some(Burst {
                coalesced: 49,
                dropped: 0
            })
        );
    }

    #[test]
    fn a_status_path_with_nothing_waiting_is_queued_past_the_bound() {
        let mut q: FeedbackQueue<&str, i64> = FeedbackQueue::new(1);
        q.push_event(1);
        assert_eq!(q.push_state("mute", 2, replace), Pushed::Queued);
        assert_eq!(q.push_state("volume", 3, replace), Pushed::Queued);
        assert_eq!(q.push_state("volume", 4, replace), Pushed::Coalesced);
        assert_eq!(drain(&mut q).0, vec![1, 2, 4]);
    }

    #[test]
    fn events_past_the_bound_are_dropped_and_counted_once_per_burst() {
        let mut q: FeedbackQueue<&str, i64> = FeedbackQueue::new(3);
        let pushed: Vec<Pushed> = (0..10).map(|v| q.push_event(v)).collect();
        assert_eq!(pushed.iter().filter(|p| **p == Pushed::Dropped).count(), 7);
        assert_eq!(q.pop(), (Some(0), None));
        assert_eq!(q.pop(), (Some(1), None));
        assert_eq!(
            q.pop(),
            (
                Some(2),
                Some(Burst {
                    coalesced: 0,
                    dropped: 7
                })
            ),
            "the burst is reported when the queue empties"
        );
        q.push_event(11);
        assert_eq!(q.pop(), (Some(11), None), "and only once");
    }

    #[test]
    fn a_change_popped_is_no_longer_merged_into() {
        let mut q: FeedbackQueue<&str, i64> = FeedbackQueue::new(1);
        q.push_state("volume", 1, replace);
        assert_eq!(q.pop().0, Some(1));
        q.push_state("volume", 2, replace);
        assert_eq!(q.push_state("volume", 3, replace), Pushed::Coalesced);
        q.push_event(9);
        assert_eq!(drain(&mut q).0, vec![3, 9]);
    }

    #[test]
    fn retain_and_clear_keep_the_merge_targets_right() {
        let mut q: FeedbackQueue<&str, i64> = FeedbackQueue::new(2);
        q.push_event(1);
        q.push_state("volume", 2, replace);
        q.retain(|v| *v != 1);
        q.push_event(3);
        assert_eq!(q.push_state("volume", 4, replace), Pushed::Coalesced);
        assert_eq!(drain(&mut q).0, vec![4, 3]);
        q.push_state("volume", 5, replace);
        q.clear();
        assert!(q.is_empty());
        q.push_event(6);
        q.push_event(7);
        assert_eq!(q.push_state("volume", 8, replace), Pushed::Queued);
        assert_eq!(drain(&mut q).0, vec![6, 7, 8]);
    }

    #[test]
    fn state_changes_never_take_an_events_place() {
        let mut q: FeedbackQueue<&str, i64> = FeedbackQueue::new(2);
        for v in 0..10 {
            q.push_state(if v % 2 == 0 { "volume" } else { "mute" }, v, replace);
        }
        assert_eq!(q.push_event(100), Pushed::Queued);
        assert_eq!(q.push_event(101), Pushed::Queued);
        assert_eq!(q.push_event(102), Pushed::Dropped);
        assert_eq!(q.push_state("volume", 10, replace), Pushed::Coalesced);
        let values = drain(&mut q).0;
        assert_eq!(values[values.len() - 2..], [100, 101]);
        assert!(values.contains(&10) && values.contains(&9));
    }

    #[test]
    fn items_that_must_arrive_pass_a_full_queue() {
        let mut q: FeedbackQueue<&str, i64> = FeedbackQueue::new(1);
        q.push_event(1);
        q.push_always(2);
        assert_eq!(q.push_event(3), Pushed::Dropped);
        assert_eq!(drain(&mut q).0, vec![1, 2]);
    }
}
