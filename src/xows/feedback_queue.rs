//! A bounded feedback queue that loses nothing a script needs and never
//! reorders what it keeps: plain data, no I/O, used for a subscriber's
//! buffer ([`super::feed`]) and a script instance's mailbox.
//!
//! Items wait one by one, in the order they were pushed, until `bound`
//! items wait. Up to `bound` *events* always fit, however many state
//! changes wait beside them; one more is dropped.
//!
//! Once `bound` items of any kind wait, a *state* change (Status or
//! Configuration feedback, pushed with a key) *supersedes* the changes of
//! its key still waiting: they are withdrawn from their places, and the new
//! change is queued at the tail, where it arrived. The caller makes the key
//! so that two changes with the same key set the same values (the callback,
//! and the shape of the change: its paths and element ids, see
//! [`super::doc::shape`]), so the later one wholly replaces the earlier and
//! nothing but overwritten values is lost.
//!
//! **The ordering rule: what the queue keeps comes out in the order it went
//! in.** A superseding change takes the place where *it* arrived, never the
//! place of the change it replaces: `Volume 10, event E, Volume 20` under
//! pressure becomes `E, Volume 20`, not `Volume 20, E` (which would show
//! the script a volume from after E before E). A change is only ever
//! replaced by one with the same shape, so a waiting change never loses
//! part of itself to a later one and keeps its own place, ahead of whatever
//! came after it (`{Volume, Mute}` then `{Volume}`: both wait, in order).
//! Items are withdrawn, never moved; a withdrawn item's slot is skipped
//! when popped and compacted away once such slots outnumber the live ones.
//!
//! The bound: past `bound`, one change per key may wait (each withdraws
//! the one before), so the queue holds at most `bound` items plus one per
//! key with a change waiting; a state change of a key with nothing waiting
//! is queued even then. Merges and drops are counted per burst: a burst
//! begins with the first merge or drop and ends when the queue is empty
//! again, or after [`BURST_REPORT_EVERY`] of continuous pressure, and its
//! counts are handed to the consumer once so it can log one line.

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
    /// Waiting at the tail, having withdrawn the change(s) of its key that
    /// were waiting (they carried older values of the same paths).
    Coalesced,
    /// Not queued: the queue was full and it was an event.
    Dropped,
    /// The queue is closed (nobody reads it any more).
    Closed,
}

/// What one burst cost, handed out once when it ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Burst {
    /// State changes withdrawn because a later one replaced them.
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
    /// `None` once withdrawn (a later change of its key replaced it).
    value: Option<T>,
    /// The position of the next older change of the same key still waiting:
    /// a key's changes form a chain, newest first, from `waiting`.
    older: Option<u64>,
}

/// The queue; `K` keys state changes (a path, a callback and shape).
pub struct FeedbackQueue<K, T> {
    items: VecDeque<Item<K, T>>,
    /// The absolute position of `items[0]` (slots ever popped).
    head: u64,
    /// Where each key's newest waiting change is (absolute position).
    waiting: HashMap<K, u64>,
    /// Items waiting (not withdrawn).
    live: usize,
    /// Events waiting.
    events: usize,
    bound: usize,
    burst: Burst,
    burst_since: Option<Instant>,
}

/// Withdrawn slots a queue may hold beyond twice its live items before it
/// compacts.
const KEEP: usize = 16;

impl<K: Hash + Eq + Clone, T> FeedbackQueue<K, T> {
    /// An empty queue holding up to `bound` items one by one (at least 1).
    pub fn new(bound: usize) -> Self {
        FeedbackQueue {
            items: VecDeque::new(),
            head: 0,
            waiting: HashMap::new(),
            live: 0,
            events: 0,
            bound: bound.max(1),
            burst: Burst::default(),
            burst_since: None,
        }
    }

