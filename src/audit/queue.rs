//! The bounded buffer between scripts and the audit table: a script hands
//! a call over without waiting (a full buffer drops it, counts it in
//! `xmacro_audit_dropped_total` and says so in the log once per spell of
//! overflow), and one writer thread turns calls into records (redaction,
//! digests, JSON: none of it on the script's thread) and stores them in
//! batches, so a slow or unreachable database never holds a script.
//!
//! Handing over is a push under a lock the writer only holds to swap the
//! buffer out. The writer is not woken per call: the first call into an
//! empty buffer wakes it, it then lets calls gather for [`GATHER`] (or
//! until [`BATCH`] are waiting, or a flush asks) and writes them all in
//! one transaction. A burst of calls thus costs one wake-up and one commit
//! per [`GATHER`], not one per call. While the database fails, the writer
//! keeps its batch and tries again with a growing pause. It also prunes:
//! records older than `audit_keep` and the oldest beyond
//! `audit_max_records` go when it starts and every hour.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tracing::{info, warn};

use super::record::{Entry, Record};
use super::{AuditStore, DEFAULT_KEEP, DEFAULT_MAX_RECORDS, counters, now_ms};

/// Calls the buffer holds before it drops new ones.
pub const CAPACITY: usize = 10_000;
/// Calls waiting that wake the writer before [`GATHER`] is up.
const BATCH: usize = 1_000;
/// How long the writer lets calls gather to share a commit: at most this
/// long a record waits in memory before it is written.
const GATHER: Duration = Duration::from_millis(50);
/// How often old records are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// How long and how many records are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// `audit_keep`.
    pub keep: Duration,
    /// `audit_max_records`.
    pub max_records: u64,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            keep: DEFAULT_KEEP,
            max_records: DEFAULT_MAX_RECORDS,
        }
    }
}

#[derive(Debug, Default)]
struct State {
    /// Calls handed over, oldest first, not yet taken by the writer.
    waiting: Vec<Entry>,
    /// Calls handed over (not dropped).
    sent: u64,
    /// Calls written (or given up with the writer).
    done: u64,
    /// The writer sleeps until a call comes (no batch under way).
    idle: bool,
    /// A flush waits: write what is there now.
    hurry: bool,
    /// Every handle is gone: write what is left and end.
    closed: bool,
    /// How often the writer woke (for the tests: not once per call).
    wakes: u64,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    /// The writer waits here.
    wake: Condvar,
    /// Flushes wait here.
    moved: Condvar,
    capacity: usize,
    /// Set while a spell of overflow has been logged.
    overflowing: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The writer's sleep: while `more` holds, until woken or `until`;
    /// whether the time ran out with `more` still holding.
    fn wait_while<'a>(
        &'a self,
        mut st: MutexGuard<'a, State>,
        until: Instant,
        more: impl Fn(&State) -> bool,
    ) -> (MutexGuard<'a, State>, bool) {
        while more(&st) {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return (st, true);
            }
            st = self
                .wake
                .wait_timeout(st, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
            st.wakes += 1;
        }
        (st, false)
    }
}

/// The handles' common part: when the last goes, the writer finishes.
#[derive(Debug)]
struct Handle(Arc<Shared>);

impl Drop for Handle {
    fn drop(&mut self) {
        self.0.lock().closed = true;
        self.0.wake.notify_all();
    }
}

/// A handle scripts record through; cheap to clone.
#[derive(Debug, Clone)]
pub struct Auditor {
    handle: Arc<Handle>,
}

impl Auditor {
    /// Starts the writer thread over `store` with a buffer of [`CAPACITY`].
    pub fn start(store: Box<dyn AuditStore>, retention: Retention) -> Auditor {
        Auditor::with_capacity(store, retention, CAPACITY)
    }

    /// As [`Auditor::start`], with a buffer of `capacity` calls.
    pub fn with_capacity(
        store: Box<dyn AuditStore>,
        retention: Retention,
        capacity: usize,
    ) -> Auditor {
        let shared = Arc::new(Shared {
            state: Mutex::default(),
            wake: Condvar::new(),
            moved: Condvar::new(),
            capacity: capacity.max(1),
            overflowing: AtomicBool::new(false),
        });
        let writer = shared.clone();
        std::thread::Builder::new()
            .name("xmacro-audit".into())
            .spawn(move || write_loop(store, &writer, retention))
            .expect("cannot start the audit writer thread");
        Auditor {
            handle: Arc::new(Handle(shared)),
        }
    }

