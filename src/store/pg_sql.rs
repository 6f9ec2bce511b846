//! The PostgreSQL store's statements and the jobs its connection thread
//! runs: connecting (and creating the table), taking codec locks, reading
//! an instance's entries, committing writes, and telling a lost
//! connection from a refused statement. Shared by the backend
//! ([`super::pg`]) and its connection thread ([`super::pg_link`]).
//!
//! Every statement is bounded ([`STATEMENT_TIMEOUT`], set on the session):
//! a write blocked by a lock another session holds ends in an error a
//! script can catch, inside a callback's budget, instead of holding every
//! script that writes. And a job knows whether it reached the server
//! ([`Progress`]), so a write whose answer never came is reported as one
//! that may have been made, not as refused.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use tokio_postgres_rustls::MakeRustlsConnect;
use tracing::warn;

use super::backend::{InstanceId, Row};

/// Taken (for the length of a transaction) while creating the table, so
/// hosts starting together do not race on `CREATE TABLE IF NOT EXISTS`.
const SETUP_LOCK: i64 = 0x786d_6163_726f_0001;

/// The rollout table ([`super::rollout`]), created with the entries'.
const ROLLOUT_TABLE: &str = "CREATE TABLE IF NOT EXISTS xmacro_rollouts (
     script     TEXT PRIMARY KEY,
     generation BIGINT NOT NULL,
     state      TEXT NOT NULL
 )";

/// How long a job waits for a lost connection to come back before it
/// fails (a script's `store.set` blocks that long at most): well inside a
/// callback's default wall-clock budget (5 s), so the script gets an
/// error it can catch rather than being stopped.
pub const OUTAGE_WAIT: Duration = Duration::from_secs(3);

/// The longest a statement may run on the server (`statement_timeout`):
/// inside a callback's 5 s budget, with room for the round trips.
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(3);

/// The longest a caller waits for any answer: past it the connection's
/// thread is held (a black-holed link, before the kernel gives up on it)
/// and the caller gets an error of its own.
pub const ANSWER_LIMIT: Duration = Duration::from_secs(4);

/// Why a job failed, and whether its write may have been made all the same
/// (it reached the server and its answer never came back).
#[derive(Debug, Clone)]
pub struct Failure {
    pub why: String,
    pub maybe_written: bool,
}

impl Failure {
    /// Refused: nothing was written.
    pub fn refused(why: String) -> Failure {
        Failure {
            why,
            maybe_written: false,
        }
    }
}

pub(super) type Reply<T> = Sender<Result<T, Failure>>;

/// What the connection's thread is asked to do.
pub(super) enum Job {
    Load(InstanceId, Reply<Vec<Row>>),
    Write(Write, Reply<()>),
    /// Takes the locks of these codecs: whether each was free.
    TryLock(Vec<String>, Reply<Vec<bool>>),
    /// Runs statements of a table beside the entries (rollouts, say): run
    /// again after a reconnect if the connection went while it ran.
    Call(Call, Reply<()>),
}

/// Statements a [`Job::Call`] runs; it keeps its own answer.
pub(super) type Call = Box<dyn FnMut(&mut postgres::Client) -> Result<(), postgres::Error> + Send>;

impl Job {
    /// Answers the job with an error.
    pub(super) fn fail(self, why: Failure) {
        match self {
            Job::Load(_, r) => drop(r.send(Err(why))),
            Job::Write(_, r) => drop(r.send(Err(why))),
            Job::TryLock(_, r) => drop(r.send(Err(why))),
            Job::Call(_, r) => drop(r.send(Err(why))),
        }
    }
}

pub(super) enum Write {
    Put(InstanceId, String, String),
    Delete(InstanceId, String),
}

impl Write {
    /// The codec whose entry this changes.
    pub(super) fn codec(&self) -> &str {
        match self {
            Write::Put(id, ..) | Write::Delete(id, _) => &id.codec,
        }
    }
}

/// Where a job is: waiting for the connection, sent to the server, or
/// given up by its caller before it was sent. Only a job that was never
/// sent can be said to have changed nothing once its caller stops waiting.
#[derive(Debug, Default)]
pub struct Progress(AtomicU8);

const WAITING: u8 = 0;
const SENT: u8 = 1;
const ABANDONED: u8 = 2;

impl Progress {
    /// Marks the job sent; `false` if its caller gave it up (skip it).
    pub fn send(&self) -> bool {
        match self
            .0
            .compare_exchange(WAITING, SENT, Ordering::SeqCst, Ordering::SeqCst)
        {
            Ok(_) => true,
            Err(now) => now == SENT,
        }
    }