    /// Items waiting.
    pub fn len(&self) -> usize {
        self.live
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// The bound past which events drop and state changes supersede.
    pub fn bound(&self) -> usize {
        self.bound
    }

    /// Whether the last push began a burst (its first merge or drop).
    pub fn burst_began(&self) -> bool {
        self.burst.coalesced + self.burst.dropped == 1
    }

    fn full(&self) -> bool {
        self.live >= self.bound
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
        self.append(None, true, value);
        Pushed::Queued
    }

    /// Queues an item that must never be dropped (a start, an unload),
    /// past the bound if need be.
    pub fn push_always(&mut self, value: T) {
        self.append(None, false, value);
    }

    /// Queues a state change for `key` at the tail; in a full queue it
    /// first withdraws the changes of the same key still waiting.
    pub fn push_state(&mut self, key: K, value: T) -> Pushed {
        let withdrawn = if self.full() { self.withdraw(&key) } else { 0 };
        self.append(Some(key), false, value);
        if withdrawn == 0 {
            return Pushed::Queued;
        }
        self.pressure();
        self.burst.coalesced += withdrawn;
        self.compact_if_sparse();
        Pushed::Coalesced
    }

    fn append(&mut self, key: Option<K>, event: bool, value: T) {
        let at = self.head + self.items.len() as u64;
        let older = key.as_ref().and_then(|k| {
            let head = self.head;
            self.waiting.insert(k.clone(), at).filter(|p| *p >= head)
        });
        self.items.push_back(Item {
            key,
            event,
            value: Some(value),
            older,
        });
        self.live += 1;
    }

    /// Withdraws every waiting change of `key`; how many there were.
    fn withdraw(&mut self, key: &K) -> u64 {
        let mut n = 0;
        let mut at = self.waiting.remove(key);
        while let Some(pos) = at.filter(|p| *p >= self.head) {
            let item = &mut self.items[(pos - self.head) as usize];
            let was_waiting = item.value.take().is_some();
            at = item.older.take();
            if was_waiting {
                self.live -= 1;
                n += 1;
            }
        }
        n
    }

    /// Drops withdrawn slots once they outnumber the live items (each slot
    /// is moved at most once per withdrawal made: amortised constant).
    fn compact_if_sparse(&mut self) {
        if self.items.len() > 2 * self.live + KEEP {
            self.items.retain(|i| i.value.is_some());
            self.reindex();
        }
    }

    /// The oldest item, and the counts of a burst that ended with it.
    pub fn pop(&mut self) -> (Option<T>, Option<Burst>) {
        while let Some(item) = self.items.pop_front() {
            let at = self.head;
            self.head += 1;
            let Some(value) = item.value else { continue };
            self.live -= 1;
            if let Some(k) = item.key
                && self.waiting.get(&k) == Some(&at)
            {
                self.waiting.remove(&k);
            }
            self.events -= usize::from(item.event);
            let ended = self.live == 0;
            if ended {
                // Only withdrawn slots can be left.
                self.head += self.items.len() as u64;
                // An emptied queue holds no memory: a host keeps one per
                // script instance, tens of thousands of them mostly idle,
                // and room for a few jobs is some 300 bytes each. The next
                // item allocates again (a few tens of nanoseconds).
                self.items = VecDeque::new();
                self.waiting = HashMap::new();
            }
            return (Some(value), self.take_burst(ended));
        }
        (None, self.take_burst(true))
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
        self.items
            .retain(|i| i.value.as_ref().is_some_and(&mut keep));
        self.reindex();
    }

    /// Empties the queue.
    pub fn clear(&mut self) {
        self.items.clear();
        self.reindex();
    }

    /// Rebuilds the counts and the chains after slots were removed.
    fn reindex(&mut self) {
        self.live = self.items.len();
        self.events = self.items.iter().filter(|i| i.event).count();
        self.waiting.clear();
        for (n, i) in self.items.iter_mut().enumerate() {
            if let Some(k) = &i.key {
                i.older = self.waiting.insert(k.clone(), self.head + n as u64);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain<K: Hash + Eq + Clone, T>(q: &mut FeedbackQueue<K, T>) -> (Vec<T>, Option<Burst>) {
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
        assert_eq!(q.push_state("volume", 1), Pushed::Queued);
        assert_eq!(q.push_event(2), Pushed::Queued);
        assert_eq!(q.push_state("volume", 3), Pushed::Queued);
        assert_eq!(drain(&mut q), (vec![1, 2, 3], None));
    }

    #[test]
    fn a_status_path_keeps_only_its_latest_value_under_pressure() {
        let mut q: FeedbackQueue<&str, i64> = FeedbackQueue::new(2);
        q.push_event(100);
        q.push_state("volume", 1);
        for v in 2..=50 {
            assert_eq!(q.push_state("volume", v), Pushed::Coalesced);
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
    fn a_superseding_value_never_runs_ahead_of_an_event_that_came_before_it() {
        // Volume 1, event 100, Volume 2: the old merge put 2 where 1 waited,
        // ahead of the event; the latest value takes its own place instead.
        let mut q: FeedbackQueue<&str, i64> = FeedbackQueue::new(2);
        q.push_state("volume", 1);
        q.push_event(100);
        assert_eq!(q.push_state("volume", 2), Pushed::Coalesced);
        assert_eq!(drain(&mut q).0, vec![100, 2]);
    }

    #[test]
    fn a_change_of_another_shape_keeps_its_place() {
        // `{Volume, Mute}` is not replaced by a later `{Volume}` (keys differ
        // by shape): both wait, each where it arrived.
        let mut q: FeedbackQueue<&str, i64> = FeedbackQueue::new(2);
        q.push_state("volume+mute", 1);
        q.push_event(100);
        assert_eq!(q.push_state("volume", 2), Pushed::Queued);
        assert_eq!(q.push_state("volume", 3), Pushed::Coalesced);
        assert_eq!(drain(&mut q).0, vec![1, 100, 3]);
    }

    #[test]
    fn under_a_long_flood_what_is_kept_comes_out_in_the_order_it_went_in() {
        // Items are numbered as pushed; events and changes of three keys
        // interleave far past the bound. Whatever survives is in order, the
        // last change of every key survives, and the queue stays bounded.
        const BOUND: usize = 8;
        let keys = ["volume", "mute", "call-2"];
        let mut q: FeedbackQueue<&str, u64> = FeedbackQueue::new(BOUND);
        let mut last = HashMap::new();
        for seq in 0..10_000u64 {
            if seq % 3 == 0 {
                q.push_event(seq);
            } else {
                let k = keys[(seq as usize / 3) % keys.len()];
                q.push_state(k, seq);
                last.insert(k, seq);
            }
            assert!(q.len() <= BOUND + keys.len(), "{} waiting", q.len());
            assert!(
                q.items.len() <= 2 * q.len() + KEEP + 1,
                "withdrawn slots pile up"
            );
            if seq % 997 == 0 {
                q.pop();
            }
        }
        let (kept, burst) = drain(&mut q);
        assert!(
            kept.windows(2).all(|w| w[0] < w[1]),
            "out of order: {kept:?}"
        );
        for (k, seq) in last {
            assert!(
                kept.contains(&seq),
                "the last change of {k} ({seq}) is lost"
            );
        }
        let burst = burst.expect("a burst is reported");
        assert!(burst.coalesced > 0 && burst.dropped > 0, "{burst:?}");
    }

    #[test]
    fn a_status_path_with_nothing_waiting_is_queued_past_the_bound() {
        let mut q: FeedbackQueue<&str, i64> = FeedbackQueue::new(1);
        q.push_event(1);
        assert_eq!(q.push_state("mute", 2), Pushed::Queued);
        assert_eq!(q.push_state("volume", 3), Pushed::Queued);
        assert_eq!(q.push_state("volume", 4), Pushed::Coalesced);
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
    fn a_change_popped_is_no_longer_withdrawn() {
        let mut q: FeedbackQueue<&str, i64> = FeedbackQueue::new(1);
        q.push_state("volume", 1);
        assert_eq!(q.pop().0, Some(1));
        q.push_state("volume", 2);
        assert_eq!(q.push_state("volume", 3), Pushed::Coalesced);
        q.push_event(9);
        assert_eq!(drain(&mut q).0, vec![3, 9]);
    }

    #[test]
    fn retain_and_clear_keep_the_chains_right() {
        let mut q: FeedbackQueue<&str, i64> = FeedbackQueue::new(2);
        q.push_event(1);
        q.push_state("volume", 2);
        q.retain(|v| *v != 1);
        q.push_event(3);
        assert_eq!(q.push_state("volume", 4), Pushed::Coalesced);
        assert_eq!(drain(&mut q).0, vec![3, 4]);
        q.push_state("volume", 5);
        q.clear();
        assert!(q.is_empty());
        q.push_event(6);
        q.push_event(7);
        assert_eq!(q.push_state("volume", 8), Pushed::Queued);
        assert_eq!(drain(&mut q).0, vec![6, 7, 8]);
    }

    #[test]
    fn state_changes_never_take_an_events_place() {
        let mut q: FeedbackQueue<&str, i64> = FeedbackQueue::new(2);
        for v in 0..10 {
            q.push_state(if v % 2 == 0 { "volume" } else { "mute" }, v);
        }
        assert_eq!(q.push_event(100), Pushed::Queued);
        assert_eq!(q.push_event(101), Pushed::Queued);
        assert_eq!(q.push_event(102), Pushed::Dropped);
        assert_eq!(q.push_state("volume", 10), Pushed::Coalesced);
        assert_eq!(drain(&mut q).0, vec![9, 100, 101, 10]);
    }

    #[test]
    fn items_that_must_arrive_pass_a_full_queue() {
        let mut q: FeedbackQueue<&str, i64> = FeedbackQueue::new(1);
        q.push_event(1);
        q.push_always(2);
        assert_eq!(q.push_event(3), Pushed::Dropped);
        assert_eq!(drain(&mut q).0, vec![1, 2]);
    }

    #[test]
    fn an_emptied_queue_holds_no_memory() {
        let mut q: FeedbackQueue<u8, u32> = FeedbackQueue::new(8);
        q.push_always(1);
        q.push_state(7, 2);
        assert!(q.items.capacity() > 0 && q.waiting.capacity() > 0);
        assert_eq!(drain(&mut q).0, vec![1, 2]);
        assert_eq!((q.items.capacity(), q.waiting.capacity()), (0, 0));
        // And it works as before afterwards.
        q.push_state(7, 3);
        q.push_event(4);
        assert_eq!(drain(&mut q).0, vec![3, 4]);
    }
}
