//! The bounded buffer between scripts and the audit table: a script hands
//! a record over without waiting (a full buffer drops the record, counts
//! it in `xmacro_audit_dropped_total` and says so in the log once per
//! spell of overflow), and one writer thread stores records in batches, so
//! a slow or unreachable database never holds a script. While the
//! database fails, the writer keeps its batch and tries again with a
//! growing pause. It also prunes: records older than `audit_keep` and the
//! oldest beyond `audit_max_records` go when it starts and every hour.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use tracing::{info, warn};

use super::record::Record;
use super::{AuditStore, DEFAULT_KEEP, DEFAULT_MAX_RECORDS, counters, now_ms};

/// Records the buffer holds before it drops new ones.
pub const CAPACITY: usize = 10_000;
/// Records written in one transaction at most.
const BATCH: usize = 1_000;
/// How long the writer waits for more records to share a commit.
const GATHER: Duration = Duration::from_millis(20);
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
struct Progress {
    /// Records handed over (not dropped).
    sent: u64,
    /// Records written (or given up with the writer).
    done: u64,
}

#[derive(Debug, Default)]
struct Shared {
    progress: Mutex<Progress>,
    moved: Condvar,
    /// Set while a spell of overflow has been logged.
    overflowing: AtomicBool,
}

/// A handle scripts record through; cheap to clone.
#[derive(Debug, Clone)]
pub struct Auditor {
    tx: SyncSender<Record>,
    shared: Arc<Shared>,
}

impl Auditor {
    /// Starts the writer thread over `store` with a buffer of [`CAPACITY`].
    pub fn start(store: Box<dyn AuditStore>, retention: Retention) -> Auditor {
        Auditor::with_capacity(store, retention, CAPACITY)
    }

    /// As [`Auditor::start`], with a buffer of `capacity` records.
    pub fn with_capacity(
        store: Box<dyn AuditStore>,
        retention: Retention,
        capacity: usize,
    ) -> Auditor {
        let (tx, rx) = sync_channel(capacity.max(1));
        let shared = Arc::new(Shared::default());
        let writer = shared.clone();
        std::thread::Builder::new()
            .name("xmacro-audit".into())
            .spawn(move || write_loop(store, rx, &writer, retention))
            .expect("cannot start the audit writer thread");
        Auditor { tx, shared }
    }

    /// Hands a record to the writer, never waiting: if the buffer is full
    /// it is dropped and counted.
    pub fn record(&self, r: Record) {
        let mut p = self
            .shared
            .progress
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match self.tx.try_send(r) {
            Ok(()) => p.sent += 1,
            Err(TrySendError::Full(_)) => {
                drop(p);
                counters().dropped.inc();
                if !self.shared.overflowing.swap(true, Ordering::SeqCst) {
                    warn!(
                        "audit trail: the buffer of records waiting for the database is full (the database is slow or unreachable); records are dropped meanwhile and counted in xmacro_audit_dropped_total"
                    );
                }
            }
            Err(TrySendError::Disconnected(_)) => {
                drop(p);
                counters().dropped.inc();
            }
        }
    }

    /// Waits until every record handed over before this call is written,
    /// at most `timeout`: whether it was.
    pub fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut p = self
            .shared
            .progress
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let want = p.sent;
        while p.done < want {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            p = self
                .shared
                .moved
                .wait_timeout(p, left)
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

fn write_loop(
    mut store: Box<dyn AuditStore>,
    rx: Receiver<Record>,
    shared: &Shared,
    retention: Retention,
) {
    prune(store.as_mut(), retention);
    let mut pruned = Instant::now();
    let mut batch: Vec<Record> = Vec::with_capacity(BATCH);
    let mut failing: Option<Duration> = None;
    let mut open = true;
    loop {
        if batch.is_empty() {
            if !open {
                return;
            }
            match rx.recv_timeout(PRUNE_EVERY) {
                Ok(r) => batch.push(r),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => open = false,
            }
        }
        // Records that come within a moment of the first share its commit:
        // one transaction per burst, not per record.
        let gather = Instant::now() + GATHER;
        while batch.len() < BATCH && open {
            let left = gather.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(r) => batch.push(r),
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => open = false,
            }
        }
        if !batch.is_empty() {
            match store.append(&batch) {
                Ok(()) => {
                    if failing.take().is_some() {
                        info!("audit trail: writing to the database again");
                    }
                    let n = batch.len() as u64;
                    batch.clear();
                    let mut p = shared.progress.lock().unwrap_or_else(|p| p.into_inner());
                    p.done += n;
                    shared.moved.notify_all();
                    drop(p);
                    shared.overflowing.store(false, Ordering::SeqCst);
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
        if pruned.elapsed() >= PRUNE_EVERY {
            prune(store.as_mut(), retention);
            pruned = Instant::now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::contract::sample;
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
            a.record(sample(i, "c", "s", i));
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
                        a.record(sample(t * 1000 + i, "c", "s", t * 1000 + i));
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
}