    /// The caller stops waiting: `true` if the job was never sent (and now
    /// never will be).
    pub fn abandon(&self) -> bool {
        self.0
            .compare_exchange(WAITING, ABANDONED, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }

    /// Whether the job reached the server (it may have run there).
    pub fn was_sent(&self) -> bool {
        self.0.load(Ordering::SeqCst) == SENT
    }
}

/// A job, when it stops waiting for a lost connection, and how far it got.
pub struct Queued {
    pub job: Job,
    pub deadline: Instant,
    pub progress: Arc<Progress>,
}

impl Queued {
    pub fn new(job: Job) -> Queued {
        Queued {
            job,
            deadline: Instant::now() + OUTAGE_WAIT,
            progress: Arc::default(),
        }
    }
}

/// What running a job came to.
pub enum Ran {
    Done,
    /// The connection went while it ran: run these again after reconnecting.
    Lost(Vec<Queued>, String),
}

impl Ran {
    /// One job cut off by the loss `e`, to run again.
    pub fn again(job: Job, deadline: Instant, progress: Arc<Progress>, e: &postgres::Error) -> Ran {
        Ran::Lost(
            vec![Queued {
                job,
                deadline,
                progress,
            }],
            describe(e),
        )
    }
}

/// Advisory-lock key of a codec: 64 bits of SHA-256 of a prefixed name, so
/// 100,000 codecs do not collide and other users of the database's
/// advisory locks are not hit.
pub fn lock_key(codec: &str) -> i64 {
    use sha2::Digest;
    let d = sha2::Sha256::digest(format!("xmacro codec {codec}").as_bytes());
    i64::from_be_bytes(d[..8].try_into().expect("8 bytes"))
}

/// What a PostgreSQL error says, for a log or a script (never a password:
/// the client does not put it in its messages).
pub fn describe(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return db.message().to_string();
    }
    // The client's own errors keep their cause apart ("error performing
    // TLS handshake" says nothing of which certificate, or why).
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = c.source();
    }
    text
}

/// Whether a statement ran past [`STATEMENT_TIMEOUT`] (and was cancelled
/// by the server: nothing it did stays).
fn timed_out(e: &postgres::Error) -> bool {
    e.code() == Some(&postgres::error::SqlState::QUERY_CANCELED)
}

/// What a failed write says: why, and that nothing was written.
fn write_refused(e: &postgres::Error) -> Failure {
    if timed_out(e) {
        return Failure::refused(format!(
            "the database did not finish the write within {}s (statement timeout; a lock held by another session, or a stalled standby?): {}; nothing was written",
            STATEMENT_TIMEOUT.as_secs(),
            describe(e)
        ));
    }
    Failure::refused(format!("{}; nothing was written", describe(e)))
}

/// Connects (over `tls` as the config's `sslmode` asks), bounds every
/// statement of the session, and creates the table if missing.
pub(super) fn connect(
    config: &postgres::Config,
    tls: &MakeRustlsConnect,
) -> Result<postgres::Client, String> {
    let mut client = config
        .connect(tls.clone())
        .map_err(|e| format!("cannot connect: {}", describe(&e)))?;
    client
        .batch_execute(&format!(
            "SET statement_timeout = {}",
            STATEMENT_TIMEOUT.as_millis()
        ))
        .map_err(|e| describe(&e))?;
    let mut tx = client.transaction().map_err(|e| describe(&e))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SETUP_LOCK])
        .map_err(|e| describe(&e))?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS xmacro_entries (
             codec  TEXT NOT NULL,
             script TEXT NOT NULL,
             key    TEXT NOT NULL,
             value  TEXT NOT NULL,
             PRIMARY KEY (codec, script, key)
         )",
    )
    .map_err(|e| format!("cannot create the table xmacro_entries: {}", describe(&e)))?;
    tx.batch_execute(ROLLOUT_TABLE)
        .map_err(|e| format!("cannot create the table xmacro_rollouts: {}", describe(&e)))?;
    tx.commit().map_err(|e| describe(&e))?;
    Ok(client)
}

/// Takes the advisory locks of `codecs` that are free, on this session, in
/// one statement (10,000 locks take a fraction of a second this way, and
/// tens of seconds one round trip at a time): whether each was taken.
pub(super) fn try_lock(
    client: &mut postgres::Client,
    codecs: &[String],
) -> Result<Vec<bool>, postgres::Error> {
    let keys: Vec<i64> = codecs.iter().map(|c| lock_key(c)).collect();
    // A whole fleet's locks may take longer than a statement may; the
    // locks are the session's, so they outlive the transaction.
    let mut tx = client.transaction()?;
    tx.batch_execute("SET LOCAL statement_timeout = 0")?;
    let got = tx
        .query(
            "SELECT pg_try_advisory_lock(k) FROM unnest($1::bigint[]) WITH ORDINALITY AS t(k, i) ORDER BY i",
            &[&keys],
        )?
        .iter()
        .map(|r| r.try_get::<_, bool>(0))
        .collect();
    tx.commit()?;
    got
}

/// Every entry of one instance.
pub(super) fn load(
    client: &mut postgres::Client,
    id: &InstanceId,
) -> Result<Vec<Row>, postgres::Error> {
    let rows = client.query(
        "SELECT key, value FROM xmacro_entries WHERE codec = $1 AND script = $2",
        &[&id.codec, &id.script],
    )?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        if let Some(row) = entry(&r, 0, id) {
            out.push(row);
        }
    }
    Ok(out)
}

