//! The store on PostgreSQL, for a fleet sharded across hosts: any host can
//! reach it, so a codec that moves to another host keeps its scripts'
//! state. One connection per host, owned by a thread of its own (the
//! synchronous `postgres` client blocks, and must not run on the async
//! runtime): callers hand it jobs and wait for the answer. Writes that
//! queue up meanwhile share one transaction, and a write is acknowledged
//! only after PostgreSQL committed it (`synchronous_commit` as the server
//! has it, on by default).
//!
//! The same session holds the per-codec advisory locks: a host acts for a
//! codec only while it holds that codec's lock, so two hosts never both
//! run scripts for one codec. The locks belong to the session, so they go
//! when the process dies (even by `kill -9`). A lost connection is ridden
//! out by the thread ([`super::pg_link`]): it reconnects, takes its locks
//! again, and reports codecs another host took meanwhile
//! ([`PgBackend::taken_elsewhere`]) so the host stops serving them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::StoreError;
use super::backend::{Backend, InstanceId, Row};
use super::pg_link::Link;
use super::pg_sql::{Job, Queued, Reply, Write, connect};

/// How long connecting may take before the attempt counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The store in a PostgreSQL database (table `xmacro_entries`).
#[derive(Debug)]
pub struct PgBackend {
    what: String,
    jobs: Mutex<Sender<Queued>>,
    taken: Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<String>>>,
    up: Arc<AtomicBool>,
}

/// Where a PostgreSQL store is and how to log in.
#[derive(Clone)]
pub struct PgTarget {
    /// `postgres://user@host[:port]/db[?options]`, without a password.
    pub url: String,
    /// From `password_env` or `password_file`; never logged.
    pub password: Option<String>,
    /// Extra session options (`-c search_path=...`), for tests.
    pub options: Option<String>,
}

impl std::fmt::Debug for PgTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PgTarget({})", self.url)
    }
}

impl PgTarget {
    pub fn new(url: &str) -> PgTarget {
        PgTarget {
            url: url.to_string(),
            password: None,
            options: None,
        }
    }
}

