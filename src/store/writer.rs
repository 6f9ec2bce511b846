//! Group commit for the SQLite store, run by the callers themselves. A
//! caller that finds no commit under way commits its change at once, on
//! its own thread, together with every change queued meanwhile; callers
//! that arrive while a commit is under way queue theirs and wait for the
//! next one. So a lone write costs one transaction and no thread hop, a
//! thousand instances writing on the same event share a handful of fsyncs
//! instead of queueing for a thousand, and each caller returns only once
//! its own change is durable: committed, and its log still where SQLite
//! looks for it ([`Connections::keep_log`], checked after every commit and
//! every few seconds by a watcher thread).

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior, params};

use super::backend::InstanceId;
use super::sqlite_log::Connections;

/// How often an idle store checks that its log is still there.
const LOG_CHECK_EVERY: Duration = Duration::from_secs(2);

/// One change to the entries table.
pub enum Change {
    Put {
        id: InstanceId,
        key: String,
        value: String,
    },
    Delete {
        id: InstanceId,
        key: String,
    },
}

type Outcome = Result<(), String>;

#[derive(Default)]
struct Queue {
    waiting: Vec<(u64, Change)>,
    done: HashMap<u64, Outcome>,
    committing: bool,
    next: u64,
}

/// The writing connection and the changes waiting for it.
pub struct Writer {
    conn: Mutex<Connection>,
    /// The reading connection, reopened with this one.
    reader: Arc<Mutex<Connection>>,
    log: Connections,
    queue: Mutex<Queue>,
    committed: Condvar,
    commits: AtomicU64,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Writer({} commits)", self.commits())
    }
}

impl Writer {
    /// Writes through `conn`, keeping the log of `file` (read through
    /// `reader`) in place; a thread checks it while the writer lives.
    pub fn new(
        conn: Connection,
        reader: Arc<Mutex<Connection>>,
        file: &std::path::Path,
    ) -> Arc<Writer> {
        let writer = Arc::new(Writer {
            conn: Mutex::new(conn),
            reader,
            log: Connections::new(file),
            queue: Mutex::default(),
            committed: Condvar::new(),
            commits: AtomicU64::new(0),
        });
        let weak = Arc::downgrade(&writer);
        let _ = std::thread::Builder::new()
            .name("xmacro-store-log".into())
            .spawn(move || watch(weak));
        writer
    }

    /// Checks the log now (see [`Connections::keep_log`]).
    fn keep_log(&self) {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let _ = self.log.keep_log(&mut conn, &self.reader);
    }

    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies `change` and returns once it is durable.
    pub fn apply(&self, change: Change) -> Outcome {
        let mut q = self.queue();
        let ticket = q.next;
        q.next += 1;
        q.waiting.push((ticket, change));
        loop {
            if let Some(outcome) = q.done.remove(&ticket) {
                return outcome;
            }
            if q.committing {
                q = self.committed.wait(q).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            q.committing = true;
            let batch = std::mem::take(&mut q.waiting);
            drop(q);
            let tickets: Vec<u64> = batch.iter().map(|(t, _)| *t).collect();
            let outcomes = catch_unwind(AssertUnwindSafe(|| self.commit_batch(batch)))
                .unwrap_or_else(|_| {
                    let why = Err("the store's write failed unexpectedly".to_string());
                    tickets.iter().map(|t| (*t, why.clone())).collect()
                });
            q = self.queue();
            q.committing = false;
            q.done.extend(outcomes);
            self.committed.notify_all();
        }
    }

    /// Commits `batch` in one transaction or, if that fails, each change
    /// on its own (so one failing change does not fail the others).
    fn commit_batch(&self, batch: Vec<(u64, Change)>) -> Vec<(u64, Outcome)> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        // Not into a log that is gone (nor after failing to replace it).
        if let Err(why) = self.log.keep_log(&mut conn, &self.reader) {
            return batch
                .into_iter()
                .map(|(t, _)| (t, Err(why.clone())))
                .collect();
        }
        let outcomes: Vec<(u64, Outcome)> =
            if batch.len() > 1 && commit(&mut conn, batch.iter().map(|(_, c)| c)).is_ok() {
                self.commits.fetch_add(1, Ordering::Relaxed);
                batch.into_iter().map(|(t, _)| (t, Ok(()))).collect()
            } else {
                batch
                    .into_iter()
                    .map(|(t, change)| {
                        let outcome = commit(&mut conn, std::iter::once(&change));
                        if outcome.is_ok() {
                            self.commits.fetch_add(1, Ordering::Relaxed);
                        }
                        (t, outcome.map_err(|e| e.to_string()))
                    })
                    .collect()
            };
        // Acknowledged only once durable where SQLite will look for it.
        match self.log.keep_log(&mut conn, &self.reader) {
            Ok(()) => outcomes,
            Err(why) => outcomes
                .into_iter()
                .map(|(t, o)| {
                    let o = o.and(Err(format!(
                        "committed to a deleted log, which may be lost: {why}"
                    )));
                    (t, o)
                })
                .collect(),
        }
    }

    /// Transactions committed so far.
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }
}

/// Checks the log of a writer every [`LOG_CHECK_EVERY`] while it lives,
/// so a log deleted while nothing is written is noticed too.
fn watch(writer: Weak<Writer>) {
    loop {
        std::thread::sleep(LOG_CHECK_EVERY);
        let Some(w) = writer.upgrade() else {
            return;
        };
        w.keep_log();
    }
}

fn commit<'a>(
    conn: &mut Connection,
    changes: impl Iterator<Item = &'a Change>,
) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for change in changes {
        match change {
            Change::Put { id, key, value } => tx
                .prepare_cached(
                    "INSERT INTO entries (codec, script, key, value) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (codec, script, key) DO UPDATE SET value = excluded.value",
                )?
                .execute(params![id.codec, id.script, key, value])?,
            Change::Delete { id, key } => tx
                .prepare_cached(
                    "DELETE FROM entries WHERE codec = ?1 AND script = ?2 AND key = ?3",
                )?
                .execute(params![id.codec, id.script, key])?,
        };
    }
    tx.commit()
}