/// Every entry of each of `ids`, in their order, in one statement (the
/// pairs go as two arrays, so any number fits).
pub(super) fn load_many(
    client: &mut postgres::Client,
    ids: &[InstanceId],
) -> Result<Vec<Vec<Row>>, postgres::Error> {
    let codecs: Vec<&str> = ids.iter().map(|id| id.codec.as_str()).collect();
    let scripts: Vec<&str> = ids.iter().map(|id| id.script.as_str()).collect();
    let rows = client.query(
        "SELECT t.i, e.key, e.value
           FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS t(codec, script, i)
           JOIN xmacro_entries e ON e.codec = t.codec AND e.script = t.script",
        &[&codecs, &scripts],
    )?;
    let mut out = vec![Vec::new(); ids.len()];
    for r in rows {
        let i = r.try_get::<_, i64>(0).map_or(0, |i| i as usize);
        let Some(id) = i.checked_sub(1).and_then(|i| ids.get(i)) else {
            continue;
        };
        if let Some(row) = entry(&r, 1, id) {
            out[i - 1].push(row);
        }
    }
    Ok(out)
}

/// The entry in columns `at` (key) and `at + 1` (value) of `r`, or `None`
/// (logged) if it cannot be read.
fn entry(r: &postgres::Row, at: usize, id: &InstanceId) -> Option<Row> {
    match (r.try_get::<_, String>(at), r.try_get::<_, String>(at + 1)) {
        (Ok(key), Ok(value)) => Some(Row {
            key,
            value: value.into_bytes(),
        }),
        (key, _) => {
            warn!("{id}: an entry cannot be read (key {key:?}); left out");
            None
        }
    }
}

fn apply(tx: &mut postgres::Transaction<'_>, w: &Write) -> Result<(), postgres::Error> {
    match w {
        Write::Put(id, key, value) => tx.execute(
            "INSERT INTO xmacro_entries (codec, script, key, value) VALUES ($1, $2, $3, $4)
             ON CONFLICT (codec, script, key) DO UPDATE SET value = excluded.value",
            &[&id.codec, &id.script, key, value],
        ),
        Write::Delete(id, key) => tx.execute(
            "DELETE FROM xmacro_entries WHERE codec = $1 AND script = $2 AND key = $3",
            &[&id.codec, &id.script, key],
        ),
    }
    .map(|_| ())
}

fn commit(client: &mut postgres::Client, writes: &[&Write]) -> Result<(), postgres::Error> {
    let mut tx = client.transaction()?;
    for w in writes {
        apply(&mut tx, w)?;
    }
    tx.commit()
}

fn write_of(q: &Queued) -> &Write {
    match &q.job {
        Job::Write(w, _) => w,
        _ => unreachable!("a write batch holds writes only"),
    }
}

fn answer(q: Queued, outcome: Result<(), Failure>) {
    if let Job::Write(_, reply) = q.job {
        let _ = reply.send(outcome);
    }
}

/// Commits a batch of writes in one transaction or, if that fails, each on
/// its own (so one bad write does not fail the others). A write is
/// acknowledged only once committed; if the connection goes, the writes
/// not yet acknowledged come back to be run again after reconnecting. A
/// batch that ran out of time fails as a whole (one at a time, each would
/// wait as long again).
pub(super) fn commit_batch(client: &mut postgres::Client, batch: Vec<Queued>) -> Ran {
    if batch.len() > 1 {
        let all: Vec<&Write> = batch.iter().map(write_of).collect();
        match commit(client, &all) {
            Ok(()) => {
                for q in batch {
                    answer(q, Ok(()));
                }
                return Ran::Done;
            }
            Err(e) if is_lost(&e, client) => return Ran::Lost(batch, describe(&e)),
            Err(e) if timed_out(&e) => {
                for q in batch {
                    answer(q, Err(write_refused(&e)));
                }
                return Ran::Done;
            }
            Err(_) => {}
        }
    }
    let mut rest = batch.into_iter();
    while let Some(q) = rest.next() {
        match commit(client, &[write_of(&q)]) {
            Err(e) if is_lost(&e, client) => {
                let mut again = vec![q];
                again.extend(rest);
                return Ran::Lost(again, describe(&e));
            }
            outcome => answer(q, outcome.map_err(|e| write_refused(&e))),
        }
    }
    Ran::Done
}

/// Whether an error means the connection is gone (rather than a refused
/// statement on a live connection).
pub fn is_lost(e: &postgres::Error, client: &postgres::Client) -> bool {
    // Class 08: connection exception; 57: operator intervention (the
    // server shutting down, or the session terminated).
    // (A statement cancelled for running out of time, 57014, is refused,
    // not lost: the connection is fine.)
    let class = e.code().map(|c| c.code().get(..2).unwrap_or(""));
    e.is_closed()
        || client.is_closed()
        || (matches!(class, Some("08") | Some("57")) && !timed_out(e))
}