impl PgBackend {
    /// Connects, creates the table if missing, and starts the connection's
    /// thread.
    pub fn open(target: &PgTarget) -> Result<PgBackend, StoreError> {
        let what = format!("store database {}", target.url);
        let fail = |why: String| StoreError {
            what: what.clone(),
            why,
        };
        let mut config: postgres::Config = target
            .url
            .parse()
            .map_err(|e: postgres::Error| fail(format!("not a PostgreSQL URL: {e}")))?;
        if let Some(p) = &target.password {
            config.password(p);
        }
        if let Some(o) = &target.options {
            config.options(o);
        }
        if config.get_application_name().is_none() {
            config.application_name("xmacro");
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let (ready_tx, ready_rx) = channel();
        let (jobs, rx) = channel();
        let (report, taken) = tokio::sync::mpsc::unbounded_channel();
        let thread_what = what.clone();
        let up = Arc::new(AtomicBool::new(true));
        let link_up = up.clone();
        std::thread::Builder::new()
            .name("xmacro-postgres".into())
            .spawn(move || match connect(&config) {
                Ok(client) => {
                    let _ = ready_tx.send(Ok(()));
                    Link::new(config, thread_what, client, report, link_up).serve(rx);
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                }
            })
            .map_err(|e| fail(format!("cannot start its thread: {e}")))?;
        ready_rx
            .recv()
            .map_err(|_| fail("its thread ended".into()))?
            .map_err(fail)?;
        Ok(PgBackend {
            what,
            jobs: Mutex::new(jobs),
            taken: Mutex::new(Some(taken)),
            up,
        })
    }

    /// Whether the connection is up now (not reconnecting).
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::SeqCst)
    }

    /// The names of codecs whose lock another host took while this host's
    /// connection was down (this host must stop serving them); the first
    /// call gets the receiver, later ones `None`.
    pub fn taken_elsewhere(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<String>> {
        self.taken.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    fn ask<T>(&self, job: impl FnOnce(Reply<T>) -> Job) -> Result<T, StoreError> {
        let fail = |why: String| StoreError {
            what: self.what.clone(),
            why,
        };
        let (tx, rx) = channel();
        self.jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(Queued::new(job(tx)))
            .map_err(|_| fail("the connection is closed".into()))?;
        rx.recv()
            .map_err(|_| fail("the connection is closed".into()))?
            .map_err(fail)
    }

    /// Takes the advisory lock of `codec` for this session, if no other
    /// session holds it: `Ok(false)` when one does.
    pub fn try_lock_codec(&self, codec: &str) -> Result<bool, StoreError> {
        Ok(self.try_lock_codecs(&[codec.to_string()])?[0])
    }

    /// Takes the advisory locks of `codecs` that no other session holds,
    /// in one round trip: whether each was taken, in order.
    pub fn try_lock_codecs(&self, codecs: &[String]) -> Result<Vec<bool>, StoreError> {
        self.ask(|r| Job::TryLock(codecs.to_vec(), r))
    }
}

impl Backend for PgBackend {
    fn load(&self, id: &InstanceId) -> Result<Vec<Row>, StoreError> {
        self.ask(|r| Job::Load(id.clone(), r))
    }

    fn put(&self, id: &InstanceId, key: &str, value: &str) -> Result<(), StoreError> {
        self.ask(|r| Job::Write(Write::Put(id.clone(), key.into(), value.into()), r))
    }

    fn delete(&self, id: &InstanceId, key: &str) -> Result<(), StoreError> {
        self.ask(|r| Job::Write(Write::Delete(id.clone(), key.into()), r))
    }
}

/// The test database from `XMACRO_TEST_POSTGRES`, or `None` (with a note)
/// outside CI; in CI (`CI` set) its absence fails the test.
pub fn test_url() -> Option<String> {
    match std::env::var("XMACRO_TEST_POSTGRES") {
        Ok(u) if !u.is_empty() => Some(u),
        _ if std::env::var_os("CI").is_some() => {
            panic!("CI is set but XMACRO_TEST_POSTGRES is not: .ci/run starts PostgreSQL")
        }
        _ => {
            eprintln!("skipped: no PostgreSQL (export XMACRO_TEST_POSTGRES=$(.ci/postgres))");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A target whose tables live in a schema of their own, made empty.
    fn fresh(url: &str, tag: &str) -> PgTarget {
        let schema = format!("t_{tag}_{}", std::process::id());
        let c: postgres::Config = url.parse().unwrap();
        let mut client = c.connect(postgres::NoTls).unwrap();
        client
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
            ))
            .unwrap();
        PgTarget {
            url: url.to_string(),
            password: None,
            options: Some(format!("-c search_path={schema}")),
        }
    }

    #[test]
    fn the_postgres_backend_meets_the_contract() {
        let Some(url) = test_url() else { return };
        let t = fresh(&url, "contract");
        super::super::contract::check(&|| Box::new(PgBackend::open(&t).unwrap()));
    }

    #[test]
    fn a_codec_lock_is_held_by_one_session_until_it_ends() {
        let Some(url) = test_url() else { return };
        let t = fresh(&url, "locks");
        let a = PgBackend::open(&t).unwrap();
        let b = PgBackend::open(&t).unwrap();
        assert!(a.try_lock_codec("room-1").unwrap());
        assert!(
            a.try_lock_codec("room-1").unwrap(),
            "re-entrant for its holder"
        );
        assert!(!b.try_lock_codec("room-1").unwrap());
        assert!(b.try_lock_codec("room-2").unwrap());
        let many = ["room-3", "room-1", "room-4"].map(String::from);
        assert_eq!(
            b.try_lock_codecs(&many).unwrap(),
            [true, false, true],
            "one round trip, answers in order"
        );
        drop(a);
        // The session ends when its thread sees the channel close; wait on it.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !b.try_lock_codec("room-1").unwrap() {
            assert!(std::time::Instant::now() < deadline, "lock never released");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    #[test]
    fn a_terminated_session_is_replaced_with_its_locks_and_no_write_is_lost() {
        let Some(url) = test_url() else { return };
        let app = format!("ut_relink_{}", std::process::id());
        let sep = if url.contains('?') { '&' } else { '?' };
        let mut t = fresh(&url, "relink");
        t.url = format!("{url}{sep}application_name={app}");
        let b = PgBackend::open(&t).unwrap();
        assert!(b.try_lock_codec("relink-room").unwrap());
        let id = InstanceId::new("relink-room", "s");
        b.put(&id, "before", "1").unwrap();
        let c: postgres::Config = url.parse().unwrap();
        let mut admin = c.connect(postgres::NoTls).unwrap();
        let ended: i64 = admin
            .query_one(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
                &[&app],
            )
            .unwrap()
            .get(0);
        assert_eq!(ended, 1);
        // The write finds the session gone (now or at the next ping),
        // reconnects, takes the lock again, and only then commits.
        b.put(&id, "after", "2").unwrap();
        let held: bool = admin
            .query_one(
                "SELECT pg_try_advisory_lock($1)",
                &[&super::super::lock_key("relink-room")],
            )
            .unwrap()
            .get(0);
        assert!(!held, "the lock was taken again by the new session");
        let mut keys: Vec<String> = b.load(&id).unwrap().into_iter().map(|r| r.key).collect();
        keys.sort();
        assert_eq!(keys, ["after", "before"]);
    }

    #[test]
    fn writes_from_many_threads_all_land() {
        let Some(url) = test_url() else { return };
        let t = fresh(&url, "many");
        let b = std::sync::Arc::new(PgBackend::open(&t).unwrap());
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let b = b.clone();
                std::thread::spawn(move || {
                    for k in 0..25 {
                        b.put(&InstanceId::new("c", &format!("s{i}")), &k.to_string(), "1")
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        drop(b);
        let b = PgBackend::open(&t).unwrap();
        for i in 0..8 {
            assert_eq!(
                b.load(&InstanceId::new("c", &format!("s{i}")))
                    .unwrap()
                    .len(),
                25
            );
        }
    }
}
