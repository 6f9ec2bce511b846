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
//!
//! The session is encrypted as the URL's `sslmode` asks ([`super::pg_tls`]:
//! TLS when the server offers it by default; `verify-full` with
//! `sslrootcert` checks the server). Every statement and every answer is
//! bounded in time ([`super::pg_sql::STATEMENT_TIMEOUT`], [`ANSWER_LIMIT`]),
//! so a script's `store.set` ends, with an error it can catch, within its
//! callback's budget whatever the database or the link does.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing::info;

use super::StoreError;
use super::backend::{Backend, InstanceId, Row};
use super::pg_link::Link;
use super::pg_sql::{ANSWER_LIMIT, Job, Queued, Reply, Write, connect};
use super::pg_tls;

/// How long connecting may take before the attempt counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A link that stops answering is given up after about this long (TCP
/// keepalives and the user timeout), so the connection's thread is not
/// held for the kernel's default of minutes to hours.
const DEAD_LINK: Duration = Duration::from_secs(5);

/// The store in a PostgreSQL database (table `xmacro_entries`).
#[derive(Debug)]
pub struct PgBackend {
    what: String,
    jobs: Mutex<Sender<Queued>>,
    taken: Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<String>>>,
    up: Arc<AtomicBool>,
    /// Jobs handed to the connection's thread so far (round trips, bar
    /// reruns after a reconnect).
    asked: AtomicU64,
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
        let fail = |why: String| StoreError::new(what.clone(), why);
        let (config, connector, tls) = session(target)?;
        let (ready_tx, ready_rx) = channel();
        let (jobs, rx) = channel();
        let (report, taken) = tokio::sync::mpsc::unbounded_channel();
        let thread_what = what.clone();
        let up = Arc::new(AtomicBool::new(true));
        let link_up = up.clone();
        std::thread::Builder::new()
            .name("xmacro-postgres".into())
            .spawn(move || match connect(&config, &connector) {
                Ok(client) => {
                    let _ = ready_tx.send(Ok(()));
                    Link::new(config, connector, thread_what, client, report, link_up).serve(rx);
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
        info!("{what}: connected; {}", pg_tls::describe(&tls));
        Ok(PgBackend {
            what,
            jobs: Mutex::new(jobs),
            taken: Mutex::new(Some(taken)),
            up,
            asked: AtomicU64::new(0),
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

    /// Hands a job to the connection's thread and waits for its answer,
    /// at most [`ANSWER_LIMIT`].
    fn ask<T>(&self, job: impl FnOnce(Reply<T>) -> Job) -> Result<T, StoreError> {
        let fail = |why: String| StoreError::new(self.what.clone(), why);
        let (tx, rx) = channel();
        let queued = Queued::new(job(tx));
        let progress = queued.progress.clone();
        self.asked.fetch_add(1, Ordering::Relaxed);
        self.jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(queued)
            .map_err(|_| fail("the connection is closed".into()))?;
        match rx.recv_timeout(ANSWER_LIMIT) {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(f)) => Err(StoreError {
                maybe_written: f.maybe_written,
                ..fail(f.why)
            }),
            Err(RecvTimeoutError::Disconnected) => Err(fail("the connection is closed".into())),
            Err(RecvTimeoutError::Timeout) if progress.abandon() => Err(fail(format!(
                "no answer from the database within {}s (the connection is busy or stalled); nothing was written",
                ANSWER_LIMIT.as_secs()
            ))),
            Err(RecvTimeoutError::Timeout) => Err(StoreError {
                maybe_written: true,
                ..fail(format!(
                    "no answer from the database within {}s of sending it (a stalled link or standby?); it may have been written: the key is read again once the database answers",
                    ANSWER_LIMIT.as_secs()
                ))
            }),
        }
    }

    /// Runs `f` on the connection's thread (again after a reconnect if the
    /// connection went while it ran) and returns what it returned.
    pub(super) fn call<T: Send + 'static>(
        &self,
        mut f: impl FnMut(&mut postgres::Client) -> Result<T, postgres::Error> + Send + 'static,
    ) -> Result<T, StoreError> {
        let slot = Arc::new(Mutex::new(None));
        let out = slot.clone();
        let call: super::pg_sql::Call = Box::new(move |client| {
            let v = f(client)?;
            *out.lock().unwrap_or_else(|p| p.into_inner()) = Some(v);
            Ok(())
        });
        self.ask(|r| Job::Call(call, r))?;
        let v = slot.lock().unwrap_or_else(|p| p.into_inner()).take();
        v.ok_or_else(|| StoreError::new(self.what.clone(), "no answer"))
    }

    /// Jobs handed to the connection's thread so far: each one round trip.
    #[cfg(test)]
    pub(crate) fn round_trips(&self) -> u64 {
        self.asked.load(Ordering::Relaxed)
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
    fn ready(&self) -> bool {
        self.is_up()
    }

    fn load(&self, id: &InstanceId) -> Result<Vec<Row>, StoreError> {
        self.ask(|r| Job::Load(id.clone(), r))
    }

    fn load_many(&self, ids: &[InstanceId]) -> Result<Vec<Vec<Row>>, StoreError> {
        let ids = ids.to_vec();
        self.call(move |client| super::pg_sql::load_many(client, &ids))
    }

    fn put(&self, id: &InstanceId, key: &str, value: &str) -> Result<(), StoreError> {
        self.ask(|r| Job::Write(Write::Put(id.clone(), key.into(), value.into()), r))
    }

    fn delete(&self, id: &InstanceId, key: &str) -> Result<(), StoreError> {
        self.ask(|r| Job::Write(Write::Delete(id.clone(), key.into()), r))
    }
}

/// The session settings of `target`: the URL as the client reads it, the
/// password and bounds, and TLS as its `sslmode` asks.
fn session(
    target: &PgTarget,
) -> Result<
    (
        postgres::Config,
        tokio_postgres_rustls::MakeRustlsConnect,
        pg_tls::PgTls,
    ),
    StoreError,
> {
    let what = format!("store database {}", target.url);
    let fail = |why: String| StoreError::new(what.clone(), why);
    let (url, tls) = pg_tls::split_url(&target.url).map_err(|e| fail(e.to_string()))?;
    let mut config: postgres::Config = url
        .parse()
        .map_err(|e: postgres::Error| fail(format!("not a PostgreSQL URL: {e}")))?;
    let connector = pg_tls::connector(&mut config, &tls).map_err(|e| fail(e.to_string()))?;
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
    if config.get_tcp_user_timeout().is_none() {
        config.tcp_user_timeout(DEAD_LINK);
    }
    config
        .keepalives(true)
        .keepalives_idle(DEAD_LINK / 2)
        .keepalives_interval(Duration::from_secs(1))
        .keepalives_retries(3);
    Ok((config, connector, tls))
}

/// A connection of its own to the store's database, set up as the
/// store's (TLS, password, bounded statements, the table made): for a
/// writer that must not queue behind the store, such as the audit trail.
pub fn connect_session(target: &PgTarget) -> Result<postgres::Client, StoreError> {
    let (config, connector, _) = session(target)?;
    connect(&config, &connector)
        .map_err(|why| StoreError::new(format!("store database {}", target.url), why))
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

/// A test target whose tables live in a schema of their own (`t_TAG_PID`),
/// made empty, in the test database.
#[cfg(test)]
pub(crate) fn fresh_test_target(url: &str, tag: &str) -> PgTarget {
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

#[cfg(test)]
mod tests {
    use super::*;

    use super::fresh_test_target as fresh;

    #[test]
    fn the_postgres_backend_meets_the_contract() {
        let Some(url) = test_url() else { return };
        let t = fresh(&url, "contract");
        super::super::contract::check(&|| Box::new(PgBackend::open(&t).unwrap()));
    }

    #[test]
    fn the_postgres_backend_reads_many_instances_in_one_round_trip() {
        let Some(url) = test_url() else { return };
        let t = fresh(&url, "bulk");
        super::super::contract::check_bulk(
            &|| PgBackend::open(&t).unwrap(),
            PgBackend::round_trips,
        );
    }

    #[test]
    fn the_postgres_backend_keeps_the_panel_records() {
        let Some(url) = test_url() else { return };
        let t = fresh(&url, "panels");
        super::super::contract::check_panels(&|| Box::new(PgBackend::open(&t).unwrap()));
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

    /// The test database with `extra` query parameters (and this test's
    /// schema, from `t`).
    fn with_query(t: &PgTarget, extra: &str) -> PgTarget {
        let sep = if t.url.contains('?') { '&' } else { '?' };
        PgTarget {
            url: format!("{}{sep}{extra}", t.url),
            ..t.clone()
        }
    }

    /// An administrator's session on the test database (no TLS).
    fn admin(url: &str) -> postgres::Client {
        let c: postgres::Config = url.parse().unwrap();
        c.connect(postgres::NoTls).unwrap()
    }

    /// The CA that signed the test server's certificate (`.ci/postgres`
    /// makes one and names it as the cluster's `ssl_ca_file`), if the
    /// server offers TLS.
    fn server_ca(url: &str) -> Option<String> {
        let mut a = admin(url);
        let on: String = a.query_one("SHOW ssl", &[]).unwrap().get(0);
        let ca: String = a.query_one("SHOW ssl_ca_file", &[]).unwrap().get(0);
        if on == "on" && !ca.is_empty() {
            return Some(ca);
        }
        assert!(
            std::env::var_os("CI").is_none(),
            "the test PostgreSQL offers no TLS: start it with .ci/postgres"
        );
        eprintln!("skipped: the test PostgreSQL offers no TLS (start it with .ci/postgres)");
        None
    }

    /// Whether the session of `app` is encrypted, as the server sees it.
    fn session_ssl(url: &str, app: &str) -> bool {
        admin(url)
            .query_one(
                "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name = $1",
                &[&app],
            )
            .unwrap()
            .get(0)
    }

    #[test]
    fn sessions_are_encrypted_as_sslmode_asks_and_checked_against_the_ca() {
        let Some(url) = test_url() else { return };
        let Some(ca) = server_ca(&url) else { return };
        let t = fresh(&url, "tls");
        let n = std::sync::atomic::AtomicUsize::new(0);
        let encrypted = |target: &PgTarget| -> Result<bool, String> {
            let app = format!(
                "ut_tls_{}_{}",
                std::process::id(),
                n.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            );
            let target = with_query(target, &format!("application_name={app}"));
            let b = PgBackend::open(&target).map_err(|e| e.to_string())?;
            b.put(&InstanceId::new("c", "s"), "k", "1")
                .map_err(|e| e.to_string())?;
            Ok(session_ssl(&url, &app))
        };
        assert_eq!(encrypted(&t), Ok(true), "TLS the server offers is used");
        for (mode, want) in [
            ("sslmode=prefer".to_string(), true),
            ("sslmode=require".to_string(), true),
            ("sslmode=disable".to_string(), false),
            (format!("sslmode=verify-ca&sslrootcert={ca}"), true),
            (format!("sslmode=verify-full&sslrootcert={ca}"), true),
        ] {
            assert_eq!(encrypted(&with_query(&t, &mode)), Ok(want), "{mode}");
        }

        // A name the certificate does not hold (reached by its address):
        // verify-ca takes it, verify-full refuses it and says why.
        let port = url
            .split(':')
            .next_back()
            .unwrap()
            .split('/')
            .next()
            .unwrap();
        let misnamed = PgTarget {
            url: t.url.replace(
                &format!("127.0.0.1:{port}"),
                &format!("misnamed.invalid:{port}"),
            ),
            ..t.clone()
        };
        let misnamed = with_query(&misnamed, "hostaddr=127.0.0.1");
        let ok = with_query(&misnamed, &format!("sslmode=verify-ca&sslrootcert={ca}"));
        assert_eq!(encrypted(&ok), Ok(true));
        let refused = with_query(&misnamed, &format!("sslmode=verify-full&sslrootcert={ca}"));
        let e = encrypted(&refused).unwrap_err();
        assert!(
            e.contains("misnamed.invalid") && e.contains("certificate"),
            "{e}"
        );

        // A CA that did not sign the server's certificate.
        let other =
            std::env::temp_dir().join(format!("xmacro-other-ca-{}.pem", std::process::id()));
        let stranger = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        std::fs::write(&other, stranger.cert.pem()).unwrap();
        let wrong_ca = with_query(
            &t,
            &format!("sslmode=verify-ca&sslrootcert={}", other.display()),
        );
        let e = encrypted(&wrong_ca).unwrap_err();
        assert!(
            e.contains("certificate") && e.contains("not trusted"),
            "{e}"
        );
        let _ = std::fs::remove_file(&other);

        // The whole contract, over a verified session.
        let verified = with_query(&t, &format!("sslmode=verify-full&sslrootcert={ca}"));
        let t2 = fresh(&url, "tls_contract");
        let verified = PgTarget {
            options: t2.options.clone(),
            ..verified
        };
        super::super::contract::check(&|| Box::new(PgBackend::open(&verified).unwrap()));
    }

    #[test]
    fn a_write_blocked_by_a_lock_ends_in_an_error_within_the_callback_budget() {
        let Some(url) = test_url() else { return };
        let t = fresh(&url, "blocked");
        let b = Arc::new(PgBackend::open(&t).unwrap());
        let id = InstanceId::new("c", "s");
        b.put(&id, "k", "1").unwrap();
        let mut c: postgres::Config = url.parse().unwrap();
        c.options(t.options.as_deref().unwrap());
        let mut holder = c.connect(postgres::NoTls).unwrap();
        let mut tx = holder.transaction().unwrap();
        tx.batch_execute("LOCK TABLE xmacro_entries IN ACCESS EXCLUSIVE MODE")
            .unwrap();
        let started = std::time::Instant::now();
        let (b2, id2) = (b.clone(), id.clone());
        let got = crate::files::testing::within(30, move || {
            b2.put(&id2, "k", "2").map_err(|e| e.to_string())
        });
        let waited = started.elapsed();
        let e = got
            .expect("a write blocked by a lock never ended")
            .unwrap_err();
        assert!(
            waited < Duration::from_secs(5),
            "ended after {waited:?}, past a callback's 5 s budget: {e}"
        );
        assert!(
            e.contains("statement timeout") && e.contains("nothing was written"),
            "{e}"
        );
        tx.rollback().unwrap();
        // The connection is still good: the next write lands.
        b.put(&id, "k", "3").unwrap();
        assert_eq!(b.load(&id).unwrap()[0].value, b"3");
    }

    /// A TCP proxy to the test server that, once armed, lets the client's
    /// next COMMIT through, then cuts the link before the answer and turns
    /// connections away for `outage`.
    struct Cutter {
        addr: std::net::SocketAddr,
        state: Arc<Mutex<CutState>>,
    }

    #[derive(Clone, Copy, PartialEq)]
    enum CutState {
        Pass,
        Armed(Duration),
        Down(std::time::Instant),
    }

    impl Cutter {
        fn start(server: &str) -> Cutter {
            use std::io::{Read, Write};
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let state = Arc::new(Mutex::new(CutState::Pass));
            let (st, server) = (state.clone(), server.to_string());
            std::thread::spawn(move || {
                for client in listener.incoming().flatten() {
                    let now = *st.lock().unwrap();
                    if let CutState::Down(until) = now {
                        if std::time::Instant::now() < until {
                            continue;
                        }
                        *st.lock().unwrap() = CutState::Pass;
                    }
                    let Ok(upstream) = std::net::TcpStream::connect(&server) else {
                        continue;
                    };
                    let (mut cr, mut cw) = (client.try_clone().unwrap(), client);
                    let (mut sr, mut sw) = (upstream.try_clone().unwrap(), upstream);
                    let st1 = st.clone();
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 16384];
                        while let Ok(n) = cr.read(&mut buf) {
                            if n == 0 {
                                break;
                            }
                            let chunk = &buf[..n];
                            let commit = chunk.windows(7).any(|w| w == b"COMMIT\0");
                            let mut s = st1.lock().unwrap();
                            if let (CutState::Armed(outage), true) = (*s, commit) {
                                *s = CutState::Down(std::time::Instant::now() + outage);
                                drop(s);
                                let _ = sw.write_all(chunk);
                                let _ = sw.flush();
                                // Let the server read it before the link goes.
                                std::thread::sleep(Duration::from_millis(200));
                                let _ = cr.shutdown(std::net::Shutdown::Both);
                                let _ = sw.shutdown(std::net::Shutdown::Both);
                                break;
                            }
                            drop(s);
                            if sw.write_all(chunk).is_err() {
                                break;
                            }
                        }
                        let _ = sw.shutdown(std::net::Shutdown::Both);
                    });
                    let st2 = st.clone();
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 16384];
                        while let Ok(n) = sr.read(&mut buf) {
                            let down = matches!(*st2.lock().unwrap(), CutState::Down(_));
                            if n == 0 || down || cw.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = cw.shutdown(std::net::Shutdown::Both);
                    });
                }
            });
            Cutter { addr, state }
        }

        fn arm(&self, outage: Duration) {
            *self.state.lock().unwrap() = CutState::Armed(outage);
        }
    }

    #[test]
    fn a_write_cut_off_after_its_commit_says_it_may_have_been_written_and_is_read_again() {
        let Some(url) = test_url() else { return };
        let t = fresh(&url, "cut");
        let server = url.split('@').nth(1).unwrap().split('/').next().unwrap();
        let cutter = Cutter::start(server);
        let through = PgTarget {
            url: with_query(
                &PgTarget {
                    url: url.replace(server, &cutter.addr.to_string()),
                    ..t.clone()
                },
                "sslmode=disable",
            )
            .url,
            ..t.clone()
        };
        let backend: Arc<dyn Backend> = Arc::new(PgBackend::open(&through).unwrap());
        let id = InstanceId::new("c", "s");
        let store =
            super::super::Store::load(id.clone(), backend, super::super::DEFAULT_QUOTA).unwrap();
        store.set("before", serde_json::json!(1)).unwrap();
        // The COMMIT reaches the server; the answer never comes back, and
        // the database stays out of reach past the 3 s a write waits.
        cutter.arm(Duration::from_millis(4500));
        let e = store
            .set("k", serde_json::json!("v"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("may have been written"), "{e}");
        assert!(!e.contains("nothing was written"), "{e}");
        // It was: the row is there, and the store reads the key again once
        // the database is back.
        let mut a = admin(&url);
        let there: i64 = a
            .query_one(
                &format!(
                    "SELECT count(*) FROM {}.xmacro_entries WHERE key = 'k'",
                    t.options.as_deref().unwrap().rsplit('=').next().unwrap()
                ),
                &[],
            )
            .unwrap()
            .get(0);
        assert_eq!(there, 1, "the COMMIT went through");
        let start = std::time::Instant::now();
        while store.get("k").is_none() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the store never read the key again"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(store.get("k"), Some(serde_json::json!("v")));
        assert_eq!(store.keys(), ["before", "k"]);
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