    /// Hands a call to the writer, never waiting for the database: if the
    /// buffer is full it is dropped and counted.
    pub fn record(&self, e: Entry) {
        let shared = &self.handle.0;
        let mut st = shared.lock();
        if st.waiting.len() >= shared.capacity {
            drop(st);
            counters().dropped.inc();
            if !shared.overflowing.swap(true, Ordering::SeqCst) {
                warn!(
                    "audit trail: the buffer of records waiting for the database is full (the database is slow or unreachable); records are dropped meanwhile and counted in xmacro_audit_dropped_total"
                );
            }
            return;
        }
        st.waiting.push(e);
        st.sent += 1;
        let wake = (st.idle && st.waiting.len() == 1) || st.waiting.len() == BATCH;
        drop(st);
        if wake {
            shared.wake.notify_one();
        }
    }

    /// Waits until every call handed over before this one is written, at
    /// most `timeout`: whether it was.
    pub fn flush(&self, timeout: Duration) -> bool {
        let shared = &self.handle.0;
        let deadline = Instant::now() + timeout;
        let mut st = shared.lock();
        let want = st.sent;
        if st.done < want {
            st.hurry = true;
            shared.wake.notify_one();
        }
        while st.done < want {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            st = shared
                .moved
                .wait_timeout(st, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        true
    }
}

fn prune(store: &mut dyn AuditStore, retention: Retention) {
    let before = now_ms() - retention.keep.as_millis() as i64;
    match store.prune(before, retention.max_records) {
        Ok(0) => {}
        Ok(n) => info!("audit trail: pruned {n} old records"),
        Err(e) => warn!("audit trail: cannot prune: {e}"),
    }
}

/// Waits for calls to write and takes them all (leaving `spare` in their
/// place, so the buffer keeps its room): none when `until` comes first
/// (time to prune); `None` once every handle is gone and nothing is left.
fn take(shared: &Shared, spare: &mut Vec<Entry>, until: Instant) -> Option<Vec<Entry>> {
    let mut st = shared.lock();
    st.idle = true;
    let (mut st, time_up) = shared.wait_while(st, until, |st| st.waiting.is_empty() && !st.closed);
    st.idle = false;
    if time_up {
        return Some(Vec::new());
    }
    if st.waiting.is_empty() {
        return None;
    }
    // Calls that come within a moment of the first share its commit.
    let gather = Instant::now() + GATHER;
    let (mut st, _) = shared.wait_while(st, gather, |st| {
        !st.closed && !st.hurry && st.waiting.len() < BATCH
    });
    st.hurry = false;
    spare.clear();
    Some(std::mem::replace(&mut st.waiting, std::mem::take(spare)))
}

fn write_loop(mut store: Box<dyn AuditStore>, shared: &Shared, retention: Retention) {
    prune(store.as_mut(), retention);
    let mut pruned = Instant::now();
    let mut spare: Vec<Entry> = Vec::new();
    let mut failing: Option<Duration> = None;
    loop {
        if pruned.elapsed() >= PRUNE_EVERY {
            prune(store.as_mut(), retention);
            pruned = Instant::now();
        }
        let Some(mut entries) = take(shared, &mut spare, pruned + PRUNE_EVERY) else {
            return;
        };
        if entries.is_empty() {
            continue;
        }
        let batch: Vec<Record> = entries.drain(..).map(Entry::redact).collect();
        spare = entries;
        loop {
            match store.append(&batch) {
                Ok(()) => {
                    if failing.take().is_some() {
                        info!("audit trail: writing to the database again");
                    }
                    let mut st = shared.lock();
                    st.done += batch.len() as u64;
                    drop(st);
                    shared.moved.notify_all();
                    shared.overflowing.store(false, Ordering::SeqCst);
                    break;
                }
                Err(e) => {
                    let pause = match failing {
                        None => {
                            warn!(
                                "audit trail: cannot write {} records (kept, tried again): {e}",
                                batch.len()
                            );
                            Duration::from_millis(100)
                        }
                        Some(p) => (p * 2).min(Duration::from_secs(5)),
                    };
                    failing = Some(pause);
                    std::thread::sleep(pause);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::contract::entry;
    use crate::audit::{AuditError, Filter};

    /// A store that fails while `down` is set and keeps what it is given.
    #[derive(Clone, Default)]
    struct Flaky {
        down: Arc<AtomicBool>,
        gate: Arc<Mutex<()>>,
        kept: Arc<Mutex<Vec<Record>>>,
    }

    impl AuditStore for Flaky {
        fn append(&mut self, records: &[Record]) -> Result<(), AuditError> {
            let _held = self.gate.lock().unwrap();
            if self.down.load(Ordering::SeqCst) {
                return Err(AuditError::new("flaky", "down"));
            }
            self.kept.lock().unwrap().extend_from_slice(records);
            Ok(())
        }
        fn read(&mut self, _: &Filter) -> Result<Vec<Record>, AuditError> {
            Ok(self.kept.lock().unwrap().clone())
        }
        fn prune(&mut self, _: i64, _: u64) -> Result<u64, AuditError> {
            Ok(0)
        }
    }

    #[test]
    fn a_store_that_is_down_never_holds_the_caller_and_what_overflows_is_counted() {
        let store = Flaky::default();
        store.down.store(true, Ordering::SeqCst);
        let a = Auditor::with_capacity(Box::new(store.clone()), Retention::default(), 10);
        let dropped = counters().dropped.get();
        let started = Instant::now();
        for i in 0..100 {
            a.record(entry(i, "c", "s", i));
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "recording waited for the store"
        );
        // The writer holds one batch, the buffer ten more: the rest dropped.
        assert!(counters().dropped.get() > dropped);
        store.down.store(false, Ordering::SeqCst);
        assert!(a.flush(Duration::from_secs(30)), "what was kept is written");
        let kept = store.kept.lock().unwrap().len();
        assert!((1..100).contains(&kept), "{kept} kept");
    }

    #[test]
    fn every_record_handed_over_is_written_in_order() {
        let store = Flaky::default();
        let a = Auditor::start(Box::new(store.clone()), Retention::default());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let a = a.clone();
                std::thread::spawn(move || {
                    for i in 0..500 {
                        a.record(entry(t * 1000 + i, "c", "s", t * 1000 + i));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert!(a.flush(Duration::from_secs(30)));
        let kept = store.kept.lock().unwrap();
        assert_eq!(kept.len(), 2000);
        for t in 0..4 {
            let mine: Vec<i64> = kept
                .iter()
                .filter(|r| r.at_ms / 1000 == t)
                .map(|r| r.at_ms)
                .collect();
            assert!(
                mine.windows(2).all(|w| w[0] < w[1]),
                "thread {t} out of order"
            );
        }
    }

    #[test]
    fn a_stream_of_calls_wakes_the_writer_per_batch_not_per_call() {
        let store = Flaky::default();
        let a = Auditor::start(Box::new(store.clone()), Retention::default());
        let started = Instant::now();
        for i in 0..100 {
            a.record(entry(i, "c", "s", i));
            std::thread::sleep(Duration::from_millis(2));
        }
        let took = started.elapsed();
        assert!(a.flush(Duration::from_secs(30)));
        assert_eq!(store.kept.lock().unwrap().len(), 100);
        let wakes = a.handle.0.lock().wakes;
        // One wake for the first call of a batch, one when its gathering
        // time is up, and the flush's: not one per call.
        let periods = (took.as_millis() / GATHER.as_millis()) as u64 + 1;
        assert!(
            wakes <= 2 * periods + 2,
            "{wakes} wake-ups for 100 calls over {took:?}"
        );
    }

    #[test]
    fn when_the_last_handle_goes_the_writer_writes_what_is_left_and_ends() {
        let store = Flaky::default();
        let a = Auditor::start(Box::new(store.clone()), Retention::default());
        let shared = a.handle.0.clone();
        for i in 0..10 {
            a.record(entry(i, "c", "s", i));
        }
        drop(a);
        // The writer holds the last reference once it has ended.
        let deadline = Instant::now() + Duration::from_secs(30);
        while Arc::strong_count(&shared) > 1 {
            assert!(Instant::now() < deadline, "the writer never ended");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(store.kept.lock().unwrap().len(), 10);
    }
}
